-- Jinja's sort, dictsort, sum and select filters against Python's answers
-- (tests/cases/sort/cases.json, made by tests/gen_sort_cases.py): the same order,
-- stable and reversed, and the same error (the same first comparison of keys Python
-- cannot order, a missing test only where an item meets it) on every case.
-- Run: lua5.4 tests/lua/test_sort_filters.lua
local script = arg and arg[0] or "tests/lua/test_sort_filters.lua"
package.path = (script:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local H = require("harness")
local M = H.new()
local rt, ev = M.runtime, M.evaluator

local doc = M.json.parse(H.read(H.root .. "/tests/cases/sort/cases.json"))
local ctx = rt.dict_get(doc, "context")
local n, bad = 0, 0
for _, c in ipairs(rt.dict_get(doc, "cases")) do
  local expr = rt.dict_get(c, "expr")
  local want, want_err = rt.dict_get(c, "value"), rt.dict_get(c, "error")
  local ok, got = pcall(ev.evaluate, "{{ " .. expr .. " }}", ctx)
  local got_err = not ok and (type(got) == "table" and got.message or tostring(got)) or nil
  local pass
  if want_err ~= nil then pass = got_err == want_err else pass = ok and H.same(rt, got, want) end
  n = n + 1
  if not pass then
    bad = bad + 1
    print(("FAIL %s\n     Python %s\n     glarex %s"):format(expr,
      want_err or H.show(M, want), got_err or H.show(M, got)))
  end
end
print(("%d cases, %d wrong"):format(n, bad))
os.exit(bad == 0 and n > 150 and 0 or 1)
