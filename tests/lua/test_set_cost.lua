-- Building, combining and printing a set costs O(n) Lua instructions (n items),
-- not O(n^2): each expression runs at two sizes, and four times the items may
-- cost at most six times the instructions (a quadratic cost would be sixteen).
-- A generous per-item budget stops a quadratic run early.
-- Run: lua5.4 tests/lua/test_set_cost.lua
local script = arg and arg[0] or "tests/lua/test_set_cost.lua"
package.path = (script:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local H = require("harness")
local M = H.new()
local rt, ev = M.runtime, M.evaluator

local SMALL, LARGE = 2000, 8000
local PER_ITEM = 5000 -- instructions per item allowed at either size
local STEP = 1000     -- the count hook fires every STEP instructions

local function cost(expr, n)
  local ctx = rt.dict()
  rt.dict_set(ctx, "n", n)
  local count, budget = 0, PER_ITEM * n
  debug.sethook(function()
    count = count + STEP
    if count > budget then error("over budget", 0) end
  end, "", STEP)
  local ok, res = pcall(ev.evaluate, expr, ctx)
  debug.sethook()
  if not ok then return nil, type(res) == "table" and tostring(res.message) or tostring(res) end
  return count
end

local cases = {
  "<% set(range($.n)).len() %>",
  "<% range($.n).toSet().len() %>",
  "<% range($.n).select([$, str($)]).toSet().len() %>",
  "<% range($.n).select({a => $}).toSet().len() %>",
  "<% set(range($.n)).union(set(range($.n, 2 * $.n))).len() %>",
  "<% set(range($.n)).intersect(set(range($.n))).len() %>",
  "<% set(range($.n)).difference(set(range(1, $.n))).len() %>",
  "<% set(range($.n)).add(-1, 0).len() %>",
  "<% set(range($.n)).toList().len() %>",
  "<% str(set(range($.n))).len() %>",
  "x<% set(range($.n)) %>",
  "x<% set(range(0, 97 * $.n, 97)) %>",
  "<% range(0, 4096 * $.n, 4096).toSet().toList().len() %>",
  "<% range($.n).select([$]).distinct().len() %>",
  "<% set(range($.n)) = set(range($.n - 1, -1, -1)) %>",
  "<% set(range($.n)) < set(range($.n + 1)) %>",
  "<% set(range($.n)) <= set(range($.n)) %>",
  "<% [set(range($.n))] = [set(range($.n))] %>",
}

local failed = 0
for _, expr in ipairs(cases) do
  local small, err = cost(expr, SMALL)
  local large, err2
  if small then large, err2 = cost(expr, LARGE) end
  if not large then
    failed = failed + 1
    print(("FAIL %s: %s"):format(expr, err or err2))
  elseif large > 6 * math.max(small, STEP) then
    failed = failed + 1
    print(("FAIL %s: %d instructions for %d items, %d for %d"):format(expr, small, SMALL, large, LARGE))
  else
    print(("ok   %s: %d instructions for %d items, %d for %d"):format(expr, small, SMALL, large, LARGE))
  end
end
if failed > 0 then
  print(failed .. " failed")
  os.exit(1)
end
