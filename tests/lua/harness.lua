-- Test harness shared by the Lua test scripts: emulates the C embedder
-- (loads lua/*.lua in README order, each chunk called with the module
-- table M), provides a test host (glare, yaml_parse) and value helpers.
local H = {}

local function script_dir()
  local src = debug.getinfo(2, "S").source
  return src:match("^@(.*)/[^/]*$") or "."
end

-- root of the repository (tests/lua/..)
H.root = (os.getenv("GLAREX_ROOT") or (script_dir() .. "/../.."))

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end
H.read = read

-- module load order: the fenced list under "## Load order" in lua/README.md
function H.load_order()
  local readme = read(H.root .. "/lua/README.md")
  local section = readme:match("## Load order.-```%w*\n(.-)```")
  assert(section, "lua/README.md has no load order block")
  local files = {}
  for line in section:gmatch("[^\n]+") do
    local f = line:match("^%s*([%w_]+%.lua)")
    if f then files[#files + 1] = f end
  end
  return files
end

-- the globals src/eval.c leaves in the evaluator's Lua state
local function sandbox_env()
  local env = {}
  for _, k in ipairs{"assert", "error", "getmetatable", "ipairs", "next", "pairs", "pcall",
    "rawequal", "rawget", "rawlen", "rawset", "select", "setmetatable", "tonumber", "tostring",
    "type", "xpcall", "_VERSION"} do env[k] = _G[k] end
  local function copy(t, drop)
    local c = {}
    for k, v in pairs(t) do if not drop[k] then c[k] = v end end
    return c
  end
  env.table = copy(table, {})
  env.string = copy(string, {dump = true})
  env.math = copy(math, {random = true, randomseed = true})
  env.utf8 = copy(utf8, {})
  env._G = env
  return env
end
H.sandbox_env = sandbox_env

-- lua/unidata.lua is generated at build time: the build's copy (GLAREX_UNIDATA, set by
-- tests/meson.build), else generated once from /usr/share/unicode
local unidata_source
local function unidata_chunk(env)
  local path = os.getenv("GLAREX_UNIDATA")
  if path then return assert(loadfile(path, "t", env)) end
  if not unidata_source then
    local tmp = os.tmpname()
    local cmd = string.format("python3 '%s/lua/gen_unidata.py' /usr/share/unicode '%s' 14.0",
      H.root, tmp)
    local ok = os.execute(cmd)
    unidata_source = ok and read(tmp)
    os.remove(tmp)
    assert(ok, "lua/gen_unidata.py failed: is unicode-data installed?")
  end
  return assert(load(unidata_source, "@unidata.lua", "t", env))
end

function H.new(host_overrides)
  local M = {}
  M.host = H.make_host(M)
  for k, v in pairs(host_overrides or {}) do M.host[k] = v end
  local env = sandbox_env()
  for _, file in ipairs(H.load_order()) do
    local chunk = file == "unidata.lua" and unidata_chunk(env)
      or assert(loadfile(H.root .. "/lua/" .. file, "t", env))
    local mod = chunk(M)
    M[file:gsub("%.lua$", "")] = mod
  end
  return M
end

-- test host: glare (as the oracle registers it), yaml_parse (test subset)
function H.make_host(M)
  local host = {}
  host.load = function(src, name) return load(src, name, "t", {}) end
  local funcs = {}
  function funcs.glare(args, kw)
    local rt = M.runtime
    local names = {"name", "version", "resource"}
    local vals = {}
    for i = 1, #args do vals[i] = args[i] end
    if kw then
      for k, v in rt.dict_pairs(kw) do
        local idx
        for i, n in ipairs(names) do if n == k then idx = i end end
        if not idx or vals[idx] ~= nil then rt.raise("eval", "glare() got an unexpected keyword argument '" .. tostring(k) .. "'") end
        vals[idx] = v
      end
    end
    if #args == 1 and not kw and type(vals[1]) == "string" and vals[1]:match("^glare://") then
      return "content-of-uri:" .. vals[1]
    end
    if #args > 3 then rt.raise("eval", "glare() takes 3 arguments") end
    for i, n in ipairs(names) do
      if vals[i] == nil then rt.raise("eval", "glare() missing required argument: '" .. n .. "'") end
      if type(vals[i]) ~= "string" then
        rt.raise("eval", "glare() argument '" .. n .. "' must be a string, got " .. rt.pytype(vals[i]))
      end
    end
    return "content-of:" .. vals[1] .. ":" .. vals[2] .. ":" .. vals[3]
  end
  function funcs.yaml_parse(args, kw)
    local rt = M.runtime
    if #args ~= 1 or kw then rt.raise("eval", "yaml_parse_() takes 2 positional arguments") end
    if type(args[1]) ~= "string" then rt.raise("eval", "expected a string for yaml_parse") end
    return H.yaml.parse(args[1], rt)
  end
  host.has = function(name) return funcs[name] ~= nil end
  host.call = function(name, args, kw, ctx)
    local f = funcs[name]
    if not f then M.runtime.raise("eval", "Unknown function \"" .. name .. "\"") end
    return f(args, kw, ctx)
  end
  return host
end

H.yaml = dofile(H.root .. "/tests/lua/yaml_subset.lua")

------------------------------------------------------------------------
-- value helpers
------------------------------------------------------------------------
-- deep equality with int/float distinction and order-insensitive dicts
function H.same(rt, a, b)
  if type(a) ~= type(b) then return false end
  if type(a) == "number" then
    -- -0.0 and 0.0 are different answers (Mistral's JSON carries the sign)
    if a == 0 and b == 0 and math.type(a) == "float" and 1 / a ~= 1 / b then return false end
    return math.type(a) == math.type(b) and (a == b or (a ~= a and b ~= b))
  end
  if type(a) ~= "table" then return a == b end
  if a == rt.null or b == rt.null then return a == b end
  local ma, mb = getmetatable(a), getmetatable(b)
  if ma ~= mb then return false end
  if ma == rt.List then
    if #a ~= #b then return false end
    for i = 1, #a do if not H.same(rt, a[i], b[i]) then return false end end
    return true
  elseif ma == rt.Dict then
    if #a.keys ~= #b.keys then return false end
    for _, k in ipairs(a.keys) do
      local vb = rt.dict_get(b, k)
      if vb == nil or not H.same(rt, rt.dict_get(a, k), vb) then return false end
    end
    return true
  end
  return false
end

function H.show(M, v)
  local ok, s = pcall(M.json.dumps, v, nil, false)
  if ok then return s end
  return tostring(v)
end

return H
