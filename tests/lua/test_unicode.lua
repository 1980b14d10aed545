-- The evaluator's Unicode answers against Python's own, over every code point
-- (surrogates left out): str.lower/upper/casefold/swapcase/title/capitalize,
-- split(), splitlines(), isalpha/isdecimal/isdigit/isnumeric/isspace/isupper/islower/
-- istitle/isalnum/isprintable/isidentifier/isascii, cased and case-ignorable, int() of
-- each, re's \w \d \s \W and IGNORECASE literals and sets.
-- Python's answers come from tests/lua/unicode/python_answers.py, run with
-- GLAREX_TEST_PYTHON (default /usr/bin/python3, the Python Mistral runs on).
local script = arg and arg[0] or "tests/lua/test_unicode.lua"
local dir = script:match("^(.*)/[^/]*$") or "."
package.path = dir .. "/?.lua;" .. package.path
local H = require("harness")
local M = H.new()
local P, R, STR = M.pyfmt, M.regex, M.jinjalib.STR_METHODS

local python = os.getenv("GLAREX_TEST_PYTHON") or "/usr/bin/python3"
local answers = assert(io.popen(string.format("'%s' '%s/unicode/python_answers.py'", python, dir), "r"))

local function next_record()
  local header = answers:read("l")
  if not header then return nil end
  local name, len = header:match("^(%S+) (%d+)$")
  assert(name, "unexpected line from python_answers.py: " .. header)
  return name, answers:read(tonumber(len)) or ""
end

local failures, checked = 0, 0
local function fail(what, text, got, want)
  failures = failures + 1
  if failures <= 20 then
    -- name the first code point where the answers part
    local gs, ws = {}, {}
    for _, c in utf8.codes(got, true) do gs[#gs + 1] = c end
    for _, c in utf8.codes(want, true) do ws[#ws + 1] = c end
    local i = 1
    while gs[i] == ws[i] do i = i + 1 end
    print(string.format("FAIL %s: first difference at character %d: got U+%04X, Python U+%04X (batch from U+%04X)",
      what, i, gs[i] or 0, ws[i] or 0, utf8.codepoint(text, 1)))
  end
end
local function check(what, text, got, want)
  checked = checked + 1
  if got ~= want then fail(what, text, got, want) end
end

local METHODS = {
  lower = P.lower, upper = P.upper, casefold = P.casefold, swapcase = P.swapcase,
  title = P.title, capitalize = P.capitalize,
}
local PREDICATES = {"isalpha", "isdecimal", "isdigit", "isnumeric", "isspace", "isupper",
  "islower", "istitle", "isalnum", "isprintable", "isidentifier", "isascii"}
local RE = {}
for _, cls in ipairs{"w", "d", "s", "W"} do RE["re_" .. cls] = R.compile("\\" .. cls, 0) end

-- the str methods' answer for one code point as Python's mask; code points with
-- the same table flags (and both ASCII or not) get the same answers, so each run of
-- them is asked once
local last_flags, last_mask
local function mask_of(cp)
  local f = P.char_flags(cp) | (cp < 128 and 0x10000 or 0)
  if f ~= last_flags then
    local ch, bits = utf8.char(cp), 0
    for i, p in ipairs(PREDICATES) do
      if STR[p](ch) then bits = bits | (1 << (i - 1)) end
    end
    if P.title(ch .. "a"):sub(-1) == "a" then bits = bits | (1 << 12) end
    if P.lower("A" .. ch .. "\u{3a3}"):sub(-2) == "\u{3c2}" then bits = bits | (1 << 13) end
    if STR.isidentifier("a" .. ch) then bits = bits | (1 << 14) end
    last_flags, last_mask = f, string.format("%04x", bits)
  end
  return last_mask
end

local batch, icase_forms = nil, 0

while true do
  local name, text = next_record()
  if not name then break end
  if name == "batch" then
    batch = text
  elseif METHODS[name] then
    check(name, batch, METHODS[name](batch), text)
  elseif name == "split" then
    check("split", batch, table.concat(P.split(batch), "\0"), text)
  elseif name == "splitlines" or name == "splitlines_keepends" then
    check(name, batch, table.concat(P.splitlines(batch, name ~= "splitlines"), "\0"), text)
  elseif name == "masks" then
    local cps = {}
    for _, cp in utf8.codes(batch, true) do cps[#cps + 1] = cp end
    local got = {}
    for i = 1, #cps, 2 do got[#got + 1] = mask_of(cps[i]) end -- odd positions: the code points
    local g = table.concat(got)
    checked = checked + 1
    if g ~= text then
      failures = failures + 1
      for i = 1, #text, 4 do
        if g:sub(i, i + 3) ~= text:sub(i, i + 3) then
          print(string.format("FAIL str predicates of U+%04X: got %s, Python %s (bits: %s cased case-ignorable identifier-continue)",
            cps[2 * (i // 4) + 1], g:sub(i, i + 3), text:sub(i, i + 3), table.concat(PREDICATES, " ")))
          break
        end
      end
    end
  elseif name == "int" then
    -- int() of each code point; a non-decimal one gives what the last one of its flags gave
    local got, by_flags = {}, {}
    local i = 0
    for _, cp in utf8.codes(batch, true) do
      i = i + 1
      if i % 2 == 1 then
        local f = P.char_flags(cp)
        local answer = by_flags[f]
        if not answer or f & M.unidata.DECIMAL ~= 0 then
          answer = tostring(M.yaqllib.parse_int_str(utf8.char(cp)) or "-")
          if f & M.unidata.DECIMAL == 0 then by_flags[f] = answer end
        end
        got[#got + 1] = answer
      end
    end
    check("int()", batch, table.concat(got), text)
  elseif RE[name] then
    check(name, batch, R.sub(RE[name], "", batch), text)
  elseif name == "icase" then
    local pattern, subject, want = text:match("^(.-)\n(.-)\n(.*)$")
    local rx = R.compile(pattern, 0)
    local got = {}
    for _, mo in ipairs(R.finditer(rx, subject)) do got[#got + 1] = R.group(mo, 0) end
    icase_forms = icase_forms + 1
    checked = checked + 1
    if table.concat(got) ~= want then
      failures = failures + 1
      if failures <= 20 then
        print(string.format("FAIL %s on %q: got %q, Python %q", pattern, subject, table.concat(got), want))
      end
    end
  else
    error("unknown record " .. name)
  end
end
assert(answers:close(), "python_answers.py failed")
assert(icase_forms > 1000, "too few IGNORECASE patterns from python_answers.py")
print(string.format("%d checks against Python, %d failed", checked, failures))
os.exit(failures == 0 and checked > 1000 and 0 or 1)
