-- Whole floats below 10^16 print without the search for the fewest digits (a single
-- string.format), and exactly as the search prints them (P.lua_float_repr, which
-- tests/lua/test_float_repr.lua holds to Python's answers): at the edges of 2^53, 2^54
-- and 10^16, signed, and for a spread of values between.
-- Run: lua5.4 tests/lua/test_whole_float_repr.lua
local script = arg and arg[0] or "tests/lua/test_whole_float_repr.lua"
package.path = (script:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local H = require("harness")
local P = H.new().pyfmt

local floats = {0.0, -0.0, 1.0, -1.0, 8192.0, 1e15, 1e16, -1e16, 1e17, 2.0 ^ 60, 0.5, 1.5}
for _, base in ipairs{2.0 ^ 53, 2.0 ^ 54, 1e16, 1e15, 2.0 ^ 52} do
  for d = -8, 8 do floats[#floats + 1] = base + d; floats[#floats + 1] = -(base + d) end
end
local x = 1
for _ = 1, 20000 do -- whole numbers of every size below 10^16 (a fixed sequence)
  x = (x * 6364136223846793005 + 1442695040888963407) & 0x7fffffffffffffff
  local f = (x % 10 ^ (x % 17)) // 1
  floats[#floats + 1] = f
  floats[#floats + 1] = -f
end

local failed = 0
for _, f in ipairs(floats) do
  local want, got = P.lua_float_repr(f), P.float_repr(f)
  if got ~= want then
    failed = failed + 1
    if failed <= 10 then print(("FAIL %.17g: %s, not %s"):format(f, got, want)) end
  end
end

-- the cost: one string.format for a whole float
local calls = 0
local fmt = string.format
debug.sethook(function()
  if debug.getinfo(2, "f").func == fmt then calls = calls + 1 end
end, "c")
local r = P.float_repr(8192.0)
debug.sethook()
if r ~= "8192.0" or calls ~= 1 then
  failed = failed + 1
  print(("FAIL 8192.0: %s after %d calls of string.format"):format(r, calls))
end

print(("%d floats, %d wrong"):format(#floats, failed))
os.exit(failed == 0 and 0 or 1)
