-- glarex yaqllib: the YAQL standard library as Mistral configures it (yaql
-- 2.0 std functions, Mistral's env/json/yaml functions, host functions),
-- operators, member access and output conversion.  Called by code that
-- lua/yaql.lua generates; signatures are declared here so the compiler can
-- map positional/named arguments and lambdas at compile time.
local M = ...
local rt, P, J = M.runtime, M.pyfmt, M.json
local Y = {}

local type, getmetatable, setmetatable, select, pairs, ipairs =
  type, getmetatable, setmetatable, select, pairs, ipairs
local mtype = math.type
local concat = table.concat
local null = rt.null
local List, Dict, Tuple, PyList, Set, Iter, Undefined, Func, Range, Ctx =
  rt.List, rt.Dict, rt.Tuple, rt.PyList, rt.Set, rt.Iter, rt.Undefined, rt.Func, rt.Range, rt.Ctx
local raise, truthy, eq, iter, make_iter = rt.raise, rt.truthy, rt.eq, rt.iter, rt.make_iter
local dict_get, dict_set, new_dict = rt.dict_get, rt.dict_set, rt.dict

------------------------------------------------------------------------
-- type predicates (yaql smart types)
------------------------------------------------------------------------
local function is_str(v) return type(v) == "string" end
local function is_num(v) return type(v) == "number" end           -- Number(): not bool
local function is_intlike(v) return mtype(v) == "integer" or type(v) == "boolean" end -- PythonType(int)
local function as_int(v) if type(v) == "boolean" then return v and 1 or 0 end return v end
local function is_seq(v) local mt = getmetatable(v); return mt == List or mt == PyList end
local function is_map(v) return getmetatable(v) == Dict end
local function is_iterable(v)
  local mt = getmetatable(v)
  return mt == List or mt == PyList or mt == Set or mt == Iter or mt == Tuple
end
local function is_set(v) local mt = getmetatable(v); return mt == Set and v.kind ~= "values" end
local function is_iterator(v) return getmetatable(v) == Iter end
Y.is_iterable, Y.is_seq, Y.is_map = is_iterable, is_seq, is_map

local function short(v)
  local ok, s = pcall(P.str, v, "yaql")
  if ok then return s end
  return rt.pytype(v)
end

local function no_func(name) raise("eval", 'No function "' .. name .. '" matches supplied arguments') end
local function no_method(name, recv)
  raise("eval", 'No method "' .. name .. '" for receiver ' .. short(recv) .. " matches supplied arguments")
end
Y.no_func, Y.no_method = no_func, no_method
function Y.unknown_function(name) raise("eval", 'Unknown function "' .. name .. '"') end
function Y.unknown_method(name, recv) raise("eval", 'Unknown method "' .. name .. '" for receiver ' .. short(recv)) end

local function pylist(t) return setmetatable(t, PyList) end
local function tuple(t) return setmetatable(t, List) end -- YAQL tuples are rt.List

------------------------------------------------------------------------
-- registry of signatures
------------------------------------------------------------------------
-- Y.F[name] / Y.M[name] = array of candidates:
--   {params = {names...}, min = n, max = n|nil(varargs), lazy = {[pos]=true},
--    kwargs = bool, impl = function, id = n}
Y.F, Y.M = {}, {}
Y.I = {} -- id -> impl

-- Functions and methods that need no count hook (see `bounded` in yaql.lua), with
-- how many arguments besides the receiver each may take so: their time is linear in
-- their input (no comparison of nested values, no regex, no lambda), so the memory
-- limit, which bounds what they read and make, and the allocator's deadline checks
-- bound them on every run. get and containsKey look one key up; concat and format
-- (a single pass over the format, each value rendered once) take any number.
local ANY = math.huge
Y.linear = {
  bool = 0, concat = ANY, containsKey = 1, count = 0, first = 1, float = 0, format = ANY,
  get = 2, int = 0, isBoolean = 0, isDict = 0, isInteger = 0, isList = 0, isNumber = 0,
  isString = 0, keys = 0, last = 1, len = 0, str = 0, toLower = 0, toUpper = 0, trim = 0,
  values = 0,
}
local function parse_sig(sig)
  local c = {params = {}, lazy = {}, min = 0, max = 0}
  for p in sig:gmatch("[^,%s]+") do
    if p:sub(1, 2) == "**" then c.kwargs = true
    elseif p:sub(1, 1) == "*" then
      c.varargs = true; c.max = nil
      if p:sub(-2) == ":L" then c.lazy_rest = true end
    else
      local name, opt, lazy = p:match("^([%w_]+)(%??)(:?L?)$")
      c.params[#c.params + 1] = name
      local pos = #c.params
      if lazy == ":L" then c.lazy[pos] = true end
      if opt == "" then c.min = pos end
      c.max = c.max and pos
    end
  end
  return c
end

-- sig: one signature string, or a list of them (overloads sharing one
-- type-dispatching impl; the compiler picks the first that fits the call's
-- arity and argument names, so positions must mean the same in each)
local function def(forms, name, sig, impl)
  local id = #Y.I + 1
  Y.I[id] = impl
  local sigs = type(sig) == "table" and sig or {sig}
  local c
  for _, sg in ipairs(sigs) do
    c = parse_sig(sg)
    c.impl = impl
    c.name = name
    c.id = id
    if forms:find("f") then Y.F[name] = Y.F[name] or {}; table.insert(Y.F[name], c) end
    if forms:find("m") then Y.M[name] = Y.M[name] or {}; table.insert(Y.M[name], c) end
  end
  return c
end
Y.def = def

------------------------------------------------------------------------
-- conversions between data and YAQL internal values
------------------------------------------------------------------------
-- Output conversion (yaql convert_output_data + Mistral sanitize): tuples
-- and Python lists become lists, iterators are materialised, sets are kept
-- as sets (they make the result unrepresentable).
local huge = math.huge
local function unrepresentable(what)
  raise("unsupported", "result is " .. what .. " which JSON cannot carry")
end
Y.unrepresentable = unrepresentable
-- strict: the value is a final (whole-value) result and must be JSON data.
-- `left`: items the walk may still visit (rt.result_items), with the deadline
-- checked every CHECK_PERIOD of them; `depth`: its nesting.
local MAX_DEPTH, CHECK_PERIOD = rt.MAX_DEPTH, rt.CHECK_PERIOD
local left, next_check = 0, 0
local function fin(v, strict, depth)
  local tv = type(v)
  if tv ~= "table" then
    if strict and tv == "number" and (v ~= v or v == huge or v == -huge) then
      unrepresentable("a non-finite float")
    end
    return v
  end
  if v == null then return v end
  if depth > MAX_DEPTH then rt.too_deep() end
  depth = depth + 1
  local mt = getmetatable(v)
  left = left - (mt == Dict and #v.keys or #v)
  if left < next_check then
    if left < 0 then rt.too_large() end
    next_check = left - CHECK_PERIOD
    rt.check()
  end
  if mt == List then
    local out = nil
    for i = 1, #v do
      local x = v[i]
      local y = x
      if type(x) == "table" then
        if x ~= null then y = fin(x, strict, depth) end
      elseif strict and type(x) == "number" and (x ~= x or x == huge or x == -huge) then
        unrepresentable("a non-finite float")
      end
      if y ~= x and not out then
        out = {}
        for j = 1, i - 1 do out[j] = v[j] end
      end
      if out then out[i] = y end
    end
    if out then return setmetatable(out, List) end
    return v
  elseif mt == PyList or mt == Tuple then
    local out = {}
    for i = 1, #v do out[i] = fin(v[i], strict, depth) end
    return setmetatable(out, List)
  elseif mt == Dict then
    local ks, map = v.keys, v.map
    local vals = nil -- allocated on first change (copy-on-write)
    for i = 1, #ks do
      local k = ks[i]
      local x
      if type(k) == "string" then
        x = map[k]
      else
        if strict then unrepresentable("a dict with a non-string key (" .. rt.pytype(k) .. ")") end
        x = dict_get(v, k)
        if not vals then vals = {}; for j = 1, i - 1 do vals[j] = map[ks[j]] end end
      end
      local y = x
      local tx = type(x)
      if tx == "table" then
        if x ~= null then y = fin(x, strict, depth) end
      elseif strict and tx == "number" and (x ~= x or x == huge or x == -huge) then
        unrepresentable("a non-finite float")
      end
      if y ~= x and not vals then
        vals = {}
        for j = 1, i - 1 do vals[j] = dict_get(v, ks[j]) end
      end
      if vals then vals[i] = y end
    end
    if not vals then return v end
    local d = new_dict()
    for i = 1, #ks do dict_set(d, fin(ks[i], strict, depth), vals[i]) end
    return d
  elseif mt == Iter then
    local out, n = {}, 0
    -- rt.iter's choice for an iterator, inline: no call on this path
    for x in (v.restart and v.restart() or v.next) do
      if type(x) == "table" then -- scalars are checked here, as for a list: no call each
        if x ~= null then x = fin(x, strict, depth) end
      elseif strict and type(x) == "number" and (x ~= x or x == huge or x == -huge) then
        unrepresentable("a non-finite float")
      end
      n = n + 1; out[n] = x
    end
    return setmetatable(out, List)
  elseif mt == Set and v.kind == "values" then
    -- a ValuesView is iterable but not a set: converted to a list
    local out = {}
    for i = 1, #v.items do out[i] = fin(v.items[i], strict, depth) end
    return setmetatable(out, List)
  end
  if mt == Set and not strict then
    -- output conversion turns every Set into a Python set (unordered): str() gives
    -- "set()", not yaql's "frozenset()". Its items are converted too, and a tuple,
    -- frozen dict, set or iterator among them becomes a list, dict or set, which
    -- Python cannot hash
    for _, x in ipairs(v.items) do
      if type(x) == "table" and x ~= null and getmetatable(x) ~= Func then
        raise("eval", "unhashable type: '" .. rt.pytype(fin(x, strict, depth)) .. "'")
      end
    end
    -- a new set, its items added in the order the old one iterates
    local order = rt.known_order(v)
    return setmetatable({items = order or v.items, kind = "pyset", inserted = order ~= nil}, Set)
  end
  if strict then
    if mt == Set then unrepresentable("a Python set") end
    if mt == Ctx then unrepresentable("a YAQL context object") end
    unrepresentable("a Python " .. rt.pytype(v))
  end
  return v
end
local function finalize(v, strict)
  left = rt.result_items
  next_check = left - CHECK_PERIOD
  return fin(v, strict, 0)
end
Y.finalize = finalize

-- arguments handed to the host: plain data (iterators materialised,
-- Python lists/tuples as lists, sets as lists)
local function to_host(v)
  if type(v) ~= "table" or v == null then return v end
  local mt = getmetatable(v)
  if mt == Set then
    local out = {}
    for i = 1, #v.items do out[i] = to_host(v.items[i]) end
    return setmetatable(out, List)
  end
  if mt == Ctx then raise("eval", "a YAQL context cannot be passed to a function") end
  return finalize(v)
end
Y.to_host = to_host

-- values coming back from Python-level functions: lists are Python lists
local function from_host(v)
  if type(v) ~= "table" or v == null then return v end
  local mt = getmetatable(v)
  if mt == List or mt == PyList or mt == Tuple then
    local out = {}
    for i = 1, #v do out[i] = from_host(v[i]) end
    return setmetatable(out, PyList)
  elseif mt == Dict then
    local d = new_dict()
    for k, x in rt.dict_pairs(v) do dict_set(d, k, from_host(x)) end
    return d
  end
  return v
end
Y.from_host = from_host

------------------------------------------------------------------------
-- operators
------------------------------------------------------------------------
Y.eq = eq
function Y.ne(a, b) return not eq(a, b) end

local str_lt = rt.str_lt
-- #operator_< family with yaql's null rules
local function cmp(op, a, b)
  if a == null or b == null then
    if a == null and b == null then return op == "<=" or op == ">=" end
    if a == null then return op == "<" or op == "<=" end
    return op == ">" or op == ">="
  end
  local ta, tb = type(a), type(b)
  if ta == "number" and tb == "number" then
    if op == "<" then return a < b elseif op == ">" then return a > b
    elseif op == "<=" then return a <= b else return a >= b end
  end
  if ta == "string" and tb == "string" then
    if op == "<" then return str_lt(a, b) elseif op == ">" then return str_lt(b, a)
    elseif op == "<=" then return a == b or str_lt(a, b) else return a == b or str_lt(b, a) end
  end
  if getmetatable(a) == Set and getmetatable(b) == Set and is_set(a) and is_set(b) then
    if op == "<" then return rt.lt(a, b) elseif op == ">" then return rt.lt(b, a)
    elseif op == "<=" then return rt.le(a, b) else return rt.le(b, a) end
  end
  no_func("#operator_" .. op)
end
function Y.lt(a, b)
  if type(a) == "number" and type(b) == "number" then return a < b end
  return cmp("<", a, b)
end
function Y.gt(a, b)
  if type(a) == "number" and type(b) == "number" then return a > b end
  return cmp(">", a, b)
end
function Y.le(a, b)
  if type(a) == "number" and type(b) == "number" then return a <= b end
  return cmp("<=", a, b)
end
function Y.ge(a, b)
  if type(a) == "number" and type(b) == "number" then return a >= b end
  return cmp(">=", a, b)
end

local function chain(a, b)
  local na, nb = iter(a), nil
  return make_iter(function()
    if na then
      local x = na()
      if x ~= nil then return x end
      na = nil
      nb = iter(b)
    end
    return nb()
  end, "itertools.chain")
end

function Y.add(a, b)
  local ta, tb = type(a), type(b)
  if ta == "number" and tb == "number" then
    if mtype(a) == "integer" and mtype(b) == "integer" then return rt.iadd(a, b) end
    return a + b
  end
  if ta == "string" and tb == "string" then return a .. b end
  local ma, mb = getmetatable(a), getmetatable(b)
  if ma == Dict and mb == Dict then
    local d = rt.dict_copy(a)
    for k, v in rt.dict_pairs(b) do dict_set(d, k, v) end
    return d
  end
  if is_iterable(a) and is_iterable(b) then
    if ma == List and mb == List then
      local out, n = {}, #a
      for i = 1, n do out[i] = a[i] end
      for i = 1, #b do out[n + i] = b[i] end
      return tuple(out)
    end
    if ma == Set and mb == Set and a.kind == "set" and b.kind == "set" then
      return Y.set_union(a, b)
    end
    return chain(a, b)
  end
  no_func("#operator_+")
end

function Y.sub(a, b)
  if type(a) == "number" and type(b) == "number" then
    if mtype(a) == "integer" and mtype(b) == "integer" then return rt.isub(a, b) end
    return a - b
  end
  if getmetatable(a) == Set and getmetatable(b) == Set and a.kind == "set" then
    return Y.set_difference(a, b)
  end
  no_func("#operator_-")
end

local repeat_seq = rt.repeat_seq
function Y.mul(a, b)
  local ta, tb = type(a), type(b)
  if ta == "number" and tb == "number" then
    if mtype(a) == "integer" and mtype(b) == "integer" then return rt.imul(a, b) end
    return a * b
  end
  if ta == "string" and is_intlike(b) then b = as_int(b); return b > 0 and a:rep(b) or "" end
  if tb == "string" and is_intlike(a) then a = as_int(a); return a > 0 and b:rep(a) or "" end
  if is_seq(a) and is_intlike(b) then return repeat_seq(a, as_int(b), getmetatable(a)) end
  if is_seq(b) and is_intlike(a) then return repeat_seq(b, as_int(a), getmetatable(b)) end
  no_func("#operator_*")
end

function Y.div(a, b)
  if type(a) == "number" and type(b) == "number" then
    if mtype(a) == "integer" and mtype(b) == "integer" then
      if b == 0 then raise("eval", "integer division or modulo by zero") end
      if a == math.mininteger and b == -1 then rt.overflow() end
      return a // b
    end
    if b == 0 then raise("eval", "float division by zero") end
    return a / b
  end
  no_func("#operator_/")
end

function Y.mod(a, b)
  if type(a) == "number" and type(b) == "number" then return rt.mod(a, b) end
  no_func("#operator_mod")
end

function Y.neg(a)
  if type(a) == "number" then return rt.neg(a) end
  no_func("#unary_operator_-")
end
function Y.pos(a)
  if type(a) == "number" then return a end
  no_func("#unary_operator_+")
end

function Y.op_in(a, b)
  if type(a) == "string" and type(b) == "string" then return b:find(a, 1, true) ~= nil end
  if is_iterable(b) then return rt.contains_iter(b, a) end
  no_func("#operator_in")
end

------------------------------------------------------------------------
-- member access and indexing
------------------------------------------------------------------------
local function dot(o, name)
  local mt = getmetatable(o)
  if mt == Dict then
    local v = o.map[name]
    if v ~= nil then return v end
    raise("eval", P.str_repr(name))
  end
  if mt == List or mt == PyList or mt == Set or mt == Iter then
    local nx = iter(o)
    return make_iter(function()
      local x = nx()
      if x == nil then return nil end
      return dot(x, name)
    end, "map")
  end
  raise("eval", 'Unknown function "#property#' .. name .. '"')
end
Y.dot = dot

function Y.index(o, k)
  local mt = getmetatable(o)
  if mt == Dict then
    local v = dict_get(o, k)
    if v ~= nil then return v end
    raise("eval", P.repr(k, "yaql"))
  end
  if (mt == List or mt == PyList) and is_intlike(k) then
    k = as_int(k)
    local n = #o
    local i = k < 0 and n + k or k
    if i < 0 or i >= n then
      raise("eval", (mt == List and "tuple" or "list") .. " index out of range")
    end
    return o[i + 1]
  end
  no_func("#indexer")
end

function Y.index2(o, k, default)
  if getmetatable(o) == Dict then
    local v = dict_get(o, k)
    if v == nil then return default end
    return v
  end
  no_func("#indexer")
end

------------------------------------------------------------------------
-- variables: $__env & co come from the data dict (not input-converted)
------------------------------------------------------------------------
-- Each is converted on first read (mkvars keeps the data): converting all three on
-- every evaluation cost an env() call most of its time. Its dicts are converted as the
-- expression reads them (lazy_var), so env().region costs one member, not the env.
-- The conversion of each is kept while its source lives: a bound context's is made
-- once for all evaluations (values are never changed in place, so the two stay equal).
local VAR_NAMES = {__env = true, __execution = true, __task_execution = true}

local lazy_var
-- from_host for a variable's value: lists converted now, dicts as they are read
local function from_var(v)
  if type(v) ~= "table" or v == null then return v end
  local mt = getmetatable(v)
  if mt == List or mt == PyList or mt == Tuple then
    local out = {}
    for i = 1, #v do out[i] = from_var(v[i]) end
    return setmetatable(out, PyList)
  elseif mt == Dict then
    return lazy_var(v)
  end
  return v
end

-- A copy of dict `src` whose members are converted on first read (map[k]); reading
-- its keys, writing to it or walking it (pairs) converts the rest first and makes both
-- tables plain, as a per-call JSON context does (src/eval.c).
function lazy_var(src)
  local src_keys = src.keys
  if #src_keys == 0 then return new_dict() end
  local keys, map, mt = {}, {}, {}
  local function whole()
    setmetatable(keys, nil)
    setmetatable(map, nil)
    for i = 1, #src_keys do keys[i] = src_keys[i] end
    for nk, x in pairs(src.map) do
      if rawget(map, nk) == nil then rawset(map, nk, from_var(x)) end
    end
  end
  mt.__index = function(t, k)
    if t == keys then whole(); return keys[k] end
    local x = src.map[k]
    if x == nil then return nil end
    x = from_var(x)
    rawset(map, k, x)
    return x
  end
  mt.__len = function(t)
    if t == keys then return #src_keys end
    whole()
    return #t
  end
  mt.__newindex = function(t, k, v) whole(); t[k] = v end
  mt.__pairs = function(t) whole(); return next, t, nil end
  setmetatable(keys, mt)
  setmetatable(map, mt)
  return setmetatable({keys = keys, map = map}, Dict)
end
local VARS_DATA = {} -- key of the data in a vars table
local converted_vars = setmetatable({}, {__mode = "k"})
function Y.clear_var_cache() converted_vars = setmetatable({}, {__mode = "k"}) end
-- the value of variable `name` of `data`, converted (kept while its source lives)
local function var_value(data, name)
  local v = dict_get(data, name)
  if v == nil then return null end
  if type(v) ~= "table" then return v end
  local c = converted_vars[v]
  if c == nil then c = from_var(v); converted_vars[v] = c end
  return c
end

-- A per-call JSON context's variables the host converts from the JSON itself
-- (host.var_of), as from_var would, not through the data's own conversion, while the
-- data dict holds only its source (no keys yet: src/eval.c). Later, or for a bound
-- context, var_value converts the member.
function Y.getvar(vars, name)
  local v = vars[name]
  if v == nil then
    local data = vars[VARS_DATA]
    if data == nil or not VAR_NAMES[name] then return null end
    local found = false
    if rawget(data, "keys") == nil then
      local host = M.host
      if host and host.var_of then found, v = host.var_of(data, name) end
    end
    if not found then
      v = var_value(data, name)
    elseif v == nil then
      v = null
    end
    vars[name] = v
  end
  return v
end

function Y.mkvars(data)
  if getmetatable(data) == Dict then return {[VARS_DATA] = data} end
  return {}
end

------------------------------------------------------------------------
-- dict / list construction
------------------------------------------------------------------------
function Y.mkdict(...)
  local d = new_dict()
  local n = select("#", ...)
  for i = 1, n, 2 do
    local k, v = select(i, ...)
    dict_set(d, k, v)
  end
  return d
end

------------------------------------------------------------------------
-- helpers for collections
------------------------------------------------------------------------
local function need_iterable(v, name, is_method, recv)
  if not is_iterable(v) then
    if is_method then no_method(name, recv or v) else no_func(name) end
  end
end

local function collect(v)
  local out, n = {}, 0
  for x in iter(v) do n = n + 1; out[n] = x end
  return out
end
Y.collect = collect

local function new_set(items, kind, view, src)
  return setmetatable({items = items, kind = kind or "set", view = view, src = src}, Set)
end
-- a set whose items were added one by one, in the order they are held: its
-- iteration order is known (rt.set_order)
local function inserted_set(items)
  local s = new_set(items)
  s.inserted = true
  return s
end

-- the items of a new set (starting from `items`, distinct) and the function adding
-- one: each is hashed (what Python cannot hash is an error) and kept unless an
-- equal one is there already; O(1) per item
local function set_builder(items)
  items = items or {}
  local seen = rt.seen()
  for i = 1, #items do seen(items[i]) end
  return items, function(x)
    rt.keynorm(x)
    if not seen(x) then items[#items + 1] = x end
  end
end

-- the items of set a that are (keep == true) or are not in set b
local function set_filter(a, b, keep)
  local in_b = rt.seen()
  for i = 1, #b.items do in_b(b.items[i]) end
  local items = {}
  -- in_b also records what it is asked about: harmless, a's items are distinct
  for _, x in ipairs(a.items) do
    if in_b(x) == keep then items[#items + 1] = x end
  end
  return new_set(items)
end

function Y.set_union(a, b)
  local items, add = set_builder(table.move(a.items, 1, #a.items, 1, {}))
  for i = 1, #b.items do add(b.items[i]) end
  return new_set(items)
end
function Y.set_difference(a, b) return set_filter(a, b, false) end

local function lazy_map(coll, fn, what)
  local nx = iter(coll)
  return make_iter(function()
    local x = nx()
    if x == nil then return nil end
    return fn(x)
  end, what or "map")
end

local function lazy_filter(coll, pred, what)
  local nx = iter(coll)
  return make_iter(function()
    while true do
      local x = nx()
      if x == nil then return nil end
      if truthy(pred(x)) then return x end
    end
  end, what or "filter")
end

------------------------------------------------------------------------
-- queries
------------------------------------------------------------------------
local function M_(name, sig, impl) return def("m", name, sig, impl) end
local function F_(name, sig, impl) return def("f", name, sig, impl) end
local function MF(name, sig, impl) return def("mf", name, sig, impl) end

local function where(c, p) need_iterable(c, "where", true); return lazy_filter(c, p) end
M_("where", "collection, predicate:L", where)
M_("filter", "collection, predicate:L", function(c, p) need_iterable(c, "filter", true); return lazy_filter(c, p) end)
local function sel(c, s) need_iterable(c, "select", true); return lazy_map(c, s) end
M_("select", "collection, selector:L", sel)
M_("map", "collection, selector:L", function(c, s) need_iterable(c, "map", true); return lazy_map(c, s) end)

local function islice(c, start, stop, name)
  need_iterable(c, name, true)
  local nx, i = iter(c), 0
  return make_iter(function()
    while i < start do
      if nx() == nil then i = math.huge; return nil end
      i = i + 1
    end
    if stop and i >= stop then return nil end
    i = i + 1
    return nx()
  end, "itertools.islice")
end
M_("skip", "collection, count", function(c, n)
  if not is_intlike(n) then no_method("skip", c) end
  n = as_int(n)
  if n < 0 then raise("eval", "Indices for islice() must be None or an integer: 0 <= x <= sys.maxsize.") end
  return islice(c, n, nil, "skip")
end)
local function limit(name)
  return function(c, n)
    if not is_intlike(n) then no_method(name, c) end
    n = as_int(n)
    if n < 0 then raise("eval", "Stop argument for islice() must be None or an integer: 0 <= x <= sys.maxsize.") end
    return islice(c, 0, n, name)
  end
end
M_("limit", "collection, count", limit("limit"))
M_("take", "collection, count", limit("take"))

MF("append", "collection, *args", function(c, ...)
  need_iterable(c, "append", true)
  local extra = table.pack(...)
  local nx, i = iter(c), 0
  return make_iter(function()
    if nx then
      local x = nx()
      if x ~= nil then return x end
      nx = nil
    end
    i = i + 1
    if i <= extra.n then return extra[i] end
    return nil
  end, "generator")
end)

MF("distinct", "collection, keySelector?:L", function(c, ks)
  need_iterable(c, "distinct", true)
  local seen = rt.seen()
  local nx = iter(c)
  return make_iter(function()
    while true do
      local x = nx()
      if x == nil then return nil end
      local k = x
      if ks then k = ks(x) end
      local tk = type(k)
      if tk ~= "string" and tk ~= "number" and tk ~= "boolean" then
        rt.keynorm(k) -- hashability check (those three always are)
      end
      if not seen(k) then return x end
    end
  end, "generator")
end)

MF("enumerate", "collection, start?", function(c, start)
  need_iterable(c, "enumerate", true)
  start = start == nil and 0 or start
  if not is_intlike(start) then raise("eval", "'" .. rt.pytype(start) .. "' object cannot be interpreted as an integer") end
  local i = as_int(start) - 1
  local nx = iter(c)
  return make_iter(function()
    local x = nx()
    if x == nil then return nil end
    i = i + 1
    return pylist({i, x})
  end, "generator")
end)

MF("any", "collection, predicate?:L", function(c, p)
  need_iterable(c, "any", true)
  for x in rt.iter_any(c) do
    if p == nil or truthy(p(x)) then return true end
  end
  return false
end)
MF("all", "collection, predicate?:L", function(c, p)
  need_iterable(c, "all", true)
  for x in rt.iter_any(c) do
    if p == nil then if not truthy(x) then return false end
    elseif not truthy(p(x)) then return false end
  end
  return true
end)

local function concat_colls(...)
  local cs = table.pack(...)
  for i = 1, cs.n do need_iterable(cs[i], "concat", false) end
  local k, nx = 1, nil
  return make_iter(function()
    while k <= cs.n do
      nx = nx or iter(cs[k])
      local x = nx()
      if x ~= nil then return x end
      k = k + 1; nx = nil
    end
    return nil
  end, "itertools.chain")
end

local function count_items(c)
  if is_seq(c) then return #c end
  if getmetatable(c) == Set then return #c.items end
  local n = 0
  for _ in iter(c) do n = n + 1 end
  return n
end
M_("count", "collection", function(c) need_iterable(c, "count", true); return count_items(c) end)
M_("memorize", "collection", function(c)
  need_iterable(c, "memorize", true)
  if getmetatable(c) == Iter then return pylist(collect(c)) end
  return c
end)

-- aggregate(collection, selector, seed)
-- any_order: fn is commutative and associative on c's items, so a Python set may be
-- folded in any order
local function reduce(c, fn, seed, has_seed, any_order)
  local acc = seed
  local first = not has_seed
  for x in (any_order and rt.iter_any or iter)(c) do
    if first then acc = x; first = false
    else acc = fn(acc, x) end
  end
  if first then raise("eval", "reduce() of empty iterable with no initial value") end
  return acc
end
M_("aggregate", "collection, selector:L, seed?", function(c, s, seed)
  need_iterable(c, "aggregate", true)
  return reduce(c, s, seed, seed ~= nil)
end)
M_("reduce", "collection, selector:L, seed?", function(c, s, seed)
  need_iterable(c, "reduce", true)
  return reduce(c, s, seed, seed ~= nil)
end)
M_("sum", "collection, initial?", function(c, init)
  need_iterable(c, "sum", true)
  -- int addition does not depend on the order; float rounding does
  local ints = rt.is_unordered(c)
  if ints then
    for _, x in ipairs(c.items) do
      if math.type(x) ~= "integer" then ints = false; break end
    end
  end
  return reduce(c, Y.add, init, init ~= nil, ints)
end)
local function mmax(a, b) if Y.gt(b, a) then return b end return a end
local function mmin(a, b) if Y.gt(b, a) then return a end return b end
M_("max", "collection, initial?", function(c, init)
  need_iterable(c, "max", true)
  return reduce(c, mmax, init, init ~= nil, true)
end)
M_("min", "collection, initial?", function(c, init)
  need_iterable(c, "min", true)
  return reduce(c, mmin, init, init ~= nil, true)
end)
F_("max", "a, b", function(a, b) return mmax(a, b) end)
F_("min", "a, b", function(a, b) return mmin(a, b) end)

local function stop_iteration() raise("eval", "") end
M_("first", "collection, default?", function(c, default)
  need_iterable(c, "first", true)
  local x = iter(c)()
  if x == nil then
    if default == nil then stop_iteration() end
    return default
  end
  return x
end)
M_("single", "collection", function(c)
  need_iterable(c, "single", true)
  local nx = iter(c)
  local x = nx()
  if x == nil then stop_iteration() end
  if nx() ~= nil then raise("eval", "Collection contains more than one item") end
  return x
end)
M_("last", "collection, default?", function(c, default)
  need_iterable(c, "last", true)
  if is_seq(c) then
    if #c == 0 then
      if default == nil then stop_iteration() end
      return default
    end
    return c[#c]
  end
  local last = default
  for x in iter(c) do last = x end
  if last == nil then stop_iteration() end
  return last
end)

M_("selectMany", "collection, selector:L", function(c, s)
  need_iterable(c, "selectMany", true)
  local nx, inner = iter(c), nil
  local pending
  return make_iter(function()
    while true do
      if inner then
        local y = inner()
        if y ~= nil then return y end
        inner = nil
      end
      if pending ~= nil then local p = pending; pending = nil; return p end
      local x = nx()
      if x == nil then return nil end
      local r = s(x)
      if is_iterable(r) then inner = iter(r) else return r end
    end
  end, "generator")
end)

local function int_check(name, ...)
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    if v ~= nil and not is_intlike(v) then no_func(name) end
  end
end
-- Items every range yields, over all of them, between two deadline checks: a range of
-- constants runs without the count hook (`const_range` in yaql.lua), and a loop over
-- it may allocate nothing.
local RANGE_CHECK_PERIOD = 4096
local range_steps = RANGE_CHECK_PERIOD
local function range_iter(start, stop, step)
  if step == 0 then raise("eval", "range() arg 3 must not be zero") end
  local cur = start - step
  return make_iter(function()
    cur = cur + step
    if (step > 0 and cur < stop) or (step < 0 and cur > stop) then
      range_steps = range_steps - 1
      if range_steps == 0 then range_steps = RANGE_CHECK_PERIOD; rt.check() end
      return cur
    end
    return nil
  end, "range_iterator")
end
F_("range", "stop", function(stop)
  int_check("range", stop)
  return range_iter(0, as_int(stop), 1)
end)
F_("range", "start, stop, step?", function(start, stop, step)
  int_check("range", start, stop, step)
  return range_iter(as_int(start), as_int(stop), step == nil and 1 or as_int(step))
end)

-- orderBy / thenBy: an ordering object materialised lazily
local Ordering = {}
local function new_ordering(c, sel, asc)
  local o = {coll = c, order = {{sel, asc}}}
  local it = setmetatable({what = "OrderingIterable", ordering = o}, Iter)
  local sorted
  local function sort()
    -- a Python set sorts to the same list in any order, unless two keys tie
    local unordered = rt.is_unordered(o.coll)
    local items = unordered and {} or collect(o.coll)
    if unordered then for k, x in ipairs(o.coll.items) do items[k] = x end end
    -- stable merge sort with a comparator following yaql's Comparator
    local keys = {}
    for k = 1, #items do keys[k] = {} end
    local function cmpf(a, b)
      for f = 1, #o.order do
        local sel2, asc2 = o.order[f][1], o.order[f][2]
        local ka = keys[a][f]; if ka == nil then ka = sel2(items[a]); keys[a][f] = ka end
        local kb = keys[b][f]; if kb == nil then kb = sel2(items[b]); keys[b][f] = kb end
        local r = 0
        if Y.lt(ka, kb) then r = -1 elseif Y.gt(ka, kb) then r = 1 end
        if r ~= 0 then if not asc2 then r = -r end; return r end
      end
      return 0
    end
    local idx = {}
    for k = 1, #items do idx[k] = k end
    -- merge sort (stable)
    local function msort(lo, hi)
      if hi - lo < 1 then return end
      local mid = (lo + hi) // 2
      msort(lo, mid); msort(mid + 1, hi)
      local tmp, a, b, k = {}, lo, mid + 1, 0
      while a <= mid and b <= hi do
        k = k + 1
        if cmpf(idx[b], idx[a]) < 0 then tmp[k] = idx[b]; b = b + 1 else tmp[k] = idx[a]; a = a + 1 end
      end
      while a <= mid do k = k + 1; tmp[k] = idx[a]; a = a + 1 end
      while b <= hi do k = k + 1; tmp[k] = idx[b]; b = b + 1 end
      for q = 1, k do idx[lo + q - 1] = tmp[q] end
    end
    msort(1, #idx)
    for k = 2, unordered and #idx or 0 do
      if cmpf(idx[k - 1], idx[k]) == 0 then
        raise("unsupported", "the order of a Python set's items depends on hashing, "
          .. "and two of them sort as equal")
      end
    end
    sorted = {}
    for k = 1, #idx do sorted[k] = items[idx[k]] end
  end
  -- an OrderingIterable is iterable again and again (it sorts once): `restart` gives
  -- each consumer a pass of its own (rt.iter); `next` is one pass shared by the rest
  function it.restart()
    if not sorted then sort() end
    local i = 0
    return function() i = i + 1; return sorted[i] end
  end
  local shared
  it.next = function()
    shared = shared or it.restart()
    return shared()
  end
  return it
end
Y.Ordering = Ordering
M_("orderBy", "collection, selector:L", function(c, s)
  need_iterable(c, "orderBy", true); return new_ordering(c, s, true)
end)
M_("orderByDescending", "collection, selector:L", function(c, s)
  need_iterable(c, "orderByDescending", true); return new_ordering(c, s, false)
end)
local function then_by(asc, name)
  return function(c, s)
    if not (getmetatable(c) == Iter and c.ordering) then no_method(name, c) end
    table.insert(c.ordering.order, {s, asc})
    return c
  end
end
M_("thenBy", "collection, selector:L", then_by(true, "thenBy"))
M_("thenByDescending", "collection, selector:L", then_by(false, "thenByDescending"))

M_("groupBy", "collection, keySelector:L, valueSelector?:L, aggregator?:L", function(c, ks, vs, agg)
  need_iterable(c, "groupBy", true)
  local groups = new_dict()
  for x in iter(c) do
    local v = x
    if vs then v = vs(x) end
    local k = ks(x)
    local g = dict_get(groups, k)
    if g == nil then g = {}; dict_set(groups, k, g) end
    g[#g + 1] = v
  end
  local out = {}
  for i, k in ipairs(groups.keys) do
    local vals = pylist(dict_get(groups, k))
    if agg then
      out[i] = tuple({k, agg(vals)})
    else
      out[i] = tuple({k, vals})
    end
  end
  local j = 0
  return make_iter(function() j = j + 1; return out[j] end, "map")
end)

local function zip_impl(longest)
  return function(kw, ...)
    local cs = table.pack(...)
    local default = null
    if kw then
      for k, v in rt.dict_pairs(kw) do
        if k == "default" and longest then default = v else no_method(longest and "zipLongest" or "zip", cs[1]) end
      end
    end
    for i = 1, cs.n do need_iterable(cs[i], longest and "zipLongest" or "zip", true, cs[1]) end
    local its = {}
    for i = 1, cs.n do its[i] = iter(cs[i]) end
    local done = false
    return make_iter(function()
      if done or cs.n == 0 then return nil end
      local row, alive = {}, 0
      for i = 1, cs.n do
        local x = its[i] and its[i]()
        if x == nil then
          if not longest then done = true; return nil end
          its[i] = nil
          x = default
        else
          alive = alive + 1
        end
        row[i] = x
      end
      if longest and alive == 0 then done = true; return nil end
      return tuple(row)
    end, "zip")
  end
end
M_("zip", "*collections, **kw", zip_impl(false))
M_("zipLongest", "*collections, **kw", zip_impl(true))

M_("repeat", "value, times?", function(v, times)
  if times == nil then raise("unsupported", "repeat() without a count is infinite") end
  if not is_intlike(times) then no_method("repeat", v) end
  times = as_int(times)
  local i = 0
  return make_iter(function()
    i = i + 1
    if times >= 0 and i > times then return nil end
    return v
  end, "itertools.repeat")
end)
M_("cycle", "collection", function(c) raise("unsupported", "cycle() is infinite") end)
F_("sequence", "start?, step?", function() raise("unsupported", "sequence() is infinite") end)

M_("takeWhile", "collection, predicate:L", function(c, p)
  need_iterable(c, "takeWhile", true)
  local nx, stop = iter(c), false
  return make_iter(function()
    if stop then return nil end
    local x = nx()
    if x == nil then return nil end
    if truthy(p(x)) then return x end
    stop = true
    return nil
  end, "itertools.takewhile")
end)
M_("skipWhile", "collection, predicate:L", function(c, p)
  need_iterable(c, "skipWhile", true)
  local nx, skipping = iter(c), true
  return make_iter(function()
    while true do
      local x = nx()
      if x == nil then return nil end
      if not skipping then return x end
      if not truthy(p(x)) then skipping = false; return x end
    end
  end, "itertools.dropwhile")
end)

local function coll_index_of(c, item)
  local i = 0
  for x in iter(c) do
    if eq(x, item) then return i end
    i = i + 1
  end
  return -1
end
local function coll_last_index_of(c, item)
  local i, r = 0, -1
  for x in iter(c) do
    if eq(x, item) then r = i end
    i = i + 1
  end
  return r
end
M_("indexWhere", "collection, predicate:L", function(c, p)
  need_iterable(c, "indexWhere", true)
  local i = 0
  for x in iter(c) do
    if truthy(p(x)) then return i end
    i = i + 1
  end
  return -1
end)
M_("lastIndexWhere", "collection, predicate:L", function(c, p)
  need_iterable(c, "lastIndexWhere", true)
  local i, r = 0, -1
  for x in iter(c) do
    if truthy(p(x)) then r = i end
    i = i + 1
  end
  return r
end)

M_("slice", "collection, length", function(c, len)
  need_iterable(c, "slice", true)
  if not is_intlike(len) then no_method("slice", c) end
  len = as_int(len)
  local nx = iter(c)
  return make_iter(function()
    local chunk = {}
    for _ = 1, len do
      local x = nx()
      if x == nil then break end
      chunk[#chunk + 1] = x
    end
    if #chunk == 0 then return nil end
    return tuple(chunk)
  end, "generator")
end)
M_("splitAt", "collection, index", function(c, index)
  need_iterable(c, "splitAt", true)
  if not is_intlike(index) then no_method("splitAt", c) end
  local items = collect(c)
  local n = #items
  local i = as_int(index)
  if i < 0 then i = math.max(0, n + i) elseif i > n then i = n end
  local a, b = {}, {}
  for k = 1, i do a[k] = items[k] end
  for k = i + 1, n do b[#b + 1] = items[k] end
  return pylist({tuple(a), tuple(b)})
end)
M_("splitWhere", "collection, predicate:L", function(c, p)
  need_iterable(c, "splitWhere", true)
  local items = collect(c)
  local out = {}
  local start = 1
  for e = 1, #items do
    if truthy(p(items[e])) then
      local part = {}
      for k = start, e - 1 do part[#part + 1] = items[k] end
      out[#out + 1] = tuple(part)
      start = e + 1
    end
  end
  if start <= #items then
    local part = {}
    for k = start, #items do part[#part + 1] = items[k] end
    out[#out + 1] = tuple(part)
  end
  local j = 0
  return make_iter(function() j = j + 1; return out[j] end, "generator")
end)
M_("sliceWhere", "collection, predicate:L", function(c, p)
  need_iterable(c, "sliceWhere", true)
  local items = collect(c)
  local out = {}
  local start, prev = 1, nil
  for e = 1, #items do
    local p2 = p(items[e])
    if prev ~= nil and not eq(p2, prev) then
      local part = {}
      for k = start, e - 1 do part[#part + 1] = items[k] end
      out[#out + 1] = tuple(part)
      start = e
    end
    prev = p2
  end
  if start <= #items then
    local part = {}
    for k = start, #items do part[#part + 1] = items[k] end
    out[#out + 1] = tuple(part)
  end
  local j = 0
  return make_iter(function() j = j + 1; return out[j] end, "generator")
end)

M_("accumulate", "collection, selector:L, seed?", function(c, s, seed)
  need_iterable(c, "accumulate", true)
  local nx = iter(c)
  local started = false
  local total = seed
  return make_iter(function()
    if not started then
      started = true
      if total == nil then
        total = nx()
        if total == nil then raise("eval", "accumulate() of empty sequence with no initial value") end
      end
      return total
    end
    local x = nx()
    if x == nil then return nil end
    total = s(total, x)
    return total
  end, "generator")
end)

M_("reverse", "collection", function(c)
  need_iterable(c, "reverse", true)
  local items = collect(c)
  local i = #items + 1
  return make_iter(function() i = i - 1; return items[i] end, "reversed")
end)

F_("isIterable", "value", function(v) return is_iterable(v) end)

M_("defaultIfEmpty", "collection, default", function(c, default)
  need_iterable(c, "defaultIfEmpty", true)
  if not is_iterable(default) then no_method("defaultIfEmpty", c) end
  if getmetatable(c) ~= Iter then
    if count_items(c) == 0 then return default end
    return c
  end
  local items = collect(c)
  if #items == 0 then return default end
  return pylist(items)
end)

-- queries.join(collection1, collection2, predicate, selector)
local function queries_join(c1, c2, pred, selector)
  need_iterable(c1, "join", true); need_iterable(c2, "join", true, c1)
  local items2 = collect(c2)
  local out = {}
  for x in iter(c1) do
    for _, y in ipairs(items2) do
      if truthy(pred(x, y)) then out[#out + 1] = selector(x, y) end
    end
  end
  local j = 0
  return make_iter(function() j = j + 1; return out[j] end, "generator")
end
M_("join", "collection1, collection2, predicate:L, selector:L", queries_join)

-- mergeWith
local function merge_dicts(d1, d2, list_merger, item_merger, max_levels)
  local result = rt.mutable_dict(new_dict()) -- Python's dicts, nested ones too
  for k, v1 in rt.dict_pairs(d1) do
    dict_set(result, k, v1)
    local v2 = dict_get(d2, k)
    if v2 ~= nil then
      if max_levels ~= 1 and is_map(v2) then
        if not is_map(v1) then raise("eval", "Cannot merge " .. rt.pytype(v1) .. " with " .. rt.pytype(v2)) end
        dict_set(result, k, merge_dicts(v1, v2, list_merger, item_merger, max_levels == 0 and 0 or max_levels - 1))
      elseif max_levels ~= 1 and is_seq(v2) then
        if not is_seq(v1) then raise("eval", "Cannot merge " .. rt.pytype(v1) .. " with " .. rt.pytype(v2)) end
        dict_set(result, k, list_merger(v1, v2))
      else
        dict_set(result, k, item_merger(v1, v2))
      end
    end
  end
  for k, v2 in rt.dict_pairs(d2) do
    if dict_get(result, k) == nil then dict_set(result, k, v2) end
  end
  return result
end
M_("mergeWith", "dict, another, listMerger?:L, itemMerger?:L, maxLevels?", function(d, another, lm, im, ml)
  if not is_map(d) or not is_map(another) then no_method("mergeWith", d) end
  if ml ~= nil and not is_intlike(ml) then no_method("mergeWith", d) end
  lm = lm or function(a, b)
    -- to_list(distinct(a + b)), with Python's +: a tuple and a list do not add
    if (getmetatable(a) == PyList) ~= (getmetatable(b) == PyList) then
      local ta = getmetatable(a) == PyList and "list" or "tuple"
      local tb = ta == "list" and "tuple" or "list"
      raise("eval", "can only concatenate " .. ta .. " (not \"" .. tb .. "\") to " .. ta)
    end
    local seen, out = rt.seen(), {}
    for _, x in ipairs(collect(Y.add(a, b))) do
      rt.keynorm(x) -- distinct() hashes each item
      if not seen(x) then out[#out + 1] = x end
    end
    return tuple(out)
  end
  im = im or function(_, y) return y end
  return rt.mutable_dict(merge_dicts(d, another, lm, im, ml and as_int(ml) or 0))
end)

------------------------------------------------------------------------
-- collections
------------------------------------------------------------------------
local function flatten_into(c, out)
  for x in iter(c) do
    if is_iterable(x) then flatten_into(x, out) else out[#out + 1] = x end
  end
end
M_("flatten", "collection", function(c)
  need_iterable(c, "flatten", true)
  local out = {}
  flatten_into(c, out)
  local j = 0
  return make_iter(function() j = j + 1; return out[j] end, "generator")
end)
M_("toList", "collection", function(c)
  need_iterable(c, "toList", true)
  if getmetatable(c) == List then return c end
  return tuple(collect(c))
end)
-- list(...) and set(...) unpack each argument that is an iterator (a generator,
-- map, filter, range iterator...: Python's collections.abc.Iterator), and each
-- iterator such an iterator yields; any other argument is one item, an orderBy()
-- result included (an OrderingIterable can be iterated again, so is no iterator)
local function unpack_iterators(v, add)
  if getmetatable(v) == Iter and v.what ~= "OrderingIterable" then
    for x in v.next do unpack_iterators(x, add) end
  else
    add(v)
  end
end
F_("list", "*args", function(...)
  local out, n = {}, 0
  local function add(x) n = n + 1; out[n] = x end
  for i = 1, select("#", ...) do unpack_iterators((select(i, ...)), add) end
  return tuple(out)
end)
F_("#list", "*args", function(...) return tuple({...}) end)

M_("toDict", "collection, keySelector:L, valueSelector?:L", function(c, ks, vs)
  need_iterable(c, "toDict", true)
  local d = new_dict()
  for x in iter(c) do
    local k = ks(x)
    local v = x
    if vs then v = vs(x) end
    dict_set(d, k, v)
  end
  return rt.mutable_dict(d)
end)

-- dict(k => v, ...) is compiled directly; dict(iterable of pairs):
F_("dict", "items", function(items)
  if not is_iterable(items) then no_func("dict") end
  local d = new_dict()
  for t in iter(items) do
    if not is_iterable(t) and type(t) ~= "string" and not is_map(t) then
      raise("eval", "'" .. rt.pytype(t) .. "' object is not iterable")
    end
    local nx = type(t) == "string" and iter(t) or (is_map(t) and iter(t) or iter(t))
    local k, v = nx(), nil
    if k ~= nil then v = nx() end
    if k == nil or v == nil then stop_iteration() end
    dict_set(d, k, v)
  end
  return d
end)

M_("get", "dict, key, default?", function(d, k, default)
  if not is_map(d) then no_method("get", d) end
  local v = dict_get(d, k)
  if v == nil then return default == nil and null or default end
  return v
end)
M_("set", "dict, key, value?", function(d, k, v)
  if not is_map(d) then no_method("set", d) end
  local nd = rt.dict_copy(d)
  if v == nil then
    if not is_map(k) then no_method("set", d) end
    for kk, vv in rt.dict_pairs(k) do dict_set(nd, kk, vv) end
  else
    dict_set(nd, k, v)
  end
  return nd
end)
-- yaql's own dicts (FrozenDict) give KeysView({...}); the plain Python dicts toDict,
-- mergeWith and delete build (Python's, marked mutable) give dict_keys([...])
local function view_name(d, frozen, plain) return d.mutable and plain or frozen end
M_("keys", "dict", function(d)
  if not is_map(d) then no_method("keys", d) end
  local items = {}
  for i, k in ipairs(d.keys) do items[i] = k end
  return new_set(items, "keys", view_name(d, "KeysView", "dict_keys"), d)
end)
M_("values", "dict", function(d)
  if not is_map(d) then no_method("values", d) end
  local items = {}
  for i, k in ipairs(d.keys) do items[i] = dict_get(d, k) end
  return new_set(items, "values", view_name(d, "ValuesView", "dict_values"), d)
end)
M_("items", "dict", function(d)
  if not is_map(d) then no_method("items", d) end
  local items = {}
  for i, k in ipairs(d.keys) do items[i] = tuple({k, dict_get(d, k)}) end
  return new_set(items, "items", view_name(d, "ItemsView", "dict_items"), d)
end)
M_("containsKey", "dict, key", function(d, k)
  if not is_map(d) then no_method("containsKey", d) end
  return dict_get(d, k) ~= nil
end)
M_("containsValue", "dict, value", function(d, v)
  if not is_map(d) then no_method("containsValue", d) end
  for _, x in rt.dict_pairs(d) do if eq(x, v) then return true end end
  return false
end)
M_("contains", "collection, value", function(c, v)
  need_iterable(c, "contains", true)
  return rt.contains_iter(c, v)
end)

-- len: strings, dicts, sequences, sets, iterators
MF("len", "obj", function(o)
  if type(o) == "string" then return rt.ulen(o) end
  local mt = getmetatable(o)
  if mt == Dict then return #o.keys end
  if mt == List or mt == PyList then return #o end
  if mt == Set and o.kind ~= "values" then return #o.items end
  -- yaql's len() takes no OrderingIterable (orderBy's result), though count() does
  if mt == Iter and not o.ordering then
    local n = 0
    for _ in o.next do n = n + 1 end
    return n
  end
  no_func("len")
end)

-- delete: collection.delete(position, count=1) / dict.delete(*keys)
M_("delete", {"collection, position, count?", "dict, *keys"}, function(c, ...)
  if is_map(c) then
    local nd = rt.mutable_dict(rt.dict_copy(c))
    for i = 1, select("#", ...) do rt.dict_delete(nd, (select(i, ...))) end
    return nd
  end
  need_iterable(c, "delete", true)
  local n = select("#", ...)
  if n < 1 or n > 2 then no_method("delete", c) end
  local position, count = ...
  if count == nil then count = 1 end
  if not is_intlike(position) or not is_intlike(count) then no_method("delete", c) end
  position, count = as_int(position), as_int(count)
  local nx, i = iter(c), -1
  return make_iter(function()
    while true do
      local x = nx()
      if x == nil then return nil end
      i = i + 1
      if count >= 0 and not (position <= i and i < position + count) then return x end
      if count < 0 and not (i >= position) then return x end
    end
  end, "generator")
end)
M_("deleteAll", "dict, keys", function(d, keys)
  if not is_map(d) or not is_iterable(keys) then no_method("deleteAll", d) end
  local nd = rt.mutable_dict(rt.dict_copy(d))
  for k in iter(keys) do rt.dict_delete(nd, k) end
  return nd
end)

M_("insert", "collection, position, value", function(c, pos, v)
  need_iterable(c, "insert", true)
  if getmetatable(c) == Set or not is_intlike(pos) then no_method("insert", c) end
  pos = as_int(pos)
  if is_seq(c) then
    local items = collect(c)
    local n = #items
    local p = pos
    if p < 0 then p = math.max(0, n + p) elseif p > n then p = n end
    table.insert(items, p + 1, v)
    return pylist(items)
  end
  local nx, i, done = iter(c), -1, false
  local pending
  return make_iter(function()
    if pending ~= nil then local p = pending; pending = nil; return p end
    local x = nx()
    if x == nil then
      if not done and pos > i then done = true; return v end
      return nil
    end
    i = i + 1
    if i == pos then done = true; pending = x; return v end
    return x
  end, "generator")
end)
M_("insertMany", "collection, position, values", function(c, pos, vals)
  need_iterable(c, "insertMany", true)
  if not is_intlike(pos) or not is_iterable(vals) then no_method("insertMany", c) end
  pos = as_int(pos)
  local items, out = collect(c), {}
  local vs = collect(vals)
  if pos < 0 then for _, x in ipairs(vs) do out[#out + 1] = x end end
  for i, x in ipairs(items) do
    if i - 1 == pos then for _, y in ipairs(vs) do out[#out + 1] = y end end
    out[#out + 1] = x
  end
  if pos > #items - 1 then for _, y in ipairs(vs) do out[#out + 1] = y end end
  local j = 0
  return make_iter(function() j = j + 1; return out[j] end, "generator")
end)
M_("replaceMany", "collection, position, values, count?", function(c, pos, vals, count)
  need_iterable(c, "replaceMany", true)
  if not is_intlike(pos) or not is_iterable(vals) or (count ~= nil and not is_intlike(count)) then no_method("replaceMany", c) end
  pos, count = as_int(pos), count and as_int(count) or 1
  local out, yielded = {}, false
  local i = -1
  for x in iter(c) do
    i = i + 1
    if (count >= 0 and pos <= i and i < pos + count) or (count < 0 and i >= pos) then
      if not yielded then
        for y in iter(vals) do out[#out + 1] = y end
        yielded = true
      end
    else
      out[#out + 1] = x
    end
  end
  local j = 0
  return make_iter(function() j = j + 1; return out[j] end, "generator")
end)

-- sets
F_("isSet", "arg", function(v) return is_set(v) end)
F_("set", "*args", function(...)
  local items, add = set_builder()
  for i = 1, select("#", ...) do unpack_iterators((select(i, ...)), add) end
  return inserted_set(items)
end)
M_("toSet", "collection", function(c)
  need_iterable(c, "toSet", true)
  if is_set(c) then return c end -- frozenset(s) is s
  local items, add = set_builder()
  for x in iter(c) do add(x) end
  return inserted_set(items)
end)
local function set2(name, fn)
  M_(name, "left, right", function(a, b)
    if not (is_set(a) and is_set(b)) then no_method(name, a) end
    return fn(a, b)
  end)
end
set2("union", Y.set_union)
set2("difference", Y.set_difference)
set2("intersect", function(a, b)
  -- CPython walks the smaller set (the argument when as large) and keeps its items:
  -- which of 1 and True stays
  if #b.items > #a.items then return set_filter(a, b, true) end
  return set_filter(b, a, true)
end)
set2("symmetricDifference", function(a, b)
  local d1, d2 = Y.set_difference(a, b), Y.set_difference(b, a)
  return Y.set_union(d1, d2)
end)
M_("add", "set, *values", function(s, ...)
  if not is_set(s) then no_method("add", s) end
  local items, add = set_builder(table.move(s.items, 1, #s.items, 1, {}))
  for i = 1, select("#", ...) do add((select(i, ...))) end
  return new_set(items)
end)
M_("remove", "set, *values", function(s, ...)
  if not is_set(s) then no_method("remove", s) end
  local items, add = set_builder()
  for i = 1, select("#", ...) do add((select(i, ...))) end
  return Y.set_difference(s, new_set(items))
end)

F_("isList", "arg", function(v) return is_seq(v) end)
F_("isDict", "arg", function(v) return is_map(v) end)

------------------------------------------------------------------------
-- strings
------------------------------------------------------------------------
local function need_str(v, name, is_method, recv)
  if type(v) ~= "string" then
    if is_method then no_method(name, recv or v) else no_func(name) end
  end
end

local function ystr(v)
  if v == null then return "null" end
  if v == true then return "true" end
  if v == false then return "false" end
  return P.str(v, "yaql")
end
Y.str = ystr
F_("str", "value", ystr)

F_("concat", "*args", function(...)
  local n = select("#", ...)
  if n == 0 then raise("eval", 'Ambiguous function "concat"') end
  local all_str = true
  for i = 1, n do if type((select(i, ...))) ~= "string" then all_str = false; break end end
  if all_str then return concat({...}) end
  -- queries.concat (extension method) for collections
  for i = 1, n do if not is_iterable((select(i, ...))) then no_func("concat") end end
  return concat_colls(...)
end)
M_("concat", "*collections", function(...)
  local first = ...
  for i = 1, select("#", ...) do
    if not is_iterable((select(i, ...))) then no_method("concat", first) end
  end
  return concat_colls(...)
end)

M_("toUpper", "string", function(s) need_str(s, "toUpper", true); return P.upper(s) end)
M_("toLower", "string", function(s) need_str(s, "toLower", true); return P.lower(s) end)

local function split_common(name, rsplit)
  return function(s, sep, maxs)
    if type(s) ~= "string" then
      if Y.regex_split and getmetatable(s) == Y.RegexMT then return Y.regex_split(s, sep, maxs) end
      no_method(name, s)
    end
    if sep ~= nil and sep ~= null and type(sep) ~= "string" then
      if Y.regex_split and getmetatable(sep) == Y.RegexMT then return Y.regex_split(sep, s, maxs) end
      no_method(name, s)
    end
    if maxs ~= nil and not is_intlike(maxs) then no_method(name, s) end
    local parts = (rsplit and P.rsplit or P.split)(s, sep, maxs and as_int(maxs) or -1)
    return pylist(parts)
  end
end
M_("split", {"string, separator?, maxSplits?", "regexp, string, maxSplit?", "string, regexp, maxSplit?"}, split_common("split", false))
M_("rightSplit", "string, separator?, maxSplits?", split_common("rightSplit", true))

local function join_seq(seq, sep)
  local parts = {}
  for x in iter(seq) do parts[#parts + 1] = ystr(x) end
  return concat(parts, sep)
end
M_("join", {"sequence, separator", "separator, sequence"}, function(a, b)
  if is_iterable(a) and type(b) == "string" then return join_seq(a, b) end
  if type(a) == "string" and is_iterable(b) then return join_seq(b, a) end
  no_method("join", a)
end)

local function trim_fn(name, which)
  return function(s, chars)
    need_str(s, name, true)
    if chars ~= nil and chars ~= null and type(chars) ~= "string" then no_method(name, s) end
    return P.strip(s, chars, which)
  end
end
M_("trim", "string, chars?", trim_fn("trim", "both"))
M_("trimLeft", "string, chars?", trim_fn("trimLeft", "left"))
M_("trimRight", "string, chars?", trim_fn("trimRight", "right"))
MF("norm", "string, chars?", function(s, chars)
  if s == null then return null end
  need_str(s, "norm", true)
  local v = P.strip(s, chars)
  if v == "" then return null end
  return v
end)
MF("isEmpty", "string, trimSpaces?, chars?", function(s, trim, chars)
  if s == null then return true end
  need_str(s, "isEmpty", true)
  if trim == nil then trim = true end
  if trim then s = P.strip(s, chars) end
  return s == ""
end)

M_("replace", {"string, old, new, count?", "string, replacements, count?", "collection, position, value, count?",
  "regexp, string, repl, count?", "string, regexp, repl, count?", "a, b, c?, d?"}, function(a, b, c, d)
  if type(a) == "string" then
    if type(b) == "string" and type(c) == "string" then
      if d ~= nil and not is_intlike(d) then no_method("replace", a) end
      return P.replace(a, b, c, d and as_int(d) or -1)
    end
    if is_map(b) and d == nil then
      if c ~= nil and not is_intlike(c) then no_method("replace", a) end
      local s = a
      for k, v in rt.dict_pairs(b) do s = P.replace(s, ystr(k), ystr(v), c and as_int(c) or -1) end
      return s
    end
    if Y.regex_replace and getmetatable(b) == Y.RegexMT and type(c) == "string" then
      return Y.regex_replace(b, a, c, d)
    end
    no_method("replace", a)
  end
  if Y.regex_replace and getmetatable(a) == Y.RegexMT and type(b) == "string" and type(c) == "string" then
    return Y.regex_replace(a, b, c, d)
  end
  -- collections.replace(collection, position, value, count=1)
  if is_iterable(a) and is_intlike(b) and c ~= nil and (d == nil or is_intlike(d)) then
    local pos, count = as_int(b), d and as_int(d) or 1
    local out, yielded, i = {}, false, -1
    for x in iter(a) do
      i = i + 1
      if (count >= 0 and pos <= i and i < pos + count) or (count < 0 and i >= pos) then
        if not yielded then yielded = true; out[#out + 1] = c end
      else
        out[#out + 1] = x
      end
    end
    local j = 0
    return make_iter(function() j = j + 1; return out[j] end, "generator")
  end
  no_method("replace", a)
end)

local function format_impl(kw, fmt, ...)
  if type(fmt) ~= "string" then no_method("format", fmt) end
  return P.format(fmt, {...}, kw, "yaql", function(obj, attr)
    raise("eval", "'" .. rt.pytype(obj) .. "' object has no attribute '" .. attr .. "'")
  end)
end
MF("format", "formatString, *args, **kwargs", format_impl)

M_("substring", "string, start, length?", function(s, start, len)
  need_str(s, "substring", true)
  if not is_intlike(start) or (len ~= nil and not is_intlike(len)) then no_method("substring", s) end
  start = as_int(start)
  len = len == nil and -1 or as_int(len)
  local n = rt.ulen(s)
  if len < 0 then len = n end
  if start < 0 then start = start + n end
  local i, j = rt.slice_bounds(n, start, start + len, 1)
  if j < i then return "" end
  return rt.usub(s, i, j)
end)

-- indexOf/lastIndexOf: strings (sub, start=0) or (sub, start, length); collections
-- (item). `find` searches a string, `coll` a collection.
local function index_of(name, find, coll)
  return function(a, b, c, d)
    if type(a) == "string" and type(b) == "string" then
      if c ~= nil and not is_intlike(c) then no_method(name, a) end
      if d ~= nil then
        if not is_intlike(d) then no_method(name, a) end
        local n = rt.ulen(a)
        local start, len = as_int(c), as_int(d)
        if start < 0 then start = start + n end
        if len < 0 then len = n - start end
        return find(a, b, start, start + len)
      end
      return find(a, b, c and as_int(c) or 0, nil)
    end
    if is_iterable(a) and c == nil then return coll(a, b) end
    no_method(name, a)
  end
end
M_("indexOf", {"string, sub, start?, length?", "collection, item", "a, b, c?, d?"},
  index_of("indexOf", P.find, coll_index_of))
M_("lastIndexOf", {"string, sub, start?, length?", "collection, item", "a, b, c?, d?"},
  index_of("lastIndexOf", P.rfind, coll_last_index_of))
M_("toCharArray", "string", function(s)
  need_str(s, "toCharArray", true)
  return tuple(rt.uchars(s))
end)
F_("isString", "arg", function(v) return type(v) == "string" end)
local function starts_ends(name, fn)
  return function(s, ...)
    need_str(s, name, true)
    local n = select("#", ...)
    for i = 1, n do if type((select(i, ...))) ~= "string" then no_method(name, s) end end
    for i = 1, n do if fn(s, (select(i, ...))) then return true end end
    return false
  end
end
M_("startsWith", "string, *prefixes", starts_ends("startsWith", P.startswith))
M_("endsWith", "string, *suffixes", starts_ends("endsWith", P.endswith))
F_("hex", "num", function(v)
  if v == null then raise("eval", "'NoneType' object cannot be interpreted as an integer") end
  if mtype(v) ~= "integer" then no_func("hex") end
  if v < 0 then return "-0x" .. string.format("%x", -v) end
  return "0x" .. string.format("%x", v)
end)

------------------------------------------------------------------------
-- math and conversions
------------------------------------------------------------------------
local function parse_int_str(s)
  local t = P.ascii_numeral(s)
  if not t then return nil end
  t = P.strip(t)
  local sign, digits = t:match("^([-+]?)([%d_]+)$")
  if not digits or digits:find("__", 1, true) or digits:sub(1, 1) == "_" or digits:sub(-1) == "_" then
    return nil
  end
  digits = digits:gsub("_", "")
  local i = math.tointeger(tonumber(digits))
  if not i or string.format("%d", i) ~= digits:gsub("^0+(%d)", "%1") then rt.overflow() end
  return sign == "-" and -i or i
end
Y.parse_int_str = parse_int_str

local function parse_float_str(s)
  local t = P.ascii_numeral(s)
  if not t then return nil end
  t = P.strip(t):lower()
  local sign, rest = t:match("^([-+]?)(.*)$")
  if rest == "inf" or rest == "infinity" then return sign == "-" and -math.huge or math.huge end
  if rest == "nan" then return 0.0 / 0.0 end
  if rest:find("__", 1, true) or rest:match("^_") or rest:match("_$") or rest:find("_[%.e]") or rest:find("[%.e]_") then return nil end
  rest = rest:gsub("_", "")
  if not (rest:match("^%d+%.?%d*$") or rest:match("^%.%d+$") or rest:match("^%d+%.?%d*e[-+]?%d+$") or rest:match("^%.%d+e[-+]?%d+$")) then
    return nil
  end
  local v = tonumber(rest)
  if not v then return nil end
  v = v * 1.0
  return sign == "-" and -v or v
end
Y.parse_float_str = parse_float_str

F_("int", "value", function(v)
  if v == null then return 0 end
  local tv = type(v)
  if tv == "boolean" then return v and 1 or 0 end
  if tv == "number" then
    if mtype(v) == "integer" then return v end
    return rt.float_to_int(v)
  end
  if tv == "string" then
    local i = parse_int_str(v)
    if not i then raise("eval", "invalid literal for int() with base 10: " .. P.str_repr(v)) end
    return i
  end
  raise("eval", "int() argument must be a string, a bytes-like object or a real number, not '" .. rt.pytype(v) .. "'")
end)
F_("float", "value", function(v)
  if v == null then return 0.0 end
  local tv = type(v)
  if tv == "boolean" then return v and 1.0 or 0.0 end
  if tv == "number" then return v * 1.0 end
  if tv == "string" then
    local f = parse_float_str(v)
    if not f then raise("eval", "could not convert string to float: " .. P.str_repr(v)) end
    return f
  end
  raise("eval", "float() argument must be a string or a real number, not '" .. rt.pytype(v) .. "'")
end)
F_("bool", "value", function(v) return truthy(v) end)
F_("isBoolean", "value", function(v) return type(v) == "boolean" end)
F_("isInteger", "value", function(v) return mtype(v) == "integer" end)
F_("isNumber", "value", function(v) return type(v) == "number" end)
F_("abs", "op", function(v)
  if type(v) ~= "number" then no_func("abs") end
  if mtype(v) == "integer" then
    if v == math.mininteger then rt.overflow() end
    return v < 0 and -v or v
  end
  return math.abs(v)
end)
F_("sign", "num", function(v)
  if type(v) ~= "number" then no_func("sign") end
  if v > 0 then return 1 elseif v < 0 then return -1 end
  return 0
end)
F_("pow", "a, b, c?", function(a, b, c)
  if type(a) ~= "number" or type(b) ~= "number" or (c ~= nil and c ~= null and type(c) ~= "number") then no_func("pow") end
  if c ~= nil and c ~= null then
    if mtype(a) ~= "integer" or mtype(b) ~= "integer" or mtype(c) ~= "integer" then
      raise("eval", "pow() 3rd argument not allowed unless all arguments are integers")
    end
    if c == 0 then raise("eval", "pow() 3rd argument cannot be 0") end
    if b < 0 then raise("unsupported", "modular inverse") end
    local r, base, e = 1 % c, a % c, b
    while e > 0 do
      if e % 2 == 1 then r = rt.imul(r, base) % c end
      base = rt.imul(base, base) % c
      e = e // 2
    end
    return r
  end
  return rt.pow(a, b)
end)
-- ax (>= 1) rounded half to even to a multiple of 10^k, from its exact
-- decimal digits (a value >= 1 has at most 52 fractional digits)
local function round_to_tens(ax, k)
  local int, frac = string.format("%.99f", ax):match("^(%d+)%.(%d+)$")
  local cut = #int - k
  if cut < 0 then return 0.0 end
  local kept, rest = int:sub(1, cut), int:sub(cut + 1) .. frac
  local first = rest:sub(1, 1)
  local last_odd = kept ~= "" and tonumber(kept:sub(-1)) % 2 == 1
  if first > "5" or (first == "5" and (rest:find("[1-9]", 2) or last_odd)) then
    local i = #kept
    while i > 0 and kept:sub(i, i) == "9" do i = i - 1 end
    kept = (i == 0 and "1" or kept:sub(1, i - 1) .. tostring(tonumber(kept:sub(i, i)) + 1))
      .. string.rep("0", #kept - i)
  end
  return tonumber((kept == "" and "0" or kept) .. string.rep("0", k) .. ".0")
end

local function py_round(x, nd)
  if mtype(x) == "integer" then
    if nd >= 0 then return x end
    local p = rt.pow(10, -nd)
    local q, r = x // p, x % p
    -- round half to even
    if r * 2 > p or (r * 2 == p and q % 2 == 1) then q = q + 1 end
    return q * p
  end
  if x ~= x or x == math.huge or x == -math.huge then return x end
  -- CPython's float_round: the exact decimal value rounded half to even, the
  -- sign kept (round(-0.4) is -0.0); beyond these bounds x or a zero
  if nd > 323 then return x end
  local negative = x < 0 or (x == 0 and 1 / x < 0)
  local ax = negative and -x or x
  local r
  if nd < -308 or (nd < 0 and ax < 1) then
    r = 0.0
  elseif nd < 0 then
    r = round_to_tens(ax, -nd)
  elseif nd > 99 then
    -- string.format stops at 99 digits; finer than x's last bit is x itself
    if ax ~= 0 and ax * 2.0 ^ -53 <= 2 * 10.0 ^ -nd then
      raise("unsupported", "round() to more than 99 digits of a value this small")
    end
    r = ax
  else
    r = tonumber(string.format("%." .. nd .. "f", ax)) * 1.0
  end
  if negative then r = -r end
  return r
end
Y.py_round = py_round
F_("round", "number, ndigits?", function(x, nd)
  if type(x) ~= "number" or (nd ~= nil and not is_intlike(nd)) then no_func("round") end
  nd = nd == nil and 0 or as_int(nd)
  return py_round(x, nd)
end)
F_("random", "a?, b?", function() raise("unsupported", "random() is not deterministic") end)
local function bitop(name, fn)
  F_(name, "left, right", function(a, b)
    if not is_intlike(a) or not is_intlike(b) then no_func(name) end
    return fn(as_int(a), as_int(b))
  end)
end
bitop("bitwiseAnd", function(a, b) return a & b end)
bitop("bitwiseOr", function(a, b) return a | b end)
bitop("bitwiseXor", function(a, b) return a ~ b end)
F_("bitwiseNot", "arg", function(a) if not is_intlike(a) then no_func("bitwiseNot") end return ~as_int(a) end)
F_("shiftBitsRight", "value, bitsNumber", function(a, b)
  if not is_intlike(a) or not is_intlike(b) then no_func("shiftBitsRight") end
  a, b = as_int(a), as_int(b)
  if b < 0 then raise("eval", "negative shift count") end
  if b >= 63 then return a < 0 and -1 or 0 end
  return a >> b | (a < 0 and ~((-1) >> b) or 0)
end)
F_("shiftBitsLeft", "value, bitsNumber", function(a, b)
  if not is_intlike(a) or not is_intlike(b) then no_func("shiftBitsLeft") end
  a, b = as_int(a), as_int(b)
  if b < 0 then raise("eval", "negative shift count") end
  local r = a
  for _ = 1, b do r = rt.imul(r, 2) end
  return r
end)

------------------------------------------------------------------------
-- branching
------------------------------------------------------------------------
F_("selectCase", "*args:L", function(...)
  local n = select("#", ...)
  for i = 1, n do if truthy((select(i, ...))()) then return i - 1 end end
  return n
end)
F_("examine", "*args:L", function(...)
  local out = {}
  for i = 1, select("#", ...) do out[i] = truthy((select(i, ...))()) end
  local j = 0
  return make_iter(function() j = j + 1; return out[j] end, "generator")
end)
M_("switchCase", "case, *args:L", function(case, ...)
  if not is_intlike(case) then no_method("switchCase", case) end
  case = as_int(case)
  local n = select("#", ...)
  if case >= 0 and case < n then return (select(case + 1, ...))() end
  if n == 0 then return null end
  return (select(n, ...))()
end)
F_("coalesce", "*args:L", function(...)
  for i = 1, select("#", ...) do
    local r = (select(i, ...))()
    if r ~= null then return r end
  end
  return null
end)
M_("assert", "obj, condition:L, message?", function(obj, cond, msg)
  if getmetatable(obj) == Iter then obj = pylist(collect(obj)) end
  if not truthy(cond(obj)) then raise("eval", msg == nil and "Assertion failed" or ystr(msg)) end
  return obj
end)

------------------------------------------------------------------------
-- regular expressions (yaql regex module)
------------------------------------------------------------------------
local RX = M.regex
local RegexMT = RX.RegexMT
Y.RegexMT = RegexMT
local function is_regex(v) return getmetatable(v) == RegexMT end
local function as_regex(v) if is_regex(v) then return v end return RX.cached(v) end

F_("regex", "pattern, ignoreCase?, multiLine?, dotAll?", function(pat, ic, ml, da)
  if type(pat) ~= "string" then no_func("regex") end
  local flags = 0
  if ic ~= nil and truthy(ic) then flags = flags | RX.flags.IGNORECASE end
  if ml ~= nil and truthy(ml) then flags = flags | RX.flags.MULTILINE end
  if da ~= nil and truthy(da) then flags = flags | RX.flags.DOTALL end
  return RX.compile(pat, flags)
end)
F_("isRegex", "value", function(v) return is_regex(v) end)
F_("escapeRegex", "string", function(s)
  if type(s) ~= "string" then no_func("escapeRegex") end
  return RX.escape(s)
end)
M_("matches", {"regexp, string", "string, regexp"}, function(a, b)
  if is_regex(a) and type(b) == "string" then return RX.search(a, b) ~= nil end
  if type(a) == "string" and type(b) == "string" then return RX.search(RX.cached(b), a) ~= nil end
  no_method("matches", a)
end)
function Y.re_match(s, pat)
  if type(s) == "string" and (type(pat) == "string" or is_regex(pat)) then
    return RX.search(as_regex(pat), s) ~= nil
  end
  no_func("#operator_=~")
end
function Y.re_nomatch(s, pat)
  if type(s) == "string" and (type(pat) == "string" or is_regex(pat)) then
    return RX.search(as_regex(pat), s) == nil
  end
  no_func("#operator_!~")
end
local function match_record(mo, g)
  local d = new_dict()
  local v = RX.group(mo, g)
  local s0, e0 = RX.span(mo, g)
  dict_set(d, "value", v == nil and null or v)
  dict_set(d, "start", s0)
  dict_set(d, "end", e0)
  return d
end
M_("search", "regexp, string, selector?:L", function(rx, s, sel)
  if not is_regex(rx) or type(s) ~= "string" then no_method("search", rx) end
  local mo = RX.search(rx, s)
  if not mo then return null end
  if sel == nil then return RX.group(mo, 0) end
  return sel(match_record(mo, 0), rx.ngroups >= 1 and match_record(mo, 1) or nil)
end)
M_("searchAll", "regexp, string, selector?:L", function(rx, s, sel)
  if not is_regex(rx) or type(s) ~= "string" then no_method("searchAll", rx) end
  local mos = RX.finditer(rx, s)
  local i = 0
  return make_iter(function()
    i = i + 1
    local mo = mos[i]
    if not mo then return nil end
    if sel == nil then return RX.group(mo, 0) end
    return sel(match_record(mo, 0), rx.ngroups >= 1 and match_record(mo, 1) or nil)
  end, "generator")
end)
function Y.regex_split(rx, s, maxs)
  if type(s) ~= "string" then no_method("split", rx) end
  if maxs ~= nil and not is_intlike(maxs) then no_method("split", rx) end
  return pylist(RX.split(rx, s, maxs and as_int(maxs) or 0))
end
function Y.regex_replace(rx, s, repl, count)
  if count ~= nil and not is_intlike(count) then no_method("replace", rx) end
  return RX.sub(rx, repl, s, count and as_int(count) or 0)
end
M_("replaceBy", "a, b, repl:L, count?", function(a, b, repl, count)
  local rx, s
  if is_regex(a) and type(b) == "string" then rx, s = a, b
  elseif type(a) == "string" and is_regex(b) then rx, s = b, a
  else no_method("replaceBy", a) end
  if count ~= nil and not is_intlike(count) then no_method("replaceBy", a) end
  return RX.sub(rx, function(mo)
    local r = repl(match_record(mo, 0), rx.ngroups >= 1 and match_record(mo, 1) or nil)
    if type(r) ~= "string" then raise("eval", "expected str instance, " .. rt.pytype(r) .. " found") end
    return r
  end, s, count and as_int(count) or 0)
end)

------------------------------------------------------------------------
-- date/time functions: outside the subset (clock-dependent or producing
-- datetime values JSON cannot carry)
------------------------------------------------------------------------
F_("isDatetime", "value", function() return false end)
F_("isTimespan", "value", function() return false end)
for _, name in ipairs({"now", "localtz", "utctz", "datetime", "timespan"}) do
  F_(name, "*args, **kwargs", function()
    raise("unsupported", "unsupported YAQL construct '" .. name .. "()' (date and time functions)")
  end)
end

------------------------------------------------------------------------
-- Mistral functions
------------------------------------------------------------------------
-- json.loads() gives Python dicts and lists, all the way down
F_("json_parse", "data", function(s)
  if type(s) ~= "string" then
    raise("eval", "the JSON object must be str, bytes or bytearray, not " .. rt.pytype(s))
  end
  return J.parse(s, PyList, true)
end)
F_("json_dump", "data", function(v) return J.dump(v, true) end)
-- both linear in their input and output, native (src/eval_native.c) or not: no count hook
Y.linear.json_parse, Y.linear.json_dump = 0, 0
F_("json_pp", "data?", function(v)
  if v == nil or not truthy(v) then
    raise("unsupported", "json_pp() of the YAQL context is not supported")
  end
  local s = J.dump(v, true)
  return (s:gsub("\\n", "\n"):gsub(" \n", "\n"))
end)
F_("uuid", "", function()
  local host = M.host
  if host and host.has and host.has("uuid") then return from_host(rt.host_call(host, "uuid", setmetatable({}, List), nil, null)) end
  return rt.uuid4()
end)
F_("yaml_dump", "data", function(v) return J.yaml_dump(v) end)

------------------------------------------------------------------------
-- host functions
------------------------------------------------------------------------
-- glare(a, b, c): when the host has a direct entry for three strings, call it
-- without building the argument list (the common form, worth its own path)
-- `order`: the keyword form's names as written ("version,name,resource"), for its errors
function Y.host_glare(data, a, b, c, order)
  local g = M.host and M.host.glare
  if g and type(a) == "string" and type(b) == "string" and type(c) == "string" then
    return g(a, b, c)
  end
  if order then
    local given, kw = {name = a, version = b, resource = c}, new_dict()
    for k in order:gmatch("[^,]+") do dict_set(kw, k, given[k]) end
    return Y.host_call("glare", data, {}, kw)
  end
  return Y.host_call("glare", data, {a, b, c}, nil)
end

function Y.host_call(name, data, args, kw)
  local host = M.host
  if not (host and host.has and host.has(name)) then
    Y.unknown_function(name)
  end
  if name == "yaml_parse" and not kw and #args == 1 then
    -- natively, its lists Python's already (what from_host makes of the host's)
    local v = rt.native_yaml_parse(args[1], PyList)
    if v ~= nil then return v end
  end
  local hargs = {}
  for i = 1, #args do hargs[i] = to_host(args[i]) end
  local hkw
  if kw then
    hkw = new_dict()
    for k, v in rt.dict_pairs(kw) do dict_set(hkw, k, to_host(v)) end
  end
  local r = rt.host_call(host, name, setmetatable(hargs, List), hkw, data)
  return from_host(r)
end

return Y
