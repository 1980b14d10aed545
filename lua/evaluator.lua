-- glarex evaluator: public entry points (see lua/README.md).
--   ev.evaluate(text, ctx)             Mistral's evaluate()
--   ev.evaluate_recursively(v, ctx)    Mistral's evaluate_recursively()
--   ev.compile(text)                   compiled object (validation), cached
local M = ...
local rt, T = M.runtime, M.template
local ev = {}

local type, getmetatable, setmetatable = type, getmetatable, setmetatable
local sfind = string.find
local null, List, Dict = rt.null, rt.List, rt.Dict

------------------------------------------------------------------------
-- bounded compiled-template cache (two generations: O(1), at most 2*N)
------------------------------------------------------------------------
local CACHE_SIZE = 1024
local cur, old, ncur = {}, {}, 0

function ev.set_cache_size(n) CACHE_SIZE = n; cur, old, ncur = {}, {}, 0 end
function ev.clear_cache()
  cur, old, ncur = {}, {}, 0
  M.yaqllib.clear_var_cache()
  M.pyfmt.clear_format_cache()
end

-- M.host.guard(), when the host has it, starts counting instructions (and checking
-- the deadline) for the rest of the evaluation. Compiling and running a template
-- that is not bounded (`bounded` in yaql.lua and jinja.lua) are guarded; the rest
-- is linear in the data, which the memory limit bounds.
local guard = rt.guard

local function compile_cached(text)
  local c = cur[text]
  if c then return c end
  c = old[text]
  if not c then
    guard()
    c = T.compile(text)
  end
  if ncur >= CACHE_SIZE then old, cur, ncur = cur, {}, 0 end
  cur[text] = c
  ncur = ncur + 1
  return c
end

function ev.compile(text)
  if type(text) ~= "string" then
    rt.raise("unsupported", "only strings can be compiled")
  end
  return compile_cached(text)
end

function ev.evaluate(text, ctx)
  local c = cur[text] -- a template in use: no need to look for delimiters again
  if not c then
    if type(text) ~= "string" then return text end
    if not sfind(text, "{", 1, true) and not sfind(text, "<%", 1, true) then return text end
    c = compile_cached(text)
  end
  if ctx == nil then ctx = null end
  if not c.bounded then guard() end
  return c.eval(ctx)
end

-- Python truthiness of the context (`if not context`)
local function falsy_ctx(ctx)
  if ctx == nil or ctx == null or ctx == false then return true end
  local mt = getmetatable(ctx)
  if mt == Dict then return #ctx.keys == 0 end
  if mt == List then return #ctx == 0 end
  if type(ctx) == "string" then return ctx == "" end
  if type(ctx) == "number" then return ctx == 0 end
  return false
end

local function rec(v, ctx)
  local tv = type(v)
  if tv == "string" then
    -- no '{' and no '<%': cannot be an expression
    if not sfind(v, "{", 1, true) and not sfind(v, "<%", 1, true) then return v end
    local c = compile_cached(v)
    if not c.bounded then guard() end
    return c.eval(ctx)
  end
  if tv ~= "table" or v == null then return v end
  local mt = getmetatable(v)
  -- copy-on-write: containers with nothing to evaluate are returned as is
  if mt == Dict then
    local ks, map = v.keys, v.map
    local nmap = nil
    for i = 1, #ks do
      local k = ks[i]
      local nk = type(k) == "string" and k or rt.keynorm(k)
      local x = map[nk]
      local y = rec(x, ctx)
      if y ~= x and not nmap then
        nmap = {}
        for kk, vv in pairs(map) do nmap[kk] = vv end
      end
      if nmap then nmap[nk] = y end
    end
    if not nmap then return v end
    local nks = {}
    for i = 1, #ks do nks[i] = ks[i] end
    return setmetatable({keys = nks, map = nmap}, Dict)
  elseif mt == List then
    local out = nil
    for i = 1, #v do
      local x = v[i]
      local y = rec(x, ctx)
      if y ~= x and not out then
        out = {}
        for j = 1, i - 1 do out[j] = v[j] end
      end
      if out then out[i] = y end
    end
    if not out then return v end
    return setmetatable(out, List)
  end
  return v
end

function ev.evaluate_recursively(v, ctx)
  if falsy_ctx(ctx) then return v end
  return rec(v, ctx)
end

-- run a compiled object
function ev.run(compiled, ctx)
  if ctx == nil then ctx = null end
  if not compiled.bounded then guard() end
  return compiled.eval(ctx)
end

return ev
