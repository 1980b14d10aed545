-- Evaluate a JSON list of cases ({expr, context, mode}) read from a file
-- (or stdin) and print one JSON object per case: {"result": ...} or
-- {"error": kind, "message": ...}.  Used for differential testing.
local script = arg and arg[0] or "tests/lua/eval_cases.lua"
package.path = (script:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local H = require("harness")
local M = H.new()
local rt, ev = M.runtime, M.evaluator
local text = arg[1] and H.read(arg[1]) or io.read("a")
local cases = M.json.parse(text)
local out = {}
for _, c in ipairs(cases) do
  local expr, ctx = rt.dict_get(c, "expr"), rt.dict_get(c, "context") or rt.dict()
  local mode = rt.dict_get(c, "mode")
  if mode == nil or mode == rt.null then mode = type(expr) == "string" and "evaluate" or "recursive" end
  local ok, res = pcall(function()
    if mode == "recursive" then return ev.evaluate_recursively(expr, ctx) end
    return ev.evaluate(expr, ctx)
  end)
  local d = rt.dict()
  if ok then
    rt.dict_set(d, "result", res)
  else
    rt.dict_set(d, "error", type(res) == "table" and (res.kind or "?") or "lua")
    rt.dict_set(d, "message", type(res) == "table" and tostring(res.message) or tostring(res))
  end
  out[#out + 1] = d
end
io.write(M.json.dumps(rt.list_from(out), nil, false), "\n")
