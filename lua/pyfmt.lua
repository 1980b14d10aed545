-- glarex pyfmt: Python's text behaviour -- str()/repr() of values (floats
-- with shortest round-trip digits), str.format(), the % operator, case
-- mapping and the str methods both languages share (split, strip, find...).
local M = ...
local rt = M.runtime
local P = {}

local type, getmetatable, tostring = type, getmetatable, tostring
local mtype, mfloor = math.type, math.floor
local sformat, sbyte, ssub, sfind, srep, sgsub = string.format, string.byte, string.sub, string.find, string.rep, string.gsub
local concat = table.concat
local huge = math.huge
local null = rt.null
local List, Dict, Tuple, PyList, Set, Iter, Undefined, Func, Range =
  rt.List, rt.Dict, rt.Tuple, rt.PyList, rt.Set, rt.Iter, rt.Undefined, rt.Func, rt.Range
local Markup = rt.Markup
local raise = rt.raise

------------------------------------------------------------------------
-- floats
------------------------------------------------------------------------
-- the next decimal of as many digits away from zero: digits d1..dn, the point after d1
local function decimal_up(digits, e)
  local i = #digits
  while i > 0 and ssub(digits, i, i) == "9" do i = i - 1 end
  if i == 0 then return "1" .. srep("0", #digits - 1), e + 1 end
  return ssub(digits, 1, i - 1) .. string.char(sbyte(digits, i) + 1) .. srep("0", #digits - i), e
end

local function lua_float_repr(x)
  if x ~= x then return "nan" end
  if x == huge then return "inf" elseif x == -huge then return "-inf" end
  if x == 0 then
    if 1 / x < 0 then return "-0.0" end
    return "0.0"
  end
  -- the fewest digits that read back as x, the nearest of them; below a power of
  -- two the doubles are twice as close as above it, so there the next decimal up may
  -- read back where the nearest, below x, does not
  local pow2 = sfind(sformat("%a", x), "^%-?0x1p") ~= nil
  local neg, digits, e
  for p = 0, 16 do
    local s = sformat("%." .. p .. "e", x)
    local m
    neg, m, e = s:match("^(%-?)(%d[%.%d]*)e([-+]%d+)$")
    digits, e = m:gsub("%.", ""), tonumber(e)
    if tonumber(s) == x then break end
    if pow2 then
      local up, ue = decimal_up(digits, e)
      if tonumber(neg .. up .. "e" .. (ue - #up + 1)) == x then digits, e = up, ue; break end
    end
  end
  digits = digits:gsub("0+$", "")
  if digits == "" then digits = "0" end
  local r
  if e < -4 or e >= 16 then
    r = ssub(digits, 1, 1)
    if #digits > 1 then r = r .. "." .. ssub(digits, 2) end
    r = r .. "e" .. (e < 0 and "-" or "+") .. sformat("%02d", e < 0 and -e or e)
  elseif e >= 0 then
    if #digits <= e + 1 then
      r = digits .. srep("0", e + 1 - #digits) .. ".0"
    else
      r = ssub(digits, 1, e + 1) .. "." .. ssub(digits, e + 2)
    end
  else
    r = "0." .. srep("0", -e - 1) .. digits
  end
  return neg .. r
end
P.lua_float_repr = lua_float_repr
-- the C version (src/eval_native.c) where the host has it
local any_float_repr = M.host and M.host.native and M.host.native.float_repr or lua_float_repr
-- A whole number below 10^16 is its digits and ".0", without a search for the
-- fewest digits: every integer below 2^53, and every even one below 2^54, is a double
-- of its own, so no shorter decimal reads back as it. (0 keeps its sign below.)
local function float_repr(x)
  if x == mfloor(x) and x ~= 0 and x > -1e16 and x < 1e16 then return sformat("%d", x) .. ".0" end
  return any_float_repr(x)
end
P.float_repr = float_repr

local function num_str(v)
  if mtype(v) == "integer" then return sformat("%d", v) end
  return float_repr(v)
end
P.num_str = num_str

------------------------------------------------------------------------
-- string repr
------------------------------------------------------------------------
local function nonprintable_cp(cp)
  if cp < 0x20 or cp == 0x7f then return true end
  if cp >= 0x80 and cp <= 0xa0 then return true end
  if cp == 0xad then return true end
  if cp >= 0x2000 and cp <= 0x200f then return cp ~= 0x2000 and true or true end
  if cp >= 0x2028 and cp <= 0x202f then return true end
  if cp >= 0x205f and cp <= 0x206f then return true end
  if cp == 0x3000 or cp == 0xfeff or cp == 0x1680 or cp == 0x180e then return true end
  if cp >= 0xd800 and cp <= 0xdfff then return true end
  if cp >= 0xe000 and cp <= 0xf8ff then return true end
  if cp >= 0xfff9 and cp <= 0xfffb then return true end
  if cp == 0xfffe or cp == 0xffff then return true end
  return false
end

local function str_repr(s)
  local q = "'"
  if sfind(s, "'", 1, true) and not sfind(s, '"', 1, true) then q = '"' end
  local out, n = {q}, 1
  local ascii = rt.is_ascii(s)
  local function add(x) n = n + 1; out[n] = x end
  if ascii then
    if not sfind(s, "[%c\\'\"]") then return q .. s .. q end
    for i = 1, #s do
      local c = ssub(s, i, i)
      local b = sbyte(c)
      if c == q or c == "\\" then add("\\" .. c)
      elseif c == "\n" then add("\\n")
      elseif c == "\r" then add("\\r")
      elseif c == "\t" then add("\\t")
      elseif b < 0x20 or b == 0x7f then add(sformat("\\x%02x", b))
      else add(c) end
    end
  else
    for _, cp in utf8.codes(s, true) do
      if cp == sbyte(q) then add("\\" .. q)
      elseif cp == 92 then add("\\\\")
      elseif cp == 10 then add("\\n")
      elseif cp == 13 then add("\\r")
      elseif cp == 9 then add("\\t")
      elseif nonprintable_cp(cp) then
        if cp < 0x100 then add(sformat("\\x%02x", cp))
        elseif cp < 0x10000 then add(sformat("\\u%04x", cp))
        else add(sformat("\\U%08x", cp)) end
      else add(utf8.char(cp)) end
    end
  end
  add(q)
  return concat(out)
end
P.str_repr = str_repr

------------------------------------------------------------------------
-- repr / str of any value
-- mode: nil (Python view: List is a list) or "yaql" (YAQL internal view:
-- List is a tuple, PyList a list)
------------------------------------------------------------------------
-- depth: how deep inside the outermost value (a value that holds itself would
-- recurse for ever; Python prints [...] there, glarex stops at rt.MAX_DEPTH)
local repr
local function seq_body(v, mode, depth)
  local parts = {}
  for i = 1, #v do parts[i] = repr(v[i], mode, depth) end
  return concat(parts, ", ")
end

-- the C version (src/eval_native.c) of a whole list, tuple or dict, where the host
-- has it; nil for what it leaves to this one
local native_repr = M.host and M.host.native and M.host.native.repr
repr = function(v, mode, depth)
  local tv = type(v)
  if tv == "string" then return str_repr(v) end
  if tv == "number" then return num_str(v) end
  if tv == "boolean" then return v and "True" or "False" end
  if v == null then return "None" end
  if native_repr and not depth then
    local s = native_repr(v, null, Dict, List, Tuple, PyList, mode == "yaql", str_repr)
    if s then return s end
  end
  depth = (depth or 0) + 1
  if depth > rt.MAX_DEPTH then rt.too_deep() end
  local mt = getmetatable(v)
  if mt == List then
    if mode == "yaql" then
      if #v == 1 then return "(" .. repr(v[1], mode, depth) .. ",)" end
      return "(" .. seq_body(v, mode, depth) .. ")"
    end
    return "[" .. seq_body(v, mode, depth) .. "]"
  elseif mt == PyList then
    return "[" .. seq_body(v, mode, depth) .. "]"
  elseif mt == Tuple then
    if #v == 1 then return "(" .. repr(v[1], mode, depth) .. ",)" end
    return "(" .. seq_body(v, mode, depth) .. ")"
  elseif mt == Dict then
    local parts, ks = {}, v.keys
    for i = 1, #ks do
      local k = ks[i]
      parts[i] = repr(k, mode, depth) .. ": " .. repr(rt.dict_get(v, k), mode, depth)
    end
    return "{" .. concat(parts, ", ") .. "}"
  elseif mt == Set then
    if v.view and v.src then
      if v.view == "dict_keys" or v.view == "dict_values" or v.view == "dict_items" then
        local parts = {}
        for i = 1, #v.items do parts[i] = repr(v.items[i], mode, depth) end
        return v.view .. "([" .. concat(parts, ", ") .. "])"
      end
      return v.view .. "(" .. repr(v.src, mode, depth) .. ")"
    end
    if #v.items == 0 then return v.kind == "set" and "frozenset()" or "set()" end
    local items = (v.kind == "set" or v.kind == "pyset") and rt.set_order(v)
    if not items then
      raise("unsupported", "string form of a Python set whose order depends on hashing "
        .. "(sort it first, e.g. orderBy($) or | sort)")
    end
    local body = "{" .. seq_body(items, mode, depth) .. "}"
    return v.kind == "set" and "frozenset(" .. body .. ")" or body
  elseif mt == Range then
    if v.step == 1 then return sformat("range(%d, %d)", v.start, v.stop) end
    return sformat("range(%d, %d, %d)", v.start, v.stop, v.step)
  elseif mt == Undefined then
    return "Undefined"
  elseif mt == Markup then
    return "Markup(" .. str_repr(v.s) .. ")"
  elseif mt == Iter then
    raise("unsupported", "string form of a Python " .. (v.what or "generator") .. " object (it holds a memory address)")
  elseif mt == Func then
    raise("unsupported", "string form of a Python function object (it holds a memory address)")
  end
  if P.repr_hook then
    local s = P.repr_hook(v, mode)
    if s then return s end
  end
  raise("unsupported", "string form of a " .. rt.pytype(v))
end
P.repr = repr

local function pystr(v, mode)
  local tv = type(v)
  if tv == "string" then return v end
  if tv == "number" then return num_str(v) end
  if tv == "table" and getmetatable(v) == Undefined then
    if v.strict then rt.undef_fail(v) end
    return ""
  end
  if tv == "table" and getmetatable(v) == Markup then return v.s end
  if tv == "table" and P.str_hook then
    local s = P.str_hook(v)
    if s then return s end
  end
  return repr(v, mode)
end
P.str = pystr


------------------------------------------------------------------------
-- Unicode classes and case mapping, as CPython 3.11's str methods, from the
-- tables lua/gen_unidata.py generates out of the Unicode 14.0 data files
------------------------------------------------------------------------
local U = M.unidata
local sunpack, uchar = string.unpack, utf8.char
local F_ALPHA, F_DECIMAL, F_DIGIT, F_NUMERIC, F_SPACE = U.ALPHA, U.DECIMAL, U.DIGIT, U.NUMERIC, U.SPACE
local F_UPPER, F_LOWER, F_TITLE, F_CASED, F_IGNORABLE = U.UPPER, U.LOWER, U.TITLE, U.CASED, U.CASE_IGNORABLE
local F_LINEBREAK = U.LINEBREAK

-- position of the last record (width w) of s whose first field (a 3-byte code
-- point) is <= cp, or nil: the tables are sorted runs of code points
local function find_run(s, w, cp)
  if #s == 0 or sunpack("<I3", s) > cp then return nil end
  local lo, hi = 0, #s // w - 1
  while lo < hi do
    local mid = (lo + hi + 1) // 2
    if sunpack("<I3", s, mid * w + 1) <= cp then lo = mid else hi = mid - 1 end
  end
  return lo * w + 1
end

-- answers for recently seen code points, per Lua state: text reuses few characters
-- and a table lookup costs a tenth of a search; bounded, emptied when full
local MEMO_MAX = 1024
P.UNICODE_MEMO_MAX = MEMO_MAX
local memo_sizes = {} -- memo -> entries held, for the test of the bound
function P.unicode_memo_sizes() local t = {}; for i, f in ipairs(memo_sizes) do t[i] = f() end; return t end
local function memo(fn)
  local cache, n = {}, 0
  memo_sizes[#memo_sizes + 1] = function() return n end
  return function(cp)
    local v = cache[cp]
    if v == nil then
      v = fn(cp)
      if n >= MEMO_MAX then cache, n = {}, 0 end
      cache[cp] = v
      n = n + 1
    end
    return v
  end
end

local flags_s = U.flags
local lookup_flags = memo(function(cp) return sunpack("<I2", flags_s, find_run(flags_s, 5, cp) + 3) end)
-- Latin-1 answered from a plain array: most text never reaches the search
local latin1_flags = {}
for cp = 0, 255 do latin1_flags[cp] = sunpack("<I2", U.latin1, 2 * cp + 1) end
local function flags(cp)
  return latin1_flags[cp] or lookup_flags(cp)
end
P.char_flags = flags

function P.is_alpha_cp(cp) return flags(cp) & F_ALPHA ~= 0 end
function P.is_decimal_cp(cp) return flags(cp) & F_DECIMAL ~= 0 end
function P.is_digit_cp(cp) return flags(cp) & F_DIGIT ~= 0 end
function P.is_numeric_cp(cp) return flags(cp) & F_NUMERIC ~= 0 end
function P.is_space_cp(cp) return flags(cp) & F_SPACE ~= 0 end
function P.is_upper_cp(cp) return flags(cp) & F_UPPER ~= 0 end
function P.is_lower_cp(cp) return flags(cp) & F_LOWER ~= 0 end
function P.is_title_cp(cp) return flags(cp) & F_TITLE ~= 0 end
function P.is_cased_cp(cp) return flags(cp) & F_CASED ~= 0 end
function P.is_printable_cp(cp) return flags(cp) & U.PRINTABLE ~= 0 end
function P.is_xid_start_cp(cp) return flags(cp) & U.XID_START ~= 0 end
function P.is_xid_continue_cp(cp) return flags(cp) & U.XID_CONTINUE ~= 0 end
-- str.isalnum: isalpha, isdecimal, isdigit or isnumeric
local F_ALNUM = F_ALPHA | F_DECIMAL | F_DIGIT | F_NUMERIC
function P.is_alnum_cp(cp) return flags(cp) & F_ALNUM ~= 0 end

-- Python's int() and float() read other scripts' decimal digits as ASCII ones and any
-- whitespace as a space (CPython's _PyUnicode_TransformDecimalAndSpaceToASCII); nil
-- when some other non-ASCII character leaves the text no number
function P.ascii_numeral(s)
  if rt.is_ascii(s) then return s end
  local out = {}
  for _, cp in utf8.codes(s, true) do
    local f = flags(cp)
    if cp < 127 then out[#out + 1] = string.char(cp)
    elseif f & F_SPACE ~= 0 then out[#out + 1] = " "
    elseif f & F_DECIMAL ~= 0 then
      out[#out + 1] = string.char(48 + cp - sunpack("<I3", U.decimal_zero, find_run(U.decimal_zero, 3, cp)))
    else return nil end
  end
  return concat(out)
end

-- simple (one code point) mappings: runs lo..hi by stride map cp to cp + delta
local function simple_map(s, cp)
  local at = find_run(s, 10, cp)
  if at then
    local lo, hi, stride, delta = sunpack("<I3I3I1i3", s, at)
    if cp <= hi and (cp - lo) % stride == 0 then return cp + delta end
  end
  return cp
end
P.simple_lower = function(cp) return simple_map(U.lower, cp) end
P.simple_upper = function(cp) return simple_map(U.upper, cp) end

-- does a run of s map some code point of lo..hi?
local function any_mapped(s, lo, hi)
  local at = find_run(s, 10, lo) or 1
  while at < #s do
    local a, b, stride = sunpack("<I3I3I1", s, at)
    if a > hi then return false end
    local first = a < lo and a + (lo - a + stride - 1) // stride * stride or a
    if first <= b and first <= hi then return true end
    at = at + 10
  end
  return false
end
local function any_key(t, lo, hi)
  for cp in pairs(t) do if cp >= lo and cp <= hi then return true end end
  return false
end
function P.re_any_cased(lo, hi)
  return any_mapped(U.lower, lo, hi) or any_mapped(U.upper, lo, hi)
    or any_key(U.upper_full, lo, hi) or any_key(U.lower_full, lo, hi)
end
-- lowercase code point -> the other lowercase ones sharing its uppercase (re._casefix)
P.re_extra = U.re_extra
-- code points lowering to v besides v and its simple uppercase (KELVIN SIGN for k)
P.lower_from = U.lower_from

-- full mappings (SpecialCasing's unconditional entries, CaseFolding C+F), as UTF-8
local function full_map(simple, special)
  return memo(function(cp) return special[cp] or uchar(simple_map(simple, cp)) end)
end
local upper_full = full_map(U.upper, U.upper_full)
local lower_full = full_map(U.lower, U.lower_full)
local title_full = full_map(U.title, U.title_full)
local fold_full = full_map(U.fold, U.fold_full)

-- re's IGNORECASE (sre) maps a code point to the first one of its full mapping
function P.re_lower(cp) return utf8.codepoint(lower_full(cp), 1) end
function P.re_upper(cp) return utf8.codepoint(upper_full(cp), 1) end
function P.re_iscased(cp) return P.re_lower(cp) ~= cp or P.re_upper(cp) ~= cp end

local function codepoints(s)
  local cps, n = {}, 0
  for _, cp in utf8.codes(s, true) do n = n + 1; cps[n] = cp end
  return cps, n
end

-- lowercase of cps[i]: capital sigma is final sigma after a cased letter and not
-- before one, case-ignorable characters skipped (CPython's handle_capital_sigma)
local function lower_at(cps, n, i)
  local cp = cps[i]
  if cp ~= 0x3a3 then return lower_full(cp) end
  local j = i - 1
  while j >= 1 and flags(cps[j]) & F_IGNORABLE ~= 0 do j = j - 1 end
  local final = j >= 1 and flags(cps[j]) & F_CASED ~= 0
  if final then
    j = i + 1
    while j <= n and flags(cps[j]) & F_IGNORABLE ~= 0 do j = j + 1 end
    final = j > n or flags(cps[j]) & F_CASED == 0
  end
  return final and "\u{3c2}" or "\u{3c3}"
end

local function map_each(s, ascii_fn, fn)
  if rt.is_ascii(s) then return ascii_fn(s) end
  local cps, n = codepoints(s)
  local out = {}
  for i = 1, n do out[i] = fn(cps, n, i) end
  return concat(out)
end
local function by_cp(map) return function(cps, _, i) return map(cps[i]) end end

function P.upper(s) return map_each(s, string.upper, by_cp(upper_full)) end
function P.lower(s) return map_each(s, string.lower, lower_at) end
function P.casefold(s) return map_each(s, string.lower, by_cp(fold_full)) end

-- Python str.capitalize(): first character titlecased, the rest lowercased
function P.capitalize(s)
  return map_each(s, function(a) return string.upper(ssub(a, 1, 1)) .. string.lower(ssub(a, 2)) end,
    function(cps, n, i) if i == 1 then return title_full(cps[1]) end return lower_at(cps, n, i) end)
end

-- Python str.title(): titlecase after an uncased character, lowercase after a cased one
function P.title(s)
  if s == "" then return s end
  local cps, n = codepoints(s)
  local out, prev_cased = {}, false
  for i = 1, n do
    out[i] = prev_cased and lower_at(cps, n, i) or title_full(cps[i])
    prev_cased = flags(cps[i]) & F_CASED ~= 0
  end
  return concat(out)
end

function P.swapcase(s)
  return map_each(s, function(a)
    return (sgsub(a, "%a", function(c) return c:lower() == c and c:upper() or c:lower() end))
  end, function(cps, n, i)
    local f = flags(cps[i])
    if f & F_UPPER ~= 0 then return lower_at(cps, n, i) end
    if f & F_LOWER ~= 0 then return upper_full(cps[i]) end
    return uchar(cps[i])
  end)
end

------------------------------------------------------------------------
-- whitespace, strip, split, find, replace (code-point based)
------------------------------------------------------------------------
local function cp_of(ch)
  if #ch == 1 then return sbyte(ch) end
  return utf8.codepoint(ch, 1, 1, true) or sbyte(ch)
end
P.cp_of = cp_of
-- str.isspace() and split()/strip() whitespace
local function is_space_ch(ch) return flags(cp_of(ch)) & F_SPACE ~= 0 end
P.is_space_ch = is_space_ch

-- Python str.strip(chars) ; which: "both"|"left"|"right"
function P.strip(s, chars, which)
  which = which or "both"
  if (chars == nil or chars == null) and rt.is_ascii(s) then
    -- ASCII and whitespace: the bytes themselves, without a table of characters
    local i, j = 1, #s
    if which ~= "right" then while i <= j and flags(sbyte(s, i)) & F_SPACE ~= 0 do i = i + 1 end end
    if which ~= "left" then while j >= i and flags(sbyte(s, j)) & F_SPACE ~= 0 do j = j - 1 end end
    return ssub(s, i, j)
  end
  local cs = rt.uchars(s)
  local set
  if chars ~= nil and chars ~= null then
    set = {}
    for _, c in ipairs(rt.uchars(chars)) do set[c] = true end
  end
  local function strip_ch(c) if set then return set[c] end return is_space_ch(c) end
  local i, j = 1, #cs
  if which ~= "right" then while i <= j and strip_ch(cs[i]) do i = i + 1 end end
  if which ~= "left" then while j >= i and strip_ch(cs[j]) do j = j - 1 end end
  return concat(cs, "", i, j)
end

-- Python str.split(sep=None, maxsplit=-1) -> Lua array
function P.split(s, sep, maxsplit)
  maxsplit = maxsplit or -1
  local out, n = {}, 0
  if sep == nil or sep == null then
    local cs = rt.uchars(s)
    local i, len = 1, #cs
    while true do
      while i <= len and is_space_ch(cs[i]) do i = i + 1 end
      if i > len then break end
      if maxsplit >= 0 and n >= maxsplit then
        -- rest of the string, right-stripped
        local j = len
        while j >= i and is_space_ch(cs[j]) do j = j - 1 end
        n = n + 1; out[n] = concat(cs, "", i, j)
        break
      end
      local j = i
      while j <= len and not is_space_ch(cs[j]) do j = j + 1 end
      n = n + 1; out[n] = concat(cs, "", i, j - 1)
      i = j
    end
    return out
  end
  if sep == "" then raise("eval", "empty separator") end
  local pos = 1
  while true do
    if maxsplit >= 0 and n >= maxsplit then break end
    local a, b = sfind(s, sep, pos, true)
    if not a then break end
    n = n + 1; out[n] = ssub(s, pos, a - 1)
    pos = b + 1
  end
  n = n + 1; out[n] = ssub(s, pos)
  return out
end

-- Python str.rsplit(sep=None, maxsplit=-1)
function P.rsplit(s, sep, maxsplit)
  maxsplit = maxsplit or -1
  if maxsplit < 0 then return P.split(s, sep, -1) end
  local out = {}
  if sep == nil or sep == null then
    local cs = rt.uchars(s)
    local j = #cs
    local parts = {}
    while true do
      while j >= 1 and is_space_ch(cs[j]) do j = j - 1 end
      if j < 1 then break end
      if #parts >= maxsplit then
        local i = 1
        while i <= j and is_space_ch(cs[i]) do i = i + 1 end
        parts[#parts + 1] = concat(cs, "", i, j)
        break
      end
      local i = j
      while i >= 1 and not is_space_ch(cs[i]) do i = i - 1 end
      parts[#parts + 1] = concat(cs, "", i + 1, j)
      j = i
    end
    for k = #parts, 1, -1 do out[#out + 1] = parts[k] end
    return out
  end
  if sep == "" then raise("eval", "empty separator") end
  local parts = {}
  local rest = s
  while #parts < maxsplit do
    -- find last occurrence
    local last
    local pos = 1
    while true do
      local a = sfind(rest, sep, pos, true)
      if not a then break end
      last = a; pos = a + 1
    end
    if not last then break end
    parts[#parts + 1] = ssub(rest, last + #sep)
    rest = ssub(rest, 1, last - 1)
  end
  out[1] = rest
  for k = #parts, 1, -1 do out[#out + 1] = parts[k] end
  return out
end

-- Python str.splitlines(keepends=False)
-- Python str.splitlines(): lines end at \r\n or any line break character (\n, \r,
-- \v, \f, \x1c-\x1e, \x85, U+2028, U+2029)
function P.splitlines(s, keepends)
  local out, start, skip = {}, 1, 0
  for pos, cp in utf8.codes(s, true) do
    if pos > skip and flags(cp) & F_LINEBREAK ~= 0 then
      local stop = pos + #uchar(cp) - 1
      if cp == 13 and sbyte(s, pos + 1) == 10 then stop = pos + 1 end
      out[#out + 1] = ssub(s, start, keepends and stop or pos - 1)
      start, skip = stop + 1, stop
    end
  end
  if start <= #s then out[#out + 1] = ssub(s, start) end
  return out
end

-- byte offset -> code point index (0-based)
local function cp_index(s, byte_pos)
  if rt.is_ascii(s) then return byte_pos - 1 end
  return utf8.len(s, 1, byte_pos - 1) or (byte_pos - 1)
end

-- Python str.find(sub, start, end) (code point indexes; nil bounds allowed)
function P.find(s, sub, start, stop)
  local n = rt.ulen(s)
  local i, j = rt.slice_bounds(n, start, stop, 1)
  if j < i then
    if sub == "" and i <= n and i == j then return i end
    return -1
  end
  local hay = rt.usub(s, i, j)
  local a = sfind(hay, sub, 1, true)
  if not a then return -1 end
  return i + cp_index(hay, a)
end

function P.rfind(s, sub, start, stop)
  local n = rt.ulen(s)
  local i, j = rt.slice_bounds(n, start, stop, 1)
  if j < i then return -1 end
  local hay = rt.usub(s, i, j)
  local last
  local pos = 1
  while true do
    local a = sfind(hay, sub, pos, true)
    if not a then break end
    last = a
    pos = a + 1
    if pos > #hay + 1 then break end
  end
  if not last then return -1 end
  return i + cp_index(hay, last)
end

function P.count(s, sub)
  if sub == "" then return rt.ulen(s) + 1 end
  local n, pos = 0, 1
  while true do
    local a, b = sfind(s, sub, pos, true)
    if not a then return n end
    n = n + 1; pos = b + 1
  end
end

-- Python str.replace(old, new, count=-1)
function P.replace(s, old, new, count)
  count = count or -1
  if count == 0 then return s end
  if old == "" then
    local cs = rt.uchars(s)
    local out, n, done = {}, 0, 0
    for i = 1, #cs + 1 do
      if count < 0 or done < count then n = n + 1; out[n] = new; done = done + 1 end
      if cs[i] then n = n + 1; out[n] = cs[i] end
    end
    return concat(out)
  end
  local out, n, pos, done = {}, 0, 1, 0
  while count < 0 or done < count do
    local a, b = sfind(s, old, pos, true)
    if not a then break end
    n = n + 1; out[n] = ssub(s, pos, a - 1)
    n = n + 1; out[n] = new
    pos = b + 1; done = done + 1
  end
  n = n + 1; out[n] = ssub(s, pos)
  return concat(out)
end

function P.startswith(s, prefix) return ssub(s, 1, #prefix) == prefix end
function P.endswith(s, suffix) return suffix == "" or ssub(s, -#suffix) == suffix end

------------------------------------------------------------------------
-- format(value, spec) -- Python's format mini-language, with the checks
-- CPython 3.11 makes (Python/formatter_unicode.c): a spec Python refuses
-- is an error here too, never formatted some other way.
------------------------------------------------------------------------

-- Separators every `size` digits, from the right. With min_width (zero
-- padding under '=' alignment) zeros are added, grouped like digits, until
-- the run is at least min_width long; it never starts with a separator.
local function group_digits(digits, sep, size, min_width)
  local parts, remaining, stop = {}, #digits, #digits
  min_width = min_width or 0
  while true do
    local l = math.min(size, math.max(remaining, min_width, 1))
    local chars = math.max(0, math.min(remaining, l))
    parts[#parts + 1] = srep("0", l - chars) .. ssub(digits, stop - chars + 1, stop)
    stop, remaining, min_width = stop - chars, remaining - chars, min_width - l
    if remaining <= 0 and min_width <= 0 then break end
    min_width = min_width - #sep
  end
  local out = {}
  for i = #parts, 1, -1 do out[#out + 1] = parts[i] end
  return concat(out, sep)
end

-- A width or precision: Python refuses what does not fit a Py_ssize_t.
local function spec_integer(text)
  local v = tonumber(text)
  if mtype(v) ~= "integer" then raise("eval", "Too many decimal digits in format string") end
  return v
end

local ALIGNS = {["<"] = true, [">"] = true, ["^"] = true, ["="] = true}
-- types that take a grouping option (PEP 378); '_' also on b/o/x/X, every 4 digits
local GROUPED = {d = true, e = true, f = true, g = true, E = true, F = true, G = true, ["%"] = true}
local GROUPED_BY_4 = {b = true, o = true, x = true, X = true}

-- [[fill]align][sign][z][#][0][width][grouping][.precision][type]
-- default_type: 's' for str, 'd' for int, nil for float (as CPython's parser).
local function parse_spec(spec, default_type, tname)
  local r = {}
  local chars = rt.uchars(spec)
  local ci = 1
  if chars[2] and ALIGNS[chars[2]] then
    r.fill, r.align = chars[1], chars[2]; ci = 3
  elseif chars[1] and ALIGNS[chars[1]] then
    r.align = chars[1]; ci = 2
  end
  local rest = concat(chars, "", ci)
  local pos = 1
  local function at(c) if ssub(rest, pos, pos) == c then pos = pos + 1; return true end end
  local sign = ssub(rest, pos, pos)
  if sign == "+" or sign == "-" or sign == " " then r.sign = sign; pos = pos + 1 end
  r.z = at("z")
  r.alt = at("#")
  -- the '0' flag: only when no fill was given; otherwise it starts the width
  if not r.fill and at("0") then r.zero = true end
  local w = rest:match("^%d+", pos)
  if w then r.width = spec_integer(w); pos = pos + #w end
  if at(",") then r.group = "," end
  if at("_") then
    if r.group then raise("eval", "Cannot specify both ',' and '_'.") end
    r.group = "_"
  end
  if r.group == "_" and ssub(rest, pos, pos) == "," then raise("eval", "Cannot specify both ',' and '_'.") end
  if at(".") then
    local p = rest:match("^%d+", pos)
    if not p then raise("eval", "Format specifier missing precision") end
    r.prec = spec_integer(p); pos = pos + #p
  end
  local t = ssub(rest, pos)
  if rt.ulen(t) > 1 then
    raise("eval", "Invalid format specifier '" .. spec .. "' for object of type '" .. tname .. "'")
  end
  r.type = t ~= "" and t or default_type
  if r.group then
    local ty = r.type or ""
    if r.group == "_" and GROUPED_BY_4[ty] then r.group_size = 4
    elseif GROUPED[ty] or ty == "" then r.group_size = 3
    else raise("eval", "Cannot specify '" .. r.group .. "' with '" .. ty .. "'.") end
  end
  return r
end

-- The fill and alignment in effect: the '0' flag fills with zeros and, for
-- numbers (default '>'), pads after the sign.
local function fill_align(r, default_align)
  local fill, align = r.fill, r.align
  if r.zero then
    fill = "0"
    if not align and default_align == ">" then align = "=" end
  end
  return fill or " ", align or default_align
end

local function pad_parts(head, body, r, default_align)
  local fill, align = fill_align(r, default_align)
  local n = (r.width or 0) - rt.ulen(head) - rt.ulen(body)
  if n <= 0 then return head .. body end
  if align == "<" then return head .. body .. srep(fill, n)
  elseif align == "^" then
    local left = n // 2
    return srep(fill, left) .. head .. body .. srep(fill, n - left)
  elseif align == "=" then return head .. srep(fill, n) .. body end
  return srep(fill, n) .. head .. body
end

local function pad(s, r, default_align) return pad_parts("", s, r, default_align) end

-- sign, prefix (0x...), integer digits and the rest (fraction, exponent, '%')
-- put together: grouping, then padding to the width.
local function finish_number(sign, prefix, digits, rest, r)
  if r.group and digits ~= "" then -- inf and nan take no separators
    local fill, align = fill_align(r, ">")
    local min_width = 0
    if fill == "0" and align == "=" and r.width then
      min_width = r.width - #sign - #prefix - rt.ulen(rest)
    end
    digits = group_digits(digits, r.group, r.group_size or 3, min_width)
  end
  return pad_parts(sign .. prefix, digits .. rest, r, ">")
end

local function sign_of(negative, r)
  if negative then return "-" end
  if r.sign == "+" or r.sign == " " then return r.sign end
  return ""
end

-- |x| as Python prints it for a float presentation type (nil = none given)
local function float_body(a, r, t)
  if a ~= a then return "nan" elseif a == huge then return "inf" end
  local prec, alt = r.prec, r.alt and "#" or ""
  if prec and prec > 2147483647 then raise("eval", "precision too big") end
  -- string.format takes at most two precision digits; more would need
  -- exact decimal expansion of the binary value
  if prec and prec > 99 then rt.unsupported("a float format precision above 99") end
  if t == nil then
    if not prec then return float_repr(a) end
    -- repr-like 'g': exponent from decpt > precision - 1, at least one
    -- fractional digit in fixed notation
    local p = prec == 0 and 1 or prec
    local e = tonumber(sformat("%." .. (p - 1) .. "e", a):match("e(.*)$"))
    if e + 1 <= -4 or e + 1 > p - 1 then
      local s = sformat("%" .. alt .. "." .. (p - 1) .. "e", a)
      if alt == "" then
        s = s:gsub("^(%d)%.(%d-)0*e", function(lead, frac) return lead .. (frac ~= "" and "." .. frac or "") .. "e" end)
      end
      return s
    end
    local s = sformat("%" .. alt .. "." .. p .. "g", a)
    if not sfind(s, ".", 1, true) then s = s .. ".0" end
    return s
  end
  if t == "%" then return sformat("%" .. alt .. "." .. (prec or 6) .. "f", a * 100) .. "%" end
  local c = (t == "n") and "g" or t:lower()
  return sformat("%" .. alt .. "." .. (prec or 6) .. c, a)
end

local function fmt_float(x, r, t)
  local negative = x < 0 or (x == 0 and 1 / x < 0)
  local body = float_body(negative and -x or x, r, t)
  if t == "E" or t == "F" or t == "G" then body = body:upper() end
  -- 'z': a value that rounds to zero loses its minus sign
  if r.z and negative and not sfind(body:match("^[^eE]*"), "[1-9]") then negative = false end
  local digits, rest = body:match("^(%d*)(.*)$")
  return finish_number(sign_of(negative, r), "", digits, rest, r)
end

local PREFIX = {x = "0x", X = "0X", o = "0o", b = "0b"}
local function binary_digits(a)
  local bits = {}
  repeat bits[#bits + 1] = tostring(a % 2); a = a // 2 until a == 0
  return concat(bits):reverse()
end

local function fmt_int(i, r)
  local t = r.type
  local negative = i < 0
  local s
  if t == "x" or t == "X" then s = sformat("%x", negative and -i or i)
  elseif t == "o" then s = sformat("%o", negative and -i or i)
  elseif t == "b" then s = binary_digits(negative and -i or i)
  else s = sformat("%d", i):gsub("^-", "") end
  if t == "X" then s = s:upper() end
  return finish_number(sign_of(negative, r), r.alt and PREFIX[t] or "", s, "", r)
end

local INT_TYPES = {b = true, c = true, d = true, o = true, x = true, X = true, n = true}
local FLOAT_TYPES = {e = true, E = true, f = true, F = true, g = true, G = true, ["%"] = true}

local function unknown_code(t, tname)
  raise("eval", "Unknown format code '" .. t .. "' for object of type '" .. tname .. "'")
end

local function format_int(i, spec, tname)
  local r = parse_spec(spec, "d", tname)
  local t = r.type
  if FLOAT_TYPES[t] then return fmt_float(i * 1.0, r, t) end
  if not INT_TYPES[t] then unknown_code(t, tname) end
  if r.prec then raise("eval", "Precision not allowed in integer format specifier") end
  if r.z then raise("eval", "Negative zero coercion (z) not allowed in integer format specifier") end
  if t == "c" then
    if r.sign then raise("eval", "Sign not allowed with integer format specifier 'c'") end
    if r.alt then raise("eval", "Alternate form (#) not allowed with integer format specifier 'c'") end
    if i < 0 or i > 0x10ffff then raise("eval", "%c arg not in range(0x110000)") end
    return finish_number("", "", "", utf8.char(i), r)
  end
  return fmt_int(i, r)
end

local function format_str(s, spec)
  local r = parse_spec(spec, "s", "str")
  if r.type ~= "s" then unknown_code(r.type, "str") end
  if r.sign then raise("eval", "Sign not allowed in string format specifier") end
  if r.z then raise("eval", "Negative zero coercion (z) not allowed in string format specifier") end
  if r.alt then raise("eval", "Alternate form (#) not allowed in string format specifier") end
  if r.align == "=" then raise("eval", "'=' alignment not allowed in string format specifier") end
  if r.prec then s = rt.usub(s, 0, math.min(r.prec, rt.ulen(s))) end
  return pad(s, r, "<")
end

-- format(value, spec); mode as for P.str
function P.format_value(v, spec, mode)
  if spec == "" then return pystr(v, mode) end
  local tv = type(v)
  if tv == "boolean" then return format_int(v and 1 or 0, spec, "bool") end
  if tv == "number" then
    if mtype(v) == "integer" then return format_int(v, spec, "int") end
    local r = parse_spec(spec, nil, "float")
    if r.type ~= nil and r.type ~= "n" and not FLOAT_TYPES[r.type] then unknown_code(r.type, "float") end
    return fmt_float(v, r, r.type)
  end
  if tv == "string" then return format_str(v, spec) end
  if getmetatable(v) == Markup then return format_str(v.s, spec) end
  raise("eval", "unsupported format string passed to " .. (v == null and "NoneType" or rt.pytype(v)) .. ".__format__")
end

-- Python's ascii(): repr() with every non-ASCII character escaped
local function ascii_of(r)
  local out = {}
  for k, ch in ipairs(rt.uchars(r)) do
    local cp = #ch > 1 and utf8.codepoint(ch) or nil
    if not cp then out[k] = ch
    elseif cp < 0x100 then out[k] = sformat("\\x%02x", cp)
    elseif cp < 0x10000 then out[k] = sformat("\\u%04x", cp)
    else out[k] = sformat("\\U%08x", cp) end
  end
  return concat(out)
end
function P.ascii(v, mode) return ascii_of(repr(v, mode)) end

------------------------------------------------------------------------
-- Markup's formatting (MarkupSafe): a Markup template escapes what it inserts
------------------------------------------------------------------------
local function html_escape(s)
  return (sgsub(s, "[&<>\"']", {["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&#34;", ["'"] = "&#39;"}))
end
P.html_escape = html_escape
-- markupsafe.escape(v): the text of a Markup as it is, anything else str() escaped
function P.escape(v, mode)
  if getmetatable(v) == Markup then return v.s end
  return html_escape(pystr(v, mode))
end
-- EscapeFormatter.format_field: a Markup takes no format spec
local function escape_field(v, spec, mode)
  if getmetatable(v) == Markup then
    if spec ~= "" then raise("eval", "Unsupported format specification for Markup.") end
    return v.s
  end
  return html_escape(P.format_value(v, spec, mode))
end

------------------------------------------------------------------------
-- str.format(*args, **kwargs)
-- args: Lua array; kwargs: Dict or nil; getitem(obj, key) for {0[x]}
------------------------------------------------------------------------
-- A format parsed once into its pieces: literal text, fields {name =, head =, rest =,
-- index =, conv =, spec =, nested =} and, where the text is malformed, {err = message},
-- raised when reached (after the fields before it, as Python does). Formats come from
-- templates and from data: the short ones are kept, at most FORMAT_CACHE of them.
local FORMAT_CACHE, FORMAT_CACHE_LEN = 256, 256
local parsed_formats, n_parsed = {}, 0
function P.clear_format_cache() parsed_formats, n_parsed = {}, 0 end
function P.format_cache_count() return n_parsed end

local function parse_field(field)
  local name, conv, spec = field, nil, ""
  local bang = sfind(field, "!", 1, true)
  local colon = sfind(field, ":", 1, true)
  if bang and (not colon or bang < colon) then
    name = ssub(field, 1, bang - 1)
    conv = ssub(field, bang + 1, bang + 1)
    if colon then spec = ssub(field, colon + 1) end
    if colon and colon ~= bang + 2 or (not colon and #field ~= bang + 1) then
      return {err = "expected ':' after conversion specifier"}
    end
  elseif colon then
    name = ssub(field, 1, colon - 1)
    spec = ssub(field, colon + 1)
  end
  local head, rest = name:match("^([^%.%[]*)(.*)$")
  return {name = name, head = head, rest = rest, index = head:match("^%d+$") and tonumber(head),
    conv = conv, spec = spec, nested = sfind(spec, "{", 1, true) ~= nil}
end

local function parse_format(fmt)
  local items = parsed_formats[fmt]
  if items then return items end
  items = {}
  local n = 0
  local pos, len = 1, #fmt
  while pos <= len do
    local a = sfind(fmt, "[{}]", pos)
    if not a then n = n + 1; items[n] = ssub(fmt, pos); break end
    n = n + 1; items[n] = ssub(fmt, pos, a - 1)
    local c = ssub(fmt, a, a)
    if c == "}" then
      if ssub(fmt, a + 1, a + 1) == "}" then n = n + 1; items[n] = "}"; pos = a + 2
      else n = n + 1; items[n] = {err = "Single '}' encountered in format string"}; break end
    elseif ssub(fmt, a + 1, a + 1) == "{" then
      n = n + 1; items[n] = "{"; pos = a + 2
    else
      -- find matching close brace (nested one level for spec)
      local depth, j = 1, a + 1
      while j <= len do
        local ch = ssub(fmt, j, j)
        if ch == "{" then depth = depth + 1 elseif ch == "}" then depth = depth - 1; if depth == 0 then break end end
        j = j + 1
      end
      if j > len then n = n + 1; items[n] = {err = "expected '}' before end of string"}; break end
      n = n + 1; items[n] = parse_field(ssub(fmt, a + 1, j - 1))
      if items[n].err then break end
      pos = j + 1
    end
  end
  if len <= FORMAT_CACHE_LEN then
    if n_parsed >= FORMAT_CACHE then parsed_formats, n_parsed = {}, 0 end
    parsed_formats[fmt] = items
    n_parsed = n_parsed + 1
  end
  return items
end

-- the value a field names; `auto`: the automatic field counter, shared by the whole
-- call (a nested spec's '{}' takes the argument after its field's, as in Python)
local function format_lookup(f, auto, args, kwargs, getattr)
  local head, obj = f.head, nil
  if head == "" then
    if auto < 0 then raise("eval", "cannot switch from manual field specification to automatic field numbering") end
    obj = args[auto + 1]
    if obj == nil then raise("eval", "Replacement index " .. auto .. " out of range for positional args tuple") end
    auto = auto + 1
  elseif f.index then
    if auto > 0 then raise("eval", "cannot switch from automatic field numbering to manual field specification") end
    auto = -1
    obj = args[f.index + 1]
    if obj == nil then raise("eval", "Replacement index " .. head .. " out of range for positional args tuple") end
  else
    obj = kwargs and rt.dict_get(kwargs, head)
    if obj == nil then raise("eval", "'" .. head .. "'") end
  end
  -- attribute / index chain
  local rest = f.rest
  while rest ~= "" do
    local attr, r2 = rest:match("^%.([^%.%[]+)(.*)$")
    if attr then
      obj = getattr and getattr(obj, attr) or raise("eval", "attribute access in format string")
      rest = r2
    else
      local key, r3 = rest:match("^%[([^%]]*)%](.*)$")
      if not key then raise("eval", "Missing ']' in format string") end
      local k = key:match("^%d+$") and tonumber(key) or key
      local mt = getmetatable(obj)
      if mt == Dict then
        local v = rt.dict_get(obj, k)
        if v == nil then raise("eval", repr(k)) end
        obj = v
      elseif mt == List or mt == Tuple or mt == PyList then
        if type(k) ~= "number" then raise("eval", "list indices must be integers or slices, not str") end
        local v = obj[k + 1]
        if v == nil then raise("eval", "tuple index out of range") end
        obj = v
      else
        raise("eval", "'" .. rt.pytype(obj) .. "' object is not subscriptable")
      end
      rest = r3
    end
  end
  return obj, auto
end

-- levels: Python expands a spec's fields once, not a spec's spec's
local function format_build(fmt, levels, auto, args, kwargs, mode, getattr, escaping)
  if levels <= 0 then raise("eval", "Max string recursion exceeded") end
  local items = parse_format(fmt)
  local out = {}
  for i = 1, #items do
    local f = items[i]
    if type(f) == "string" then
      out[i] = f
    elseif f.err then
      raise("eval", f.err)
    else
      local v
      v, auto = format_lookup(f, auto, args, kwargs, getattr)
      local conv = f.conv
      if conv == "r" then v = repr(v, mode)
      elseif conv == "a" then v = P.ascii(v, mode)
      elseif conv == "s" then v = pystr(v, mode)
      elseif conv ~= nil then raise("eval", "Unknown conversion specifier " .. conv) end
      local spec = f.spec
      if f.nested then
        spec, auto = format_build(spec, levels - 1, auto, args, kwargs, mode, getattr, escaping)
      end
      out[i] = escaping and escape_field(v, spec, mode) or P.format_value(v, spec, mode)
    end
  end
  return concat(out), auto
end

-- escaping: the template is a Markup's text (Markup.format)
function P.format(fmt, args, kwargs, mode, getattr, escaping)
  return (format_build(fmt, 2, 0, args, kwargs, mode, getattr, escaping))
end

------------------------------------------------------------------------
-- printf-style: fmt % values
------------------------------------------------------------------------
-- escaping: the template is a Markup's text (Markup.__mod__: each value is
-- escaped as %s, %r and %a make it text)
function P.percent(fmt, values, mode, escaping)
  local args, mapping
  local mt = getmetatable(values)
  if mt == Tuple then args = values
  elseif mt == Dict then mapping = values; args = {values}
  else args = {values} end
  local ai = 1
  local out, n = {}, 0
  local pos, len = 1, #fmt
  local function nextarg()
    local v = args[ai]
    if v == nil then raise("eval", "not enough arguments for format string") end
    ai = ai + 1
    return v
  end
  local used_mapping = false
  while pos <= len do
    local a = sfind(fmt, "%", pos, true)
    if not a then n = n + 1; out[n] = ssub(fmt, pos); break end
    n = n + 1; out[n] = ssub(fmt, pos, a - 1)
    local i = a + 1
    local key
    if ssub(fmt, i, i) == "(" then
      local close = sfind(fmt, ")", i, true)
      if not close then raise("eval", "incomplete format key") end
      key = ssub(fmt, i + 1, close - 1)
      i = close + 1
    end
    local flags = fmt:match("^[-+ #0]*", i)
    i = i + #flags
    local width = fmt:match("^%*", i) or fmt:match("^%d*", i)
    i = i + #width
    local prec
    if ssub(fmt, i, i) == "." then
      prec = fmt:match("^%*", i + 1) or fmt:match("^%d*", i + 1)
      i = i + 1 + #prec
    end
    -- length modifier (ignored by Python)
    local lm = fmt:match("^[hlL]", i); if lm then i = i + 1 end
    local conv = ssub(fmt, i, i)
    if conv == "" then raise("eval", "incomplete format") end
    pos = i + 1
    if conv == "%" then
      -- Python takes "%%" only bare
      if key or flags ~= "" or width ~= "" or prec then
        raise("eval", "unsupported format character '%' (0x25) at index " .. (i - 1))
      end
      n = n + 1; out[n] = "%"
    else
      if width == "*" then width = tostring(nextarg()) end
      -- a negative '*' width left-justifies, as Python does
      if ssub(width, 1, 1) == "-" then width = ssub(width, 2); flags = flags .. "-" end
      if prec == "*" then prec = tostring(nextarg()) end
      local v
      if key then
        if not mapping then raise("eval", "format requires a mapping") end
        used_mapping = true
        v = rt.dict_get(mapping, key)
        if v == nil then raise("eval", repr(key)) end
      else
        v = nextarg()
      end
      local r = {width = tonumber(width), prec = prec and tonumber(prec ~= "" and prec or "0") or nil}
      local left = sfind(flags, "-", 1, true)
      local zero = sfind(flags, "0", 1, true)
      if sfind(flags, "+", 1, true) then r.sign = "+" elseif sfind(flags, " ", 1, true) then r.sign = " " end
      if sfind(flags, "#", 1, true) then r.alt = true end
      local s
      if conv == "s" or conv == "r" or conv == "a" then
        if escaping then
          s = conv == "s" and P.escape(v, mode) or conv == "r" and html_escape(repr(v, mode)) or
            ascii_of(html_escape(repr(v, mode)))
        else
          s = conv == "s" and pystr(v, mode) or conv == "r" and repr(v, mode) or P.ascii(v, mode)
        end
        if r.prec then s = rt.usub(s, 0, math.min(r.prec, rt.ulen(s))) end
        r.sign = nil
        r.align = left and "<" or ">"
        s = pad(s, r, ">")
      elseif conv == "c" then
        -- one character, or an int code point
        local c = type(v) == "boolean" and (v and 1 or 0) or v
        if escaping then raise("eval", "%c requires int or char") end
        if getmetatable(c) == Markup then c = c.s end
        if type(c) == "string" then
          if rt.ulen(c) ~= 1 then raise("eval", "%c requires int or char") end
        elseif mtype(c) == "integer" then
          if c < 0 or c > 0x10ffff then raise("eval", "%c arg not in range(0x110000)") end
          c = utf8.char(c)
        else
          raise("eval", "%c requires int or char")
        end
        r.align = left and "<" or ">"; r.sign = nil
        s = pad(c, r, ">")
      else
        local num = v
        if type(num) == "boolean" then num = num and 1 or 0 end
        if escaping and (type(num) == "string" or getmetatable(num) == Markup) then
          raise("unsupported", "%" .. conv .. " of a string in a Markup's % formatting is not supported")
        end
        if type(num) ~= "number" then
          raise("eval", "%" .. conv .. " format: a real number is required, not " .. rt.pytype(v))
        end
        if conv == "d" or conv == "i" or conv == "u" then
          if mtype(num) == "float" then num = rt.float_to_int(num) end
          r.type = "d"
          if r.prec and r.prec > 0 then
            local neg = num < 0
            local digits = sformat("%d", neg and -num or num)
            if #digits < r.prec then digits = srep("0", r.prec - #digits) .. digits end
            if left then r.align = "<" elseif zero then r.zero = true else r.align = ">" end
            s = finish_number(sign_of(neg, r), "", digits, "", r)
          else
            r.prec = nil
            if left then r.align = "<" elseif zero then r.zero = true end
            s = fmt_int(num, r)
          end
        elseif conv == "x" or conv == "X" or conv == "o" then
          -- MarkupSafe's value wrapper has no __index__
          if escaping then raise("eval", "%" .. conv .. " format: an integer is required, not _MarkupEscapeHelper") end
          if mtype(num) ~= "integer" then raise("eval", "%" .. conv .. " format: an integer is required, not float") end
          r.type = conv; r.prec = nil
          if left then r.align = "<" elseif zero then r.zero = true end
          s = fmt_int(num, r)
        elseif conv == "e" or conv == "E" or conv == "f" or conv == "F" or conv == "g" or conv == "G" then
          if left then r.align = "<" elseif zero then r.zero = true end
          r.prec = r.prec or 6
          s = fmt_float(num * 1.0, r, conv)
        else
          raise("eval", "unsupported format character '" .. conv .. "'")
        end
      end
      n = n + 1; out[n] = s
    end
  end
  if not mapping and ai <= #args and mt == Tuple then
    raise("eval", "not all arguments converted during string formatting")
  end
  -- a single non-tuple argument that was not consumed is an error unless it
  -- supports item access (Python treats it as a mapping then)
  local mapping_like = mt == Dict or mt == List or mt == PyList or mt == Undefined or mt == Range
  if not mapping and mt ~= Tuple and ai == 1 and #args == 1 and not used_mapping and not mapping_like then
    raise("eval", "not all arguments converted during string formatting")
  end
  return concat(out)
end

return P
