-- Conformance driver: runs every case of the public corpus through the Lua
-- evaluator and compares with Mistral's recorded result.
--   lua5.4 tests/lua/run_conformance.lua [corpus.json] [-v] [-f filter]
local script = arg and arg[0] or "tests/lua/run_conformance.lua"
package.path = (script:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local H = require("harness")

-- the project's copy of the corpus (tests/conformance/public.json)
local corpus_path = H.root .. "/tests/conformance/public.json"
local verbose, filter = false, nil
local i = 1
while arg and arg[i] do
  local a = arg[i]
  if a == "-v" then verbose = true
  elseif a == "-f" then i = i + 1; filter = arg[i]
  else corpus_path = a end
  i = i + 1
end

local M = H.new()
local rt, ev = M.runtime, M.evaluator
local cases = M.json.parse(H.read(corpus_path))

local function field(c, k) local v = rt.dict_get(c, k); if v == rt.null then return nil end return v end

local per_cat, order = {}, {}
local passed, failed = 0, 0
for _, c in ipairs(cases) do
  local id = field(c, "id")
  if not filter or id:find(filter, 1, true) then
    local cat = field(c, "category") or "?"
    if not per_cat[cat] then per_cat[cat] = {p = 0, f = 0}; order[#order + 1] = cat end
    local mode = field(c, "mode") or "evaluate"
    local expr, ctx = rt.dict_get(c, "expr"), rt.dict_get(c, "context")
    if ctx == nil then ctx = rt.dict() end
    local ok, res = pcall(function()
      if mode == "recursive" then return ev.evaluate_recursively(expr, ctx) end
      return ev.evaluate(expr, ctx)
    end)
    local want_err = field(c, "expected_error")
    local good, why
    if want_err then
      good = not ok
      if ok then why = "expected an error, got " .. H.show(M, res) end
      if not ok and type(res) == "table" and res.internal then good = false; why = "internal error: " .. tostring(res) end
    else
      if not ok then
        good = false
        why = "error: " .. (type(res) == "table" and ((res.kind or "?") .. ": " .. tostring(res.message)) or tostring(res))
      else
        good = H.same(rt, res, rt.dict_get(c, "expected"))
        if not good then why = "got " .. H.show(M, res) .. " want " .. H.show(M, rt.dict_get(c, "expected")) end
      end
    end
    if good then
      passed = passed + 1; per_cat[cat].p = per_cat[cat].p + 1
      if verbose then print("PASS " .. id) end
    else
      failed = failed + 1; per_cat[cat].f = per_cat[cat].f + 1
      print("FAIL " .. id .. "  " .. H.show(M, expr) .. "\n     " .. tostring(why))
    end
  end
end
for _, cat in ipairs(order) do
  print(string.format("%-18s %3d passed, %3d failed", cat, per_cat[cat].p, per_cat[cat].f))
end
print(string.format("%d passed, %d failed", passed, failed))
os.exit(failed == 0 and 0 or 1)
