-- The iteration order glarex gives a set of ints built by adding items one by one
-- (rt.set_order: CPython 3.11's hash table rebuilt), against CPython's own order over
-- 2,002 random sequences (two of more than 50,000 items), small and large ints,
-- negative ones, and keys whose low bits collide. Python's answers come from tests/lua/sets/python_set_orders.py, run with
-- GLAREX_TEST_PYTHON (default /usr/bin/python3, the Python Mistral runs on).
--   lua5.4 tests/lua/test_set_order.lua
local script = arg and arg[0] or "tests/lua/test_set_order.lua"
local dir = script:match("^(.*)/[^/]*$") or "."
package.path = dir .. "/?.lua;" .. package.path
local H = require("harness")
local M = H.new()
local rt = M.runtime

local python = os.getenv("GLAREX_TEST_PYTHON") or "/usr/bin/python3"
local answers = assert(io.popen(string.format("'%s' '%s/sets/python_set_orders.py'", python, dir), "r"))

local function ints(s)
  local t = {}
  for w in s:gmatch("%S+") do t[#t + 1] = math.tointeger(tonumber(w)) end
  return t
end
local function order(items, kind)
  return rt.set_order(setmetatable({items = items, kind = kind, inserted = true}, rt.Set))
end

local checked, failed = 0, 0
for line in answers:lines() do
  local seq, want_frozen, want_set = line:match("^([^|]*)|([^|]*)|([^|]*)$")
  assert(seq, "unexpected line from python_set_orders.py: " .. line)
  local frozen = order(ints(seq), "set")
  local got_frozen = table.concat(frozen, " ")
  local got_set = table.concat(order(frozen, "pyset"), " ")
  checked = checked + 1
  if got_frozen ~= want_frozen or got_set ~= want_set then
    failed = failed + 1
    if failed <= 3 then
      print(("FAIL %d items %s...\n  glarex %s...\n  Python %s..."):format(
        #frozen, seq:sub(1, 60), got_frozen:sub(1, 60), want_frozen:sub(1, 60)))
    end
  end
end
assert(answers:close(), "python_set_orders.py failed")
assert(checked == 2002, "expected 2002 sequences from python_set_orders.py, got " .. checked)
print(("%d of %d set orders differ from CPython's"):format(failed, checked))
if failed > 0 then os.exit(1) end
