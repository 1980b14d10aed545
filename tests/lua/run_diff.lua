-- Differential check: evaluates tests/lua/diff/cases.json (probes with
-- Mistral's own results, produced by diff/make_cases.py) and compares.
--   lua5.4 tests/lua/run_diff.lua [-v]
local script = arg and arg[0] or "tests/lua/run_diff.lua"
local dir = script:match("^(.*)/[^/]*$") or "."
package.path = dir .. "/?.lua;" .. package.path
local H = require("harness")
local verbose = arg[1] == "-v"

local M = H.new()
local rt, ev = M.runtime, M.evaluator
local file = M.json.parse(H.read(dir .. "/diff/cases.json"))
local contexts, cases = rt.dict_get(file, "contexts"), rt.dict_get(file, "cases")
local known = {}
for line in H.read(dir .. "/diff/known_differences.txt"):gmatch("[^\n]+") do
  local id = line:match("^([%w_%-]+)")
  if id and not line:match("^#") then known[id] = true end
end

local function deepcopy(v)
  local mt = getmetatable(v)
  if mt == rt.List then
    local out = {}
    for i = 1, #v do out[i] = deepcopy(v[i]) end
    return setmetatable(out, rt.List)
  elseif mt == rt.Dict then
    local d = rt.dict()
    for k, x in rt.dict_pairs(v) do rt.dict_set(d, k, deepcopy(x)) end
    return d
  end
  return v
end
local function get(d, k) local v = rt.dict_get(d, k); if v == rt.null then return nil end return v end
local passed, failed, knownd = 0, 0, 0
for _, c in ipairs(cases) do
  local id, expr, mode = get(c, "id"), rt.dict_get(c, "expr"), get(c, "mode")
  -- a fresh copy per case: Jinja's mutating methods may change it
  local ctx = deepcopy(contexts[rt.dict_get(c, "context") + 1])
  local o = get(c, "oracle")
  local ok, res = pcall(function()
    if mode == "recursive" then return ev.evaluate_recursively(expr, ctx) end
    return ev.evaluate(expr, ctx)
  end)
  local want_error = get(o, "error") ~= nil or get(o, "unrepresentable") ~= nil
  local good, why
  if want_error then
    good = not ok and not (type(res) == "table" and res.internal)
    if not good then why = ok and ("expected an error, got " .. H.show(M, res)) or ("internal error: " .. tostring(res)) end
  elseif ok then
    good = H.same(rt, res, rt.dict_get(o, "result"))
    if not good then why = "got " .. H.show(M, res) .. " want " .. H.show(M, rt.dict_get(o, "result")) end
  else
    good = false
    why = "error " .. (type(res) == "table" and (tostring(res.kind) .. ": " .. tostring(res.message)) or tostring(res))
      .. "; Mistral gave " .. H.show(M, rt.dict_get(o, "result"))
  end
  if good then
    passed = passed + 1
    if verbose then print("PASS " .. id) end
  elseif known[id] and not ok and type(res) == "table" and res.kind == "unsupported" then
    knownd = knownd + 1
    if verbose then print("KNOWN " .. id .. "  " .. H.show(M, expr) .. "  " .. tostring(why)) end
  else
    failed = failed + 1
    print("FAIL " .. id .. "  " .. H.show(M, expr) .. "\n     " .. tostring(why))
  end
end
print(string.format("%d agree, %d known differences, %d failed", passed, knownd, failed))
os.exit(failed == 0 and 0 or 1)
