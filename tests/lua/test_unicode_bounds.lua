-- Bounds of the Unicode lookups (lua/pyfmt.lua): the per-state memos of recent code
-- points never hold more than UNICODE_MEMO_MAX entries each, and a case mapping of
-- non-Latin text costs a bounded number of Lua instructions per character.
local script = arg and arg[0] or "tests/lua/test_unicode_bounds.lua"
package.path = (script:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local H = require("harness")
local M = H.new()
local P = M.pyfmt

local failed = 0
local function check(name, ok, detail)
  if not ok then failed = failed + 1; print("FAIL " .. name .. (detail and (": " .. detail) or "")) end
end

-- 20,000 distinct code points through every memoised lookup
local chars = {}
for cp = 0x4e00, 0x4e00 + 9999 do chars[#chars + 1] = utf8.char(cp) end
for cp = 0x10400, 0x10400 + 79 do chars[#chars + 1] = utf8.char(cp) end
for cp = 0x1e00, 0x1e00 + 9919 do chars[#chars + 1] = utf8.char(cp) end
local text = table.concat(chars)
P.upper(text); P.lower(text); P.title(text); P.casefold(text); P.swapcase(text)
local sizes = P.unicode_memo_sizes()
check("memos exist", #sizes >= 5, #sizes .. " memos")
for i, n in ipairs(sizes) do
  check("memo " .. i .. " bounded", n >= 1 and n <= P.UNICODE_MEMO_MAX, n .. " entries")
end

-- instructions per character of upper/lower/title on Greek and Cyrillic text
local s = string.rep("Привет мир Ελληνικά ", 500)
local count = 0
debug.sethook(function() count = count + 1 end, "", 1)
P.upper(s); P.lower(s); P.title(s)
debug.sethook()
local per_char = count / utf8.len(s) / 3
check("instructions per character", per_char < 40, string.format("%.1f", per_char))

print(failed == 0 and "unicode bounds: ok" or "unicode bounds: failed")
os.exit(failed == 0 and 0 or 1)
