-- glarex jinjalib: runtime of compiled Jinja code -- Python operators and
-- values, SandboxedEnvironment attribute/item lookup (attribute first),
-- StrictUndefined, the builtin filters and tests Jinja 3.1 ships, Python
-- methods of str/dict/list, the default globals and Mistral's functions
-- (globals bound to the data context and raw filters).
local M = ...
local rt, P, JS = M.runtime, M.pyfmt, M.json
local L = {}

local type, getmetatable, setmetatable, select, pairs, ipairs =
  type, getmetatable, setmetatable, select, pairs, ipairs
local mtype = math.type
local concat = table.concat
local sfind, ssub, sformat = string.find, string.sub, string.format
local null = rt.null
local List, Dict, Tuple, PyList, Set, Iter, Undefined, Func, Range =
  rt.List, rt.Dict, rt.Tuple, rt.PyList, rt.Set, rt.Iter, rt.Undefined, rt.Func, rt.Range
local raise, truthy, eq, iter, make_iter = rt.raise, rt.truthy, rt.eq, rt.iter, rt.make_iter
local dict_get, dict_set, new_dict = rt.dict_get, rt.dict_set, rt.dict
local undef_fail = rt.undef_fail
local Markup, markup, unmark = rt.Markup, rt.markup, rt.unmark
local escape, html_escape = P.escape, P.html_escape

local Loop = {__name = "LoopContext"}
local NS = {__name = "Namespace"}
L.Loop, L.NS = Loop, NS

local function undefined(hint, exc) return rt.undefined(hint, true, exc) end
L.undefined = undefined
local function is_undef(v) return getmetatable(v) == Undefined end
local function type_error(msg) raise("eval", msg) end
local function pytype(v) return rt.pytype(v) end

local function list_of(t) return setmetatable(t, List) end
local function tuple_of(t) return setmetatable(t, Tuple) end

------------------------------------------------------------------------
-- str() of values (template output, ~, string filter)
------------------------------------------------------------------------
local function tostr(v)
  local tv = type(v)
  if tv == "string" then return v end
  if tv == "number" then return P.num_str(v) end
  if tv == "boolean" then return v and "True" or "False" end
  return P.str(v)
end
L.tostr = tostr

local prev_repr_hook = P.repr_hook
P.repr_hook = function(v, mode)
  local mt = getmetatable(v)
  if mt == NS then return "<Namespace " .. P.repr(v.attrs, mode) .. ">" end
  if prev_repr_hook then return prev_repr_hook(v, mode) end
  return nil
end

------------------------------------------------------------------------
-- numbers (bool is an int in Python)
------------------------------------------------------------------------
local function num(v)
  local tv = type(v)
  if tv == "number" then return v end
  if tv == "boolean" then return v and 1 or 0 end
  return nil
end

local function check_undef2(a, b)
  if getmetatable(a) == Undefined then undef_fail(a) end
  if getmetatable(b) == Undefined then undef_fail(b) end
end

local function binop_error(op, a, b)
  check_undef2(a, b)
  type_error("unsupported operand type(s) for " .. op .. ": '" .. pytype(a) .. "' and '" .. pytype(b) .. "'")
end

-- Markup.__add__ / __radd__: the str side is escaped; anything else is refused
local function markup_add(a, b, ma, mb)
  if (ma == Markup or type(a) == "string") and (mb == Markup or type(b) == "string") then
    return markup(escape(a) .. escape(b))
  end
  if ma == List then type_error('can only concatenate list (not "Markup") to list') end
  binop_error("+", a, b)
end
function L.add(a, b)
  local na, nb = num(a), num(b)
  if na and nb then return rt.add(na, nb) end
  local ta, tb = type(a), type(b)
  if ta == "string" and tb == "string" then return a .. b end
  local ma, mb = getmetatable(a), getmetatable(b)
  if ma == Markup or mb == Markup then return markup_add(a, b, ma, mb) end
  if (ma == List or ma == Tuple) and ma == mb then
    local out, n = {}, #a
    for i = 1, n do out[i] = a[i] end
    for i = 1, #b do out[n + i] = b[i] end
    return setmetatable(out, ma)
  end
  check_undef2(a, b)
  if ta == "string" then type_error('can only concatenate str (not "' .. pytype(b) .. '") to str') end
  if ma == List then type_error('can only concatenate list (not "' .. pytype(b) .. '") to list') end
  binop_error("+", a, b)
end
function L.sub(a, b)
  local na, nb = num(a), num(b)
  if na and nb then return rt.sub(na, nb) end
  binop_error("-", a, b)
end
local repeat_seq = rt.repeat_seq
function L.mul(a, b)
  local na, nb = num(a), num(b)
  if na and nb then return rt.mul(na, nb) end
  local ta, tb = type(a), type(b)
  local ia = mtype(na) == "integer" and na or nil
  local ib = mtype(nb) == "integer" and nb or nil
  if ta == "string" and ib then return ib > 0 and a:rep(ib) or "" end
  if tb == "string" and ia then return ia > 0 and b:rep(ia) or "" end
  local ma, mb = getmetatable(a), getmetatable(b)
  if ma == Markup and ib then return markup(ib > 0 and a.s:rep(ib) or "") end
  if mb == Markup and ia then return markup(ia > 0 and b.s:rep(ia) or "") end
  if ma == Markup or mb == Markup then
    -- Markup has no sequence slots of its own: str, list and tuple try to repeat by it
    local other = ma == Markup and b or a
    local mo = getmetatable(other)
    if type(other) == "string" or mo == List or mo == Tuple then
      type_error("can't multiply sequence by non-int of type 'Markup'")
    end
    binop_error("*", a, b)
  end
  if (ma == List or ma == Tuple) and ib then return repeat_seq(a, ib, ma) end
  if (mb == List or mb == Tuple) and ia then return repeat_seq(b, ia, mb) end
  binop_error("*", a, b)
end
function L.div(a, b)
  local na, nb = num(a), num(b)
  if na and nb then return rt.truediv(na, nb) end
  binop_error("/", a, b)
end
function L.floordiv(a, b)
  local na, nb = num(a), num(b)
  if na and nb then return rt.floordiv(na, nb) end
  binop_error("//", a, b)
end
function L.mod(a, b)
  local na, nb = num(a), num(b)
  if na and nb then return rt.mod(na, nb) end
  if type(a) == "string" then return P.percent(a, b) end
  if getmetatable(a) == Markup then return markup(P.percent(a.s, b, nil, true)) end
  binop_error("%", a, b)
end
function L.pow(a, b)
  local na, nb = num(a), num(b)
  if na and nb then return rt.pow(na, nb) end
  binop_error("** or pow()", a, b)
end
function L.neg(a)
  local na = num(a)
  if na then return rt.neg(na) end
  if getmetatable(a) == Undefined then undef_fail(a) end
  type_error("bad operand type for unary -: '" .. pytype(a) .. "'")
end
function L.pos(a)
  local na = num(a)
  if na then return na end
  if getmetatable(a) == Undefined then undef_fail(a) end
  type_error("bad operand type for unary +: '" .. pytype(a) .. "'")
end
-- a ~ b ~ c
function L.cat(...)
  local n = select("#", ...)
  local parts = {...}
  for i = 1, n do parts[i] = tostr(parts[i]) end
  return concat(parts)
end

L.eq = eq
function L.ne(a, b) return not eq(a, b) end
L.lt, L.gt, L.le, L.ge = rt.lt, rt.gt, rt.le, rt.ge

-- Python `a in b`
local function op_in(a, b)
  local tb = type(b)
  if tb == "string" then
    if type(a) ~= "string" then
      if getmetatable(a) == Markup then return sfind(b, a.s, 1, true) ~= nil end
      if getmetatable(a) == Undefined then undef_fail(a) end
      type_error("'in <string>' requires string as left operand, not " .. pytype(a))
    end
    return sfind(b, a, 1, true) ~= nil
  end
  local mb = getmetatable(b)
  if mb == Markup then return op_in(a, b.s) end
  if mb == Dict then
    L.check_hashable(a)
    return dict_get(b, a) ~= nil
  end
  if mb == List or mb == Tuple or mb == PyList or mb == Set or mb == Iter then
    return rt.contains_iter(b, a)
  end
  if mb == Range then
    local na = num(a)
    if not na or mtype(na) ~= "integer" then
      for x in iter(b) do if eq(x, a) then return true end end
      return false
    end
    local s, e, st = b.start, b.stop, b.step
    if st > 0 then if na < s or na >= e then return false end
    else if na > s or na <= e then return false end end
    return (na - s) % st == 0
  end
  if mb == Undefined then undef_fail(b) end
  type_error("argument of type '" .. pytype(b) .. "' is not iterable")
end
L.op_in = op_in
function L.op_notin(a, b) return not op_in(a, b) end
L.truthy = truthy

------------------------------------------------------------------------
-- iteration helpers
------------------------------------------------------------------------
local function collect(v)
  local mt = getmetatable(v)
  if mt == List or mt == Tuple or mt == PyList then -- a copy, without an iterator
    local out = {}
    for i = 1, #v do out[i] = v[i] end
    return out
  end
  if mt == Iter and v.drain then return v.drain() end
  if mt == Undefined and v.strict then undef_fail(v) end
  local out, n = {}, 0
  for x in iter(v) do n = n + 1; out[n] = x end
  return out
end
L.collect = collect

local function py_len(v)
  local tv = type(v)
  if tv == "string" then return rt.ulen(v) end
  local mt = getmetatable(v)
  if mt == List or mt == Tuple or mt == PyList then return #v end
  if mt == Dict then return #v.keys end
  if mt == Set then return #v.items end
  if mt == Range then return rt.range_len(v) end
  if mt == Markup then return rt.ulen(v.s) end
  if mt == Undefined then
    if v.strict then undef_fail(v) end
    return 0
  end
  type_error("object of type '" .. pytype(v) .. "' has no len()")
end
L.len = py_len

local function gen_from_array(arr, what)
  local i = 0
  return make_iter(function() i = i + 1; return arr[i] end, what or "generator")
end

------------------------------------------------------------------------
-- Python's sorted(): stable, with CPython's comparisons
------------------------------------------------------------------------
-- CPython sorts fewer than MIN_MERGE items with one binary insertion sort after the
-- leading run (reversed when strictly descending). Making the same comparisons in
-- the same order gives the same result and the same error even for keys Python does
-- not order totally (NaN, sets, mixed types). Longer lists are merge sorted, which
-- gives CPython's result for totally ordered keys.
local MIN_MERGE = 64
-- A sort runs without the count hook (sort, dictsort in a bounded template) only
-- within a constant bound: fewer than MIN_MERGE keys, all numbers or all strings of
-- at most SMALL_KEY bytes. Any other sort turns the hook on first (rt.guard).
local SMALL_KEY = 256
local lt, str_lt = rt.lt, rt.str_lt
local function num_lt(a, b) return a < b end

