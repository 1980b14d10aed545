-- glarex json: json_parse (Python json.loads), json_dump (oslo jsonutils.dumps
-- with indent=4), Jinja's tojson (sorted keys, HTML-safe) and yaml_dump
-- (PyYAML safe_dump with default_flow_style=False, a port of its emitter).
local M = ...
local rt, P = M.runtime, M.pyfmt
local J = {}

local type, getmetatable, setmetatable = type, getmetatable, setmetatable
local sbyte, ssub, sfind, sformat, schar = string.byte, string.sub, string.find, string.format, string.char
local concat = table.concat
local mtype = math.type
local null = rt.null
local List, Dict, Tuple, PyList, Set, Iter, Undefined, Range =
  rt.List, rt.Dict, rt.Tuple, rt.PyList, rt.Set, rt.Iter, rt.Undefined, rt.Range
local raise = rt.raise
-- C versions (src/eval_native.c) where the host has them: they give what the Lua
-- versions below give, or nil for these to give the value or the error.
local native = M.host and M.host.native
local native_parse = native and native.json_parse
local native_dump = native and native.json_dump
local native_yaml_dump = native and native.yaml_dump
-- What the native versions leave to the Lua ones runs counted: a template that calls
-- them may run without the count hook (Y.linear), and the Lua dump of a value held
-- many times may work long without allocating.
local guard = rt.guard

