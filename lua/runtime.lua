-- glarex runtime: the value model shared by C and Lua, errors, Python
-- semantics of truthiness, equality, ordering and arithmetic, UTF-8 helpers
-- and generic iteration.  Loaded first; see lua/README.md for the contract.
local M = ...
local rt = {}

local type, getmetatable, setmetatable, rawget = type, getmetatable, setmetatable, rawget
local mtype, tointeger = math.type, math.tointeger
local sbyte, ssub, sfind, sformat = string.byte, string.sub, string.find, string.format
local maxint, minint = math.maxinteger, math.mininteger
local tunpack = table.unpack
local huge = math.huge

------------------------------------------------------------------------
-- Value types
------------------------------------------------------------------------
-- null: a unique sentinel (never Lua nil inside data)
local NullMT = {__name = "null", __tostring = function() return "null" end}
local null = setmetatable({}, NullMT)
rt.null = null

-- list: items at 1..n (data lists; a YAQL tuple, a Jinja list)
local List = {__name = "list"}
-- dict: {keys = {k1, k2, ...}, map = {[norm(k)] = v}}; insertion ordered
local Dict = {__name = "dict"}
-- internal kinds (never part of a final result)
local Tuple = {__name = "tuple"}     -- Jinja tuple literal
local PyList = {__name = "pylist"}   -- a Python list inside YAQL (split(), json_parse()...)
local Set = {__name = "set"}         -- {items = {...}, kind = "set"|"pyset"|"keys"|"items"|"values", inserted = items added in this order}
local Iter = {__name = "iterator"}   -- {next = fn, what = "map"|...}; single pass
local Undefined = {__name = "Undefined"} -- Jinja undefined {hint=, strict=, exc=}
local Func = {__name = "function"}   -- callable {name=, call=function(args, kwargs) end}
local Range = {__name = "range"}     -- Jinja range {start, stop, step}
local Ctx = {__name = "context"}     -- YAQL let() context
-- Jinja's Markup (MarkupSafe's str subclass, from tojson, escape, safe...):
-- {s = text}. Boxed so that plain strings stay Lua strings on every fast path;
-- only Jinja makes them, and its result conversion turns them into strings.
local Markup = {__name = "Markup"}
rt.List, rt.Dict, rt.Tuple, rt.PyList, rt.Set = List, Dict, Tuple, PyList, Set
rt.Iter, rt.Undefined, rt.Func, rt.Range, rt.Ctx = Iter, Undefined, Func, Range, Ctx
rt.Markup = Markup
-- True once the current evaluation made a Markup (jinja.lua clears it as each one
-- starts): consumers that take strings from anywhere (Python methods of str,
-- Mistral's functions) look for Markup arguments only then.
rt.markups = false
function rt.markup(s)
  rt.markups = true
  return setmetatable({s = s}, Markup)
end
-- the text of a Markup, anything else unchanged
function rt.unmark(v)
  if getmetatable(v) == Markup then return v.s end
  return v
end

local function is_seq(v)
  local mt = getmetatable(v)
  return mt == List or mt == Tuple or mt == PyList
end
rt.is_seq = is_seq

function rt.list(...)
  return setmetatable({...}, List)
end
function rt.list_from(t) return setmetatable(t, List) end
function rt.list_append(l, v) l[#l + 1] = v end
function rt.tuple_from(t) return setmetatable(t, Tuple) end
function rt.pylist_from(t) return setmetatable(t, PyList) end

------------------------------------------------------------------------
-- Errors
------------------------------------------------------------------------
local ErrMT = {__name = "glarex.error"}
ErrMT.__tostring = function(e) return e.message end
rt.ErrMT = ErrMT

local function raise(kind, msg)
  error(setmetatable({kind = kind, message = msg}, ErrMT), 0)
end
rt.raise = raise
function rt.eval_error(msg) raise("eval", msg) end
function rt.unsupported(msg) raise("unsupported", msg) end
function rt.is_error(e) return getmetatable(e) == ErrMT end

-- Expressions and Jinja blocks nest at most this deep: the compiled Lua must stay
-- within Lua's own limits (C levels, registers) whatever the template.
rt.MAX_NESTING = 50
function rt.nesting_error(what, pos)
  error(setmetatable({kind = "syntax", pos = pos, message = sformat(
    "%s nested deeper than %d levels: split the template, or move the nesting into the context",
    what, rt.MAX_NESTING)}, ErrMT), 0)
end

-- The error for generated code that Lua cannot load (`lerr` from host.load):
-- past Lua's limits on one function, which a long or deeply nested template reaches.
function rt.load_error(lang, lerr, src)
  lerr = tostring(lerr)
  local why = lerr:match("(too many [^\n]-) in ") or lerr:match("(too many %w+)") or
    lerr:match("(C stack overflow)")
  if why then
    raise("unsupported", sformat("%s template too complex to compile (%s): split it into smaller templates", lang, why))
  end
  error("glarex: internal error compiling " .. lang .. ": " .. lerr .. "\n" .. src, 0)
end

-- Limits of a walk over a final value (finalize). A value may hold the same list or
-- dict many times; the walk, like the conversion to JSON after it, visits every
-- copy, so it may visit at most rt.result_items items (the host sets them from its
-- memory limit), asks the host to check the deadline every CHECK_PERIOD items (it
-- runs without the count hook when the template is bounded), and nests at most
-- MAX_DEPTH deep, which also stops it on a value that holds itself.
rt.MAX_DEPTH = 200
rt.result_items = 1 << 21
rt.CHECK_PERIOD = 1 << 16
function rt.check()
  local host = M.host
  if host and host.check then host.check() end
end
-- Counts instructions for the rest of the evaluation: a function that runs without
-- the count hook in a bounded template calls it before work it cannot bound itself.
function rt.guard()
  local host = M.host
  if host and host.guard then host.guard() end
end

-- Python's sequence * n: the items of s, n times, in a table with metatable mt. A
-- template may run it without the count hook (`* 3` in a bounded template), and its
-- table grows by doubling, allocating too seldom for the allocator's deadline checks:
-- it asks the host to check the deadline every CHECK_PERIOD items.
function rt.repeat_seq(s, n, mt)
  local out, k, m = {}, 0, #s
  if m == 0 then return setmetatable(out, mt) end
  local next_check = rt.CHECK_PERIOD
  for _ = 1, n do
    for i = 1, m do k = k + 1; out[k] = s[i] end
    if k >= next_check then rt.check(); next_check = k + rt.CHECK_PERIOD end
  end
  return setmetatable(out, mt)
end
function rt.too_large()
  local host = M.host
  if host and host.too_large then host.too_large() end
  raise("eval", "the value has more than " .. rt.result_items .. " items (each copy of a value held more than once counts)")
end
function rt.too_deep()
  raise("eval", "the value is a list or dict that contains itself, or is nested deeper than " .. rt.MAX_DEPTH .. " levels")
end

-- yaml_parse(s) read natively (src/eval_native.c) where the host has it: the value
-- the host's yaml_parse gives, its lists with `list_mt`, or nil for the host to give
-- the value or the error
local native_yaml_parse = M.host and M.host.native and M.host.native.yaml_parse
function rt.native_yaml_parse(s, list_mt)
  if native_yaml_parse and type(s) == "string" then return native_yaml_parse(s, list_mt, null, Dict) end
  return nil
end

-- call a host function; errors it raises become "eval" errors
function rt.host_call(host, name, args, kw, ctx)
  if name == "yaml_parse" and kw == nil and #args == 1 then
    local v = rt.native_yaml_parse(args[1], List)
    if v ~= nil then return v end
  end
  local ok, r = pcall(host.call, name, args, kw, ctx)
  if not ok then
    if getmetatable(r) == ErrMT then error(r, 0) end
    raise("eval", tostring(r))
  end
  if r == nil then r = null end
  return r
end

------------------------------------------------------------------------
-- Dicts
------------------------------------------------------------------------
local keynorm -- forward

local function dict() return setmetatable({keys = {}, map = {}}, Dict) end
rt.dict = dict

local function dict_set(d, k, v)
  local nk = k
  if type(k) ~= "string" then nk = keynorm(k) end
  local map = d.map
  if map[nk] == nil then local ks = d.keys; ks[#ks + 1] = k end
  map[nk] = v
end
rt.dict_set = dict_set

-- value or nil
local function dict_get(d, k)
  if type(k) == "string" then return d.map[k] end
  return d.map[keynorm(k)]
end
rt.dict_get = dict_get

function rt.dict_len(d) return #d.keys end

-- A Python dict, as opposed to YAQL's FrozenDict: unhashable, so not a set
-- member or a key (what json_parse(), toDict() and mergeWith() return).
-- Copies are frozen again unless marked.
function rt.mutable_dict(d)
  d.mutable = true
  return d
end

function rt.dict_copy(d)
  local nd = dict()
  local ks, nks, m, nm = d.keys, nd.keys, d.map, nd.map
  for i = 1, #ks do nks[i] = ks[i] end
  for k, v in pairs(m) do nm[k] = v end
  return nd
end

function rt.dict_delete(d, k)
  local nk = k
  if type(k) ~= "string" then nk = keynorm(k) end
  -- a dict of a per-call context, still being read from its JSON, is made whole
  -- (all its keys read) before a member goes, so that the member cannot come back
  local _ = d.keys[1]
  if d.map[nk] == nil then return false end
  d.map[nk] = nil
  local ks = d.keys
  for i = 1, #ks do
    local ki = ks[i]
    if ki == k or (type(ki) ~= "string" and keynorm(ki) == nk) then
      table.remove(ks, i); break
    end
  end
  return true
end

-- iterate pairs in order: for k, v in rt.dict_pairs(d)
function rt.dict_pairs(d)
  local ks, map, i = d.keys, d.map, 0
  return function()
    i = i + 1
    local k = ks[i]
    if k == nil then return nil end
    if type(k) == "string" then return k, map[k] end
    return k, map[keynorm(k)]
  end
end

------------------------------------------------------------------------
-- UTF-8 helpers (Python strings count code points)
------------------------------------------------------------------------
local function is_ascii(s) return not sfind(s, "[\128-\255]") end
rt.is_ascii = is_ascii

local function ulen(s)
  if is_ascii(s) then return #s end
  local n = utf8.len(s)
  if not n then
    -- invalid UTF-8: count bytes that are not continuation bytes
    n = 0
    for i = 1, #s do local b = sbyte(s, i); if b < 0x80 or b >= 0xC0 then n = n + 1 end end
  end
  return n
end
rt.ulen = ulen

-- array of code-point strings
local function uchars(s)
  local out = {}
  if is_ascii(s) then
    for i = 1, #s do out[i] = ssub(s, i, i) end
    return out
  end
  local n = 0
  for ch in s:gmatch("[%z\1-\127\194-\253][\128-\191]*") do n = n + 1; out[n] = ch end
  return out
end
rt.uchars = uchars

-- Python s[i:j] with already-normalised 0-based bounds (0 <= i <= j <= len)
local function usub(s, i, j)
  if is_ascii(s) then return ssub(s, i + 1, j) end
  if j <= i then return "" end
  local bi = utf8.offset(s, i + 1)
  local bj = utf8.offset(s, j + 1)
  if not bi or not bj then
    local cs = uchars(s)
    return table.concat(cs, "", i + 1, j)
  end
  return ssub(s, bi, bj - 1)
end
rt.usub = usub

-- Python-style slice index normalisation
local function slice_bounds(n, start, stop, step)
  step = step or 1
  if step == 0 then raise("eval", "slice step cannot be zero") end
  if step > 0 then
    if start == nil then start = 0 elseif start < 0 then start = start + n; if start < 0 then start = 0 end elseif start > n then start = n end
    if stop == nil then stop = n elseif stop < 0 then stop = stop + n; if stop < 0 then stop = 0 end elseif stop > n then stop = n end
  else
    if start == nil then start = n - 1 elseif start < 0 then start = start + n; if start < 0 then start = -1 end elseif start >= n then start = n - 1 end
    if stop == nil then stop = -1 elseif stop < 0 then stop = stop + n; if stop < 0 then stop = -1 end elseif stop >= n then stop = n - 1 end
  end
  return start, stop, step
end
rt.slice_bounds = slice_bounds

-- encode a code point
rt.uchar = utf8.char

------------------------------------------------------------------------
-- Type names (Python's)
------------------------------------------------------------------------
local function pytype(v)
  local tv = type(v)
  if tv == "string" then return "str" end
  if tv == "boolean" then return "bool" end
  if tv == "number" then return mtype(v) == "integer" and "int" or "float" end
  if v == null then return "NoneType" end
  local mt = getmetatable(v)
  if mt == List then return "list" end
  if mt == Dict then return "dict" end
  if mt == Tuple then return "tuple" end
  if mt == PyList then return "list" end
  if mt == Set then
    local k = v.kind
    if k == "keys" then return "dict_keys" elseif k == "values" then return "dict_values"
    elseif k == "items" then return "dict_items" elseif k == "pyset" then return "set" end
    return "frozenset"
  end
  if mt == Iter then return v.what or "generator" end
  if mt == Undefined then return "Undefined" end
  if mt == Func then return v.pytype or "builtin_function_or_method" end
  if mt == Range then return "range" end
  if mt == Ctx then return "context" end
  if mt == Markup then return "Markup" end
  return "object"
end
rt.pytype = pytype

------------------------------------------------------------------------
-- Undefined (Jinja)
------------------------------------------------------------------------
function rt.undefined(hint, strict, exc)
  return setmetatable({hint = hint, strict = strict ~= false, exc = exc}, Undefined)
end
function rt.undef_fail(u)
  raise(u.exc or "eval", u.hint or "undefined value")
end

------------------------------------------------------------------------
-- Iteration
------------------------------------------------------------------------
-- CPython's hash of a value that hashes as an int (an int, a bool, a float equal
-- to an int) below 2^61 - 1 in size, where it is the value itself (but -1 is -2);
-- nil for any other value
local HASH_MODULUS = (1 << 61) - 1
local function int_hash(x)
  if x == true then return 1 elseif x == false then return 0 end
  if type(x) ~= "number" then return nil end
  local i = tointeger(x)
  if i == nil or i >= HASH_MODULUS or i <= -HASH_MODULUS then return nil end
  return i == -1 and -2 or i
end

-- Where CPython 3.11 puts a key with hash h in a table of mask + 1 slots
-- (Objects/setobject.c, set_add_entry and set_insert_clean, for a new key and a
-- table without deleted entries): the home slot and the 9 after it where the table
-- has them, then a jump that mixes in the hash's higher bits, and again.
-- `perturb` is a size_t there: Lua's >> shifts in zeros as C's does.
local LINEAR_PROBES, PERTURB_SHIFT = 9, 5
local function place(tab, mask, h, key)
  local perturb, i = h, h & mask
  while true do
    if tab[i] == nil then tab[i] = key; return end
    if i + LINEAR_PROBES <= mask then
      for j = i + 1, i + LINEAR_PROBES do
        if tab[j] == nil then tab[j] = key; return end
      end
    end
    perturb = perturb >> PERTURB_SHIFT
    i = (i * 5 + 1 + perturb) & mask
  end
end

-- The slot order of distinct keys added one by one to an empty CPython set, given
-- their hashes: indexes into `hashes`. The table starts with 8 slots and, once a
-- key makes 5 * used >= 3 * mask, is rebuilt (set_table_resize) with the smallest
-- power of two above 4 * used (2 * used past 50,000 keys), its keys placed again
-- in the old slot order.
local function insertion_order(hashes)
  local tab, mask = {}, 7
  for key = 1, #hashes do
    place(tab, mask, hashes[key], key)
    if key * 5 >= mask * 3 then
      local minused, size = key > 50000 and key * 2 or key * 4, 8
      while size <= minused do size = size * 2 end
      local new = {}
      for slot = 0, mask do
        local k = tab[slot]
        if k then place(new, size - 1, hashes[k], k) end
      end
      tab, mask = new, size - 1
    end
  end
  local order, n = {}, 0
  for slot = 0, mask do
    local k = tab[slot]
    if k then n = n + 1; order[n] = k end
  end
  return order
end

-- The items of a Python set in the order CPython iterates them (hash-table slot
-- order), or nil where that order cannot be known:
-- - A non-negative int (or a bool, or a float equal to one) hashes to its own
--   value, and CPython keeps a set of n items in a table of at least 8 slots with
--   5n < 3(slots - 1) (it grows the table before that is passed), so when every
--   item is an int below the smallest such table, each sits in the slot of its own
--   value and the set iterates ascending, whatever its history. A counting sort.
-- - A set whose items were added one by one to an empty set, in the order `items`
--   holds (v.inserted: set(), toSet(), and output conversion's copy of a set whose
--   order is known), when every item hashes as an int: its table is rebuilt as
--   CPython builds it.
-- Any other set's order depends on how it was combined from others, or for strings
-- on the per-process hash seed: refused rather than guessed.
local function set_order(v)
  local items = v.items
  local n = #items
  if n < 2 then return items end
  local size = 8
  while 5 * n >= 3 * (size - 1) do size = size * 2 end
  local slots, ascending = {}, true
  for i = 1, n do
    local h = int_hash(items[i])
    if h == nil then return nil end
    if h >= size or h < 0 then ascending = false; break end
    slots[h + 1] = items[i]
  end
  local out, k = {}, 0
  if ascending then
    for h = 1, size do
      local x = slots[h]
      if x ~= nil then k = k + 1; out[k] = x end
    end
    return out
  end
  if not v.inserted then return nil end
  local hashes = {}
  for i = 1, n do
    hashes[i] = int_hash(items[i])
    if hashes[i] == nil then return nil end
  end
  for i, key in ipairs(insertion_order(hashes)) do out[i] = items[key] end
  return out
end
rt.set_order = set_order

-- The items of a set in iteration order, or nil where it is not known; dict views
-- keep their dict's order.
function rt.known_order(v)
  if v.kind ~= "set" and v.kind ~= "pyset" then return v.items end
  return set_order(v)
end
local function set_items(v)
  local items = rt.known_order(v)
  if not items then
    raise("unsupported", "the order of a Python set's items depends on hashing "
      .. "(sort it first, e.g. orderBy($) or | sort)")
  end
  return items
end
rt.set_items = set_items

-- Whether `v` is a Python set, whose iteration order set_items may refuse.
function rt.is_unordered(v)
  return getmetatable(v) == Set and (v.kind == "set" or v.kind == "pyset")
end

-- Returns a Lua iterator function yielding items (nil at the end).
-- Accepts sequences, sets, iterators, ranges; dicts yield keys, strings
-- yield characters (callers decide whether that is allowed).
local function iter(v)
  local mt = getmetatable(v)
  if mt == List or mt == Tuple or mt == PyList then
    local i = 0
    return function() i = i + 1; return v[i] end
  elseif mt == Iter then
    if v.restart then return v.restart() end -- iterable again (yaql's OrderingIterable)
    return v.next
  elseif mt == Set then
    local items, i = set_items(v), 0
    return function() i = i + 1; return items[i] end
  elseif mt == Dict then
    local ks, i = v.keys, 0
    return function() i = i + 1; return ks[i] end
  elseif mt == Range then
    local cur, stop, step = v.start - v.step, v.stop, v.step
    return function()
      cur = cur + step
      if (step > 0 and cur < stop) or (step < 0 and cur > stop) then return cur end
      cur = cur - step
      return nil
    end
  elseif type(v) == "string" or mt == Markup then
    local cs, i = uchars(mt == Markup and v.s or v), 0
    return function() i = i + 1; return cs[i] end
  elseif mt == Undefined then
    if v.strict then rt.undef_fail(v) end
    return function() return nil end -- a plain Undefined iterates as empty
  end
  raise("eval", "'" .. pytype(v) .. "' object is not iterable")
end
rt.iter = iter
-- iter() for consumers whose result does not depend on the order (any, all,
-- `in`, min, max): a Python set's items in any order, never refused.
function rt.iter_any(v)
  if rt.is_unordered(v) then
    local items, i = v.items, 0
    return function() i = i + 1; return items[i] end
  end
  return iter(v)
end

-- make a single-pass iterator object from a Lua iterator function
local function make_iter(nextfn, what)
  local done = false
  local it = setmetatable({what = what}, Iter)
  it.next = function()
    if done then return nil end
    local v = nextfn()
    if v == nil then done = true end
    return v
  end
  return it
end
rt.make_iter = make_iter

-- a single-pass iterator over fn(x) for the items x of a sequence (Jinja's map),
-- which can also hand over what is left at once: drain() runs one loop instead
-- of a call chain per item, for list() and whatever else collects the items
function rt.map_seq(src, fn, what)
  local i, done = 0, false
  local it = setmetatable({what = what, next = false, drain = false}, Iter)
  it.next = function()
    if done then return nil end
    i = i + 1
    local x = src[i]
    local y
    if x ~= nil then y = fn(x) end
    if y == nil then done = true end
    return y
  end
  it.drain = function()
    if done then return {} end
    done = true -- also after an error, as a Python generator that raised
    local m = #src - i
    -- sized at once (no regrowth) when the items fit on the stack comfortably
    local out = m <= 4096 and {tunpack(src, i + 1, i + m)} or {}
    for k = 1, m do
      local y = fn(src[i + k])
      if y == nil then
        for r = k, m do out[r] = nil end
        break
      end
      out[k] = y
    end
    i = #src
    return out
  end
  return it
end

-- materialise anything iterable into a plain Lua array (not copied for
-- sequences when nocopy is set)
local function to_array(v, nocopy)
  local mt = getmetatable(v)
  if nocopy and (mt == List or mt == Tuple or mt == PyList) then return v end
  local out, n = {}, 0
  if mt == List or mt == Tuple or mt == PyList then
    for i = 1, #v do out[i] = v[i] end
    return out
  end
  if mt == Set then
    local items = set_items(v)
    for i = 1, #items do out[i] = items[i] end
    return out
  end
  for x in iter(v) do n = n + 1; out[n] = x end
  return out
end
rt.to_array = to_array

function rt.range_len(r)
  local start, stop, step = r.start, r.stop, r.step
  if step > 0 then
    if stop <= start then return 0 end
    return (stop - start - 1) // step + 1
  else
    if stop >= start then return 0 end
    return (start - stop - 1) // (-step) + 1
  end
end

------------------------------------------------------------------------
-- Truthiness (Python)
------------------------------------------------------------------------
local function truthy(v)
  if v == true then return true end
  if v == false or v == null then return false end
  local tv = type(v)
  if tv == "number" then return v ~= 0 end
  if tv == "string" then return v ~= "" end
  local mt = getmetatable(v)
  if mt == List or mt == Tuple or mt == PyList then return v[1] ~= nil end
  if mt == Dict then return v.keys[1] ~= nil end
  if mt == Set then return v.items[1] ~= nil end
  if mt == Undefined then
    if v.strict then rt.undef_fail(v) end
    return false
  end
  if mt == Range then return rt.range_len(v) > 0 end
  if mt == Markup then return v.s ~= "" end
  return true
end
rt.truthy = truthy

------------------------------------------------------------------------
-- Equality (Python ==)
------------------------------------------------------------------------
local eq
local function seq_eq(a, b)
  local n = #a
  if n ~= #b then return false end
  for i = 1, n do
    local x, y = a[i], b[i]
    if x ~= y and not eq(x, y) then return false end
  end
  return true
end

-- whether every item of the array `items` is in the array `others`: looked up by
-- hash (rt.seen, below), O(n) as in Python
local function all_in(items, others)
  local in_others = rt.seen()
  for i = 1, #others do in_others(others[i]) end
  -- in_others also records an item it lacks: harmless, the answer is no then
  for i = 1, #items do if not in_others(items[i]) then return false end end
  return true
end

eq = function(a, b)
  if a == b then return true end
  local ta, tb = type(a), type(b)
  if ta == "number" then
    if tb == "boolean" then return a == (b and 1 or 0) end
    if tb == "table" and getmetatable(b) == Undefined and b.strict then rt.undef_fail(b) end
    return false
  elseif ta == "boolean" then
    if tb == "number" then return (a and 1 or 0) == b end
    if tb == "table" and getmetatable(b) == Undefined and b.strict then rt.undef_fail(b) end
    return false
  elseif ta ~= "table" or tb ~= "table" then
    if ta == "table" then
      local ma = getmetatable(a)
      if ma == Markup then return a.s == b end
      if ma == Undefined and a.strict then rt.undef_fail(a) end
    elseif tb == "table" then
      local mb = getmetatable(b)
      if mb == Markup then return b.s == a end
      if mb == Undefined and b.strict then rt.undef_fail(b) end
    end
    return false
  end
  local ma, mb = getmetatable(a), getmetatable(b)
  if ma == Undefined then
    if a.strict then rt.undef_fail(a) end
    return mb == Undefined
  end
  if mb == Undefined then
    if b.strict then rt.undef_fail(b) end
    return false
  end
  if ma ~= mb then return false end
  if ma == List or ma == Tuple or ma == PyList then return seq_eq(a, b) end
  if ma == Markup then return a.s == b.s end
  if ma == Dict then
    local ka, kb = a.keys, b.keys
    if #ka ~= #kb then return false end
    for i = 1, #ka do
      local k = ka[i]
      local vb = dict_get(b, k)
      if vb == nil then return false end
      local va = dict_get(a, k)
      if va ~= vb and not eq(va, vb) then return false end
    end
    return true
  end
  if ma == Set then
    if a.kind == "values" or b.kind == "values" then return false end
    local ia, ib = a.items, b.items
    if #ia ~= #ib then return false end
    return all_in(ia, ib)
  end
  if ma == Range then
    return rt.range_len(a) == rt.range_len(b) and (rt.range_len(a) == 0 or
      (a.start == b.start and (rt.range_len(a) == 1 or a.step == b.step)))
  end
  return false
end
rt.eq = eq

-- membership helper with Python equality semantics: scalars are hashed
-- (1 == 1.0 == True), hashable containers are found by their hash key (and
-- confirmed with ==), so n items cost O(n); an unhashable container, where the
-- caller allows one, is compared with every container seen.
-- seen = rt.seen(); if seen(x) then <duplicate> end
local hash_key, unhashable_part -- forward (Python hashing, below)
function rt.seen()
  local scalars, buckets, tables, loose = {}, {}, {}, {}
  local function in_list(list, x)
    for i = 1, #list do local y = list[i]; if y == x or eq(y, x) then return true end end
    return false
  end
  return function(x)
    local tx = type(x)
    local k
    if tx == "string" then k = x
    elseif tx == "number" then k = x -- Lua table keys merge 1 and 1.0; NaN falls through
    elseif tx == "boolean" then k = x and 1 or 0
    elseif x == null then k = null
    elseif getmetatable(x) == Markup then k = x.s
    end
    if k ~= nil and k == k then
      if scalars[k] then return true end
      scalars[k] = true
      return false
    end
    if tx == "table" and getmetatable(x) ~= Undefined and not unhashable_part(x) then
      local hk = hash_key(x)
      local bucket = buckets[hk]
      if bucket then
        if in_list(bucket, x) then return true end
      else
        bucket = {}
        buckets[hk] = bucket
      end
      if in_list(loose, x) then return true end
      bucket[#bucket + 1] = x
    else
      if in_list(tables, x) then return true end
      loose[#loose + 1] = x
    end
    tables[#tables + 1] = x
    return false
  end
end

-- Python `x in container` for sequences/sets/iterators (uses ==)
function rt.contains_iter(coll, x)
  local mt = getmetatable(coll)
  -- a set or a dict's keys hash what they are asked about
  if mt == Set and (coll.kind == "set" or coll.kind == "keys") then keynorm(x) end
  if mt == List or mt == Tuple or mt == PyList then
    for i = 1, #coll do local y = coll[i]; if y == x or eq(y, x) then return true end end
    return false
  end
  for y in rt.iter_any(coll) do if y == x or eq(y, x) then return true end end
  return false
end

------------------------------------------------------------------------
-- Ordering (Python <) ; raises TypeError-like errors for mixed types
------------------------------------------------------------------------
local function str_lt(a, b)
  -- byte-wise comparison (== code point order for UTF-8), locale-independent
  local x, y = sbyte(a, 1), sbyte(b, 1)
  if x ~= y then -- most keys differ in their first byte; nil: an empty string
    if x == nil then return true end
    return y ~= nil and x < y
  end
  if a == b then return false end
  local n = #a
  if #b < n then n = #b end
  local i = 1
  while i <= n do
    local j = i + 15
    if j > n then j = n end
    if ssub(a, i, j) ~= ssub(b, i, j) then
      for k = i, j do
        local x, y = sbyte(a, k), sbyte(b, k)
        if x ~= y then return x < y end
      end
    end
    i = j + 1
  end
  return #a < #b
end
rt.str_lt = str_lt

local function numval(v)
  local tv = type(v)
  if tv == "number" then return v end
  if tv == "boolean" then return v and 1 or 0 end
  return nil
end

-- the text of a str or a Markup, or nil
local function text_of(v)
  if type(v) == "string" then return v end
  if getmetatable(v) == Markup then return v.s end
  return nil
end

local cmp_lt
local function cmp_type_error(op, a, b)
  raise("eval", "'" .. op .. "' not supported between instances of '" .. pytype(a) .. "' and '" .. pytype(b) .. "'")
end
rt.cmp_type_error = cmp_type_error

-- Python a < b
cmp_lt = function(a, b, op)
  local na, nb = numval(a), numval(b)
  if na and nb then return na < nb end
  local ta, tb = type(a), type(b)
  if ta == "string" and tb == "string" then return str_lt(a, b) end
  if ta == "table" and tb == "table" then
    local ma, mb = getmetatable(a), getmetatable(b)
    if ma == Undefined then rt.undef_fail(a) end
    if mb == Undefined then rt.undef_fail(b) end
    if ma == mb and (ma == List or ma == Tuple or ma == PyList) then
      local n = math.min(#a, #b)
      for i = 1, n do
        local x, y = a[i], b[i]
        if not eq(x, y) then return cmp_lt(x, y, op) end
      end
      return #a < #b
    end
    if ma == Set and mb == Set then
      -- proper subset
      if #a.items >= #b.items then return false end
      return all_in(a.items, b.items)
    end
  end
  local sa, sb = text_of(a), text_of(b)
  if sa and sb then return str_lt(sa, sb) end
  if type(a) == "table" and getmetatable(a) == Undefined then rt.undef_fail(a) end
  if type(b) == "table" and getmetatable(b) == Undefined then rt.undef_fail(b) end
  cmp_type_error(op or "<", a, b)
end
rt.lt = function(a, b) return cmp_lt(a, b, "<") end
rt.gt = function(a, b) return cmp_lt(b, a, ">") end
rt.le = function(a, b)
  local na, nb = numval(a), numval(b)
  if na and nb then return na <= nb end
  if type(a) == "string" and type(b) == "string" then return a == b or str_lt(a, b) end
  local ma = getmetatable(a)
  if ma == Set and getmetatable(b) == Set then
    return all_in(a.items, b.items)
  end
  if eq(a, b) and (ma == List or ma == Tuple or ma == PyList or ma == Markup or getmetatable(b) == Markup) then
    return true
  end
  return cmp_lt(a, b, "<=")
end
rt.ge = function(a, b) return rt.le(b, a) end

------------------------------------------------------------------------
-- Keys of dicts (Python hashing)
------------------------------------------------------------------------
-- Python's hash() refuses lists, dicts, sets other than frozen ones (and dict views
-- other than values()), and a tuple or frozen dict holding one of them: the first
-- such value inside v, or nil when v is hashable
unhashable_part = function(v)
  local mt = getmetatable(v)
  if mt == PyList or (mt == Set and v.kind ~= "set" and v.kind ~= "values") or (mt == Dict and v.mutable) then
    return v
  elseif mt == List or mt == Tuple then
    for i = 1, #v do
      local x = v[i]
      if type(x) == "table" then x = unhashable_part(x); if x then return x end end
    end
  elseif mt == Dict then
    for _, x in rt.dict_pairs(v) do
      if type(x) == "table" then x = unhashable_part(x); if x then return x end end
    end
  end
  return nil
end
local function check_hashable(v)
  local u = unhashable_part(v)
  if u then raise("eval", "unhashable type: '" .. pytype(u) .. "'") end
end

-- The hash key of a hashable value: two values share one exactly when Python holds
-- them equal. Numbers by value (1, 1.0 and True alike), strings with their length
-- (so no string can pass for another part), frozen sets and dicts with their parts
-- sorted (their order is no part of equality), iterators, functions and values()
-- views by identity, as Python hashes them.
local function part_key(v)
  local tv = type(v)
  if tv == "string" then return "s" .. #v .. ":" .. v end
  if tv == "boolean" then return v and "i1" or "i0" end
  if tv == "number" then
    local i = mtype(v) == "integer" and v or tointeger(v)
    if i then return "i" .. i end
    return sformat("f%a", v)
  end
  if v == null then return "N" end
  return hash_key(v)
end
local function sorted_parts(parts)
  table.sort(parts)
  return table.concat(parts, ",")
end
hash_key = function(v)
  local mt = getmetatable(v)
  if mt == List or mt == Tuple then
    local parts = {}
    for i = 1, #v do parts[i] = part_key(v[i]) end
    return "(" .. #v .. ":" .. table.concat(parts, ",") .. ")"
  elseif mt == Dict then
    local parts = {}
    for i, k in ipairs(v.keys) do parts[i] = part_key(k) .. "=" .. part_key(dict_get(v, k)) end
    return "{" .. #parts .. ":" .. sorted_parts(parts) .. "}"
  elseif mt == Set and v.kind == "set" then
    local parts = {}
    for i, x in ipairs(v.items) do parts[i] = part_key(x) end
    return "<" .. #parts .. ":" .. sorted_parts(parts) .. ">"
  elseif mt == Range then
    local n = rt.range_len(v)
    return "r" .. n .. ":" .. (n > 0 and v.start or 0) .. ":" .. (n > 1 and v.step or 0)
  end
  return "@" .. tostring(v)
end

keynorm = function(k)
  local tk = type(k)
  if tk == "string" or tk == "number" then
    if k ~= k then return "\0nan" end
    return k
  end
  if tk == "boolean" then return k and 1 or 0 end
  if k == null then return null end
  local mt = getmetatable(k)
  if mt == Iter or mt == Func then return k end -- identity hash
  if mt == Markup then return k.s end
  if mt == Undefined then rt.undef_fail(k) end
  check_hashable(k)
  -- tuples, frozendicts, frozensets: structural key
  return "\0" .. hash_key(k)
end
rt.keynorm = keynorm

------------------------------------------------------------------------
-- Numbers (Python semantics, 64-bit ints with overflow detection)
------------------------------------------------------------------------
local function overflow() raise("unsupported", "integer result beyond 64 bits") end
rt.overflow = overflow

local function iadd(a, b)
  local r = a + b
  if (a >= 0) == (b >= 0) and (r >= 0) ~= (a >= 0) then overflow() end
  return r
end
local function isub(a, b)
  local r = a - b
  if (a >= 0) ~= (b >= 0) and (r >= 0) ~= (a >= 0) then overflow() end
  return r
end
local function imul(a, b)
  if a == 0 or b == 0 then return 0 end
  if (a == -1 and b == minint) or (b == -1 and a == minint) then overflow() end
  local r = a * b
  if r // b ~= a or r % b ~= 0 then overflow() end
  return r
end
rt.iadd, rt.isub, rt.imul = iadd, isub, imul

-- numeric value of bool/int/float, nil otherwise
rt.numval = numval
local function is_int(v) return mtype(v) == "integer" end
rt.is_int = is_int

function rt.add(a, b)
  if is_int(a) and is_int(b) then return iadd(a, b) end
  return a + b
end
function rt.sub(a, b)
  if is_int(a) and is_int(b) then return isub(a, b) end
  return a - b
end
function rt.mul(a, b)
  if is_int(a) and is_int(b) then return imul(a, b) end
  return a * b
end
-- zero with the sign of x (Python's copysign(0.0, x))
local function signed_zero(x)
  if x < 0 or (x == 0 and 1 / x < 0) then return -0.0 end
  return 0.0
end
rt.signed_zero = signed_zero

-- Python's float divmod (Objects/floatobject.c): from fmod, so 1 // 0.1 is
-- 9.0 (floor(1 / 0.1) would be 10.0); a zero remainder takes the divisor's
-- sign, a zero quotient the sign of a / b. Returns quotient, remainder.
function rt.float_divmod(a, b)
  local mod = math.fmod(a, b)
  local div = (a - mod) / b
  if mod ~= 0 then
    if (b < 0) ~= (mod < 0) then mod = mod + b; div = div - 1.0 end
  else
    mod = signed_zero(b)
  end
  if div == 0 then return signed_zero(a / b), mod end
  local floordiv = math.floor(div) + 0.0
  if div - floordiv > 0.5 then floordiv = floordiv + 1.0 end
  return floordiv, mod
end

-- Python //
function rt.floordiv(a, b)
  if b == 0 then
    raise("eval", (is_int(a) and is_int(b)) and "integer division or modulo by zero" or "float floor division by zero")
  end
  if is_int(a) and is_int(b) then
    if a == minint and b == -1 then overflow() end
    return a // b
  end
  return (rt.float_divmod(a * 1.0, b * 1.0))
end
-- Python /
function rt.truediv(a, b)
  if b == 0 then raise("eval", "division by zero") end
  return (a * 1.0) / b
end
-- Python %
function rt.mod(a, b)
  if b == 0 then
    raise("eval", (is_int(a) and is_int(b)) and "integer modulo by zero" or "float modulo")
  end
  if is_int(a) and is_int(b) then
    if b == -1 then return 0 end
    return a % b
  end
  local _, m = rt.float_divmod(a * 1.0, b * 1.0)
  return m
end
function rt.neg(a)
  if is_int(a) then
    if a == minint then overflow() end
    return -a
  end
  return -a
end
-- x ** 2 as CPython computes it: C pow(), which Lua's ^ replaces by x * x
-- for an exponent of 2 (they differ in the last bit for about 1 square in
-- 1,000). The embedding gives C pow as host.pow. Without it, x * x is used
-- only where it is certainly pow's answer: its exact error (Dekker's
-- product) is under 0.47 ULP, and glibc's pow is within 0.52 ULP.
local host_pow = M.host and M.host.pow
local function square(x)
  if host_pow then return host_pow(x, 2.0) end
  local r = x * x
  local ax = x < 0 and -x or x
  if r == 0 or r == huge or ax ~= ax or ax > 2.0 ^ 500 then return r end
  if ax < 2.0 ^ -480 then raise("unsupported", "float ** 2 of a tiny value needs C pow() from the host") end
  local c = 134217729.0 * x
  local hi = c - (c - x)
  local lo = x - hi
  local err = ((hi * hi - r) + 2 * hi * lo) + lo * lo
  local e = math.floor(math.log(r, 2))
  if 2.0 ^ e > r then e = e - 1 elseif 2.0 ^ (e + 1) <= r then e = e + 1 end
  if (err < 0 and -err or err) <= 0.47 * 2.0 ^ (e - 52) then return r end
  raise("unsupported", "float ** 2 needs C pow() from the host (the embedding provides it)")
end

-- Python **
function rt.pow(a, b)
  if is_int(a) and is_int(b) then
    if b < 0 then
      if a == 0 then raise("eval", "0.0 cannot be raised to a negative power") end
      return (a * 1.0) ^ b
    end
    local r, base, e = 1, a, b
    while e > 0 do
      if e % 2 == 1 then r = imul(r, base) end
      e = e // 2
      if e > 0 then base = imul(base, base) end
    end
    return r
  end
  a, b = a * 1.0, b * 1.0
  if a == 0 and b < 0 then raise("eval", "0.0 cannot be raised to a negative power") end
  if a < 0 and b ~= math.floor(b) then raise("unsupported", "complex result of a power") end
  local r = b == 2 and square(a) or a ^ b
  if (r == huge or r == -huge) and a ~= huge and a ~= -huge then raise("eval", "(34, 'Numerical result out of range')") end
  return r
end

-- Python's error for a float that no int stands for (int(), math.ceil, math.floor)
function rt.need_int_float(x)
  if x ~= x then raise("eval", "cannot convert float NaN to integer") end
  if x == huge or x == -huge then raise("eval", "cannot convert float infinity to integer") end
end

-- float -> int (Python int(x): truncation)
function rt.float_to_int(x)
  rt.need_int_float(x)
  local t = x >= 0 and math.floor(x) or math.ceil(x)
  local i = tointeger(t)
  if not i then overflow() end
  return i
end

-- random UUID4 (Mistral's uuid(); the host may provide its own)
function rt.uuid4()
  local random = math.random
  if not random then raise("unsupported", "uuid() needs a host implementation (no random source)") end
  local b = {}
  for i = 1, 16 do b[i] = random(0, 255) end
  b[7] = (b[7] & 0x0f) | 0x40
  b[9] = (b[9] & 0x3f) | 0x80
  return sformat("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", table.unpack(b))
end

------------------------------------------------------------------------
-- Misc helpers used by generated code
------------------------------------------------------------------------
rt.type = type
rt.mininteger = math.mininteger
rt.getmetatable = getmetatable
rt.setmetatable = setmetatable

-- is v one of the plain JSON-like data kinds?
function rt.kind(v)
  local tv = type(v)
  if tv ~= "table" then return tv end
  if v == null then return "null" end
  local mt = getmetatable(v)
  if mt == List or mt == Tuple or mt == PyList then return "seq" end
  if mt == Dict then return "dict" end
  return "other"
end

return rt