-- The comparison keys[1..n] need (Python's < for keys of mixed or other types), and
-- whether sorting them stays within the constant bound.
local function key_order(keys, n)
  local first = type(keys[1])
  if first == "number" then
    for i = 2, n do if type(keys[i]) ~= "number" then return lt, false end end
    return num_lt, n < MIN_MERGE
  elseif first == "string" then
    local small = n < MIN_MERGE
    for i = 1, n do
      local k = keys[i]
      if type(k) ~= "string" then return lt, false end
      if #k > SMALL_KEY then small = false end
    end
    return str_lt, small
  end
  return lt, false
end

local function reverse_both(ks, vs, n)
  local i, j = 1, n
  while i < j do
    ks[i], ks[j] = ks[j], ks[i]
    vs[i], vs[j] = vs[j], vs[i]
    i, j = i + 1, j - 1
  end
end

-- CPython's count_run and binarysort over the whole of ks (and vs alongside)
local function insertion_sort(ks, vs, n, less)
  if n < 2 then return end
  local run = 2
  if less(ks[2], ks[1]) then
    while run < n and less(ks[run + 1], ks[run]) do run = run + 1 end
    reverse_both(ks, vs, run)
  else
    while run < n and not less(ks[run + 1], ks[run]) do run = run + 1 end
  end
  for start = run + 1, n do
    local pk, pv = ks[start], vs[start]
    local l, r = 1, start
    repeat
      local m = l + ((r - l) >> 1)
      if less(pk, ks[m]) then r = m else l = m + 1 end
    until l >= r
    for q = start, l + 1, -1 do ks[q] = ks[q - 1]; vs[q] = vs[q - 1] end
    ks[l], vs[l] = pk, pv
  end
end

-- stable merge sort of ks[lo..hi] (and vs alongside); tk, tv: scratch space
local function merge_sort(ks, vs, lo, hi, less, tk, tv)
  if hi <= lo then return end
  local mid = (lo + hi) // 2
  merge_sort(ks, vs, lo, mid, less, tk, tv)
  merge_sort(ks, vs, mid + 1, hi, less, tk, tv)
  local m = 0
  for i = lo, mid do m = m + 1; tk[m] = ks[i]; tv[m] = vs[i] end
  local a, b, k = 1, mid + 1, lo
  while a <= m and b <= hi do
    if less(ks[b], tk[a]) then ks[k], vs[k] = ks[b], vs[b]; b = b + 1
    else ks[k], vs[k] = tk[a], tv[a]; a = a + 1 end
    k = k + 1
  end
  while a <= m do ks[k], vs[k] = tk[a], tv[a]; a, k = a + 1, k + 1 end
end

-- Sorts items (in place) by keys (keys[i] belongs to items[i], both arrays reordered)
-- as Python's sorted(items, key=..., reverse=reverse) does, comparing keys with
-- `less` (within the constant bound if `small`), or with what key_order finds when
-- it is nil. Python reverses the list before and after a reverse sort, which keeps
-- it stable.
local function sort_by_keys(items, keys, reverse, less, small)
  local n = #items
  if not less then less, small = key_order(keys, n) end
  if not small then rt.guard() end
  if reverse then reverse_both(keys, items, n) end
  if n < MIN_MERGE then insertion_sort(keys, items, n, less)
  else merge_sort(keys, items, 1, n, less, {}, {}) end
  if reverse then reverse_both(keys, items, n) end
  return items
end

-- a sorted copy of an array, by key function (Python's sorted(arr, key=keyf))
local function stable_sort(arr, keyf, reverse)
  local n = #arr
  local items, keys = {}, {}
  for i = 1, n do
    local x = arr[i]
    items[i] = x
    if keyf then keys[i] = keyf(x) else keys[i] = x end
  end
  return sort_by_keys(items, keys, reverse)
end
L.stable_sort = stable_sort

------------------------------------------------------------------------
-- argument binding for Python-level callables
------------------------------------------------------------------------
local REQ = {}
L.REQ = REQ
local function bind(fname, args, kw, names, defaults)
  local out = {}
  local n = args and #args or 0
  if n > #names then
    type_error(fname .. "() takes " .. #names .. " positional arguments but " .. n .. " were given")
  end
  for i = 1, n do out[i] = args[i] end
  if kw then
    local ks = kw.keys
    for j = 1, #ks do
      local k = ks[j]
      local v = dict_get(kw, k)
      local idx
      for i = 1, #names do if names[i] == k then idx = i; break end end
      if not idx then type_error(fname .. "() got an unexpected keyword argument '" .. tostring(k) .. "'") end
      if out[idx] ~= nil then type_error(fname .. "() got multiple values for argument '" .. k .. "'") end
      out[idx] = v
    end
  end
  for i = 1, #names do
    if out[i] == nil then
      local d = defaults and defaults[i]
      if d == REQ then
        type_error(fname .. "() missing required argument: '" .. names[i] .. "'")
      end
      if d == nil then d = null end
      out[i] = d
    end
  end
  return out
end
L.bind = bind
-- bind() for calls that mostly come without arguments: then the defaults themselves
-- (complete, no REQ among them; the caller only reads them), without a new table
local function bind_opt(fname, args, kw, names, defaults)
  if kw == nil and args[1] == nil then return defaults end
  return bind(fname, args, kw, names, defaults)
end

local function opt(v) if v == null then return nil end return v end

------------------------------------------------------------------------
-- Python methods of builtin types
------------------------------------------------------------------------
local function func(name, fn, pytypename)
  return setmetatable({name = name, call = fn, pytype = pytypename}, Func)
end
L.func = func

local function need_str_arg(v, what)
  if type(v) ~= "string" then
    if getmetatable(v) == Undefined then undef_fail(v) end
    type_error(what .. " must be str, not " .. pytype(v))
  end
  return v
end
local function need_int_arg(v, what)
  local n = num(v)
  if not n or mtype(n) ~= "integer" then
    if getmetatable(v) == Undefined then undef_fail(v) end
    type_error("'" .. pytype(v) .. "' object cannot be interpreted as an integer")
  end
  return n
end
local function opt_int(v)
  if v == nil or v == null then return nil end
  return need_int_arg(v)
end

local function mutating(name)
  return function() raise("unsupported", "mutating method '" .. name .. "' is not supported") end
end

local function noargs(name, fn)
  return function(s, args, kw)
    if (args and #args > 0) or (kw and #kw.keys > 0) then
      type_error(name .. "() takes no arguments (" .. ((args and #args or 0) + (kw and #kw.keys or 0)) .. " given)")
    end
    return fn(s)
  end
end
L.noargs = noargs
local STR = {}
L.STR_METHODS = STR
STR.upper = noargs("upper", P.upper)
STR.lower = noargs("lower", P.lower)
STR.casefold = noargs("casefold", P.casefold)
STR.capitalize = noargs("capitalize", P.capitalize)
STR.title = noargs("title", P.title)
STR.swapcase = noargs("swapcase", P.swapcase)
local function strip_m(which)
  return function(s, args, kw)
    local a = bind("strip", args, kw, {"chars"})
    local chars = opt(a[1])
    if chars ~= nil then need_str_arg(chars, "strip arg") end
    return P.strip(s, chars, which)
  end
end
STR.strip, STR.lstrip, STR.rstrip = strip_m("both"), strip_m("left"), strip_m("right")
local function split_m(rs)
  return function(s, args, kw)
    local a = bind("split", args, kw, {"sep", "maxsplit"})
    local sep = opt(a[1])
    if sep ~= nil then need_str_arg(sep, "must be str or None") end
    local ms = opt_int(a[2]) or -1
    return list_of((rs and P.rsplit or P.split)(s, sep, ms))
  end
end
STR.split, STR.rsplit = split_m(false), split_m(true)
STR.splitlines = function(s, args, kw)
  local a = bind("splitlines", args, kw, {"keepends"})
  return list_of(P.splitlines(s, truthy(a[1])))
end
STR.replace = function(s, args, kw)
  local a = bind("replace", args, kw, {"old", "new", "count"}, {REQ, REQ, -1})
  need_str_arg(a[1], "replace() argument 1"); need_str_arg(a[2], "replace() argument 2")
  return P.replace(s, a[1], a[2], need_int_arg(a[3]))
end
local function affix_m(fn, what)
  return function(s, args, kw)
    local a = bind(what, args, kw, {"prefix", "start", "end"}, {REQ})
    local x = a[1]
    local sub = s
    local st, en = opt_int(a[2]), opt_int(a[3])
    if st or en then
      local n = rt.ulen(s)
      local i, j = rt.slice_bounds(n, st, en, 1)
      sub = j > i and rt.usub(s, i, j) or ""
    end
    if getmetatable(x) == Tuple then
      for _, y in ipairs(x) do if fn(sub, need_str_arg(y, what)) then return true end end
      return false
    end
    return fn(sub, need_str_arg(x, what .. " first arg"))
  end
end
STR.startswith = affix_m(P.startswith, "startswith")
STR.endswith = affix_m(P.endswith, "endswith")
STR.join = function(s, args, kw)
  local a = bind("join", args, kw, {"iterable"}, {REQ})
  local parts = {}
  for x in iter(a[1]) do
    if type(x) ~= "string" then
      if getmetatable(x) ~= Markup then
        type_error("sequence item " .. #parts .. ": expected str instance, " .. pytype(x) .. " found")
      end
      x = x.s
    end
    parts[#parts + 1] = x
  end
  return concat(parts, s)
end
local function find_m(fn, what, raise_missing)
  return function(s, args, kw)
    local a = bind(what, args, kw, {"sub", "start", "end"}, {REQ})
    need_str_arg(a[1], what)
    local r = fn(s, a[1], opt_int(a[2]), opt_int(a[3]))
    if raise_missing and r < 0 then raise("eval", "substring not found") end
    return r
  end
end
STR.find = find_m(P.find, "find")
STR.rfind = find_m(P.rfind, "rfind")
STR.index = find_m(P.find, "index", true)
STR.rindex = find_m(P.rfind, "rindex", true)
STR.count = function(s, args, kw)
  local a = bind("count", args, kw, {"sub"}, {REQ})
  return P.count(s, need_str_arg(a[1], "count"))
end
STR.format = function(s, args, kw)
  return P.format(s, args, kw, nil, function(o, attr)
    if sfind(attr, "^_") then raise("eval", "access to attribute '" .. attr .. "' of '" .. pytype(o) .. "' object is unsafe.") end
    return L.getattr(o, attr)
  end)
end
STR.format_map = function(s, args, kw)
  local a = bind("format_map", args, kw, {"mapping"}, {REQ})
  return P.format(s, {}, a[1], nil)
end
local function cp_test(pred)
  return function(s)
    if s == "" then return false end
    for _, ch in ipairs(rt.uchars(s)) do if not pred(ch, P.cp_of(ch)) then return false end end
    return true
  end
end
STR.isdigit = noargs("isdigit", cp_test(function(_, cp) return P.is_digit_cp(cp) end))
STR.isdecimal = noargs("isdecimal", cp_test(function(_, cp) return P.is_decimal_cp(cp) end))
STR.isnumeric = noargs("isnumeric", cp_test(function(_, cp) return P.is_numeric_cp(cp) end))
STR.isalpha = noargs("isalpha", cp_test(function(_, cp) return P.is_alpha_cp(cp) end))
STR.isalnum = noargs("isalnum", cp_test(function(_, cp) return P.is_alnum_cp(cp) end))
STR.isspace = noargs("isspace", cp_test(function(_, cp) return P.is_space_cp(cp) end))
-- isascii and isprintable hold for "", isidentifier does not
STR.isascii = noargs("isascii", rt.is_ascii)
STR.isprintable = noargs("isprintable", function(s)
  for _, cp in utf8.codes(s, true) do if not P.is_printable_cp(cp) then return false end end
  return true
end)
STR.isidentifier = noargs("isidentifier", function(s)
  local first = true
  for _, cp in utf8.codes(s, true) do
    if first then
      if not (cp == 95 or P.is_xid_start_cp(cp)) then return false end
      first = false
    elseif not P.is_xid_continue_cp(cp) then return false end
  end
  return not first
end)
-- str.isupper/islower (CPython): at least one character of the case, none of the
-- other case nor titlecase
local function all_cased(s, is_case, is_other)
  local cased = false
  for _, ch in ipairs(rt.uchars(s)) do
    local cp = P.cp_of(ch)
    if is_other(cp) or P.is_title_cp(cp) then return false end
    if is_case(cp) then cased = true end
  end
  return cased
end
local function str_isupper(s) return all_cased(s, P.is_upper_cp, P.is_lower_cp) end
local function str_islower(s) return all_cased(s, P.is_lower_cp, P.is_upper_cp) end
STR.isupper = noargs("isupper", str_isupper)
STR.islower = noargs("islower", str_islower)
STR.istitle = noargs("istitle", function(s)
  -- uppercase characters only after uncased ones, lowercase only after cased ones
  local prev_cased, any = false, false
  for _, ch in ipairs(rt.uchars(s)) do
    local cp = P.cp_of(ch)
    if P.is_upper_cp(cp) or P.is_title_cp(cp) then
      if prev_cased then return false end
      prev_cased, any = true, true
    elseif P.is_lower_cp(cp) then
      if not prev_cased then return false end
      prev_cased = true
    else
      prev_cased = false
    end
  end
  return any
end)
local function pyjust(s, width, fill, how)
  local n = rt.ulen(s)
  if width <= n then return s end
  local marg = width - n
  if how == "l" then return s .. fill:rep(marg) end
  if how == "r" then return fill:rep(marg) .. s end
  local left = marg // 2 + (marg & width & 1)
  return fill:rep(left) .. s .. fill:rep(marg - left)
end
L.pyjust = pyjust
local function just_m(how)
  return function(s, args, kw)
    local a = bind("just", args, kw, {"width", "fillchar"}, {REQ, " "})
    local fill = need_str_arg(a[2], "fillchar")
    if rt.ulen(fill) ~= 1 then type_error("The fill character must be exactly one character long") end
    return pyjust(s, need_int_arg(a[1]), fill, how)
  end
end
STR.center, STR.ljust, STR.rjust = just_m("c"), just_m("l"), just_m("r")
STR.zfill = function(s, args, kw)
  local a = bind("zfill", args, kw, {"width"}, {REQ})
  local w = need_int_arg(a[1])
  local n = rt.ulen(s)
  if w <= n then return s end
  local sign = s:match("^[-+]") or ""
  return sign .. ("0"):rep(w - n) .. ssub(s, #sign + 1)
end
local function partition_m(rev)
  return function(s, args, kw)
    local a = bind("partition", args, kw, {"sep"}, {REQ})
    -- the separator found is the argument itself (a Markup stays one)
    local sep_obj = a[1]
    local sep = need_str_arg(unmark(sep_obj), "partition")
    if sep == "" then raise("eval", "empty separator") end
    local pos
    if rev then
      local p = 1
      while true do local x = sfind(s, sep, p, true); if not x then break end; pos = x; p = x + 1 end
    else pos = sfind(s, sep, 1, true) end
    if not pos then
      if rev then return tuple_of({"", "", s}) end
      return tuple_of({s, "", ""})
    end
    return tuple_of({ssub(s, 1, pos - 1), sep_obj, ssub(s, pos + #sep)})
  end
end
STR.partition, STR.rpartition = partition_m(false), partition_m(true)
STR.removeprefix = function(s, args, kw)
  local a = bind("removeprefix", args, kw, {"prefix"}, {REQ})
  local p = need_str_arg(a[1], "removeprefix")
  if P.startswith(s, p) then return ssub(s, #p + 1) end
  return s
end
STR.removesuffix = function(s, args, kw)
  local a = bind("removesuffix", args, kw, {"suffix"}, {REQ})
  local p = need_str_arg(a[1], "removesuffix")
  if p ~= "" and P.endswith(s, p) then return ssub(s, 1, #s - #p) end
  return s
end
STR.expandtabs = function(s, args, kw)
  local a = bind("expandtabs", args, kw, {"tabsize"}, {8})
  local ts = need_int_arg(a[1])
  local out, col = {}, 0
  for _, ch in ipairs(rt.uchars(s)) do
    if ch == "\t" then
      local k = ts > 0 and (ts - col % ts) or 0
      out[#out + 1] = (" "):rep(k); col = col + k
    elseif ch == "\n" or ch == "\r" then out[#out + 1] = ch; col = 0
    else out[#out + 1] = ch; col = col + 1 end
  end
  return concat(out)
end
STR.encode = function() raise("unsupported", "bytes values are not supported") end

local DICT = {}
L.DICT_METHODS = DICT
DICT.get = function(d, args, kw)
  local a = bind("get", args, kw, {"key", "default"}, {REQ})
  local v = dict_get(d, a[1])
  if v == nil then return a[2] end
  return v
end
local function view(d, kind)
  local items = {}
  for i, k in ipairs(d.keys) do
    if kind == "keys" then items[i] = k
    elseif kind == "values" then items[i] = dict_get(d, k)
    else items[i] = tuple_of({k, dict_get(d, k)}) end
  end
  return setmetatable({items = items, kind = kind, view = "dict_" .. kind, src = d}, Set)
end
DICT.keys = noargs("keys", function(d) return view(d, "keys") end)
DICT.values = noargs("values", function(d) return view(d, "values") end)
DICT.items = noargs("items", function(d) return view(d, "items") end)
DICT.copy = noargs("copy", function(d) return rt.dict_copy(d) end)
-- mutating methods change the value in place, as in Python (values that
-- came from the context are the caller's tables)
DICT.pop = function(d, args, kw)
  local a = bind("pop", args, kw, {"key", "default"}, {REQ})
  local v = dict_get(d, a[1])
  if v == nil then
    if args[2] == nil and not (kw and dict_get(kw, "default") ~= nil) then raise("eval", P.repr(a[1])) end
    return a[2]
  end
  rt.dict_delete(d, a[1])
  return v
end
DICT.popitem = function(d, args, kw)
  bind("popitem", args, kw, {})
  local k = d.keys[#d.keys]
  if k == nil then raise("eval", "'popitem(): dictionary is empty'") end
  local v = dict_get(d, k)
  rt.dict_delete(d, k)
  return tuple_of({k, v})
end
DICT.setdefault = function(d, args, kw)
  local a = bind("setdefault", args, kw, {"key", "default"}, {REQ})
  local v = dict_get(d, a[1])
  if v == nil then dict_set(d, a[1], a[2]); return a[2] end
  return v
end
DICT.update = function(d, args, kw)
  if #args > 1 then type_error("update expected at most 1 argument, got " .. #args) end
  if args[1] ~= nil then
    local src = args[1]
    if getmetatable(src) == Dict then
      for k, v in rt.dict_pairs(src) do dict_set(d, k, v) end
    else
      for it in iter(src) do local p = collect(it); dict_set(d, p[1], p[2]) end
    end
  end
  if kw then for k, v in rt.dict_pairs(kw) do dict_set(d, k, v) end end
  return null
end
DICT.clear = function(d, args, kw)
  bind("clear", args, kw, {})
  d.keys = {}; d.map = {}
  return null
end
DICT.fromkeys = function(_, args, kw)
  local a = bind("fromkeys", args, kw, {"iterable", "value"}, {REQ})
  local d = new_dict()
  for k in iter(a[1]) do dict_set(d, k, a[2]) end
  return d
end

local LIST = {}
L.LIST_METHODS = LIST
LIST.index = function(l, args, kw)
  local a = bind("index", args, kw, {"value", "start", "stop"}, {REQ})
  local n = #l
  local i, j = rt.slice_bounds(n, opt_int(a[2]), opt_int(a[3]), 1)
  for k = i + 1, j do if eq(l[k], a[1]) then return k - 1 end end
  raise("eval", P.repr(a[1]) .. " is not in list")
end
LIST.count = function(l, args, kw)
  local a = bind("count", args, kw, {"value"}, {REQ})
  local c = 0
  for i = 1, #l do if eq(l[i], a[1]) then c = c + 1 end end
  return c
end
LIST.copy = noargs("copy", function(l) local out = {}; for i = 1, #l do out[i] = l[i] end; return list_of(out) end)
LIST.append = function(l, args, kw)
  local a = bind("append", args, kw, {"object"}, {REQ})
  l[#l + 1] = a[1]
  return null
end
LIST.extend = function(l, args, kw)
  local a = bind("extend", args, kw, {"iterable"}, {REQ})
  for _, x in ipairs(collect(a[1])) do l[#l + 1] = x end
  return null
end
LIST.insert = function(l, args, kw)
  local a = bind("insert", args, kw, {"index", "object"}, {REQ, REQ})
  local n = #l
  local i = need_int_arg(a[1])
  if i < 0 then i = math.max(0, n + i) elseif i > n then i = n end
  table.insert(l, i + 1, a[2])
  return null
end
LIST.pop = function(l, args, kw)
  local a = bind("pop", args, kw, {"index"}, {-1})
  local n = #l
  if n == 0 then raise("eval", "pop from empty list") end
  local i = need_int_arg(a[1])
  if i < 0 then i = i + n end
  if i < 0 or i >= n then raise("eval", "pop index out of range") end
  return table.remove(l, i + 1)
end
LIST.remove = function(l, args, kw)
  local a = bind("remove", args, kw, {"value"}, {REQ})
  for i = 1, #l do
    if eq(l[i], a[1]) then table.remove(l, i); return null end
  end
  raise("eval", "list.remove(x): x not in list")
end
LIST.reverse = function(l, args, kw)
  bind("reverse", args, kw, {})
  local n = #l
  for i = 1, n // 2 do l[i], l[n - i + 1] = l[n - i + 1], l[i] end
  return null
end
LIST.sort = function(l, args, kw)
  if #args > 0 then type_error("sort() takes no positional arguments") end
  local a = bind("sort", {}, kw, {"key", "reverse"}, {null, false})
  if a[1] ~= null then raise("unsupported", "list.sort(key=...) is not supported") end
  local sorted = stable_sort(collect(l), nil, truthy(a[2]))
  for i = 1, #sorted do l[i] = sorted[i] end
  return null
end
LIST.clear = function(l, args, kw)
  bind("clear", args, kw, {})
  for i = #l, 1, -1 do l[i] = nil end
  return null
end
local TUPLE = {index = LIST.index, count = LIST.count}

-- Markup's methods (MarkupSafe 2.1). The Markup arguments of a str method are
-- read as their text: a Markup is a str.
local function unmark_args(args, kw)
  local out
  for i = 1, #args do
    if getmetatable(args[i]) == Markup then
      out = out or {table.unpack(args)}
      out[i] = args[i].s
    end
  end
  if kw then
    for _, k in ipairs(kw.keys) do
      if getmetatable(dict_get(kw, k)) == Markup then
        local okw = new_dict()
        for _, k2 in ipairs(kw.keys) do dict_set(okw, k2, unmark(dict_get(kw, k2))) end
        kw = okw
        break
      end
    end
  end
  return out or args, kw
end
L.unmark_args = unmark_args
-- the methods whose result holds an argument (format's str() or repr() of it, the
-- separator partition found), which differ for a Markup: they keep Markup arguments
local INSERTS = {format = true, format_map = true, partition = true, rpartition = true}
local MARKUP = {}
-- the str methods MarkupSafe does not wrap: the text's, giving what str gives
for name, m in pairs(STR) do
  MARKUP[name] = function(o, args, kw)
    if not INSERTS[name] then args, kw = unmark_args(args, kw) end
    return m(o.s, args, kw)
  end
end
-- _simple_escaping_wrapper: str and Markup arguments escaped, the result a Markup
local function escaped_args(args, kw)
  local out = {}
  for i = 1, #args do
    local x = args[i]
    out[i] = (type(x) == "string" or getmetatable(x) == Markup) and escape(x) or x
  end
  local okw = kw
  if kw and #kw.keys > 0 then
    okw = new_dict()
    for _, k in ipairs(kw.keys) do
      local x = dict_get(kw, k)
      dict_set(okw, k, (type(x) == "string" or getmetatable(x) == Markup) and escape(x) or x)
    end
  end
  return out, okw
end
for _, name in ipairs({"capitalize", "title", "lower", "upper", "replace", "ljust", "rjust", "lstrip",
  "rstrip", "center", "strip", "translate", "expandtabs", "swapcase", "zfill"}) do
  local m = STR[name]
  if m then
    MARKUP[name] = function(o, args, kw)
      local a, k = escaped_args(args, kw)
      return markup(m(o.s, a, k))
    end
  end
end
-- split, rsplit, splitlines: a list of Markups (the separator is not escaped)
local function markup_items(t)
  for i = 1, #t do t[i] = markup(t[i]) end
  return t
end
-- partition, rpartition: the separator escaped (whatever it is), three Markups
local function escaped_sep(args, kw)
  local out = {}
  for i = 1, #args do out[i] = escape(args[i]) end
  return out, kw
end
for name, read_args in pairs({split = unmark_args, rsplit = unmark_args, splitlines = unmark_args,
  partition = escaped_sep, rpartition = escaped_sep}) do
  local m = STR[name]
  MARKUP[name] = function(o, args, kw)
    local a, k = read_args(args, kw)
    return markup_items(m(o.s, a, k))
  end
end
-- join: every item escaped (any value: escape() makes it text)
MARKUP.join = function(o, args, kw)
  local a = bind("join", args, kw, {"seq"}, {REQ})
  local parts = {}
  for x in iter(a[1]) do parts[#parts + 1] = escape(x) end
  return markup(concat(parts, o.s))
end
-- format, format_map (the sandbox's escaping formatter)
MARKUP.format = function(o, args, kw)
  return markup(P.format(o.s, args, kw, nil, function(x, attr)
    if sfind(attr, "^_") then raise("eval", "access to attribute '" .. attr .. "' of '" .. pytype(x) .. "' object is unsafe.") end
    return L.getattr(x, attr)
  end, true))
end
MARKUP.format_map = function(o, args, kw)
  local a = bind("format_map", args, kw, {"mapping"}, {REQ})
  return markup(P.format(o.s, {}, a[1], nil, nil, true))
end
MARKUP.escape = function(_, args, kw)
  local a = bind("escape", args, kw, {"s"}, {REQ})
  return markup(escape(a[1]))
end
-- html.unescape of the text: the references MarkupSafe's escape makes, the
-- common named ones and plain decimal ones; any other is refused (Python's
-- table of HTML5 names is not carried)
local ENTITIES = {amp = "&", lt = "<", gt = ">", quot = '"', nbsp = "\u{a0}", -- ";" optional
  AMP = "&", LT = "<", GT = ">", QUOT = '"'}
local function html_unescape(s)
  if not sfind(s, "&", 1, true) then return s end
  return (s:gsub("&(#?%w+)(;?)", function(name, semi)
    local r = ENTITIES[name] or (semi == ";" and name == "apos" and "'")
    if r then return r end
    local code = tonumber(name:match("^#(%d+)$"))
    if code and ((code > 0 and code < 0x80) or (code >= 0xa0 and code < 0xd800)) then return utf8.char(code) end
    raise("unsupported", "Markup.unescape of the character reference &" .. name .. semi .. " is not supported")
  end))
end
MARKUP.unescape = noargs("unescape", function(o) return html_unescape(o.s) end)
local function striptags(s)
  s = s:gsub("<!%-%-.-%-%->", ""):gsub("<.->", "")
  return html_unescape(concat(P.split(s), " "))
end
MARKUP.striptags = noargs("striptags", function(o) return striptags(o.s) end)

local function methods_for(o)
  local t = type(o)
  if t == "string" then return STR end
  local mt = getmetatable(o)
  if mt == Dict then return DICT end
  if mt == List then return LIST end
  if mt == Tuple then return TUPLE end
  if mt == Markup then return MARKUP end
  return nil
end

------------------------------------------------------------------------
-- attribute / item lookup (SandboxedEnvironment.getattr / getitem)
------------------------------------------------------------------------
-- a Python attribute name such as __class__ (these exist on every object)
local function is_dunder(name) return #name > 4 and ssub(name, 1, 2) == "__" and ssub(name, -2) == "__" end
local function unsafe(o, name)
  return undefined("access to attribute '" .. name .. "' of '" .. pytype(o) .. "' object is unsafe.", "eval")
end
local function obj_desc(o)
  if o == null then return "'None'" end
  return "'" .. pytype(o) .. " object'"
end
local function no_attr(o, name)
  return undefined(obj_desc(o) .. " has no attribute '" .. tostring(name) .. "'")
end

local function bound(o, name, m)
  if type(o) == "string" then
    return func(name, function(args, kw)
      if rt.markups and not INSERTS[name] then args, kw = unmark_args(args, kw) end
      return m(o, args, kw)
    end, "builtin_function_or_method")
  end
  return func(name, function(args, kw) return m(o, args, kw) end, "builtin_function_or_method")
end

local LOOP_ATTRS
-- attribute only (no item fallback); returns value or nil
local function attr_only(o, name)
  local mt0 = getmetatable(o)
  if mt0 == Tuple and o._fields then -- namedtuple (groupby's (grouper, list))
    local i = o._fields[name]
    if i then return o[i] end
  end
  local ms = methods_for(o)
  if ms then
    local m = ms[name]
    if m then return bound(o, name, m) end
  end
  local mt = getmetatable(o)
  if mt == NS then return dict_get(o.attrs, name) end
  if mt == Loop then
    local f = LOOP_ATTRS[name]
    if f then return f(o) end
  end
  if mt == L.Cycler then
    local f = o.attrs[name]
    if f then return f() end
  end
  if mt == Range then
    if name == "start" or name == "stop" or name == "step" then return o[name] end
  end
  if type(o) == "number" and name == "real" then return o end
  if type(o) == "number" and name == "imag" then return mtype(o) == "integer" and 0 or 0.0 end
  return nil
end

local function getattr(o, name)
  local mt = getmetatable(o)
  if mt == Dict then
    local m = DICT[name]
    if m then return bound(o, name, m) end
    if is_dunder(name) then return unsafe(o, name) end
    local v = o.map[name]
    if v ~= nil then return v end
    return no_attr(o, name)
  end
  if mt == Undefined then undef_fail(o) end
  if is_dunder(name) then return unsafe(o, name) end
  local v = attr_only(o, name)
  if v ~= nil then return v end
  if mt == List or mt == Tuple then
    -- numeric attribute names are item lookups in Jinja (getattr then item)
    return no_attr(o, name)
  end
  return no_attr(o, name)
end
L.getattr = getattr

local function getitem(o, k)
  local mt = getmetatable(o)
  if mt == Dict and type(k) == "string" then
    local v = o.map[k]
    if v ~= nil then return v end
  end
  if mt == Undefined then undef_fail(o) end
  if mt == Dict then
    local ok, v = pcall(dict_get, o, k)
    if ok and v ~= nil then return v end
  elseif mt == List or mt == Tuple then
    local i = num(k)
    if i and mtype(i) == "integer" then
      local n = #o
      if i < 0 then i = i + n end
      if i >= 0 and i < n then return o[i + 1] end
      return undefined(pytype(o) .. " object has no element " .. P.num_str(num(k)))
    end
  elseif type(o) == "string" then
    local i = num(k)
    if i and mtype(i) == "integer" then
      local n = rt.ulen(o)
      if i < 0 then i = i + n end
      if i >= 0 and i < n then return rt.usub(o, i, i + 1) end
      return undefined("str object has no element " .. P.num_str(num(k)))
    end
  elseif mt == Markup then
    local i = num(k)
    if i and mtype(i) == "integer" then
      local n = rt.ulen(o.s)
      if i < 0 then i = i + n end
      if i >= 0 and i < n then return markup(rt.usub(o.s, i, i + 1)) end
      return undefined("markupsafe.Markup object has no element " .. P.num_str(num(k)))
    end
  elseif mt == Range then
    local i = num(k)
    if i and mtype(i) == "integer" then
      local n = rt.range_len(o)
      if i < 0 then i = i + n end
      if i >= 0 and i < n then return o.start + i * o.step end
    end
  end
  if type(k) == "string" then
    if mt == Dict and DICT[k] then return bound(o, k, DICT[k]) end
    if is_dunder(k) then
      if methods_for(o) or mt == Dict then return unsafe(o, k) end
    end
    local v = attr_only(o, k)
    if v ~= nil then return v end
    return no_attr(o, k)
  end
  if mt == Dict then return undefined(obj_desc(o) .. " has no attribute " .. P.repr(k)) end
  return undefined(obj_desc(o):sub(2, -2) .. " has no element " .. (pcall(P.repr, k) and P.repr(k) or "?"))
end
L.getitem = getitem

-- obj[start:stop:step]
function L.slice(o, a, b, c)
  if getmetatable(o) == Undefined then undef_fail(o) end
  local function ix(v)
    if v == nil or v == null then return nil end
    local n = num(v)
    if not n or mtype(n) ~= "integer" then
      if getmetatable(v) == Undefined then undef_fail(v) end
      type_error("slice indices must be integers or None or have an __index__ method")
    end
    return n
  end
  local start, stop, step = ix(a), ix(b), ix(c)
  local mt = getmetatable(o)
  local items, n
  local is_str = type(o) == "string"
  if is_str then items = rt.uchars(o); n = #items
  elseif mt == List or mt == Tuple then items = o; n = #o
  elseif mt == Range then items = collect(o); n = #items
  elseif mt == Markup then return markup(L.slice(o.s, a, b, c))
  else
    if mt == Dict then type_error("unhashable type: 'slice'") end
    type_error("'" .. pytype(o) .. "' object is not subscriptable")
  end
  local i, j, st = rt.slice_bounds(n, start, stop, step)
  local out = {}
  if st > 0 then
    local k = i
    while k < j do out[#out + 1] = items[k + 1]; k = k + st end
  else
    local k = i
    while k > j do out[#out + 1] = items[k + 1]; k = k + st end
  end
  if is_str then return concat(out) end
  if mt == Range then return list_of(out) end
  return setmetatable(out, mt)
end

-- f(args, kwargs)
local function call(f, args, kw)
  local mt = getmetatable(f)
  if mt == Func then return f.call(args, kw) end
  if mt == Undefined then undef_fail(f) end
  type_error("'" .. pytype(f) .. "' object is not callable")
end
L.call = call

-- obj.name(args) without materialising a bound method when possible
function L.callattr(o, name, args, kw)
  local mt = getmetatable(o)
  if mt == Dict then
    local m = DICT[name]
    if m then return m(o, args, kw) end
  elseif type(o) == "string" then
    local m = STR[name]
    if m then
      if rt.markups and not INSERTS[name] then args, kw = unmark_args(args, kw) end
      return m(o, args, kw)
    end
  elseif mt == List then
    local m = LIST[name]
    if m then return m(o, args, kw) end
  end
  return call(getattr(o, name), args, kw)
end

------------------------------------------------------------------------
-- loop context
------------------------------------------------------------------------
LOOP_ATTRS = {
  index = function(l) return l.i end,
  index0 = function(l) return l.i - 1 end,
  revindex = function(l) return l.n - l.i + 1 end,
  revindex0 = function(l) return l.n - l.i end,
  first = function(l) return l.i == 1 end,
  last = function(l) return l.i == l.n end,
  length = function(l) return l.n end,
  depth = function() return 1 end,
  depth0 = function() return 0 end,
  previtem = function(l)
    if l.i > 1 then return l.items[l.i - 1] end
    return undefined("there is no previous item")
  end,
  nextitem = function(l)
    if l.i < l.n then return l.items[l.i + 1] end
    return undefined("there is no next item")
  end,
  cycle = function(l)
    return func("cycle", function(args)
      if #args == 0 then type_error("no items for cycling given") end
      return args[(l.i - 1) % #args + 1]
    end)
  end,
  changed = function(l)
    return func("changed", function(args)
      local cur = tuple_of(args)
      if l.last_changed == nil or not eq(l.last_changed, cur) then
        l.last_changed = cur
        return true
      end
      return false
    end)
  end,
}
function L.new_loop(items)
  return setmetatable({items = items, n = #items, i = 0}, Loop)
end

-- for-loop helpers
function L.loop_items(v) return collect(v) end
-- unpack an item into n targets
function L.unpack(v, n)
  if getmetatable(v) == Undefined then undef_fail(v) end
  local items = collect(v)
  if #items ~= n then
    if #items > n then raise("eval", "too many values to unpack (expected " .. n .. ")") end
    raise("eval", "not enough values to unpack (expected " .. n .. ", got " .. #items .. ")")
  end
  return items
end

------------------------------------------------------------------------
-- namespace
------------------------------------------------------------------------
function L.ns_set(ns, name, v)
  if getmetatable(ns) ~= NS then
    raise("eval", "cannot assign attribute on non-namespace object")
  end
  dict_set(ns.attrs, name, v)
end

------------------------------------------------------------------------
-- attribute getter used by map/sort/groupby/... ("a.b.0")
------------------------------------------------------------------------
local function attr_parts(attribute)
  if attribute == nil or attribute == null then return {} end
  if type(attribute) == "string" and not sfind(attribute, "[.0-9]") then
    return {attribute} -- one name: nothing to split or read as an index
  end
  if type(attribute) == "string" then
    local parts = {}
    for part in (attribute .. "."):gmatch("(.-)%.") do
      if part:match("^%d+$") then parts[#parts + 1] = math.tointeger(tonumber(part)) else parts[#parts + 1] = part end
    end
    return parts
  end
  return {attribute}
end
local slower, ulen = string.lower, utf8.len
local function lower_if_str(v)
  local tv = type(v)
  if tv == "string" then
    if ulen(v) == #v then return slower(v) end -- ASCII: Python's answer
    return P.lower(v)
  end
  if tv == "table" and getmetatable(v) == Markup then return P.lower(v.s) end
  return v
end
-- Python hash(): lists, dicts and non-frozen sets are unhashable
local function check_hashable(v)
  local mt = getmetatable(v)
  if mt == List or mt == Dict or (mt == Set and v.kind ~= "set") then
    type_error("unhashable type: '" .. pytype(v) .. "'")
  elseif mt == Tuple then
    for i = 1, #v do check_hashable(v[i]) end
  elseif mt == Undefined then
    undef_fail(v)
  end
end
L.check_hashable = check_hashable
local function make_attrgetter(attribute, postprocess, default)
  local parts = attr_parts(attribute)
  if #parts == 1 and type(parts[1]) == "string" and (default == nil or default == null) then
    -- one name (map(attribute='name')): a dict's own key first, as getitem does
    local part = parts[1]
    if not postprocess then
      return function(item)
        if getmetatable(item) == Dict then
          local v = item.map[part]
          if v ~= nil then return v end
        end
        return getitem(item, part)
      end
    end
    return function(item)
      local v
      if getmetatable(item) == Dict then v = item.map[part] end
      if v == nil then v = getitem(item, part) end
      return postprocess(v)
    end
  end
  return function(item)
    for _, part in ipairs(parts) do
      item = getitem(item, part)
      if default ~= nil and default ~= null and getmetatable(item) == Undefined then item = default end
    end
    if postprocess then item = postprocess(item) end
    return item
  end
end
local function make_multi_attrgetter(attribute, postprocess)
  local split
  if type(attribute) == "string" then
    split = {}
    for s in (attribute .. ","):gmatch("(.-),") do split[#split + 1] = s end
  else
    split = {attribute}
  end
  local getters = {}
  for i, a in ipairs(split) do getters[i] = make_attrgetter(a, postprocess) end
  return function(item)
    local out = {}
    for i, g in ipairs(getters) do out[i] = g(item) end
    return list_of(out)
  end
end

------------------------------------------------------------------------
-- filters: F[name](value, args, kw, data)
------------------------------------------------------------------------
local F = {}
L.filters = F
local T = {}
L.tests = T

-- Filters that need no count hook (see `bounded` in jinja.lua), with how many
-- positional arguments each may take so: their time is linear in their input and
-- arguments (no comparison of nested values, no regex, no callback, no loop a number
-- sets without allocating), so the memory limit, which bounds what they read and make,
-- and the allocator's deadline checks bound them on every run. The sorting filters
-- (dictsort, sort) and sum stay within a constant bound or turn the hook on
-- themselves (rt.guard) before work they cannot bound: see sort_by_keys and F.sum.
L.linear_filters = {
  abs = 0, attr = 1, capitalize = 0, center = 1, count = 0, d = 2, default = 2,
  dictsort = 3, e = 0, escape = 0, filesizeformat = 1, first = 0, float = 1,
  forceescape = 0, int = 2, items = 0, join = 1, last = 0, length = 0, list = 0, lower = 0,
  replace = 3, reverse = 0, safe = 0, sort = 3, string = 0, sum = 2, title = 0, trim = 0,
  upper = 0, urlencode = 0,
}
-- Tests select/reject/selectattr/rejectattr may apply without the count hook: each
-- looks at one value once (no comparison of nested values).
L.linear_tests = {
  boolean = true, callable = true, defined = true, escaped = true, even = true,
  ["false"] = true, float = true, integer = true, iterable = true, lower = true,
  mapping = true, none = true, number = true, odd = true, sequence = true,
  string = true, ["true"] = true, undefined = true, upper = true,
}

local function call_filter(name, v, args, kw, D)
  local f = F[name]
  if f then return f(v, args or {}, kw, D) end
  return L.dyn_filter(name, v, args or {}, kw, D)
end
L.call_filter = call_filter
local function call_test(name, v, args, kw)
  local t = T[name]
  if not t then raise("eval", "No test named '" .. tostring(name) .. "'.") end
  return t(v, args or {}, kw)
end
L.call_test = call_test

local function soft_str(v) return tostr(v) end

F.abs = function(v, args, kw)
  bind("abs", args, kw, {})
  local n = num(v)
  if not n then
    if getmetatable(v) == Undefined then undef_fail(v) end
    type_error("bad operand type for abs(): '" .. pytype(v) .. "'")
  end
  if mtype(n) == "integer" then
    if n == math.mininteger then rt.overflow() end
    return n < 0 and -n or n
  end
  return math.abs(n)
end
F.attr = function(v, args, kw)
  local a = bind("attr", args, kw, {"name"}, {REQ})
  if getmetatable(v) == Undefined then undef_fail(v) end
  local name = unmark(a[1])
  if type(name) == "string" then
    if getmetatable(v) == Dict then
      if DICT[name] then return bound(v, name, DICT[name]) end
      if is_dunder(name) then return unsafe(v, name) end
      return no_attr(v, name)
    end
    if is_dunder(name) then return unsafe(v, name) end
    local r = attr_only(v, name)
    if r ~= nil then return r end
  end
  return no_attr(v, name)
end
F.batch = function(v, args, kw)
  local a = bind("batch", args, kw, {"linecount", "fill_with"}, {REQ})
  local count = need_int_arg(a[1])
  local fill = a[2]
  local out, tmp = {}, {}
  for x in iter(v) do
    if #tmp == count then out[#out + 1] = list_of(tmp); tmp = {} end
    tmp[#tmp + 1] = x
  end
  if #tmp > 0 then
    if fill ~= null and #tmp < count then for _ = #tmp + 1, count do tmp[#tmp + 1] = fill end end
    out[#out + 1] = list_of(tmp)
  end
  return gen_from_array(out)
end
-- soft_str(v).method(): a Markup's method gives a Markup (soft_str gives a str
-- itself back, so `s ~= v` is the only cost on that path)
local function soft_str_m(name, fn)
  return function(v, args, kw)
    bind(name, args, kw, {})
    local s = soft_str(v)
    if s ~= v and getmetatable(v) == Markup then return markup(fn(s)) end
    return fn(s)
  end
end
F.capitalize = soft_str_m("capitalize", P.capitalize)
F.center = function(v, args, kw)
  local a = bind("center", args, kw, {"width"}, {80})
  local s = soft_str(v)
  if s ~= v and getmetatable(v) == Markup then return markup(pyjust(s, need_int_arg(a[1]), " ", "c")) end
  return pyjust(s, need_int_arg(a[1]), " ", "c")
end
F.length = function(v, args, kw) bind("length", args, kw, {}); return py_len(v) end
F.count = F.length
F.default = function(v, args, kw)
  local a = bind("default", args, kw, {"default_value", "boolean"}, {"", false})
  if getmetatable(v) == Undefined or (truthy(a[2]) and not truthy(v)) then return a[1] end
  return v
end
F.d = F.default
-- parameters and defaults of the filters called most, made once
local DICTSORT_PARAMS, DICTSORT_DEFAULTS = {"case_sensitive", "by", "reverse"}, {false, "key", false}
local SORT_PARAMS, SORT_DEFAULTS = {"reverse", "case_sensitive", "attribute"}, {false, false, null}
local SUM_PARAMS, SUM_DEFAULTS = {"attribute", "start"}, {null, 0}
F.dictsort = function(v, args, kw)
  local a = bind_opt("dictsort", args, kw, DICTSORT_PARAMS, DICTSORT_DEFAULTS)
  if getmetatable(v) ~= Dict then
    if getmetatable(v) == Undefined then undef_fail(v) end
    raise("eval", "'" .. pytype(v) .. "' object has no attribute 'items'")
  end
  local by_value
  if a[2] == "key" then by_value = false elseif a[2] == "value" then by_value = true
  else raise("eval", 'You can only sort by either "key" or "value"') end
  local cs = truthy(a[1])
  local items, keys, ks = {}, {}, v.keys
  for i = 1, #ks do
    local k = ks[i]
    local x = dict_get(v, k)
    items[i] = tuple_of({k, x})
    local key = k
    if by_value then key = x end
    if not cs then key = lower_if_str(key) end
    keys[i] = key
  end
  return list_of(sort_by_keys(items, keys, truthy(a[3])))
end
-- markupsafe.escape: a Markup is already safe
F.escape = function(v, args, kw)
  bind("escape", args, kw, {})
  if getmetatable(v) == Markup then return v end
  return markup(html_escape(soft_str(v)))
end
F.e = F.escape
F.forceescape = function(v, args, kw)
  bind("forceescape", args, kw, {})
  return markup(html_escape(soft_str(v)))
end
-- Python's float(v): the value, or nil and Python's error for what it refuses
local function float_of(v)
  if getmetatable(v) == Markup then v = v.s end
  local tv = type(v)
  if tv == "number" then return v * 1.0 end
  if tv == "boolean" then return v and 1.0 or 0.0 end
  if getmetatable(v) == Undefined then undef_fail(v) end
  if tv == "string" then
    local f = M.yaqllib.parse_float_str(v)
    if f then return f end
    return nil, "could not convert string to float: " .. P.repr(v)
  end
  return nil, "float() argument must be a string or a real number, not '" .. pytype(v) .. "'"
end

F.filesizeformat = function(v, args, kw)
  local a = bind("filesizeformat", args, kw, {"binary"}, {false})
  local bytes, refused = float_of(v)
  if not bytes then type_error(refused) end
  local binary = truthy(a[1])
  local base = binary and 1024 or 1000
  local prefixes = binary and {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"}
    or {"kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"}
  if bytes == 1 then return "1 Byte" end
  if bytes < base then return P.num_str(rt.float_to_int(bytes)) .. " Bytes" end
  local unit, prefix
  for i, p in ipairs(prefixes) do
    unit = (base + 0.0) ^ (i + 1)
    prefix = p
    if bytes < unit then break end
  end
  return P.format_value(base * bytes / unit, ".1f") .. " " .. prefix
end
F.first = function(v, args, kw)
  bind("first", args, kw, {})
  if getmetatable(v) == Undefined then undef_fail(v) end
  local x = iter(v)()
  if x == nil then return undefined("No first item, sequence was empty.") end
  return x
end
F.last = function(v, args, kw)
  bind("last", args, kw, {})
  -- reversed() of a Markup goes through its __getitem__, which gives Markups
  if getmetatable(v) == Markup then
    local x = F.last(v.s, args, kw)
    if type(x) == "string" then return markup(x) end
    return x
  end
  local mt = getmetatable(v)
  if mt == Undefined then undef_fail(v) end
  local items
  if type(v) == "string" then items = rt.uchars(v)
  elseif mt == List or mt == Tuple then items = v
  elseif mt == Dict then items = v.keys
  elseif mt == Range then items = collect(v)
  elseif mt == Set and v.view then items = v.items
  else type_error("'" .. pytype(v) .. "' object is not reversible") end
  if #items == 0 then return undefined("No last item, sequence was empty.") end
  return items[#items]
end
F.float = function(v, args, kw, D, raw)
  local a = raw and {0.0} or bind("float", args, kw, {"default"}, {0.0})
  local f = float_of(v)
  if f == nil then return a[1] end
  return f
end
F.format = function(v, args, kw)
  if #args > 0 and kw and #kw.keys > 0 then
    raise("eval", "can't handle positional and keyword arguments at the same time")
  end
  if getmetatable(v) == Markup then return L.mod(v, (kw and #kw.keys > 0) and kw or tuple_of(args)) end
  local fmt = soft_str(v)
  if kw and #kw.keys > 0 then return P.percent(fmt, kw) end
  return P.percent(fmt, tuple_of(args))
end
local GROUP_FIELDS = {grouper = 1, list = 2}
F.groupby = function(v, args, kw)
  local a = bind("groupby", args, kw, {"attribute", "default", "case_sensitive"}, {REQ, null, false})
  local cs = truthy(a[3])
  local expr = make_attrgetter(a[1], (not cs) and lower_if_str or nil, a[2])
  local items = stable_sort(collect(v), expr)
  local groups = {}
  for _, it in ipairs(items) do
    local k = expr(it)
    local g = groups[#groups]
    if g and eq(g.key, k) then g.list[#g.list + 1] = it
    else groups[#groups + 1] = {key = k, list = {it}} end
  end
  local out = {}
  local out_expr = make_attrgetter(a[1], nil, a[2])
  for i, g in ipairs(groups) do
    local key = g.key
    if not cs then key = out_expr(g.list[1]) end
    out[i] = tuple_of({key, list_of(g.list), _fields = GROUP_FIELDS})
  end
  return list_of(out)
end
F.indent = function(v, args, kw)
  local a = bind("indent", args, kw, {"width", "first", "blank"}, {4, false, false})
  -- a Markup is indented as its text (the indentation is made a Markup, not escaped)
  if getmetatable(a[1]) == Markup then
    raise("unsupported", "the indent filter with a Markup as the indentation is not supported")
  end
  if getmetatable(v) == Markup then return markup(F.indent(v.s, args, kw)) end
  local s = need_str_arg(v, "indent")
  local ind = type(a[1]) == "string" and a[1] or (" "):rep(need_int_arg(a[1]))
  s = s .. "\n"
  local lines = P.splitlines(s)
  local rv
  if truthy(a[3]) then
    rv = concat(lines, "\n" .. ind)
  else
    rv = lines[1] or ""
    local rest = {}
    for i = 2, #lines do rest[#rest + 1] = lines[i] ~= "" and (ind .. lines[i]) or lines[i] end
    if #rest > 0 then rv = rv .. "\n" .. concat(rest, "\n") end
  end
  if truthy(a[2]) then rv = ind .. rv end
  return rv
end
local function py_int_str(s, base)
  local t = P.ascii_numeral(s)
  if not t then return nil end
  t = P.strip(t):lower():gsub("_", "")
  local sign = ""
  if t:match("^[-+]") then sign = t:sub(1, 1); t = t:sub(2) end
  if base == 0 then
    if t:match("^0x") then base = 16; t = t:sub(3) elseif t:match("^0o") then base = 8; t = t:sub(3)
    elseif t:match("^0b") then base = 2; t = t:sub(3) else base = 10 end
  elseif base == 16 then t = t:gsub("^0x", "") elseif base == 8 then t = t:gsub("^0o", "")
  elseif base == 2 then t = t:gsub("^0b", "") end
  if t == "" then return nil end
  local digits = "0123456789abcdefghijklmnopqrstuvwxyz"
  local v = 0
  for ch in t:gmatch(".") do
    local d = digits:find(ch, 1, true)
    if not d or d > base then return nil end
    v = rt.iadd(rt.imul(v, base), d - 1)
  end
  return sign == "-" and -v or v
end
F.int = function(v, args, kw)
  local a = bind("int", args, kw, {"default", "base"}, {0, 10})
  if getmetatable(v) == Markup then v = v.s end
  local tv = type(v)
  if tv == "number" then
    if mtype(v) == "integer" then return v end
    -- int(nan) is a ValueError, which do_int answers with the default; int(inf) an
    -- OverflowError, which it lets through
    if v ~= v then return a[1] end
    return rt.float_to_int(v)
  end
  if tv == "boolean" then return v and 1 or 0 end
  if tv == "string" then
    local i = py_int_str(v, need_int_arg(a[2]))
    if i then return i end
    local f = M.yaqllib.parse_float_str(v)
    if f and f == f then return rt.float_to_int(f) end
    return a[1]
  end
  if getmetatable(v) == Undefined then undef_fail(v) end
  return a[1]
end
F.join = function(v, args, kw)
  local a = bind("join", args, kw, {"d", "attribute"}, {""})
  if getmetatable(v) == Undefined then undef_fail(v) end
  local getter = (a[2] ~= null) and make_attrgetter(a[2]) or nil
  local parts = {}
  for x in iter(v) do
    if getter then x = getter(x) end
    parts[#parts + 1] = tostr(x)
  end
  return concat(parts, tostr(a[1]))
end
F.list = function(v, args, kw)
  if (args and #args > 0) or kw then bind("list", args, kw, {}) end
  return list_of(collect(v))
end
F.lower = soft_str_m("lower", P.lower)
F.upper = soft_str_m("upper", P.upper)
F.items = function(v, args, kw)
  bind("items", args, kw, {})
  if getmetatable(v) == Undefined then return gen_from_array({}) end
  if getmetatable(v) ~= Dict then type_error("Can only get item pairs from a mapping.") end
  local out = {}
  for i, k in ipairs(v.keys) do out[i] = tuple_of({k, dict_get(v, k)}) end
  return gen_from_array(out)
end
-- the generator of fn(x) for the items x of v
local function map_items(v, fn)
  local mt = getmetatable(v)
  if mt == List or mt == Tuple or mt == PyList then return rt.map_seq(v, fn, "generator") end
  local nx = iter(v)
  return make_iter(function()
    local x = nx()
    if x == nil then return nil end
    return fn(x)
  end, "generator")
end
-- map(attribute='<constant>'): the compiler makes the getter once (L.attrgetter)
L.attrgetter = function(attribute) return make_attrgetter(attribute) end
function L.map_attr(v, getter)
  if not truthy(v) then return gen_from_array({}) end
  return map_items(v, getter)
end
-- list() without arguments
function L.list_of(v) return list_of(collect(v)) end
F.map = function(v, args, kw, D)
  if not truthy(v) then return gen_from_array({}) end
  local fn
  if #args == 0 and kw and dict_get(kw, "attribute") ~= nil then
    local attribute = dict_get(kw, "attribute")
    local default = dict_get(kw, "default")
    for _, k in ipairs(kw.keys) do
      if k ~= "attribute" and k ~= "default" then raise("eval", "Unexpected keyword argument '" .. k .. "'") end
    end
    fn = make_attrgetter(attribute, nil, default)
  else
    local name = args[1]
    if name == nil then raise("eval", "map requires a filter argument") end
    local rest = {}
    for i = 2, #args do rest[#rest + 1] = args[i] end
    fn = function(item) return call_filter(name, item, rest, kw, D) end
  end
  return map_items(v, fn)
end
local function min_max(is_max)
  return function(v, args, kw)
    local a = bind(is_max and "max" or "min", args, kw, {"case_sensitive", "attribute"}, {false, null})
    local items = collect(v)
    if #items == 0 then return undefined("No aggregated item, sequence was empty.") end
    local keyf = make_attrgetter(a[2], (not truthy(a[1])) and lower_if_str or nil)
    local best, bestk = items[1], keyf(items[1])
    for i = 2, #items do
      local k = keyf(items[i])
      if is_max then
        if rt.lt(bestk, k) then best, bestk = items[i], k end
      else
        if rt.lt(k, bestk) then best, bestk = items[i], k end
      end
    end
    return best
  end
end
F.max, F.min = min_max(true), min_max(false)
local function sorted_repr(v)
  local mt = getmetatable(v)
  if mt == Dict then
    local ks0 = {}
    for i, k in ipairs(v.keys) do ks0[i] = k end
    local ks = stable_sort(ks0)
    local parts = {}
    for i, k in ipairs(ks) do parts[i] = P.repr(k) .. ": " .. sorted_repr(dict_get(v, k)) end
    return "{" .. concat(parts, ", ") .. "}"
  elseif mt == List or mt == Tuple then
    local parts = {}
    for i = 1, #v do parts[i] = sorted_repr(v[i]) end
    if mt == Tuple then
      if #v == 1 then return "(" .. parts[1] .. ",)" end
      return "(" .. concat(parts, ", ") .. ")"
    end
    return "[" .. concat(parts, ", ") .. "]"
  end
  return P.repr(v)
end
F.pprint = function(v, args, kw)
  bind("pprint", args, kw, {})
  local s = sorted_repr(v)
  if rt.ulen(s) > 80 then raise("unsupported", "pprint of values longer than one line") end
  return s
end
F.random = function() raise("unsupported", "the random filter is not deterministic") end
-- the generator of the items x of v for which keep(x) holds (Jinja's select and
-- reject)
local function filter_items(v, keep)
  local nx, done = iter(v), false
  local it = setmetatable({what = "generator", next = false}, Iter)
  it.next = function()
    if done then return nil end
    while true do
      local x = nx()
      if x == nil then done = true; return nil end
      if keep(x) then return x end
    end
  end
  return it
end
local function select_or_reject(lookup_attr, modfunc)
  return function(v, args, kw)
    if not truthy(v) then return gen_from_array({}) end
    local transfunc
    local off = 0
    if lookup_attr then
      if args[1] == nil then raise("eval", "Missing parameter for attribute name") end
      transfunc = make_attrgetter(args[1])
      off = 1
    end
    local name = args[off + 1]
    local rest
    if name ~= nil then
      rest = {}
      for i = off + 2, #args do rest[#rest + 1] = args[i] end
    end
    local test -- looked up at the first item, where Jinja's call_test looks it up
    return filter_items(v, function(x)
      local y = x
      if transfunc then y = transfunc(x) end
      if name ~= nil then
        test = test or T[name]
        if not test then call_test(name, y, rest, kw) end -- its error: no such test
        y = test(y, rest, kw)
      end
      local r
      if y == true or y == false then r = y else r = truthy(y) end
      if modfunc then return not r end
      return r
    end)
  end
end
F.select = select_or_reject(false, false)
F.reject = select_or_reject(false, true)
F.selectattr = select_or_reject(true, false)
F.rejectattr = select_or_reject(true, true)
F.replace = function(v, args, kw)
  local a = bind("replace", args, kw, {"old", "new", "count"}, {REQ, REQ, null})
  local count = a[3] == null and -1 or need_int_arg(a[3])
  return P.replace(tostr(v), tostr(a[1]), tostr(a[2]), count)
end
F.reverse = function(v, args, kw)
  bind("reverse", args, kw, {})
  if type(v) == "string" then
    local cs = rt.uchars(v)
    local out = {}
    for i = #cs, 1, -1 do out[#out + 1] = cs[i] end
    return concat(out)
  end
  local mt = getmetatable(v)
  if mt == Undefined then undef_fail(v) end
  if mt == Markup then return markup(F.reverse(v.s, args, kw)) end
  if mt == List or mt == Tuple or mt == Range or mt == Dict or (mt == Set and v.view) then
    local items = mt == Dict and v.keys or (mt == Set and v.items) or collect(v)
    local i = #items + 1
    return make_iter(function() i = i - 1; return items[i] end, "list_reverseiterator")
  end
  local items = collect(v)
  local out = {}
  for i = #items, 1, -1 do out[#out + 1] = items[i] end
  return list_of(out)
end
F.round = function(v, args, kw)
  local a = bind("round", args, kw, {"precision", "method"}, {0, "common"})
  local method = a[2]
  if method ~= "common" and method ~= "ceil" and method ~= "floor" then
    raise("eval", "method must be common, ceil or floor")
  end
  local x = num(v)
  if not x then
    if getmetatable(v) == Undefined then undef_fail(v) end
    type_error("type " .. pytype(v) .. " doesn't define __round__ method")
  end
  local prec = need_int_arg(a[1])
  if method == "common" then
    if mtype(x) == "integer" then return M.yaqllib.py_round(x, prec) end
    return M.yaqllib.py_round(x, prec)
  end
  local p = rt.pow(10, prec)
  local scaled = rt.mul(x, p)
  rt.need_int_float(scaled) -- Python's math.ceil/floor make an int
  local r = method == "ceil" and math.ceil(scaled) or math.floor(scaled)
  return rt.truediv(math.tointeger(r) or r, p)
end
F.safe = function(v, args, kw)
  bind("safe", args, kw, {})
  if getmetatable(v) == Markup then return v end
  return markup(tostr(v))
end
F.slice = function(v, args, kw)
  local a = bind("slice", args, kw, {"slices", "fill_with"}, {REQ, null})
  local seq = collect(v)
  local slices = need_int_arg(a[1])
  if slices == 0 then raise("eval", "integer division or modulo by zero") end
  local length = #seq
  local per = length // slices
  local extra = length % slices
  local offset = 0
  local out = {}
  for sn = 0, slices - 1 do
    local start = offset + sn * per
    if sn < extra then offset = offset + 1 end
    local stop = offset + (sn + 1) * per
    local tmp = {}
    for k = start + 1, stop do tmp[#tmp + 1] = seq[k] end
    if a[2] ~= null and sn >= extra then tmp[#tmp + 1] = a[2] end
    out[#out + 1] = list_of(tmp)
  end
  return gen_from_array(out)
end
-- Jinja's sort keys are one-item lists ([x] < [y] is x < y unless x == y, which
-- matters for keys Python does not order, as equal dicts): only keys of one of the
-- kinds key_order compares directly are left unwrapped.
F.sort = function(v, args, kw)
  local a = bind_opt("sort", args, kw, SORT_PARAMS, SORT_DEFAULTS)
  local post = (not truthy(a[2])) and lower_if_str or nil
  local attribute = a[3]
  local items = collect(v)
  local n = #items
  local keys = {}
  if type(attribute) == "string" and sfind(attribute, ",", 1, true) then
    local keyf = make_multi_attrgetter(attribute, post)
    for i = 1, n do keys[i] = keyf(items[i]) end
    return list_of(sort_by_keys(items, keys, truthy(a[1]), lt, false))
  end
  local keyf = attribute ~= null and make_attrgetter(attribute, post) or post
  for i = 1, n do
    local x = items[i]
    if keyf then x = keyf(x) end
    keys[i] = x
  end
  local less, small = key_order(keys, n)
  if less == lt then
    for i = 1, n do keys[i] = list_of({keys[i]}) end
  end
  return list_of(sort_by_keys(items, keys, truthy(a[1]), less, small))
end
F.string = function(v, args, kw)
  bind("string", args, kw, {})
  local s = tostr(v)
  if s ~= v and getmetatable(v) == Markup then return v end
  return s
end
-- Markup(str(value)).striptags()
F.striptags = function(v, args, kw)
  bind("striptags", args, kw, {})
  return striptags(tostr(v))
end
F.sum = function(v, args, kw)
  local a = bind_opt("sum", args, kw, SUM_PARAMS, SUM_DEFAULTS)
  local getter = a[1] ~= null and make_attrgetter(a[1]) or nil
  local total = a[2]
  if type(total) == "string" or getmetatable(total) == Markup then type_error("sum() can't sum strings [use ''.join(seq) instead]") end
  -- adding numbers takes constant time; anything else (a list start: copies that
  -- grow with each item) is counted
  local counted = false
  for x in iter(v) do
    if getter then x = getter(x) end
    if not counted and (type(x) ~= "number" or type(total) ~= "number") then
      rt.guard()
      counted = true
    end
    total = L.add(total, x)
  end
  return total
end
F.title = function(v, args, kw)
  bind("title", args, kw, {})
  local s = tostr(v)
  local out = {}
  -- split on runs of [-\s({[<] keeping the separators
  local cs = rt.uchars(s)
  local i = 1
  local function is_sep(ch) return ch == "-" or ch == "(" or ch == "{" or ch == "[" or ch == "<" or P.is_space_ch(ch) end
  while i <= #cs do
    local j = i
    if is_sep(cs[i]) then
      while j <= #cs and is_sep(cs[j]) do j = j + 1 end
      out[#out + 1] = P.upper(cs[i]) .. P.lower(concat(cs, "", i + 1, j - 1))
    else
      while j <= #cs and not is_sep(cs[j]) do j = j + 1 end
      out[#out + 1] = P.upper(cs[i]) .. P.lower(concat(cs, "", i + 1, j - 1))
    end
    i = j
  end
  return concat(out)
end
F.tojson = function(v, args, kw)
  local a = bind("tojson", args, kw, {"indent"}, {null})
  local ind = nil
  if a[1] ~= null then
    ind = type(a[1]) == "string" and a[1] or need_int_arg(a[1])
  end
  if rt.markups then v = L.unmark_deep(v) end
  return markup(JS.tojson(v, ind))
end
F.trim = function(v, args, kw)
  local a = bind("trim", args, kw, {"chars"}, {null})
  local s = tostr(v)
  if s ~= v and getmetatable(v) == Markup then return MARKUP.strip(v, {a[1]}) end
  return P.strip(s, opt(a[1]))
end
F.truncate = function(v, args, kw)
  local a = bind("truncate", args, kw, {"length", "killwords", "end", "leeway"}, {255, false, "...", null})
  local s, e = v, a[3]
  local length = need_int_arg(a[1])
  local endlen = py_len(e)
  local leeway = a[4] == null and 5 or need_int_arg(a[4])
  if length < endlen then raise("eval", "expected length >= " .. endlen .. ", got " .. length) end
  if py_len(s) <= length + leeway then return s end
  -- a Markup's slices are Markups, and `+ end` is Python's (a Markup escapes a str added to it)
  local text = unmark(s)
  need_str_arg(text, "truncate")
  local cut = rt.usub(text, 0, math.max(0, length - endlen))
  if not truthy(a[2]) then cut = P.rsplit(cut, " ", 1)[1] end
  if text ~= s then cut = markup(cut) end
  return L.add(cut, e)
end
F.unique = function(v, args, kw)
  local a = bind("unique", args, kw, {"case_sensitive", "attribute"}, {false, null})
  local getter = make_attrgetter(a[2], (not truthy(a[1])) and lower_if_str or nil)
  local seen = rt.seen()
  local nx = iter(v)
  return make_iter(function()
    while true do
      local x = nx()
      if x == nil then return nil end
      local k = getter(x)
      check_hashable(k)
      if not seen(k) then return x end
    end
  end, "generator")
end
local function url_quote(s, for_qs)
  s = tostr(s)
  local safe = for_qs and "" or "/"
  local out = s:gsub("[^%w_%.%-~" .. (safe == "/" and "/" or "") .. "]", function(c)
    return sformat("%%%02X", c:byte())
  end)
  if for_qs then out = out:gsub("%%20", "+") end
  return out
end
F.urlencode = function(v, args, kw)
  bind("urlencode", args, kw, {})
  if getmetatable(v) == Markup then v = v.s end
  if type(v) == "string" then return url_quote(v) end
  local mt = getmetatable(v)
  local items
  if mt == Dict then
    items = {}
    for i, k in ipairs(v.keys) do items[i] = {k, dict_get(v, k)} end
  elseif mt == List or mt == Tuple or mt == Iter then
    items = {}
    for x in iter(v) do
      local p = collect(x)
      if #p ~= 2 then
        type_error(#p > 2 and "too many values to unpack (expected 2)" or ("not enough values to unpack (expected 2, got " .. #p .. ")"))
      end
      items[#items + 1] = p
    end
  else
    return url_quote(v)
  end
  local parts = {}
  for i, it in ipairs(items) do parts[i] = url_quote(it[1], true) .. "=" .. url_quote(it[2], true) end
  return concat(parts, "&")
end
F.urlize = function() raise("unsupported", "the urlize filter is not supported") end
F.wordwrap = function() raise("unsupported", "the wordwrap filter is not supported") end
F.wordcount = function(v, args, kw)
  bind("wordcount", args, kw, {})
  -- Jinja counts the matches of re's \w+ (str.isalnum() or "_", per code point)
  local n, in_word = 0, false
  for _, cp in utf8.codes(tostr(v), true) do
    local word = cp == 95 or P.is_alnum_cp(cp)
    if word and not in_word then n = n + 1 end
    in_word = word
  end
  return n
end
F.xmlattr = function(v, args, kw)
  local a = bind("xmlattr", args, kw, {"autospace"}, {true})
  local items = {}
  for _, k in ipairs(v.keys) do
    local x = dict_get(v, k)
    if x ~= null and getmetatable(x) ~= Undefined then
      if sfind(k, "[%s/>=]") then raise("eval", "Invalid character in attribute name: " .. P.repr(k)) end
      items[#items + 1] = escape(k) .. '="' .. escape(x) .. '"'
    end
  end
  local rv = concat(items, " ")
  if truthy(a[1]) and rv ~= "" then rv = " " .. rv end
  return rv
end

------------------------------------------------------------------------
-- tests: T[name](value, args, kw)
------------------------------------------------------------------------
local function t1(name, fn, params)
  params = params or {}
  local nparams = #params
  T[name] = function(v, args, kw)
    if kw == nil and #args == nparams then return fn(v, args[1], args[2]) end
    local a = bind(name, args, kw, params, {REQ, REQ})
    return fn(v, a[1], a[2])
  end
end
t1("odd", function(v) return eq(L.mod(v, 2), 1) end)
t1("even", function(v) return eq(L.mod(v, 2), 0) end)
t1("divisibleby", function(v, n) return eq(L.mod(v, n), 0) end, {"num"})
t1("defined", function(v) return getmetatable(v) ~= Undefined end)
t1("undefined", function(v) return getmetatable(v) == Undefined end)
-- Mistral registers every expression function (the host's too) as a filter as well
t1("filter", function(v)
  v = unmark(v)
  return F[v] ~= nil or L.mistral_filter_names[v] ~= nil or
    (type(v) == "string" and L.host_has(v) and true or false)
end)
t1("test", function(v) return T[unmark(v)] ~= nil end)
t1("none", function(v) return v == null end)
t1("boolean", function(v) return type(v) == "boolean" end)
t1("false", function(v) return v == false end)
t1("true", function(v) return v == true end)
t1("integer", function(v) return mtype(v) == "integer" end)
t1("float", function(v) return mtype(v) == "float" end)
t1("lower", function(v) return str_islower(tostr(v)) end)
t1("upper", function(v) return str_isupper(tostr(v)) end)
t1("string", function(v) return type(v) == "string" or getmetatable(v) == Markup end)
t1("mapping", function(v) return getmetatable(v) == Dict end)
t1("number", function(v) return type(v) == "number" or type(v) == "boolean" end)
t1("sequence", function(v)
  if type(v) == "string" or getmetatable(v) == Markup then return true end
  local mt = getmetatable(v)
  return mt == List or mt == Tuple or mt == Dict or mt == Range
end)
t1("iterable", function(v)
  if type(v) == "string" or getmetatable(v) == Markup then return true end
  local mt = getmetatable(v)
  if mt == Undefined then
    if v.strict then undef_fail(v) end
    return true
  end
  return mt == List or mt == Tuple or mt == Dict or mt == Range or mt == Set or mt == Iter
end)
t1("callable", function(v) local mt = getmetatable(v); return mt == Func or mt == Undefined end)
t1("sameas", function(v, o)
  if type(v) == "table" then return rawequal(v, o) end
  return v == o and type(v) == type(o) and mtype(v) == mtype(o)
end, {"other"})
t1("escaped", function(v) return getmetatable(v) == Markup end)
t1("in", function(v, seq) return op_in(v, seq) end, {"seq"})
local function cmp_test(names, fn)
  for _, n in ipairs(names) do t1(n, fn, {"other"}) end
end
cmp_test({"==", "eq", "equalto"}, function(a, b) return eq(a, b) end)
cmp_test({"!=", "ne"}, function(a, b) return not eq(a, b) end)
cmp_test({">", "gt", "greaterthan"}, function(a, b) return rt.gt(a, b) end)
cmp_test({">=", "ge"}, function(a, b) return rt.ge(a, b) end)
cmp_test({"<", "lt", "lessthan"}, function(a, b) return rt.lt(a, b) end)
cmp_test({"<=", "le"}, function(a, b) return rt.le(a, b) end)

------------------------------------------------------------------------
-- Mistral functions (jinja globals bound to the data; raw filters)
------------------------------------------------------------------------
local function env_of(ctx)
  if getmetatable(ctx) == Dict then
    local v = dict_get(ctx, "__env")
    if v == nil then raise("eval", "'__env'") end
    return v
  end
  if getmetatable(ctx) == Undefined then undef_fail(ctx) end
  if ctx == null then type_error("'NoneType' object is not subscriptable") end
  raise("eval", "'" .. pytype(ctx) .. "' object is not subscriptable")
end

local uuid4 = rt.uuid4

local function host()
  return M.host
end

-- Python function f(context, *params): returns a Lua function(ctx, args, kw)
-- Mistral's functions read a Markup as the str it is: they are given its text
-- (inside lists and dicts too)
local function unmark_deep(v, depth)
  local mt = getmetatable(v)
  if mt == Markup then return v.s end
  if type(v) ~= "table" or v == null then return v end
  depth = (depth or 0) + 1
  if depth > rt.MAX_DEPTH then rt.too_deep() end
  if mt == List or mt == Tuple or mt == PyList then
    local out
    for i = 1, #v do
      local x = v[i]
      local y = unmark_deep(x, depth)
      if y ~= x and not out then out = {table.unpack(v, 1, i - 1)} end
      if out then out[i] = y end
    end
    return out and setmetatable(out, mt) or v
  elseif mt == Dict then
    local changed = false
    for _, k in ipairs(v.keys) do
      if unmark_deep(k, depth) ~= k or unmark_deep(dict_get(v, k), depth) ~= dict_get(v, k) then changed = true; break end
    end
    if not changed then return v end
    local d = new_dict()
    for _, k in ipairs(v.keys) do dict_set(d, unmark_deep(k, depth), unmark_deep(dict_get(v, k), depth)) end
    return d
  end
  return v
end
L.unmark_deep = unmark_deep
local function unmark_call(args, kw)
  local out = {}
  for i = 1, #args do out[i] = unmark_deep(args[i]) end
  return out, kw and unmark_deep(kw)
end

local MISTRAL = {}
L.MISTRAL = MISTRAL
MISTRAL.env = function(ctx, args, kw)
  bind("env_", args, kw, {})
  return env_of(ctx)
end
MISTRAL.json_parse = function(ctx, args, kw)
  local a = bind("json_parse_", args, kw, {"data"}, {REQ})
  if type(a[1]) ~= "string" then
    if getmetatable(a[1]) == Undefined then undef_fail(a[1]) end
    type_error("the JSON object must be str, bytes or bytearray, not " .. pytype(a[1]))
  end
  return JS.parse(a[1])
end
MISTRAL.json_dump = function(ctx, args, kw)
  local a = bind("json_dump_", args, kw, {"data"}, {REQ})
  return JS.dump(a[1])
end
MISTRAL.yaml_dump = function(ctx, args, kw)
  local a = bind("yaml_dump_", args, kw, {"data"}, {REQ})
  return JS.yaml_dump(a[1])
end
MISTRAL.json_pp = function(ctx, args, kw)
  local a = bind("json_pp_", args, kw, {"data"}, {null})
  local data = a[1]
  if not truthy(data) then data = ctx end
  local s = JS.dump(data)
  s = s:gsub("\\n", "\n"):gsub(" \n", "\n")
  return s
end
MISTRAL.uuid = function(ctx, args, kw)
  bind("uuid_", args, kw, {})
  local h = host()
  if h and h.has and h.has("uuid") then return rt.host_call(h, "uuid", list_of({}), nil, ctx) end
  return uuid4()
end
L.mistral_filter_names = {}
for k in pairs(MISTRAL) do L.mistral_filter_names[k] = true end
-- PyYAML's safe dumper has no representer for Markup
local function refuse_markup(v, depth)
  if getmetatable(v) == Markup then raise("eval", "('cannot represent an object', " .. P.repr(v) .. ")") end
  if type(v) ~= "table" or v == null then return end
  depth = (depth or 0) + 1
  if depth > rt.MAX_DEPTH then rt.too_deep() end
  local mt = getmetatable(v)
  if mt == List or mt == Tuple or mt == PyList then
    for i = 1, #v do refuse_markup(v[i], depth) end
  elseif mt == Dict then
    for _, k in ipairs(v.keys) do refuse_markup(k, depth); refuse_markup(dict_get(v, k), depth) end
  end
end
local yaml_dump = MISTRAL.yaml_dump
for name, f in pairs(MISTRAL) do
  MISTRAL[name] = function(ctx, args, kw)
    if rt.markups then args, kw = unmark_call(args, kw) end
    return f(ctx, args, kw)
  end
end
MISTRAL.yaml_dump = function(ctx, args, kw)
  if rt.markups then
    for i = 1, #args do refuse_markup(args[i]) end
    if kw then refuse_markup(kw) end
  end
  return yaml_dump(ctx, args, kw)
end

-- call a host function; ctx is the `context` parameter
local function host_call(name, ctx, args, kw)
  local h = host()
  local hargs = {}
  for i = 1, #args do hargs[i] = M.yaqllib.to_host(args[i]) end
  return rt.host_call(h, name, list_of(hargs), kw, ctx)
end
local function host_has(name)
  local h = host()
  return h and h.has and h.has(name)
end
L.host_has = host_has

-- global function value for a Mistral/host function name
function L.mistral_global(name, D)
  local f = MISTRAL[name]
  if f then return func(name, function(args, kw) return f(D, args, kw) end, "functools.partial") end
  if host_has(name) then
    return func(name, function(args, kw)
      if rt.markups then args, kw = unmark_call(args, kw) end
      return host_call(name, D, args, kw)
    end, "functools.partial")
  end
  return nil
end

-- filter not among Jinja's builtins: Mistral function or host function
function L.dyn_filter(name, v, args, kw, D)
  if rt.markups then v = unmark_deep(v); args, kw = unmark_call(args, kw) end
  local f = MISTRAL[name]
  if f then return f(v, args, kw) end
  if host_has(name) then return host_call(name, v, args, kw) end
  raise("eval", "No filter named '" .. tostring(name) .. "'.")
end
function L.filter_exists(name)
  return F[name] ~= nil or MISTRAL[name] ~= nil or host_has(name)
end
function L.test_exists(name) return T[name] ~= nil end

------------------------------------------------------------------------
-- Jinja globals
------------------------------------------------------------------------
local GLOBALS = {}
L.GLOBALS = GLOBALS
GLOBALS.range = func("range", function(args, kw)
  if kw and #kw.keys > 0 then type_error("range() takes no keyword arguments") end
  local n = #args
  if n < 1 or n > 3 then type_error("range expected at most 3 arguments, got " .. n) end
  local ints = {}
  for i = 1, n do ints[i] = need_int_arg(args[i]) end
  local start, stop, step = 0, ints[1], 1
  if n >= 2 then start, stop = ints[1], ints[2] end
  if n == 3 then step = ints[3] end
  if step == 0 then raise("eval", "range() arg 3 must not be zero") end
  local r = setmetatable({start = start, stop = stop, step = step}, Range)
  if rt.range_len(r) > 100000 then
    raise("eval", "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).")
  end
  return r
end, "function")
GLOBALS.dict = func("dict", function(args, kw)
  local d = new_dict()
  if #args > 1 then type_error("dict expected at most 1 argument, got " .. #args) end
  if #args == 1 then
    local src = args[1]
    if getmetatable(src) == Dict then
      for k, v in rt.dict_pairs(src) do dict_set(d, k, v) end
    else
      for it in iter(src) do
        local p = collect(it)
        if #p ~= 2 then raise("eval", "dictionary update sequence element has length " .. #p .. "; 2 is required") end
        dict_set(d, p[1], p[2])
      end
    end
  end
  if kw then for k, v in rt.dict_pairs(kw) do dict_set(d, k, v) end end
  return d
end, "type")
GLOBALS.namespace = func("namespace", function(args, kw)
  local attrs = new_dict()
  for _, a in ipairs(args) do
    if getmetatable(a) == Dict then for k, v in rt.dict_pairs(a) do dict_set(attrs, k, v) end
    else for it in iter(a) do local p = collect(it); dict_set(attrs, p[1], p[2]) end end
  end
  if kw then for k, v in rt.dict_pairs(kw) do dict_set(attrs, k, v) end end
  return setmetatable({attrs = attrs}, NS)
end, "type")
GLOBALS.lipsum = func("lipsum", function() raise("unsupported", "lipsum() is not deterministic") end)
local Cycler = {__name = "Cycler"}
GLOBALS.cycler = func("cycler", function(args, kw)
  if #args == 0 then type_error("at least one item has to be provided") end
  local items = {}
  for i, x in ipairs(args) do items[i] = x end
  local c = setmetatable({items = items, pos = 1}, Cycler)
  c.attrs = {
    current = function() return items[c.pos] end,
    next = function() return func("next", function()
      local v = items[c.pos]
      c.pos = c.pos % #items + 1
      return v
    end) end,
    reset = function() return func("reset", function() c.pos = 1; return null end) end,
  }
  return c
end, "type")
L.Cycler = Cycler
GLOBALS.joiner = func("joiner", function(args, kw)
  local a = bind("joiner", args, kw, {"sep"}, {", "})
  local used = false
  return func("joiner", function()
    if not used then used = true; return "" end
    return a[1]
  end, "Joiner")
end, "type")

-- name lookup in the render context
function L.ctxvar(D, name)
  if getmetatable(D) == Dict then
    local v = dict_get(D, name)
    if v == nil then return null end
    return v
  end
  return undefined("'" .. name .. "' is undefined")
end
function L.resolve(D, name)
  local g = GLOBALS[name]
  if g then return g end
  local f = L.mistral_global(name, D)
  if f then return f end
  if name == "__env" or name == "__execution" or name == "__task_execution" then return L.ctxvar(D, name) end
  return undefined("'" .. name .. "' is undefined")
end

------------------------------------------------------------------------
-- helpers for generated code
------------------------------------------------------------------------
L.concat = concat
function L.mkdict(...)
  local d = new_dict()
  for i = 1, select("#", ...), 2 do
    local k, v = select(i, ...)
    L.check_hashable(k)
    dict_set(d, k, v)
  end
  return d
end
function L.dynargs(args, extra)
  for x in iter(extra) do args[#args + 1] = x end
  return args
end
function L.dynkw(kw, extra)
  if getmetatable(extra) ~= Dict then type_error("argument after ** must be a mapping, not " .. pytype(extra)) end
  local d = kw or new_dict()
  for k, v in rt.dict_pairs(extra) do
    if kw and dict_get(kw, k) ~= nil then type_error("got multiple values for keyword argument '" .. tostring(k) .. "'") end
    dict_set(d, k, v)
  end
  return d
end
L.cond_undefined = rt.undefined("the inline if-expression evaluated to false and no else section was defined.", false)

------------------------------------------------------------------------
-- final values
------------------------------------------------------------------------
local huge = math.huge
local function unrepresentable(what)
  raise("unsupported", "result is " .. what .. " which JSON cannot carry")
end
-- whole-value result: Python value -> JSON data (or an error). `left`: items the
-- walk may still visit (rt.result_items), with the deadline checked every
-- CHECK_PERIOD of them; `depth`: its nesting.
local MAX_DEPTH, CHECK_PERIOD = rt.MAX_DEPTH, rt.CHECK_PERIOD
local left, next_check = 0, 0
local function fin(v, depth)
  local tv = type(v)
  if tv ~= "table" then
    if tv == "number" and (v ~= v or v == huge or v == -huge) then unrepresentable("a non-finite float") end
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
  if mt == List or mt == Tuple or mt == PyList then
    local out = nil
    if mt ~= List then out = {} end
    for i = 1, #v do
      local x = v[i]
      local y = x
      local tx = type(x)
      if tx == "table" or tx == "number" then y = fin(x, depth) end
      if y ~= x and not out then
        out = {}
        for j = 1, i - 1 do out[j] = v[j] end
      end
      if out then out[i] = y end
    end
    if out then return setmetatable(out, List) end
    return v
  elseif mt == Dict then
    local ks, map = v.keys, v.map
    local vals = nil
    local rekey = false -- a Markup key becomes its text
    for i = 1, #ks do
      local k = ks[i]
      if type(k) ~= "string" then
        if getmetatable(k) ~= Markup then unrepresentable("a dict with a non-string key (" .. pytype(k) .. ")") end
        k = k.s
        rekey = true
      end
      local x = map[k]
      local y = x
      local tx = type(x)
      if tx == "table" or tx == "number" then y = fin(x, depth) end
      if y ~= x and not vals then
        vals = {}
        for j = 1, i - 1 do vals[j] = map[unmark(ks[j])] end
      end
      if vals then vals[i] = y end
    end
    if not vals and not rekey then return v end
    local d = new_dict()
    for i = 1, #ks do
      local k = unmark(ks[i])
      dict_set(d, k, vals and vals[i] or map[k])
    end
    return d
  elseif mt == Markup then
    return v.s
  elseif mt == Undefined then
    if v.strict then unrepresentable("a jinja2 StrictUndefined") end
    unrepresentable("a jinja2 Undefined")
  elseif mt == Iter then
    unrepresentable("a Python " .. (v.what or "generator"))
  elseif mt == Set then
    unrepresentable("a Python " .. pytype(v))
  elseif mt == Range then
    unrepresentable("a Python range")
  elseif mt == Func then
    unrepresentable("a Python " .. (v.pytype or "function"))
  end
  unrepresentable("a Python " .. pytype(v))
end
function L.finalize(v)
  left = rt.result_items
  next_check = left - CHECK_PERIOD
  return fin(v, 0)
end

return L
