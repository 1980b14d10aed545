-- What a warm evaluation (its template compiled and cached) costs in Lua
-- instructions, against a budget per template: the fixed cost every guarded
-- evaluation pays, counted by a hook on every instruction (deterministic).
-- Run: lua5.4 tests/lua/test_warm_cost.lua
local script = arg and arg[0] or "tests/lua/test_warm_cost.lua"
package.path = (script:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local H = require("harness")
local M = H.new()
local rt, ev = M.runtime, M.evaluator

local ctx = M.json.parse('{"t": "x", "a": 1, "memory_mb": 8192.0, "up": ["h1", "h2", "h1"]}')

local function warm_cost(expr)
  ev.evaluate(expr, ctx)
  local n = 0
  debug.sethook(function() n = n + 1 end, "", 1)
  local ok, v = pcall(ev.evaluate, expr, ctx)
  debug.sethook()
  return n, ok and H.show(M, v) or tostring(type(v) == "table" and v.message or v)
end

-- template, its result, the most instructions a warm run may take (each budget lies
-- between what it took before the fixed cost was cut and what it takes now)
local cases = {
  {"<% {a => 1} + {a => 2, b => 3} %>", '{"a": 2, "b": 3}', 320},
  {"<% {a => $.a, 'b c' => [2], a2 => {x => null}} %>", '{"a": 1, "b c": [2], "a2": {"x": null}}', 360},
  {"<% [1, 2, 2, 3, 1].distinct() %>", "[1, 2, 3]", 455},
  {"<% $.up.distinct() %>", '["h1", "h2"]', 330},
  {"<% '{0}-{1}'.format($.t, $.a) %>", '"x-1"', 300},
  {"<% $.memory_mb %> MB", '"8192.0 MB"', 200},
}

local failed = 0
for _, c in ipairs(cases) do
  local n, got = warm_cost(c[1])
  if got ~= c[2] then
    failed = failed + 1
    print(("FAIL %s: %s, not %s"):format(c[1], got, c[2]))
  elseif n > c[3] then
    failed = failed + 1
    print(("FAIL %s: %d instructions, more than %d"):format(c[1], n, c[3]))
  else
    print(("ok   %s: %d instructions (at most %d)"):format(c[1], n, c[3]))
  end
end
if failed > 0 then
  print(failed .. " failed")
  os.exit(1)
end