------------------------------------------------------------------------
-- parse
------------------------------------------------------------------------
local escapes = {['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t"}

-- listmt: metatable for arrays (rt.List by default, rt.PyList for YAQL);
-- mutable: the dicts are Python's (rt.mutable_dict), as YAQL's json_parse() gives them
function J.parse(s, listmt, mutable)
  listmt = listmt or List
  if native_parse then
    local v = native_parse(s, listmt, null, Dict, mutable)
    if v ~= nil then return v end
    guard()
  end
  local pos = 1
  local len = #s
  local function fail(msg)
    -- Python reports char offsets; byte offsets are close enough
    raise("eval", sformat("%s: line 1 column %d (char %d)", msg, pos, pos - 1))
  end
  local function skip()
    pos = sfind(s, "[^ \t\n\r]", pos) or len + 1
  end
  local value
  local function str()
    local out, n = {}, 0
    pos = pos + 1
    while true do
      -- JSON's control characters are U+0000..U+001F only: DEL (0x7f) is text
      local a = sfind(s, '["\\\0-\31]', pos)
      if not a then fail("Unterminated string starting at") end
      if a > pos then n = n + 1; out[n] = ssub(s, pos, a - 1) end
      local c = ssub(s, a, a)
      if c == '"' then pos = a + 1; break end
      if c ~= "\\" then pos = a; fail("Invalid control character at") end
      local e = ssub(s, a + 1, a + 1)
      if e == "u" then
        local hex = ssub(s, a + 2, a + 5)
        if not hex:match("^%x%x%x%x$") then pos = a; fail("Invalid \\uXXXX escape") end
        local cp = tonumber(hex, 16)
        local nextpos = a + 6
        if cp >= 0xd800 and cp <= 0xdbff and ssub(s, a + 6, a + 7) == "\\u" then
          local hex2 = ssub(s, a + 8, a + 11)
          local lo = hex2:match("^%x%x%x%x$") and tonumber(hex2, 16)
          if lo and lo >= 0xdc00 and lo <= 0xdfff then
            cp = 0x10000 + (cp - 0xd800) * 0x400 + (lo - 0xdc00)
            nextpos = a + 12
          end
        end
        if cp >= 0xd800 and cp <= 0xdfff then
          raise("unsupported", "JSON string holds a lone surrogate")
        end
        n = n + 1; out[n] = utf8.char(cp)
        pos = nextpos
      else
        local r = escapes[e]
        if not r then pos = a; fail("Invalid \\escape") end
        n = n + 1; out[n] = r
        pos = a + 2
      end
    end
    return concat(out)
  end
  value = function()
    skip()
    local c = ssub(s, pos, pos)
    if c == "{" then
      pos = pos + 1
      local d = rt.dict()
      if mutable then rt.mutable_dict(d) end
      skip()
      if ssub(s, pos, pos) == "}" then pos = pos + 1; return d end
      while true do
        skip()
        if ssub(s, pos, pos) ~= '"' then fail("Expecting property name enclosed in double quotes") end
        local k = str()
        skip()
        if ssub(s, pos, pos) ~= ":" then fail("Expecting ':' delimiter") end
        pos = pos + 1
        local v = value()
        rt.dict_set(d, k, v)
        skip()
        local c2 = ssub(s, pos, pos)
        if c2 == "," then pos = pos + 1
        elseif c2 == "}" then pos = pos + 1; return d
        else fail("Expecting ',' delimiter") end
      end
    elseif c == "[" then
      pos = pos + 1
      local l, n = setmetatable({}, listmt), 0
      skip()
      if ssub(s, pos, pos) == "]" then pos = pos + 1; return l end
      while true do
        n = n + 1; l[n] = value()
        skip()
        local c2 = ssub(s, pos, pos)
        if c2 == "," then pos = pos + 1
        elseif c2 == "]" then pos = pos + 1; return l
        else fail("Expecting ',' delimiter") end
      end
    elseif c == '"' then
      return str()
    elseif c == "t" and ssub(s, pos, pos + 3) == "true" then pos = pos + 4; return true
    elseif c == "f" and ssub(s, pos, pos + 4) == "false" then pos = pos + 5; return false
    elseif c == "n" and ssub(s, pos, pos + 3) == "null" then pos = pos + 4; return null
    elseif c == "N" and ssub(s, pos, pos + 2) == "NaN" then pos = pos + 3; return 0.0 / 0.0
    elseif c == "I" and ssub(s, pos, pos + 7) == "Infinity" then pos = pos + 8; return math.huge
    elseif c == "-" and ssub(s, pos, pos + 8) == "-Infinity" then pos = pos + 9; return -math.huge
    else
      local p = pos
      if ssub(s, p, p) == "-" then p = p + 1 end
      local d = ssub(s, p, p)
      if d == "0" then p = p + 1
      elseif d ~= "" and sfind(d, "^[1-9]$") then p = s:match("^%d+()", p)
      else fail("Expecting value") end
      local isfloat = false
      local q = s:match("^%.%d+()", p)
      if q then p = q; isfloat = true end
      q = s:match("^[eE][-+]?%d+()", p)
      if q then p = q; isfloat = true end
      local text = ssub(s, pos, p - 1)
      pos = p
      if not isfloat then
        local i = math.tointeger(tonumber(text))
        if not i or (sformat("%d", i) ~= text and text ~= "-0") then
          raise("unsupported", "JSON integer beyond 64 bits")
        end
        return i
      end
      return tonumber(text) * 1.0
    end
  end
  local v = value()
  skip()
  if pos <= len then fail("Extra data") end
  return v
end

------------------------------------------------------------------------
-- dump
------------------------------------------------------------------------
local function json_str(s, ensure_ascii)
  local out, n = {'"'}, 1
  local function add(x) n = n + 1; out[n] = x end
  if rt.is_ascii(s) or not ensure_ascii then
    if not sfind(s, '[%c"\\]') then return '"' .. s .. '"' end
    for i = 1, #s do
      local c = ssub(s, i, i)
      local b = sbyte(c)
      if c == '"' then add('\\"') elseif c == "\\" then add("\\\\")
      elseif c == "\n" then add("\\n") elseif c == "\r" then add("\\r") elseif c == "\t" then add("\\t")
      elseif c == "\b" then add("\\b") elseif c == "\f" then add("\\f")
      elseif b < 0x20 or (b == 0x7f and ensure_ascii) then add(sformat("\\u%04x", b))
      else add(c) end
    end
  else
    for _, cp in utf8.codes(s, true) do
      if cp == 34 then add('\\"') elseif cp == 92 then add("\\\\")
      elseif cp == 10 then add("\\n") elseif cp == 13 then add("\\r") elseif cp == 9 then add("\\t")
      elseif cp == 8 then add("\\b") elseif cp == 12 then add("\\f")
      elseif cp < 0x20 or cp == 0x7f then add(sformat("\\u%04x", cp)) -- Python escapes DEL
      elseif cp < 0x7f then add(schar(cp))
      elseif cp < 0x10000 then add(sformat("\\u%04x", cp))
      else
        local v = cp - 0x10000
        add(sformat("\\u%04x\\u%04x", 0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff)))
      end
    end
  end
  add('"')
  return concat(out)
end
J.json_str = json_str

local function json_float(x)
  if x ~= x then return "NaN" end
  if x == math.huge then return "Infinity" elseif x == -math.huge then return "-Infinity" end
  return P.float_repr(x)
end

local function key_str(k)
  local tk = type(k)
  if tk == "string" then return k end
  if tk == "number" then return mtype(k) == "integer" and sformat("%d", k) or json_float(k) end
  if tk == "boolean" then return k and "true" or "false" end
  if k == null then return "null" end
  raise("eval", "keys must be str, int, float, bool or None, not " .. rt.pytype(k))
end

-- opts: indent (number or nil), item_sep, key_sep, sort_keys, ensure_ascii
-- YAQL's dicts (FrozenDict, not marked mutable) are Mappings that oslo's to_primitive
-- (max_depth 3) converts one level deeper each: the fourth on a path becomes None
local FROZEN_DEPTH = 3
local function dump(v, opts, level, out, frozen)
  if level > rt.MAX_DEPTH then rt.too_deep() end -- Python: "Circular reference detected"
  local tv = type(v)
  if tv == "string" then out[#out + 1] = json_str(v, opts.ensure_ascii); return end
  if tv == "number" then
    out[#out + 1] = mtype(v) == "integer" and sformat("%d", v) or json_float(v); return
  end
  if tv == "boolean" then out[#out + 1] = v and "true" or "false"; return end
  if v == null then out[#out + 1] = "null"; return end
  local mt = getmetatable(v)
  local indent = opts.indent
  local function nl(lv)
    if indent then
      if type(indent) == "string" then out[#out + 1] = "\n" .. string.rep(indent, lv)
      else out[#out + 1] = "\n" .. string.rep(" ", indent * lv) end
    end
  end
  if mt == Dict then
    if frozen and not v.mutable then
      if frozen >= FROZEN_DEPTH then out[#out + 1] = "null"; return end
      frozen = frozen + 1
    end
    local ks = v.keys
    if #ks == 0 then out[#out + 1] = "{}"; return end
    local order = ks
    if opts.sort_keys then
      order = {}
      for i = 1, #ks do order[i] = ks[i] end
      table.sort(order, function(a, b) return rt.lt(a, b) end)
    end
    out[#out + 1] = "{"
    for i = 1, #order do
      if i > 1 then out[#out + 1] = opts.item_sep end
      nl(level + 1)
      local k = order[i]
      out[#out + 1] = json_str(key_str(k), opts.ensure_ascii)
      out[#out + 1] = opts.key_sep
      dump(rt.dict_get(v, k), opts, level + 1, out, frozen)
    end
    nl(level)
    out[#out + 1] = "}"
    return
  end
  local arr
  if mt == List or mt == Tuple or mt == PyList then arr = v
  elseif mt == Set or mt == Iter or mt == Range then
    if opts.generator_str and mt == Iter and v.what == "generator" then
      -- oslo's to_primitive gives a generator's str(), which holds a memory address
      raise("unsupported", "json_dump() of a Python generator (its string form holds a memory address)")
    end
    if opts.strict_types then raise("eval", "Object of type " .. rt.pytype(v) .. " is not JSON serializable") end
    arr = rt.to_array(v)
  elseif mt == Undefined then
    rt.undef_fail(v)
  else
    raise("eval", "Object of type " .. rt.pytype(v) .. " is not JSON serializable")
  end
  if #arr == 0 then out[#out + 1] = "[]"; return end
  out[#out + 1] = "["
  for i = 1, #arr do
    if i > 1 then out[#out + 1] = opts.item_sep end
    nl(level + 1)
    dump(arr[i], opts, level + 1, out, frozen)
  end
  nl(level)
  out[#out + 1] = "]"
end

-- Mistral json_dump: jsonutils.dumps(x, indent=4)
local dump_opts = {indent = 4, item_sep = ",", key_sep = ": ", ensure_ascii = true, generator_str = true}
-- yaql: the data is YAQL's (its dicts are FrozenDicts unless marked mutable)
function J.dump(v, yaql)
  if native_dump then
    local s = native_dump(v, null, Dict, List, Tuple, PyList, yaql)
    if s then return s end
    guard()
  end
  local out = {}
  dump(v, dump_opts, 0, out, yaql and 0 or nil)
  return concat(out)
end

-- generic json.dumps
function J.dumps(v, indent, sort_keys, strict_types)
  local out = {}
  dump(v, {indent = indent, item_sep = indent and "," or ", ", key_sep = ": ",
    sort_keys = sort_keys, ensure_ascii = true, strict_types = strict_types}, 0, out)
  return concat(out)
end

-- Jinja tojson (htmlsafe_json_dumps with sort_keys)
function J.tojson(v, indent)
  local s = J.dumps(v, indent, true, true)
  s = s:gsub("[<>&']", {["<"] = "\\u003c", [">"] = "\\u003e", ["&"] = "\\u0026", ["'"] = "\\u0027"})
  return s
end

------------------------------------------------------------------------
-- yaml_dump: port of PyYAML's emitter for safe_dump(default_flow_style=False)
------------------------------------------------------------------------
local function is_digit(c) return c ~= "" and sfind(c, "^%d$") ~= nil end

local bool_words = {}
for w in ("yes Yes YES no No NO true True TRUE false False FALSE on On ON off Off OFF"):gmatch("%S+") do bool_words[w] = true end

local function match_sexa(s, i)
  -- (:[0-5]?[0-9])+ starting at i; returns index after, or nil
  local any = false
  while ssub(s, i, i) == ":" do
    local d = s:match("^[0-5]?%d", i + 1)
    if not d then return nil end
    i = i + 1 + #d
    any = true
  end
  if not any then return nil end
  return i
end

local function resolves_non_str(v)
  if v == "" then return true end
  if bool_words[v] then return true end
  if v == "~" or v == "null" or v == "Null" or v == "NULL" or v == "<<" or v == "=" then return true end
  -- float
  local body = v:gsub("^[-+]", "")
  if body:match("^%d[%d_]*%.[%d_]*$") or body:match("^%d[%d_]*%.[%d_]*[eE][-+]%d+$") then return true end
  if v:match("^%.%d[%d_]*$") or v:match("^%.%d[%d_]*[eE][-+]%d+$") then return true end
  do
    local i = body:match("^%d[%d_]*()")
    if i then
      local j = match_sexa(body, i)
      if j and body:match("^%.[%d_]*$", j) then return true end
      if j and j == #body + 1 and body:match("^[1-9]") then return true end
    end
  end
  if body == ".inf" or body == ".Inf" or body == ".INF" then return true end
  if v == ".nan" or v == ".NaN" or v == ".NAN" then return true end
  -- int
  if body:match("^0b[01_]+$") or body:match("^0[0-7_]+$") or body:match("^0$") or body:match("^[1-9][%d_]*$")
    or body:match("^0x[%x_]+$") then return true end
  -- timestamp
  if v:match("^%d%d%d%d%-%d%d%-%d%d$") then return true end
  do
    local rest = v:match("^%d%d%d%d%-%d%d?%-%d%d?(.*)$")
    if rest then
      local r2 = rest:match("^[Tt](.*)$") or rest:match("^[ \t]+(.*)$")
      if r2 then
        local r3 = r2:match("^%d%d?:%d%d:%d%d(.*)$")
        if r3 then
          r3 = r3:match("^%.%d*(.*)$") or r3
          if r3 == "" then return true end
          local r4 = r3:match("^[ \t]*(.*)$")
          if r4 == "Z" or r4:match("^[-+]%d%d?$") or r4:match("^[-+]%d%d?:%d%d$") then return true end
        end
      end
    end
  end
  return false
end

local BREAKS = {["\n"] = true, ["\u{85}"] = true, ["\u{2028}"] = true, ["\u{2029}"] = true}
local WS_OR_BREAK = {["\0"] = true, [" "] = true, ["\t"] = true, ["\r"] = true, ["\n"] = true,
  ["\u{85}"] = true, ["\u{2028}"] = true, ["\u{2029}"] = true}

local function analyze(scalar)
  if scalar == "" then
    return {empty = true, multiline = false, allow_flow_plain = false, allow_block_plain = true,
      allow_single_quoted = true, allow_double_quoted = true}
  end
  local cs = rt.uchars(scalar)
  local n = #cs
  local block_ind, flow_ind, line_breaks, special = false, false, false, false
  local leading_space, leading_break, trailing_space, trailing_break, break_space, space_break =
    false, false, false, false, false, false
  if scalar:sub(1, 3) == "---" or scalar:sub(1, 3) == "..." then block_ind = true; flow_ind = true end
  local preceded_ws = true
  local followed_ws = (n == 1) or WS_OR_BREAK[cs[2]] or false
  local prev_space, prev_break = false, false
  for index = 1, n do
    local ch = cs[index]
    if index == 1 then
      if sfind("#,[]{}&*!|>'\"%@`", ch, 1, true) and #ch == 1 then flow_ind = true; block_ind = true end
      if ch == "?" or ch == ":" then flow_ind = true; if followed_ws then block_ind = true end end
      if ch == "-" and followed_ws then flow_ind = true; block_ind = true end
    else
      if #ch == 1 and sfind(",?[]{}", ch, 1, true) then flow_ind = true end
      if ch == ":" then flow_ind = true; if followed_ws then block_ind = true end end
      if ch == "#" and preceded_ws then flow_ind = true; block_ind = true end
    end
    if BREAKS[ch] then line_breaks = true end
    local cp = P.cp_of(ch)
    if not (ch == "\n" or (cp >= 0x20 and cp <= 0x7e)) then
      special = true -- allow_unicode is False for safe_dump
    end
    if ch == " " then
      if index == 1 then leading_space = true end
      if index == n then trailing_space = true end
      if prev_break then break_space = true end
      prev_space, prev_break = true, false
    elseif BREAKS[ch] then
      if index == 1 then leading_break = true end
      if index == n then trailing_break = true end
      if prev_space then space_break = true end
      prev_space, prev_break = false, true
    else
      prev_space, prev_break = false, false
    end
    preceded_ws = WS_OR_BREAK[ch] or false
    followed_ws = (index + 1 >= n) or WS_OR_BREAK[cs[index + 2]] or false
  end
  local afp, abp, asq, adq = true, true, true, true
  if leading_space or leading_break or trailing_space or trailing_break then afp, abp = false, false end
  if break_space then afp, abp, asq = false, false, false end
  if space_break or special then afp, abp, asq = false, false, false end
  if line_breaks then afp, abp = false, false end
  if flow_ind then afp = false end
  if block_ind then abp = false end
  return {empty = false, multiline = line_breaks, allow_flow_plain = afp, allow_block_plain = abp,
    allow_single_quoted = asq, allow_double_quoted = adq, chars = cs}
end

local ESC = {["\0"] = "0", ["\7"] = "a", ["\8"] = "b", ["\9"] = "t", ["\10"] = "n", ["\11"] = "v",
  ["\12"] = "f", ["\13"] = "r", ["\27"] = "e", ['"'] = '"', ["\\"] = "\\", ["\u{85}"] = "N",
  ["\u{a0}"] = "_", ["\u{2028}"] = "L", ["\u{2029}"] = "P"}

local Emitter = {}
Emitter.__index = Emitter

local function new_emitter()
  return setmetatable({out = {}, column = 0, whitespace = true, indention = true, indent = nil,
    indents = {}, flow_level = 0, open_ended = false, best_indent = 2, best_width = 80,
    root_context = false, sequence_context = false, mapping_context = false, simple_key_context = false,
    anchors = {}, anchor_ids = {}, last_anchor = 0}, Emitter)
end

function Emitter:write(s) self.out[#self.out + 1] = s end
function Emitter:increase_indent(flow, indentless)
  self.indents[#self.indents + 1] = self.indent == nil and false or self.indent
  if self.indent == nil then
    self.indent = flow and self.best_indent or 0
  elseif not indentless then
    self.indent = self.indent + self.best_indent
  end
end
function Emitter:pop_indent()
  local v = table.remove(self.indents)
  if v == false then v = nil end
  self.indent = v
end
function Emitter:write_indicator(ind, need_ws, whitespace, indention)
  local data = (self.whitespace or not need_ws) and ind or (" " .. ind)
  self.whitespace = whitespace or false
  self.indention = self.indention and (indention or false)
  self.column = self.column + rt.ulen(data)
  self.open_ended = false
  self:write(data)
end
function Emitter:write_line_break(data)
  data = data or "\n"
  self.whitespace = true
  self.indention = true
  self.column = 0
  self:write(data)
end
function Emitter:write_indent()
  local indent = self.indent or 0
  if not self.indention or self.column > indent or (self.column == indent and not self.whitespace) then
    self:write_line_break()
  end
  if self.column < indent then
    self.whitespace = true
    self:write(string.rep(" ", indent - self.column))
    self.column = indent
  end
end

function Emitter:write_plain(cs, split)
  if self.root_context then self.open_ended = true end
  if #cs == 0 then return end
  if not self.whitespace then self.column = self.column + 1; self:write(" ") end
  self.whitespace = false
  self.indention = false
  local spaces, breaks = false, false
  local start, n = 1, #cs
  for e = 1, n + 1 do
    local ch = cs[e]
    if spaces then
      if ch ~= " " then
        if start + 1 == e and self.column > self.best_width and split then
          self:write_indent(); self.whitespace = false; self.indention = false
        else
          local data = concat(cs, "", start, e - 1)
          self.column = self.column + (e - start); self:write(data)
        end
        start = e
      end
    elseif breaks then
      if not BREAKS[ch] then
        if cs[start] == "\n" then self:write_line_break() end
        for k = start, e - 1 do
          if cs[k] == "\n" then self:write_line_break() else self:write_line_break(cs[k]) end
        end
        self:write_indent(); self.whitespace = false; self.indention = false
        start = e
      end
    else
      if ch == nil or ch == " " or BREAKS[ch] then
        local data = concat(cs, "", start, e - 1)
        self.column = self.column + (e - start); self:write(data)
        start = e
      end
    end
    if ch ~= nil then spaces = (ch == " "); breaks = BREAKS[ch] or false end
  end
end

function Emitter:write_single_quoted(cs, split)
  self:write_indicator("'", true)
  local spaces, breaks = false, false
  local start, n = 1, #cs
  for e = 1, n + 1 do
    local ch = cs[e]
    if spaces then
      if ch == nil or ch ~= " " then
        if start + 1 == e and self.column > self.best_width and split and start ~= 1 and e ~= n + 1 then
          self:write_indent()
        else
          self.column = self.column + (e - start); self:write(concat(cs, "", start, e - 1))
        end
        start = e
      end
    elseif breaks then
      if ch == nil or not BREAKS[ch] then
        if cs[start] == "\n" then self:write_line_break() end
        for k = start, e - 1 do
          if cs[k] == "\n" then self:write_line_break() else self:write_line_break(cs[k]) end
        end
        self:write_indent()
        start = e
      end
    else
      if ch == nil or ch == " " or BREAKS[ch] or ch == "'" then
        if start < e then
          self.column = self.column + (e - start); self:write(concat(cs, "", start, e - 1))
          start = e
        end
      end
    end
    if ch == "'" then
      self.column = self.column + 2; self:write("''")
      start = e + 1
    end
    if ch ~= nil then spaces = (ch == " "); breaks = BREAKS[ch] or false end
  end
  self:write_indicator("'", false)
end

function Emitter:write_double_quoted(cs, split)
  self:write_indicator('"', true)
  local start, n = 1, #cs
  for e = 1, n + 1 do
    local ch = cs[e]
    local cp = ch and P.cp_of(ch)
    if ch == nil or ch == '"' or ch == "\\" or ch == "\u{85}" or ch == "\u{2028}" or ch == "\u{2029}"
      or ch == "\u{feff}" or not (cp >= 0x20 and cp <= 0x7e) then
      if start < e then
        self.column = self.column + (e - start); self:write(concat(cs, "", start, e - 1))
        start = e
      end
      if ch ~= nil then
        local data
        if ESC[ch] then data = "\\" .. ESC[ch]
        elseif cp <= 0xff then data = sformat("\\x%02X", cp)
        elseif cp <= 0xffff then data = sformat("\\u%04X", cp)
        else data = sformat("\\U%08X", cp) end
        self.column = self.column + #data; self:write(data)
        start = e + 1
      end
    end
    if e > 1 and e < n and (ch == " " or start >= e) and self.column + (e - start) > self.best_width and split then
      local data = concat(cs, "", start, e - 1) .. "\\"
      if start < e then start = e end
      self.column = self.column + rt.ulen(data); self:write(data)
      self:write_indent()
      self.whitespace = false; self.indention = false
      if cs[start] == " " then self.column = self.column + 1; self:write("\\") end
    end
  end
  self:write_indicator('"', false)
end

-- scalar: text plus whether it is a plain-implicit (non-str) value
function Emitter:scalar(text, is_str)
  self:increase_indent(true)
  local a = analyze(text)
  local cs = a.chars or {}
  local implicit = (not is_str) or not resolves_non_str(text)
  local style
  if implicit and not (self.simple_key_context and (a.empty or a.multiline))
    and ((self.flow_level > 0 and a.allow_flow_plain) or (self.flow_level == 0 and a.allow_block_plain)) then
    style = ""
  elseif a.allow_single_quoted and not (self.simple_key_context and a.multiline) then
    style = "'"
  else
    style = '"'
  end
  local split = not self.simple_key_context
  if style == '"' then self:write_double_quoted(cs, split)
  elseif style == "'" then self:write_single_quoted(cs, split)
  else self:write_plain(cs, split) end
  self:pop_indent()
  return a
end

local function scalar_text(v)
  local tv = type(v)
  if tv == "string" then return v, true end
  if tv == "boolean" then return v and "true" or "false", false end
  if tv == "number" then
    if mtype(v) == "integer" then return sformat("%d", v), false end
    if v ~= v then return ".nan", false end
    if v == math.huge then return ".inf", false end
    if v == -math.huge then return "-.inf", false end
    local r = P.float_repr(v):lower()
    if not sfind(r, ".", 1, true) and sfind(r, "e", 1, true) then r = r:gsub("e", ".0e", 1) end
    return r, false
  end
  if v == null then return "null", false end
  return nil
end

local function node_kind(v)
  local mt = getmetatable(v)
  if mt == Dict then return "map" end
  if mt == List or mt == Tuple or mt == PyList then return "seq" end
  if mt == Set or mt == Iter or mt == Range then
    raise("eval", "cannot represent an object: " .. rt.pytype(v))
  end
  if mt == Undefined then rt.undef_fail(v) end
  if type(v) == "table" and v ~= null then raise("eval", "cannot represent an object: " .. rt.pytype(v)) end
  return "scalar"
end

function Emitter:check_simple_key(v)
  local k = node_kind(v)
  if k == "scalar" then
    local text = scalar_text(v)
    -- PyYAML counts the tag ("!!str", "!!int", ...) with the text: under 128 in all
    if rt.ulen(text) + 5 >= 128 then return false end
    local a = analyze(text)
    return not a.empty and not a.multiline
  end
  if self.anchors[v] and self.anchors[v] > 1 then return false end
  if k == "seq" then return #v == 0 end
  return #v.keys == 0
end

function Emitter:node(v, root, sequence, mapping, simple_key)
  self.root_context = root or false
  self.sequence_context = sequence or false
  self.mapping_context = mapping or false
  self.simple_key_context = simple_key or false
  local kind = node_kind(v)
  if kind ~= "scalar" and (self.anchors[v] or 0) > 1 then
    local id = self.anchor_ids[v]
    if id then
      -- alias
      self:write_indicator("*" .. id, true)
      return
    end
    self.last_anchor = self.last_anchor + 1
    id = sformat("id%03d", self.last_anchor)
    self.anchor_ids[v] = id
    self:write_indicator("&" .. id, true)
  end
  if kind == "scalar" then
    local text, is_str = scalar_text(v)
    self:scalar(text, is_str)
  elseif kind == "seq" then
    if self.flow_level > 0 or #v == 0 then
      self:write_indicator("[", true, true)
      self.flow_level = self.flow_level + 1
      self:increase_indent(true)
      self:pop_indent()
      self.flow_level = self.flow_level - 1
      self:write_indicator("]", false)
    else
      local indentless = self.mapping_context and not self.indention
      self:increase_indent(false, indentless)
      for i = 1, #v do
        self:write_indent()
        self:write_indicator("-", true, false, true)
        self:node(v[i], false, true, false, false)
      end
      self:pop_indent()
    end
  else
    local ks = v.keys
    if self.flow_level > 0 or #ks == 0 then
      self:write_indicator("{", true, true)
      self.flow_level = self.flow_level + 1
      self:increase_indent(true)
      self:pop_indent()
      self.flow_level = self.flow_level - 1
      self:write_indicator("}", false)
    else
      local order = {}
      for i = 1, #ks do order[i] = ks[i] end
      table.sort(order, function(a, b) return rt.lt(a, b) end)
      self:increase_indent(false)
      for i = 1, #order do
        local k = order[i]
        self:write_indent()
        if self:check_simple_key(k) then
          self:node(k, false, false, true, true)
          self:write_indicator(":", false)
          self:node(rt.dict_get(v, k), false, false, true, false)
        else
          self:write_indicator("?", true, false, true)
          self:node(k, false, false, true, false)
          self:write_indent()
          self:write_indicator(":", true, false, true)
          self:node(rt.dict_get(v, k), false, false, true, false)
        end
      end
      self:pop_indent()
    end
  end
end

local function count_refs(v, counts)
  local mt = getmetatable(v)
  if mt == Dict or mt == List or mt == Tuple or mt == PyList then
    if mt == Tuple and #v == 0 then return end
    counts[v] = (counts[v] or 0) + 1
    if counts[v] > 1 then return end
    if mt == Dict then
      for _, k in ipairs(v.keys) do count_refs(k, counts); count_refs(rt.dict_get(v, k), counts) end
    else
      for i = 1, #v do count_refs(v[i], counts) end
    end
  end
end

function J.yaml_dump(v)
  if native_yaml_dump then
    local s = native_yaml_dump(v, null, Dict, List, Tuple, PyList)
    if s then return s end
    guard()
  end
  local e = new_emitter()
  count_refs(v, e.anchors)
  e:node(v, true, false, false, false)
  -- document end
  e:write_indent()
  -- stream end
  if e.open_ended then
    e:write_indicator("...", true)
    e:write_indent()
  end
  return concat(e.out)
end

return J
