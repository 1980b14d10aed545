-- Evaluates a batch of cases with glarex and compares each with Mistral's answer,
-- as the conformance tests compare (value and type, and also the sign of a float
-- zero; where Mistral errors or returns something JSON cannot carry, glarex must error).
--   lua5.4 tests/difffuzz/check.lua BATCH.json
-- BATCH.json: [{"id", "expr", "context", "mode", "oracle": <mistral_oracle.py output>}]
-- Prints one JSON line per case: {"id", "verdict", "glarex"}, verdict one of
--   agree            same value and type, or both errors
--   unsupported      Mistral answered, glarex refused with an "unsupported" error
--   wrong_value      both answered, with different values or types
--   value_for_error  Mistral raised (or its result is unrepresentable), glarex answered
--   error_for_value  Mistral answered, glarex raised an error other than "unsupported"
--   internal         glarex failed with a Lua error rather than one of its own
--   timeout          glarex ran more than INSTRUCTION_BUDGET instructions
local script = arg and arg[0] or "tests/difffuzz/check.lua"
local dir = script:match("^(.*)/[^/]*$") or "."
package.path = dir .. "/../lua/?.lua;" .. package.path
local H = require("harness")

-- far beyond any generated expression; only a runaway loop reaches it
local INSTRUCTION_BUDGET = 200000000
local TIMEOUT = "difffuzz: instruction budget exhausted"

local M = H.new()
local rt, ev = M.runtime, M.evaluator
local batch = M.json.parse(H.read(assert(arg[1], "usage: check.lua BATCH.json")))

local function field(d, k) local v = rt.dict_get(d, k); if v == rt.null then return nil end return v end

local function describe_error(e)
  if type(e) == "table" then return tostring(e.kind) .. ": " .. tostring(e.message) end
  return "lua: " .. tostring(e)
end

-- H.same with one more distinction: -0.0 and 0.0 (Lua's == holds them equal, Python's
-- str() and repr() do not)
local function same(a, b)
  if not H.same(rt, a, b) then return false end
  local function signs(x, y)
    if math.type(x) == "float" and x == 0 then return 1 / x == 1 / y end
    if type(x) ~= "table" or x == rt.null then return true end
    if getmetatable(x) == rt.List then
      for i = 1, #x do if not signs(x[i], y[i]) then return false end end
    elseif getmetatable(x) == rt.Dict then
      for _, k in ipairs(x.keys) do if not signs(rt.dict_get(x, k), rt.dict_get(y, k)) then return false end end
    end
    return true
  end
  return signs(a, b)
end

local function verdict(ok, res, oracle)
  local mistral_errs = field(oracle, "error") ~= nil or field(oracle, "unrepresentable") ~= nil
  if not ok then
    -- the budget's error may come back wrapped in one of glarex's own
    local text = type(res) == "table" and tostring(res.message) or tostring(res)
    if text:find(TIMEOUT, 1, true) then return "timeout" end
    if not rt.is_error(res) then return "internal" end
    if mistral_errs then return "agree" end
    return res.kind == "unsupported" and "unsupported" or "error_for_value"
  end
  if mistral_errs then return "value_for_error" end
  return same(res, rt.dict_get(oracle, "result")) and "agree" or "wrong_value"
end

local out = {}
for _, c in ipairs(batch) do
  local expr, ctx, mode = rt.dict_get(c, "expr"), field(c, "context") or rt.dict(), field(c, "mode")
  debug.sethook(function() error(TIMEOUT, 0) end, "", INSTRUCTION_BUDGET)
  local ok, res = pcall(function()
    if mode == "recursive" then return ev.evaluate_recursively(expr, ctx) end
    return ev.evaluate(expr, ctx)
  end)
  debug.sethook()
  local v = verdict(ok, res, field(c, "oracle"))
  local shown = ok and H.show(M, res) or describe_error(res)
  local line = rt.dict()
  rt.dict_set(line, "id", rt.dict_get(c, "id"))
  rt.dict_set(line, "verdict", v)
  rt.dict_set(line, "glarex", shown)
  out[#out + 1] = M.json.dumps(line, nil, false)
end
io.write(table.concat(out, "\n"), "\n")
