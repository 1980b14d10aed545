-- glarex jinja: Jinja2 (3.1) compiler for Mistral's environment
-- (SandboxedEnvironment, StrictUndefined, trim_blocks, lstrip_blocks,
-- keep_trailing_newline=False).  Lexer reproducing jinja2.lexer's rules
-- (whitespace control, raw, comments, bracket balancing), a parser
-- following jinja2.parser, and a code generator emitting Lua that calls
-- lua/jinjalib.lua.  compile_template(text) is Mistral's InlineJinja
-- evaluator: whole-value expression or rendered template.
local M = ...
local rt, P, L = M.runtime, M.pyfmt, M.jinjalib
local jinja = {}

local sbyte, ssub, sfind, sformat = string.byte, string.sub, string.find, string.format
local concat = table.concat
local MAX_NESTING = rt.MAX_NESTING

local function err(kind, msg, pos)
  error(setmetatable({kind = kind, message = msg, pos = pos}, rt.ErrMT), 0)
end
local function syntax(msg, pos) err("syntax", msg, pos) end

------------------------------------------------------------------------
-- Lexer
------------------------------------------------------------------------
local OPERATORS = {"//", "**", "==", "!=", ">=", "<=",
  "+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{", "}", ">", "<", "=", ".", ":", "|", ",", ";"}
local CLOSER = {["("] = ")", ["["] = "]", ["{"] = "}"}

local function is_ws(b) return b == 32 or b == 9 or b == 10 or b == 13 or b == 11 or b == 12 end
local function is_digit(b) return b and b >= 48 and b <= 57 end
local function is_name_start(b) return b and (b == 95 or (b >= 65 and b <= 90) or (b >= 97 and b <= 122) or b >= 128) end
local function is_name_char(b) return b and (is_name_start(b) or is_digit(b)) end

-- (\d+_)*\d+ starting at i; returns index after or nil
local function digits_us(s, i)
  if not is_digit(sbyte(s, i)) then return nil end
  local j = i
  while true do
    while is_digit(sbyte(s, j)) do j = j + 1 end
    if ssub(s, j, j) == "_" and is_digit(sbyte(s, j + 1)) then j = j + 1 else break end
  end
  return j
end

-- the value of an integer literal's digits, or nil beyond 64 bits (tonumber with a
-- base would wrap around)
local function int_literal(digits, base)
  local v, max = 0, math.maxinteger
  for i = 1, #digits do
    local d = tonumber(ssub(digits, i, i), base)
    if v > (max - d) // base then return nil end
    v = v * base + d
  end
  return v
end

local esc_simple = {["\\"] = "\\", ["'"] = "'", ['"'] = '"', a = "\a", b = "\b", f = "\f", n = "\n",
  r = "\r", t = "\t", v = "\v", ["\n"] = ""}
local function unescape(raw, pos)
  if not sfind(raw, "\\", 1, true) then return raw end
  local out, n, i = {}, 0, 1
  while i <= #raw do
    local a = sfind(raw, "\\", i, true)
    if not a then n = n + 1; out[n] = ssub(raw, i); break end
    n = n + 1; out[n] = ssub(raw, i, a - 1)
    local c = ssub(raw, a + 1, a + 1)
    if esc_simple[c] then n = n + 1; out[n] = esc_simple[c]; i = a + 2
    elseif c:match("^[0-7]$") then
      local o = raw:match("^[0-7][0-7]?[0-7]?", a + 1)
      n = n + 1; out[n] = utf8.char(tonumber(o, 8)); i = a + 1 + #o
    elseif c == "x" or c == "u" or c == "U" then
      local k = c == "x" and 2 or c == "u" and 4 or 8
      local h = ssub(raw, a + 2, a + 1 + k)
      if #h ~= k or not h:match("^%x+$") then syntax("(unicode error) 'unicodeescape' codec can't decode bytes: truncated \\" .. c .. " escape", pos) end
      local cp = tonumber(h, 16)
      if cp > 0x10ffff then syntax("illegal Unicode character", pos) end
      if cp >= 0xd800 and cp <= 0xdfff then err("unsupported", "lone surrogate in a Jinja string", pos) end
      n = n + 1; out[n] = utf8.char(cp); i = a + 2 + k
    elseif c == "N" then
      err("unsupported", "\\N{...} escapes are not supported", pos)
    elseif c == "" then
      syntax("\\ at end of string", pos)
    else
      n = n + 1; out[n] = "\\"; i = a + 1
    end
  end
  return concat(out)
end

-- tokenize inside a tag; stops at the end delimiter (endkind "var"/"block")
-- or at the end of input.  Returns new position and whether the end tag
-- was found; appends tokens.
local function lex_tag(src, pos, endkind, toks)
  local len = #src
  local balance = {}
  while pos <= len do
    if #balance == 0 then
      if endkind == "var" then
        if ssub(src, pos, pos + 2) == "-}}" then
          local j = pos + 3
          while j <= len and is_ws(sbyte(src, j)) do j = j + 1 end
          toks[#toks + 1] = {t = "var_end", pos = pos}
          return j, true, ssub(src, j - 1, j - 1) == "\n"
        elseif ssub(src, pos, pos + 1) == "}}" then
          toks[#toks + 1] = {t = "var_end", pos = pos}
          return pos + 2, true, false
        end
      elseif endkind == "block" then
        if ssub(src, pos, pos + 2) == "+%}" then
          toks[#toks + 1] = {t = "block_end", pos = pos}
          return pos + 3, true, false
        elseif ssub(src, pos, pos + 2) == "-%}" then
          local j = pos + 3
          while j <= len and is_ws(sbyte(src, j)) do j = j + 1 end
          toks[#toks + 1] = {t = "block_end", pos = pos}
          return j, true, ssub(src, j - 1, j - 1) == "\n"
        elseif ssub(src, pos, pos + 1) == "%}" then
          local j = pos + 2
          local nl = ssub(src, j, j) == "\n"
          if nl then j = j + 1 end
          toks[#toks + 1] = {t = "block_end", pos = pos}
          return j, true, nl
        end
      end
    end
    local b = sbyte(src, pos)
    if is_ws(b) then
      pos = pos + 1
    elseif is_digit(b) then
      -- float first (not preceded by '.')
      local prev = pos > 1 and ssub(src, pos - 1, pos - 1) or ""
      local j = digits_us(src, pos)
      local fend
      if prev ~= "." then
        local k = j
        local frac = ssub(src, k, k) == "." and digits_us(src, k + 1)
        local afterfrac = frac or k
        local e = ssub(src, afterfrac, afterfrac)
        if e == "e" or e == "E" then
          local q = afterfrac + 1
          if ssub(src, q, q) == "+" or ssub(src, q, q) == "-" then q = q + 1 end
          local ed = digits_us(src, q)
          if ed then fend = ed end
        end
        if not fend and frac then fend = frac end
      end
      if fend then
        local text = ssub(src, pos, fend - 1):gsub("_", "")
        toks[#toks + 1] = {t = "float", v = tonumber(text) * 1.0, pos = pos}
        pos = fend
      else
        -- integer
        local c2 = ssub(src, pos + 1, pos + 1):lower()
        local iend, base
        if b == 48 and (c2 == "b" or c2 == "o" or c2 == "x") then
          local cls = c2 == "b" and "[01]" or c2 == "o" and "[0-7]" or "%x"
          local q = pos + 2
          local any = false
          while true do
            if ssub(src, q, q) == "_" and ssub(src, q + 1, q + 1):match(cls) then q = q + 2; any = true
            elseif ssub(src, q, q):match(cls) then q = q + 1; any = true
            else break end
          end
          if any then iend = q; base = c2 == "b" and 2 or c2 == "o" and 8 or 16 end
        end
        if not iend then
          if b == 48 then
            local q = pos + 1
            while true do
              if ssub(src, q, q) == "0" then q = q + 1
              elseif ssub(src, q, q + 1) == "_0" then q = q + 2
              else break end
            end
            iend = q; base = 10
          else
            iend = j; base = 10
          end
        end
        local text = ssub(src, pos, iend - 1):gsub("_", "")
        if base ~= 10 then text = text:sub(3) end
        local v = int_literal(text, base)
        if not v then err("unsupported", "integer literal beyond 64 bits", pos) end
        toks[#toks + 1] = {t = "integer", v = v, pos = pos}
        pos = iend
      end
    elseif is_name_start(b) then
      local j = pos + 1
      while is_name_char(sbyte(src, j)) do j = j + 1 end
      toks[#toks + 1] = {t = "name", v = ssub(src, pos, j - 1), pos = pos}
      pos = j
    elseif b == 39 or b == 34 then
      local q = ssub(src, pos, pos)
      local j = pos + 1
      local ok = false
      while j <= len do
        local c = ssub(src, j, j)
        if c == q then ok = true; break end
        if c == "\\" then j = j + 2 else j = j + 1 end
      end
      if not ok then syntax("unexpected char " .. P.str_repr(q) .. " at " .. (pos - 1), pos) end
      toks[#toks + 1] = {t = "string", v = unescape(ssub(src, pos + 1, j - 1), pos), pos = pos}
      pos = j + 1
    else
      local op
      for _, o in ipairs(OPERATORS) do
        if ssub(src, pos, pos + #o - 1) == o then op = o; break end
      end
      if not op then
        local ch = src:match("^[%z\1-\127\194-\253][\128-\191]*", pos)
        syntax("unexpected char " .. P.str_repr(ch) .. " at " .. (pos - 1), pos)
      end
      if CLOSER[op] then balance[#balance + 1] = CLOSER[op]
      elseif op == ")" or op == "]" or op == "}" then
        if #balance == 0 then syntax("unexpected '" .. op .. "'", pos) end
        local want = table.remove(balance)
        if want ~= op then syntax("unexpected '" .. op .. "', expected '" .. want .. "'", pos) end
      end
      toks[#toks + 1] = {t = op, v = op, pos = pos}
      pos = pos + #op
    end
  end
  return pos, false, false
end

local function normalize(src)
  if sfind(src, "\r", 1, true) then src = src:gsub("\r\n", "\n"):gsub("\r", "\n") end
  if ssub(src, -1) == "\n" then src = ssub(src, 1, -2) end
  return src
end

local function only_ws(s) return s ~= "" and not s:find("[^ \t\n\r\v\f]") end
local function rstrip_ws(s) return (s:gsub("[ \t\n\r\v\f]+$", "")) end

-- apply OptionalLStrip to the data before a tag
local function lstrip_data(text, sign, is_var, line_starting)
  if sign == "-" then return rstrip_ws(text) end
  if sign ~= "+" and not is_var then
    local lpos = 1
    local last_nl
    local p = 1
    while true do
      local a = sfind(text, "\n", p, true)
      if not a then break end
      last_nl = a; p = a + 1
    end
    if last_nl then lpos = last_nl + 1 end
    if (last_nl or line_starting) and only_ws(ssub(text, lpos)) then
      return ssub(text, 1, lpos - 1)
    end
  end
  return text
end

local function lex_template(src)
  local toks = {}
  local pos, len = 1, #src
  local line_starting = true
  while pos <= len do
    local a = sfind(src, "{[{%%#]", pos)
    if not a then
      toks[#toks + 1] = {t = "data", v = ssub(src, pos), pos = pos}
      break
    end
    local text = ssub(src, pos, a - 1)
    local kind = ssub(src, a + 1, a + 1)
    local sign = ssub(src, a + 2, a + 2)
    if sign ~= "-" and sign ~= "+" then sign = "" end
    local tag_start = a + 2 + #sign
    -- raw block?
    local raw_end
    if kind == "%" then
      local q = tag_start
      while q <= len and is_ws(sbyte(src, q)) do q = q + 1 end
      if ssub(src, q, q + 2) == "raw" then
        q = q + 3
        while q <= len and is_ws(sbyte(src, q)) do q = q + 1 end
        if ssub(src, q, q + 2) == "-%}" then
          q = q + 3
          while q <= len and is_ws(sbyte(src, q)) do q = q + 1 end
          raw_end = q
        elseif ssub(src, q, q + 1) == "%}" then
          raw_end = q + 2
        end
      end
    end
    text = lstrip_data(text, sign, kind == "{", line_starting)
    if text ~= "" then toks[#toks + 1] = {t = "data", v = text, pos = pos} end
    if raw_end then
      -- find {%[-+]?\s*endraw\s*(+%}|-%}\s*|%}\n?)
      local p = raw_end
      local found
      while true do
        local b = sfind(src, "{%", p, true)
        if not b then break end
        local s2 = ssub(src, b + 2, b + 2)
        if s2 ~= "-" and s2 ~= "+" then s2 = "" end
        local q = b + 2 + #s2
        while q <= len and is_ws(sbyte(src, q)) do q = q + 1 end
        if ssub(src, q, q + 5) == "endraw" then
          q = q + 6
          while q <= len and is_ws(sbyte(src, q)) do q = q + 1 end
          local e
          if ssub(src, q, q + 2) == "+%}" then e = q + 3
          elseif ssub(src, q, q + 2) == "-%}" then
            e = q + 3
            while e <= len and is_ws(sbyte(src, e)) do e = e + 1 end
          elseif ssub(src, q, q + 1) == "%}" then
            e = q + 2
            if ssub(src, e, e) == "\n" then e = e + 1 end
          end
          if e then found = {b, s2, e}; break end
        end
        p = b + 1
      end
      if not found then syntax("Missing end of raw directive", a) end
      local rawls = ssub(src, raw_end - 1, raw_end - 1) == "\n"
      local data = lstrip_data(ssub(src, raw_end, found[1] - 1), found[2], false, rawls)
      if data ~= "" then toks[#toks + 1] = {t = "data", v = data, pos = raw_end} end
      pos = found[3]
      line_starting = ssub(src, pos - 1, pos - 1) == "\n"
    elseif kind == "#" then
      local p = tag_start
      local e
      while true do
        local b = sfind(src, "#}", p, true)
        if not b then syntax("Missing end of comment tag", a) end
        local s2 = b > tag_start and ssub(src, b - 1, b - 1) or ""
        if s2 == "-" then
          e = b + 2
          while e <= len and is_ws(sbyte(src, e)) do e = e + 1 end
        elseif s2 == "+" then
          e = b + 2
        else
          e = b + 2
          if ssub(src, e, e) == "\n" then e = e + 1 end
        end
        break
      end
      pos = e
      line_starting = ssub(src, pos - 1, pos - 1) == "\n"
    else
      local endkind = kind == "{" and "var" or "block"
      toks[#toks + 1] = {t = endkind == "var" and "var_begin" or "block_begin", pos = a}
      local found
      pos, found, line_starting = lex_tag(src, tag_start, endkind, toks)
      if not found then break end
    end
  end
  toks[#toks + 1] = {t = "eof", pos = len + 1}
  return toks
end
jinja.lex_template = lex_template

local function lex_expression(src)
  local toks = {}
  local pos, found = lex_tag(src, 1, "var", toks)
  if found then
    -- `}}` inside an expression-only source: Jinja reports it as extra
    toks[#toks].t = "var_end"
  end
  toks[#toks + 1] = {t = "eof", pos = #src + 1}
  return toks
end

------------------------------------------------------------------------
-- Parser (jinja2.parser)
------------------------------------------------------------------------
local Parser = {}
Parser.__index = Parser

local function describe(tok)
  if tok.t == "eof" then return "end of template" end
  if tok.t == "name" then return tok.v end
  if tok.t == "string" or tok.t == "integer" or tok.t == "float" then return tok.t end
  if tok.t == "var_end" then return "end of print statement" end
  if tok.t == "block_end" then return "end of statement block" end
  if tok.t == "data" then return "template data / text" end
  return tostring(tok.v or tok.t)
end

function Parser.new(toks) return setmetatable({toks = toks, p = 1, soft = 0, depth = 0}, Parser) end
-- Runs self[method](self, ...) one nesting level deeper (at most MAX_NESTING):
-- every recursion of the parser passes through unary, not_ or statement.
function Parser:nested(what, method, ...)
  local depth = self.depth + 1
  if depth > MAX_NESTING then rt.nesting_error(what, self:cur().pos) end
  self.depth = depth
  local node = self[method](self, ...)
  self.depth = depth - 1
  return node
end
function Parser:cur() return self.toks[self.p] end
function Parser:look() return self.toks[self.p + 1] or self.toks[#self.toks] end
function Parser:next() local t = self.toks[self.p]; self.p = self.p + 1; return t end
function Parser:fail(msg, tok) syntax(msg, (tok or self:cur()).pos) end
function Parser:expect(ty, val)
  local t = self:cur()
  if t.t ~= ty or (val and t.v ~= val) then
    if t.t == "eof" then
      self:fail("unexpected end of template, expected '" .. (val or ty) .. "'.", t)
    end
    self:fail("expected token '" .. (val or ty) .. "', got '" .. describe(t) .. "'", t)
  end
  self.p = self.p + 1
  return t
end
function Parser:is_name(v) local t = self:cur(); return t.t == "name" and t.v == v end
function Parser:skip_name(v) if self:is_name(v) then self.p = self.p + 1; return true end return false end

function Parser:expression(with_condexpr)
  if with_condexpr == false then return self:or_() end
  return self:condexpr()
end
function Parser:condexpr()
  local e1 = self:or_()
  while self:skip_name("if") do
    local e2 = self:or_()
    local e3
    if self:skip_name("else") then e3 = self:condexpr() end
    e1 = {k = "cond", test = e2, a = e1, b = e3, pos = e1.pos}
  end
  return e1
end
function Parser:or_()
  local l = self:and_()
  while self:skip_name("or") do l = {k = "or", l = l, r = self:and_(), pos = l.pos} end
  return l
end
function Parser:and_()
  local l = self:not_()
  while self:skip_name("and") do l = {k = "and", l = l, r = self:not_(), pos = l.pos} end
  return l
end
function Parser:not_()
  if self:is_name("not") then
    local t = self:next()
    return {k = "not", e = self:nested("expression", "not_"), pos = t.pos}
  end
  return self:compare()
end
local CMP = {["=="] = "eq", ["!="] = "ne", ["<"] = "lt", ["<="] = "le", [">"] = "gt", [">="] = "ge"}
function Parser:compare()
  local e = self:math1()
  local ops = {}
  while true do
    local t = self:cur()
    if CMP[t.t] then
      self:next()
      ops[#ops + 1] = {op = CMP[t.t], e = self:math1()}
    elseif self:skip_name("in") then
      ops[#ops + 1] = {op = "in", e = self:math1()}
    elseif self:is_name("not") and self:look().t == "name" and self:look().v == "in" then
      self.p = self.p + 2
      ops[#ops + 1] = {op = "notin", e = self:math1()}
    else
      break
    end
  end
  if #ops == 0 then return e end
  return {k = "compare", e = e, ops = ops, pos = e.pos}
end
function Parser:math1()
  local l = self:concat_()
  while self:cur().t == "+" or self:cur().t == "-" do
    local op = self:next().t
    l = {k = "bin", op = op, l = l, r = self:concat_(), pos = l.pos}
  end
  return l
end
function Parser:concat_()
  local args = {self:math2()}
  while self:cur().t == "~" do
    self:next()
    args[#args + 1] = self:math2()
  end
  if #args == 1 then return args[1] end
  return {k = "concat", args = args, pos = args[1].pos}
end
function Parser:math2()
  local l = self:pow_()
  while true do
    local t = self:cur().t
    if t == "*" or t == "/" or t == "//" or t == "%" then
      self:next()
      l = {k = "bin", op = t, l = l, r = self:pow_(), pos = l.pos}
    else break end
  end
  return l
end
function Parser:pow_()
  local l = self:nested("expression", "unary")
  while self:cur().t == "**" do
    self:next()
    l = {k = "bin", op = "**", l = l, r = self:nested("expression", "unary"), pos = l.pos}
  end
  return l
end
function Parser:unary(with_filter)
  local t = self:cur()
  local node
  if t.t == "-" then
    self:next()
    node = {k = "neg", e = self:nested("expression", "unary", false), pos = t.pos}
  elseif t.t == "+" then
    self:next()
    node = {k = "pos", e = self:nested("expression", "unary", false), pos = t.pos}
  else
    node = self:primary()
  end
  node = self:postfix(node)
  if with_filter ~= false then node = self:filter_expr(node) end
  return node
end
function Parser:primary()
  local t = self:cur()
  if t.t == "name" then
    self:next()
    local v = t.v
    if v == "true" or v == "True" then return {k = "const", v = true, pos = t.pos} end
    if v == "false" or v == "False" then return {k = "const", v = false, pos = t.pos} end
    if v == "none" or v == "None" then return {k = "const", v = rt.null, pos = t.pos} end
    return {k = "name", v = v, pos = t.pos}
  elseif t.t == "string" then
    self:next()
    local buf = {t.v}
    while self:cur().t == "string" do buf[#buf + 1] = self:next().v end
    return {k = "const", v = concat(buf), pos = t.pos}
  elseif t.t == "integer" or t.t == "float" then
    self:next()
    return {k = "const", v = t.v, pos = t.pos}
  elseif t.t == "(" then
    self:next()
    local node = self:tuple(false, true, nil, true)
    self:expect(")")
    return node
  elseif t.t == "[" then
    return self:list_()
  elseif t.t == "{" then
    return self:dict_()
  end
  self:fail("unexpected '" .. describe(t) .. "'", t)
end
function Parser:is_tuple_end(extra)
  local t = self:cur()
  if t.t == "var_end" or t.t == "block_end" or t.t == ")" then return true end
  if extra then
    for _, r in ipairs(extra) do if t.t == "name" and t.v == r then return true end end
  end
  return false
end
function Parser:tuple(simplified, with_condexpr, extra, explicit)
  local pos = self:cur().pos
  local args, is_tuple = {}, false
  while true do
    if #args > 0 then self:expect(",") end
    if self:is_tuple_end(extra) then break end
    local e
    if simplified then e = self:primary()
    else e = self:expression(with_condexpr) end
    args[#args + 1] = e
    if self:cur().t == "," then is_tuple = true else break end
  end
  if not is_tuple then
    if #args > 0 then return args[1] end
    if not explicit then
      self:fail("Expected an expression, got '" .. describe(self:cur()) .. "'")
    end
  end
  return {k = "tuple", items = args, pos = pos}
end
function Parser:list_()
  local t = self:expect("[")
  local items = {}
  while self:cur().t ~= "]" do
    if #items > 0 then self:expect(",") end
    if self:cur().t == "]" then break end
    items[#items + 1] = self:expression()
  end
  self:expect("]")
  return {k = "list", items = items, pos = t.pos}
end
function Parser:dict_()
  local t = self:expect("{")
  local items = {}
  while self:cur().t ~= "}" do
    if #items > 0 then self:expect(",") end
    if self:cur().t == "}" then break end
    local key = self:expression()
    self:expect(":")
    local value = self:expression()
    items[#items + 1] = {key = key, value = value}
  end
  self:expect("}")
  return {k = "dict", items = items, pos = t.pos}
end
function Parser:postfix(node)
  while true do
    local t = self:cur().t
    if t == "." or t == "[" then node = self:subscript(node)
    elseif t == "(" then node = self:call(node)
    else break end
  end
  return node
end
function Parser:filter_expr(node)
  while true do
    local t = self:cur()
    if t.t == "|" then node = self:filter(node)
    elseif t.t == "name" and t.v == "is" then node = self:test(node)
    elseif t.t == "(" then node = self:call(node)
    else break end
  end
  return node
end
function Parser:subscript(node)
  local t = self:next()
  if t.t == "." then
    local at = self:next()
    if at.t == "name" then return {k = "getattr", e = node, name = at.v, pos = t.pos} end
    if at.t ~= "integer" then self:fail("expected name or number", at) end
    return {k = "getitem", e = node, key = {k = "const", v = at.v, pos = at.pos}, pos = t.pos}
  end
  -- '['
  local args = {}
  while self:cur().t ~= "]" do
    if #args > 0 then self:expect(",") end
    args[#args + 1] = self:subscribed()
  end
  self:expect("]")
  local key
  if #args == 1 then key = args[1] else key = {k = "tuple", items = args, pos = t.pos} end
  return {k = "getitem", e = node, key = key, pos = t.pos}
end
function Parser:subscribed()
  local pos = self:cur().pos
  local args
  if self:cur().t == ":" then
    self:next()
    args = {false}
  else
    local node = self:expression()
    if self:cur().t ~= ":" then return node end
    self:next()
    args = {node}
  end
  if self:cur().t == ":" then args[2] = false
  elseif self:cur().t ~= "]" and self:cur().t ~= "," then args[2] = self:expression()
  else args[2] = false end
  if self:cur().t == ":" then
    self:next()
    if self:cur().t ~= "]" and self:cur().t ~= "," then args[3] = self:expression() else args[3] = false end
  else
    args[3] = false
  end
  return {k = "slice", a = args[1], b = args[2], c = args[3], pos = pos}
end
function Parser:call_args()
  local t = self:expect("(")
  local args, kwargs, dyn_args, dyn_kwargs = {}, {}, nil, nil
  local require_comma = false
  local function ensure(c) if not c then self:fail("invalid syntax for function call expression", t) end end
  while self:cur().t ~= ")" do
    if require_comma then
      self:expect(",")
      if self:cur().t == ")" then break end
    end
    if self:cur().t == "*" then
      ensure(dyn_args == nil and dyn_kwargs == nil)
      self:next()
      dyn_args = self:expression()
    elseif self:cur().t == "**" then
      ensure(dyn_kwargs == nil)
      self:next()
      dyn_kwargs = self:expression()
    else
      if self:cur().t == "name" and self:look().t == "=" then
        ensure(dyn_kwargs == nil)
        local key = self:cur().v
        self.p = self.p + 2
        kwargs[#kwargs + 1] = {key = key, value = self:expression()}
      else
        ensure(dyn_args == nil and dyn_kwargs == nil and #kwargs == 0)
        args[#args + 1] = self:expression()
      end
    end
    require_comma = true
  end
  self:expect(")")
  return {args = args, kwargs = kwargs, dyn_args = dyn_args, dyn_kwargs = dyn_kwargs}
end
function Parser:call(node)
  local t = self:cur()
  return {k = "call", f = node, a = self:call_args(), pos = t.pos}
end
function Parser:dotted_name()
  local name = self:expect("name").v
  while self:cur().t == "." do
    self:next()
    name = name .. "." .. self:expect("name").v
  end
  return name
end
function Parser:filter(node, start_inline)
  while self:cur().t == "|" or start_inline do
    if not start_inline then self:next() end
    local t = self:cur()
    local name = self:dotted_name()
    local a
    if self:cur().t == "(" then a = self:call_args() else a = {args = {}, kwargs = {}} end
    node = {k = "filter", e = node, name = name, a = a, pos = t.pos, soft = self.soft > 0}
    start_inline = false
  end
  return node
end
function Parser:test(node)
  local t = self:next()
  local negated = self:skip_name("not")
  local name = self:dotted_name()
  local a
  local c = self:cur()
  if c.t == "(" then a = self:call_args()
  elseif (c.t == "name" or c.t == "string" or c.t == "integer" or c.t == "float" or c.t == "(" or c.t == "[" or c.t == "{")
    and not (c.t == "name" and (c.v == "else" or c.v == "or" or c.v == "and")) then
    if c.t == "name" and c.v == "is" then self:fail("You cannot chain multiple tests with is") end
    local arg = self:postfix(self:primary())
    a = {args = {arg}, kwargs = {}}
  else
    a = {args = {}, kwargs = {}}
  end
  node = {k = "test", e = node, name = name, a = a, pos = t.pos, soft = self.soft > 0}
  if negated then node = {k = "not", e = node, pos = t.pos} end
  return node
end

-- statements ----------------------------------------------------------
local UNSUPPORTED_TAGS = {macro = true, call = true, block = true, extends = true, include = true,
  import = true, from = true, autoescape = true, ["do"] = true}

function Parser:subparse(end_tokens)
  local body = {}
  while true do
    local t = self:cur()
    if t.t == "eof" then return body, true end
    if t.t == "data" then
      self:next()
      body[#body + 1] = {k = "data", v = t.v, pos = t.pos}
    elseif t.t == "var_begin" then
      self:next()
      local e = self:tuple(false, true)
      body[#body + 1] = {k = "output", e = e, pos = t.pos}
      self:expect("var_end")
    elseif t.t == "block_begin" then
      self:next()
      local c = self:cur()
      if end_tokens and c.t == "name" then
        for _, et in ipairs(end_tokens) do
          if c.v == et then return body, false end
        end
      end
      local st = self:nested("block", "statement")
      body[#body + 1] = st
      self:expect("block_end")
    else
      self:fail("unexpected '" .. describe(t) .. "'", t)
    end
  end
end
function Parser:statements(end_tokens, drop_needle)
  if self:cur().t == ":" then self:next() end
  self:expect("block_end")
  local body, at_eof = self:subparse(end_tokens)
  if at_eof then
    self:fail("Unexpected end of template. Jinja was looking for the following tags: '"
      .. concat(end_tokens, "' or '") .. "'.")
  end
  if drop_needle then self:next() end
  return body
end
function Parser:statement()
  local t = self:cur()
  if t.t ~= "name" then self:fail("tag name expected", t) end
  local v = t.v
  if v == "if" then return self:if_()
  elseif v == "for" then return self:for_()
  elseif v == "set" then return self:set_()
  elseif v == "with" then return self:with_()
  elseif v == "filter" then return self:filter_block()
  elseif UNSUPPORTED_TAGS[v] then
    err("unsupported", "unsupported Jinja construct '{% " .. v .. " %}'", t.pos)
  end
  self:fail("Encountered unknown tag '" .. v .. "'.", t)
end
function Parser:if_()
  local t = self:expect("name", "if")
  local node = {k = "if", branches = {}, pos = t.pos}
  self.soft = self.soft + 1
  while true do
    local test = self:tuple(false, false)
    local body = self:statements({"elif", "else", "endif"})
    node.branches[#node.branches + 1] = {test = test, body = body}
    local tok = self:next()
    if tok.v == "elif" then
    elseif tok.v == "else" then
      node.else_ = self:statements({"endif"}, true)
      break
    else
      break
    end
  end
  self.soft = self.soft - 1
  return node
end
function Parser:assign_target(with_tuple, extra, with_namespace)
  local t = self:cur()
  if with_namespace and self:look().t == "." then
    local ns = self:expect("name").v
    self:next()
    local attr = self:expect("name").v
    return {k = "nsref", name = ns, attr = attr, pos = t.pos}
  end
  local target
  if with_tuple then target = self:tuple(true, true, extra) else target = self:primary() end
  local function check(n)
    if n.k == "name" then
      if n.v == "true" or n.v == "false" or n.v == "none" then self:fail("can't assign to 'const'", t) end
      return
    end
    if n.k == "tuple" then for _, x in ipairs(n.items) do check(x) end return end
    self:fail("can't assign to '" .. n.k .. "'", t)
  end
  check(target)
  return target
end
function Parser:for_()
  local t = self:expect("name", "for")
  local target = self:assign_target(true, {"in"})
  self:expect("name", "in")
  local iter = self:tuple(false, false, {"recursive"})
  local test
  if self:skip_name("if") then test = self:expression() end
  if self:skip_name("recursive") then err("unsupported", "recursive for loops are not supported", t.pos) end
  local body = self:statements({"endfor", "else"})
  local else_
  if self:next().v == "endfor" then else_ = {} else else_ = self:statements({"endfor"}, true) end
  return {k = "for", target = target, iter = iter, test = test, body = body, else_ = else_, pos = t.pos}
end
function Parser:set_()
  local t = self:next()
  local target = self:assign_target(true, nil, true)
  if self:cur().t == "=" then
    self:next()
    local e = self:tuple()
    return {k = "set", target = target, e = e, pos = t.pos}
  end
  local filt = self:filter(nil)
  local body = self:statements({"endset"}, true)
  return {k = "setblock", target = target, filter = filt, body = body, pos = t.pos}
end
function Parser:with_()
  local t = self:next()
  local targets, values = {}, {}
  while self:cur().t ~= "block_end" do
    if #targets > 0 then self:expect(",") end
    local target = self:assign_target()
    targets[#targets + 1] = target
    self:expect("=")
    values[#values + 1] = self:expression()
  end
  local body = self:statements({"endwith"}, true)
  return {k = "with", targets = targets, values = values, body = body, pos = t.pos}
end
function Parser:filter_block()
  local t = self:next()
  local filt = self:filter(nil, true)
  local body = self:statements({"endfilter"}, true)
  return {k = "filterblock", filter = filt, body = body, pos = t.pos}
end

------------------------------------------------------------------------
-- Code generation
------------------------------------------------------------------------
local Gen = {}
Gen.__index = Gen

local lua_str, lua_num = M.yaql.lua_str, M.yaql.lua_num

function Gen.new()
  local g = setmetatable({buf = {}, consts = {}, ntmp = 0, used_f = {}, used_t = {}, checks = {},
    tchecks = {}, soft = 0, depth = 0}, Gen)
  g.frame = {vars = {}, root = true}
  g.out = "out"; g.n = "n"
  return g
end
function Gen:emit(s) local b = self.buf; b[#b + 1] = s end
function Gen:tmp() self.ntmp = self.ntmp + 1; return "t" .. self.ntmp end
-- a value computed once when the chunk loads (before `return function(D)`)
function Gen:const(code)
  local c = self.consts
  c[#c + 1] = code
  return "K" .. #c
end
local function consts_code(g)
  local lines = {}
  for i, code in ipairs(g.consts) do lines[i] = "local K" .. i .. " = " .. code .. "\n" end
  return concat(lines)
end
function Gen:var_local(name)
  self.ntmp = self.ntmp + 1
  return "v" .. self.ntmp .. "_" .. name:gsub("[^%w_]", "_")
end

function Gen:lookup(name)
  local f = self.frame
  while f do
    local v = f.vars[name]
    if v then return v end
    f = f.parent
  end
  if name == "_" then return "D" end
  if L.GLOBALS[name] then return "G[" .. lua_str(name) .. "]" end
  return "resolve(D, " .. lua_str(name) .. ")"
end
function Gen:is_bound(name)
  local f = self.frame
  while f do
    if f.vars[name] then return true end
    f = f.parent
  end
  return name == "_"
end

-- left-to-right evaluation of a list of nodes, and and/or, as the YAQL generator
-- does them
Gen.exlist, Gen.and_or, Gen.ex = M.yaql.exlist, M.yaql.and_or, M.yaql.ex

function Gen:fix(e)
  if e:match("^[%w_]+$") then return e end
  local t = self:tmp()
  self:emit("local " .. t .. " = " .. e)
  return t
end

-- compile call arguments -> "{a, b}", "kw-expr"|"nil" (appended after `pre` nodes)
function Gen:args(a, pre)
  local nodes = {}
  for _, p in ipairs(pre or {}) do nodes[#nodes + 1] = p end
  local npre = #nodes
  for _, x in ipairs(a.args) do nodes[#nodes + 1] = x end
  for _, kv in ipairs(a.kwargs) do nodes[#nodes + 1] = kv.value end
  if a.dyn_args then nodes[#nodes + 1] = a.dyn_args end
  if a.dyn_kwargs then nodes[#nodes + 1] = a.dyn_kwargs end
  local es = self:exlist(nodes)
  local pos = {}
  for i = 1, #a.args do pos[i] = es[npre + i] end
  local k = npre + #a.args
  local kw = "nil"
  if #a.kwargs > 0 then
    local parts = {}
    for i, kv in ipairs(a.kwargs) do parts[#parts + 1] = lua_str(kv.key) .. ", " .. es[k + i] end
    kw = "mkdict(" .. concat(parts, ", ") .. ")"
  end
  k = k + #a.kwargs
  local argt = "{" .. concat(pos, ", ") .. "}"
  if a.dyn_args then k = k + 1; argt = "dynargs(" .. argt .. ", " .. es[k] .. ")" end
  if a.dyn_kwargs then k = k + 1; kw = "dynkw(" .. kw .. ", " .. es[k] .. ")" end
  local pres = {}
  for i = 1, npre do pres[i] = es[i] end
  return argt, kw, pres
end

local BINOPS = {["+"] = "add", ["-"] = "sub", ["*"] = "mul", ["/"] = "div", ["//"] = "floordiv",
  ["%"] = "mod", ["**"] = "pow"}

-- Whether Python writes the number with a leading minus (-0.0 too): a folded constant
-- that Jinja writes unparenthesised binds looser than `**` then.
local function written_negative(x)
  return x < 0 or (x == 0 and 1 / x < 0)
end

-- The number a node folds to when Jinja's optimizer can compute it at compile time
-- (numeric constants under unary signs, +, - and *), or nil.
local function folded_number(n)
  local k = n.k
  if k == "const" then
    return type(n.v) == "number" and n.v or nil
  elseif k == "neg" or k == "pos" then
    local v = folded_number(n.e)
    return v and (k == "neg" and -v or v)
  elseif k == "bin" and (n.op == "+" or n.op == "-" or n.op == "*") then
    local a, b = folded_number(n.l), folded_number(n.r)
    if not (a and b) then return nil end
    return n.op == "+" and a + b or n.op == "-" and a - b or a * b
  end
  return nil
end

-- Jinja's filters that take the render context: its optimizer never runs them at
-- compile time (Filter.as_const refuses pass_context functions).
local CONTEXT_FILTERS = {map = true, select = true, reject = true, selectattr = true,
  rejectattr = true, random = true}

-- Whether Jinja's optimizer computes the node at compile time (the nodes whose
-- as_const succeeds on constants: unary operators, arithmetic, and, or, comparisons,
-- conditions, ~, literals, subscripts, attributes, and filters and tests other than
-- the context filters; never calls). Where as_const would fail on the values, the
-- expression fails when run as well.
local is_folded
local function all_folded(list)
  for _, x in ipairs(list) do if not is_folded(x) then return false end end
  return true
end
local function args_folded(a)
  if not a then return true end
  if not all_folded(a.args) then return false end
  for _, kv in ipairs(a.kwargs) do if not is_folded(kv.value) then return false end end
  return (a.dyn_args == nil or is_folded(a.dyn_args)) and
    (a.dyn_kwargs == nil or is_folded(a.dyn_kwargs))
end
function is_folded(n)
  local k = n.k
  if k == "const" then return true end
  if k == "neg" or k == "pos" or k == "not" or k == "getattr" then return is_folded(n.e) end
  if k == "bin" then return BINOPS[n.op] ~= nil and is_folded(n.l) and is_folded(n.r) end
  if k == "and" or k == "or" then return is_folded(n.l) and is_folded(n.r) end
  if k == "cond" then
    -- CondExpr.as_const computes only the branch taken (none: Impossible)
    local t = n.test
    if t.k == "const" then
      local v = t.v
      local taken = not (v == false or v == rt.null or v == 0 or v == "") and n.a or n.b
      return taken ~= nil and is_folded(taken)
    end
    return n.b ~= nil and is_folded(t) and is_folded(n.a) and is_folded(n.b)
  end
  if k == "compare" then
    if not is_folded(n.e) then return false end
    for _, op in ipairs(n.ops) do if not is_folded(op.e) then return false end end
    return true
  end
  if k == "concat" then return all_folded(n.args) end
  if k == "list" or k == "tuple" then return all_folded(n.items) end
  if k == "dict" then
    for _, it in ipairs(n.items) do
      if not (is_folded(it.key) and is_folded(it.value)) then return false end
    end
    return true
  end
  if k == "getitem" then
    local key = n.key
    if key.k == "slice" then
      return is_folded(n.e) and (not key.a or is_folded(key.a)) and
        (not key.b or is_folded(key.b)) and (not key.c or is_folded(key.c))
    end
    return is_folded(n.e) and is_folded(key)
  end
  if k == "filter" or k == "test" then
    return n.e ~= nil and not (k == "filter" and CONTEXT_FILTERS[n.name]) and
      is_folded(n.e) and args_folded(n.a)
  end
  return false
end

-- Whether a folded node's value can be an Undefined: subscripts, attributes and
-- filters (first, min, attr… of constants) make one; conditions and and/or pass an
-- operand's on. Arithmetic, comparisons, tests, `~` and literals cannot.
local function may_be_undefined(n)
  local k = n.k
  if k == "getattr" or k == "getitem" or k == "filter" then return true end
  if k == "cond" then return may_be_undefined(n.a) or (n.b ~= nil and may_be_undefined(n.b)) end
  if k == "and" or k == "or" then return may_be_undefined(n.l) or may_be_undefined(n.r) end
  return false
end
-- Whether a folded dict key can be unhashable (a list, a dict, or an Undefined)
local function may_be_unhashable(n)
  local k = n.k
  if k == "list" or k == "dict" then return true end
  if k == "tuple" then
    for _, x in ipairs(n.items) do if may_be_unhashable(x) then return true end end
    return false
  end
  return may_be_undefined(n)
end

-- A function computing a folded node (it reads no variable), compiled apart from the
-- template's body. Unknown filters met there are the body's to report.
function Gen:thunk(n)
  local buf = self.buf
  self.buf = {}
  self.soft = self.soft + 1
  local e = self:ex(n)
  self.soft = self.soft - 1
  local body = concat(self.buf, "\n")
  self.buf = buf
  return "function()\n" .. body .. "\nreturn " .. e .. "\nend"
end

-- Jinja's optimizer computes every constant subexpression when it compiles a template,
-- whether its branch is ever taken or not, and catches only its own "not constant"
-- signal. So where that computation turns an Undefined into text (`~`) or a truth value
-- (and, or, the test of an if-expression), or hashes an unhashable dict key, the whole
-- template fails before rendering anything: `{% if true %}a{% else %}{{ ([] | first) ~ ''
-- }}{% endif %}` fails with "No first item, sequence was empty.". fold_walk collects the
-- checks that reproduce those failures, children first as the optimizer folds; the
-- compiled template runs them once, on its first evaluation (they read constants only).
local fold_walk
local function fold_walk_args(g, a, out, opt)
  if not a then return end
  for _, x in ipairs(a.args) do fold_walk(g, x, out, opt) end
  for _, kv in ipairs(a.kwargs) do fold_walk(g, kv.value, out, opt) end
  if a.dyn_args then fold_walk(g, a.dyn_args, out, opt) end
  if a.dyn_kwargs then fold_walk(g, a.dyn_kwargs, out, opt) end
end
function fold_walk(g, n, out, opt)
  local k = n.k
  -- the optimizer runs from the nodes whose code generator is decorated with it: all but
  -- literals, names, lists, tuples and dicts; what lies below one is folded
  local below = opt or not (k == "const" or k == "name" or k == "list" or k == "tuple" or k == "dict")
  if k == "neg" or k == "pos" or k == "not" or k == "getattr" then
    fold_walk(g, n.e, out, below)
  elseif k == "bin" or k == "and" or k == "or" then
    fold_walk(g, n.l, out, below); fold_walk(g, n.r, out, below)
  elseif k == "cond" then
    fold_walk(g, n.test, out, below); fold_walk(g, n.a, out, below)
    if n.b then fold_walk(g, n.b, out, below) end
  elseif k == "compare" then
    fold_walk(g, n.e, out, below)
    for _, op in ipairs(n.ops) do fold_walk(g, op.e, out, below) end
  elseif k == "concat" then
    for _, x in ipairs(n.args) do fold_walk(g, x, out, below) end
  elseif k == "list" or k == "tuple" then
    for _, x in ipairs(n.items) do fold_walk(g, x, out, below) end
  elseif k == "dict" then
    for _, it in ipairs(n.items) do fold_walk(g, it.key, out, below); fold_walk(g, it.value, out, below) end
  elseif k == "getitem" then
    fold_walk(g, n.e, out, below)
    local key = n.key
    if key.k == "slice" then
      for _, x in ipairs({key.a or false, key.b or false, key.c or false}) do
        if x then fold_walk(g, x, out, below) end
      end
    else
      fold_walk(g, key, out, below)
    end
  elseif k == "filter" or k == "test" then
    if n.e then fold_walk(g, n.e, out, below) end
    fold_walk_args(g, n.a, out, below)
  elseif k == "call" then
    fold_walk(g, n.f, out, below)
    fold_walk_args(g, n.a, out, below)
  end
  if k == "concat" then
    -- Concat.as_const: str() of each operand in turn, until one is not constant
    local fs, risky = {}, false
    for _, x in ipairs(n.args) do
      if not is_folded(x) then break end
      fs[#fs + 1] = g:thunk(x)
      risky = risky or may_be_undefined(x)
    end
    if risky then out[#out + 1] = "fold_text(" .. concat(fs, ", ") .. ")" end
  elseif (k == "and" or k == "or") and is_folded(n.l) and may_be_undefined(n.l) then
    out[#out + 1] = "fold_truth(" .. g:thunk(n.l) .. ")"
  elseif k == "cond" and is_folded(n.test) and may_be_undefined(n.test) then
    out[#out + 1] = "fold_truth(" .. g:thunk(n.test) .. ")"
  elseif k == "dict" and opt then
    -- Dict.as_const (a dict literal not below a folded node is not folded): each pair computed, then its key hashed, until one is not constant
    local fs, risky = {}, false
    for _, it in ipairs(n.items) do
      if not (is_folded(it.key) and is_folded(it.value)) then break end
      fs[#fs + 1] = g:thunk(it.key)
      fs[#fs + 1] = g:thunk(it.value)
      risky = risky or may_be_unhashable(it.key)
    end
    if risky then out[#out + 1] = "fold_keys(" .. concat(fs, ", ") .. ")" end
  end
end
local function fold_walk_body(g, body, out)
  for _, st in ipairs(body) do
    local k = st.k
    if k == "output" then
      -- Jinja first tries to compute a `{{ }}` of a template whole and writes the text
      -- of a value it gets; only when that fails does the optimizer fold it
      local checks = {}
      fold_walk(g, st.e, checks)
      if #checks > 0 and is_folded(st.e) then
        out[#out + 1] = "fold_unless_text(" .. g:thunk(st.e) .. ", function()\n" ..
          concat(checks, "\n") .. "\nend)"
      else
        for _, c in ipairs(checks) do out[#out + 1] = c end
      end
    elseif k == "set" then
      fold_walk(g, st.e, out)
    elseif k == "if" then
      for _, br in ipairs(st.branches) do
        fold_walk(g, br.test, out)
        fold_walk_body(g, br.body, out)
      end
      if st.else_ then fold_walk_body(g, st.else_, out) end
    elseif k == "for" then
      fold_walk(g, st.iter, out)
      if st.test then fold_walk(g, st.test, out) end
      fold_walk_body(g, st.body, out)
      if st.else_ then fold_walk_body(g, st.else_, out) end
    elseif k == "with" then
      for _, v in ipairs(st.values) do fold_walk(g, v, out) end
      fold_walk_body(g, st.body, out)
    elseif k == "setblock" or k == "filterblock" then
      fold_walk_body(g, st.body, out)
      if st.filter then fold_walk(g, st.filter, out) end
    end
  end
end
-- the checks as code run once by the compiled function (`folds_checked` is the chunk's)
local function fold_code(checks)
  if #checks == 0 then return "" end
  return "if not folds_checked then\n" .. concat(checks, "\n") .. "\nfolds_checked = true\nend\n"
end

-- Gen:ex (the YAQL generator's) runs ex_node at most MAX_NESTING deep: chains such as
-- `a.b.c` or `x|f|g` parse in a loop but generate nested code.
function Gen:ex_node(n)
  local k = n.k
  if k == "const" then
    local v = n.v
    if v == rt.null then return "null" end
    if v == true then return "true" elseif v == false then return "false" end
    if type(v) == "string" then return lua_str(v) end
    return lua_num(v)
  elseif k == "name" then
    return self:lookup(n.v)
  elseif k == "tuple" or k == "list" then
    local es = self:exlist(n.items)
    return (k == "tuple" and "T({" or "Lst({") .. concat(es, ", ") .. "})"
  elseif k == "dict" then
    local nodes = {}
    for _, it in ipairs(n.items) do nodes[#nodes + 1] = it.key; nodes[#nodes + 1] = it.value end
    local es = self:exlist(nodes)
    return "mkdict(" .. concat(es, ", ") .. ")"
  elseif k == "getattr" then
    return "getattr(" .. self:ex(n.e) .. ", " .. lua_str(n.name) .. ")"
  elseif k == "getitem" then
    if n.key.k == "slice" then
      local s = n.key
      local nodes = {n.e, s.a or {k = "const", v = rt.null}, s.b or {k = "const", v = rt.null}, s.c or {k = "const", v = rt.null}}
      local es = self:exlist(nodes)
      return "slice(" .. concat(es, ", ") .. ")"
    end
    local es = self:exlist({n.e, n.key})
    return "getitem(" .. es[1] .. ", " .. es[2] .. ")"
  elseif k == "slice" then
    err("unsupported", "slice outside a subscript", n.pos)
  elseif k == "call" then
    return self:call(n)
  elseif k == "filter" then
    return self:filter(n)
  elseif k == "test" then
    return self:test(n)
  elseif k == "not" then
    return "(not truthy(" .. self:ex(n.e) .. "))"
  elseif k == "neg" then
    return "neg(" .. self:ex(n.e) .. ")"
  elseif k == "pos" then
    return "pos(" .. self:ex(n.e) .. ")"
  elseif k == "bin" then
    if n.op == "**" and is_folded(n.l) and not is_folded(n.r) then
      -- Jinja writes a folded negative constant without parentheses into the Python it
      -- generates, so `-1 ** x` runs as -(1 ** x) when x is not a constant
      local lv = folded_number(n.l)
      if lv then
        if written_negative(lv) then
          return "neg(pow(" .. lua_num(-lv) .. ", " .. self:ex(n.r) .. "))"
        end
      elseif not (n.l.k == "list" or n.l.k == "tuple" or n.l.k == "dict" or n.l.k == "concat") then
        -- a constant only known when computed (`(-0.5 | round) ** x`)
        local es = self:exlist({n.l, n.r})
        return "folded_pow(" .. es[1] .. ", " .. es[2] .. ")"
      end
    end
    local es = self:exlist({n.l, n.r})
    return BINOPS[n.op] .. "(" .. es[1] .. ", " .. es[2] .. ")"
  elseif k == "concat" then
    local es = self:exlist(n.args)
    return "cat(" .. concat(es, ", ") .. ")"
  elseif k == "and" or k == "or" then
    return self:and_or(k, n.l, n.r)
  elseif k == "compare" then
    return self:compare(n)
  elseif k == "cond" then
    self.soft = self.soft + 1
    local r = self:condexpr(n)
    self.soft = self.soft - 1
    return r
  end
  err("unsupported", "unsupported Jinja construct '" .. tostring(k) .. "'", n.pos)
end

function Gen:condexpr(n)
  do
    local t = self:tmp()
    self:emit("local " .. t)
    local c = self:ex(n.test)
    self:emit("if truthy(" .. c .. ") then")
    local a = self:ex(n.a)
    self:emit(t .. " = " .. a .. " else")
    if n.b then
      local b = self:ex(n.b)
      self:emit(t .. " = " .. b .. " end")
    else
      self:emit(t .. " = cond_undefined end")
    end
    return t
  end
end

function Gen:compare(n)
  do
    if #n.ops == 1 then
      local es = self:exlist({n.e, n.ops[1].e})
      return "c_" .. n.ops[1].op .. "(" .. es[1] .. ", " .. es[2] .. ")"
    end
    local r = self:tmp()
    local left = self:tmp()
    self:emit("local " .. r .. " = false")
    self:emit("local " .. left .. " = " .. self:ex(n.e))
    self:emit("repeat")
    for _, o in ipairs(n.ops) do
      local rhs = self:fix(self:ex(o.e))
      self:emit(r .. " = c_" .. o.op .. "(" .. left .. ", " .. rhs .. ")")
      self:emit("if not " .. r .. " then break end")
      self:emit(left .. " = " .. rhs)
    end
    self:emit("until true")
    return r
  end
end

function Gen:call(n)
  local f = n.f
  if f.k == "name" and not self:is_bound(f.v) then
    local name = f.v
    if L.MISTRAL[name] then
      local argt, kw = self:args(n.a)
      return "MISTRAL[" .. lua_str(name) .. "](D, " .. argt .. ", " .. kw .. ")"
    end
    if L.GLOBALS[name] then
      local argt, kw = self:args(n.a)
      return "G[" .. lua_str(name) .. "].call(" .. argt .. ", " .. kw .. ")"
    end
  end
  if f.k == "getattr" then
    local argt, kw, pres = self:args(n.a, {f.e})
    return "callattr(" .. pres[1] .. ", " .. lua_str(f.name) .. ", " .. argt .. ", " .. kw .. ")"
  end
  local argt, kw, pres = self:args(n.a, {f})
  return "call(" .. pres[1] .. ", " .. argt .. ", " .. kw .. ")"
end

function Gen:filter(n, value_expr)
  local name = n.name
  local argt, kw, pres
  if value_expr then
    argt, kw = self:args(n.a)
    pres = {value_expr}
  else
    argt, kw, pres = self:args(n.a, {n.e})
  end
  if L.filters[name] then
    self.used_f[name] = true
    local a = n.a
    local plain = #a.args == 0 and not a.dyn_args and not a.dyn_kwargs
    -- the idiom map(attribute='name') | list, without building arguments each time
    if plain and name == "list" and #a.kwargs == 0 then return "list_of(" .. pres[1] .. ")" end
    if plain and name == "map" and #a.kwargs == 1 and a.kwargs[1].key == "attribute" and
      a.kwargs[1].value.k == "const" and type(a.kwargs[1].value.v) == "string" then
      local getter = self:const("L.attrgetter(" .. lua_str(a.kwargs[1].value.v) .. ")")
      return "map_attr(" .. pres[1] .. ", " .. getter .. ")"
    end
    return "F[" .. lua_str(name) .. "](" .. pres[1] .. ", " .. argt .. ", " .. kw .. ", D)"
  end
  if not L.MISTRAL[name] and not n.soft and self.soft == 0 then self.checks[name] = true end
  return "dyn_filter(" .. lua_str(name) .. ", " .. pres[1] .. ", " .. argt .. ", " .. kw .. ", D)"
end

function Gen:test(n)
  local name = n.name
  if name == "defined" and #n.a.args == 0 and #n.a.kwargs == 0 then
    return "(getmetatable(" .. self:ex(n.e) .. ") ~= Undefined)"
  elseif name == "undefined" and #n.a.args == 0 and #n.a.kwargs == 0 then
    return "(getmetatable(" .. self:ex(n.e) .. ") == Undefined)"
  elseif name == "none" and #n.a.args == 0 and #n.a.kwargs == 0 then
    return "(" .. self:ex(n.e) .. " == null)"
  end
  local argt, kw, pres = self:args(n.a, {n.e})
  if L.tests[name] then
    return "Tst[" .. lua_str(name) .. "](" .. pres[1] .. ", " .. argt .. ", " .. kw .. ")"
  end
  if not n.soft and self.soft == 0 then self.tchecks[name] = true end
  return "call_test(" .. lua_str(name) .. ", " .. pres[1] .. ", " .. argt .. ", " .. kw .. ")"
end

-- statements ----------------------------------------------------------
local function collect_assigned(body, acc)
  for _, st in ipairs(body) do
    if st.k == "set" or st.k == "setblock" then
      local function add(t)
        if t.k == "name" then acc[#acc + 1] = t.v; acc[t.v] = true
        elseif t.k == "tuple" then for _, x in ipairs(t.items) do add(x) end end
      end
      add(st.target)
    elseif st.k == "if" then
      for _, b in ipairs(st.branches) do collect_assigned(b.body, acc) end
      if st.else_ then collect_assigned(st.else_, acc) end
    end
  end
  return acc
end

-- open a new scope frame declaring the variables assigned in `body`
function Gen:open_frame(body, extra_vars)
  local frame = {vars = {}, parent = self.frame}
  for name, lv in pairs(extra_vars or {}) do frame.vars[name] = lv end
  local assigned = collect_assigned(body, {})
  local decls = {}
  for _, name in ipairs(assigned) do
    if not frame.vars[name] then
      local lv = self:var_local(name)
      decls[#decls + 1] = {name = name, lv = lv}
    end
  end
  for _, d in ipairs(decls) do
    -- initial value: the enclosing binding (Jinja resolves the outer value)
    local init
    if self.frame.root and not self:is_bound(d.name) then
      init = "resolve(D, " .. lua_str(d.name) .. ")"
    else
      init = self:lookup(d.name)
    end
    self:emit("local " .. d.lv .. " = " .. init)
    frame.vars[d.name] = d.lv
  end
  self.frame = frame
  return frame
end
function Gen:close_frame(frame) self.frame = frame.parent end

function Gen:output(e)
  self:emit(self.n .. " = " .. self.n .. " + 1; " .. self.out .. "[" .. self.n .. "] = " .. e)
end

function Gen:assign(target, valexpr)
  if target.k == "name" then
    local f = self.frame
    local lv = f.vars[target.v]
    if not lv then
      lv = self:var_local(target.v)
      self:emit("local " .. lv)
      f.vars[target.v] = lv
    end
    self:emit(lv .. " = " .. valexpr)
  elseif target.k == "tuple" then
    local t = self:tmp()
    self:emit("local " .. t .. " = unpack(" .. valexpr .. ", " .. #target.items .. ")")
    for i, x in ipairs(target.items) do self:assign(x, t .. "[" .. i .. "]") end
  elseif target.k == "nsref" then
    self:emit("ns_set(" .. self:lookup(target.name) .. ", " .. lua_str(target.attr) .. ", " .. valexpr .. ")")
  end
end

-- render `body` into a fresh buffer, returns the Lua expression of its text
function Gen:capture(body)
  local out, n = self.out, self.n
  local b, c = self:tmp(), self:tmp()
  self:emit("local " .. b .. ", " .. c .. " = {}, 0")
  self.out, self.n = b, c
  self:block(body)
  self.out, self.n = out, n
  return "concat(" .. b .. ", \"\", 1, " .. c .. ")"
end

function Gen:stmt(st)
  local k = st.k
  self:emit("S.pos = " .. (st.pos or 0))
  if k == "data" then
    self:output(lua_str(st.v))
  elseif k == "output" then
    local e = self:ex(st.e)
    self:output("tostr(" .. e .. ")")
  elseif k == "if" then
    -- if/elif chain with statements in tests: nested ifs
    self.soft = self.soft + 1
    local depth = 0
    for i, br in ipairs(st.branches) do
      local c = self:ex(br.test)
      self:emit("if truthy(" .. c .. ") then")
      self:block(br.body)
      self:emit("else")
      depth = depth + 1
    end
    if st.else_ then self:block(st.else_) end
    for _ = 1, depth do self:emit("end") end
    self.soft = self.soft - 1
  elseif k == "for" then
    self:emit("do")
    local it = self:ex(st.iter)
    local items = self:tmp()
    self:emit("local " .. items .. " = loop_items(" .. it .. ")")
    local function bind_target(src)
      local vars = {}
      local function names(t)
        if t.k == "name" then vars[t.v] = self:var_local(t.v)
        elseif t.k == "tuple" then for _, x in ipairs(t.items) do names(x) end end
      end
      names(st.target)
      local frame = {vars = {}, parent = self.frame}
      for nm, lv in pairs(vars) do frame.vars[nm] = lv end
      local lvs = {}
      for _, lv in pairs(vars) do lvs[#lvs + 1] = lv end
      table.sort(lvs)
      if #lvs > 0 then self:emit("local " .. concat(lvs, ", ")) end
      local function assign(t, v)
        if t.k == "name" then self:emit(vars[t.v] .. " = " .. v)
        else
          local tt = self:tmp()
          self:emit("local " .. tt .. " = unpack(" .. v .. ", " .. #t.items .. ")")
          for i, x in ipairs(t.items) do assign(x, tt .. "[" .. i .. "]") end
        end
      end
      assign(st.target, src)
      return frame
    end
    if st.test then
      local filtered = self:tmp()
      local i = self:tmp()
      self:emit("local " .. filtered .. " = {}")
      self:emit("for " .. i .. " = 1, #" .. items .. " do")
      local frame = bind_target(items .. "[" .. i .. "]")
      self.frame = frame
      local c = self:ex(st.test)
      self:emit("if truthy(" .. c .. ") then " .. filtered .. "[#" .. filtered .. " + 1] = " .. items .. "[" .. i .. "] end")
      self.frame = frame.parent
      self:emit("end")
      items = filtered
    end
    local loopv = self:tmp()
    self:emit("local " .. loopv .. " = new_loop(" .. items .. ")")
    local i = self:tmp()
    self:emit("for " .. i .. " = 1, #" .. items .. " do")
    self:emit(loopv .. ".i = " .. i)
    local tframe = bind_target(items .. "[" .. i .. "]")
    tframe.vars["loop"] = loopv
    self.frame = tframe
    local bframe = self:open_frame(st.body)
    self:block(st.body)
    self:close_frame(bframe)
    self.frame = tframe.parent
    self:emit("end")
    if st.else_ and #st.else_ > 0 then
      self:emit("if #" .. items .. " == 0 then")
      local eframe = self:open_frame(st.else_)
      self:block(st.else_)
      self:close_frame(eframe)
      self:emit("end")
    end
    self:emit("end")
  elseif k == "set" then
    local e = self:ex(st.e)
    self:assign(st.target, e)
  elseif k == "setblock" then
    local text = self:capture(st.body)
    if st.filter then
      text = self:filter_chain(st.filter, text)
    end
    self:assign(st.target, text)
  elseif k == "with" then
    self:emit("do")
    local vals = {}
    for i, v in ipairs(st.values) do vals[i] = self:fix(self:ex(v)) end
    local frame = {vars = {}, parent = self.frame}
    for i, t in ipairs(st.targets) do
      if t.k ~= "name" then err("unsupported", "tuple targets in {% with %}", st.pos) end
      local lv = self:var_local(t.v)
      self:emit("local " .. lv .. " = " .. vals[i])
      frame.vars[t.v] = lv
    end
    self.frame = frame
    local bframe = self:open_frame(st.body)
    self:block(st.body)
    self:close_frame(bframe)
    self.frame = frame.parent
    self:emit("end")
  elseif k == "filterblock" then
    local text = self:capture(st.body)
    self:output("tostr(" .. self:filter_chain(st.filter, text) .. ")")
  else
    err("unsupported", "unsupported Jinja statement '" .. tostring(k) .. "'", st.pos)
  end
end

-- apply a parsed filter chain (innermost e == nil) to a value expression
function Gen:filter_chain(f, value)
  if f.e then value = self:filter_chain(f.e, value) end
  return self:fix(self:filter(f, value))
end

function Gen:block(body)
  for _, st in ipairs(body) do self:stmt(st) end
end

-- What compiled templates call for Jinja's compile-time folding (fold_walk above)
local FOLD = {}
local undef_fail, check_hashable, neg, pow, Undefined = rt.undef_fail, L.check_hashable, L.neg, L.pow, rt.Undefined
-- `b ** e` where Jinja folded b: a negative number is written unparenthesised
function FOLD.folded_pow(b, e)
  if type(b) == "number" and written_negative(b) then return neg(pow(-b, e)) end
  return pow(b, e)
end
-- the value of a folded node, or nil where Jinja's as_const fails (not a constant)
local function fold_value(f)
  local ok, v = pcall(f)
  if ok then return v end
  return nil
end
local function fold_undefined(v)
  if getmetatable(v) == Undefined and v.strict then undef_fail(v) end
end
function FOLD.fold_text(...)
  for i = 1, select("#", ...) do
    local v = fold_value((select(i, ...)))
    if v == nil then return end
    fold_undefined(v)
  end
end
function FOLD.fold_unless_text(f, checks)
  local ok, v = pcall(f)
  if ok and not (getmetatable(v) == Undefined and v.strict) then return end
  checks()
end
function FOLD.fold_truth(f)
  local v = fold_value(f)
  if v ~= nil then fold_undefined(v) end
end
function FOLD.fold_keys(...)
  for i = 1, select("#", ...), 2 do
    local k = fold_value((select(i, ...)))
    if k == nil or fold_value((select(i + 1, ...))) == nil then return end
    check_hashable(k)
  end
end

local HEADER = [[
local R, L, S, FOLD = ...
local null, truthy, math_mininteger, getmetatable = R.null, R.truthy, R.mininteger, R.getmetatable
local setmetatable, List, Tuple, Undefined = R.setmetatable, R.List, R.Tuple, R.Undefined
local function Lst(t) return setmetatable(t, List) end
local function T(t) return setmetatable(t, Tuple) end
local concat = L.concat
local add, sub, mul, div, floordiv, mod, pow, neg, pos, cat =
  L.add, L.sub, L.mul, L.div, L.floordiv, L.mod, L.pow, L.neg, L.pos, L.cat
local c_eq, c_ne, c_lt, c_le, c_gt, c_ge, c_in, c_notin = L.eq, L.ne, L.lt, L.le, L.gt, L.ge, L.op_in, L.op_notin
local getattr, getitem, slice, call, callattr = L.getattr, L.getitem, L.slice, L.call, L.callattr
local mkdict, dynargs, dynkw, tostr = L.mkdict, L.dynargs, L.dynkw, L.tostr
local F, Tst, G, MISTRAL = L.filters, L.tests, L.GLOBALS, L.MISTRAL
local dyn_filter, call_test, resolve, undef_name = L.dyn_filter, L.call_test, L.resolve, L.undef_name
local loop_items, new_loop, unpack, ns_set = L.loop_items, L.new_loop, L.unpack, L.ns_set
local cond_undefined = L.cond_undefined
local list_of, map_attr = L.list_of, L.map_attr
local folded_pow, fold_text, fold_truth, fold_keys, fold_unless_text =
  FOLD.folded_pow, FOLD.fold_text, FOLD.fold_truth, FOLD.fold_keys, FOLD.fold_unless_text
local folds_checked = false
]]

local function checks_code(g)
  local lines = {}
  local names = {}
  for name in pairs(g.checks) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    lines[#lines + 1] = "if not L.filter_exists(" .. lua_str(name) .. ") then R.raise(\"eval\", " ..
      lua_str("No filter named '" .. name .. "'.") .. ") end"
  end
  names = {}
  for name in pairs(g.tchecks) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    lines[#lines + 1] = "if not L.test_exists(" .. lua_str(name) .. ") then R.raise(\"eval\", " ..
      lua_str("No test named '" .. name .. "'.") .. ") end"
  end
  return concat(lines, "\n")
end

local function load_src(src, name)
  local host = M.host
  local loader = host and host.load
  if not loader then error("glarex: M.host.load is not set", 0) end
  local chunk, lerr = loader(src, name)
  if not chunk then rt.load_error("Jinja", lerr, src) end
  return chunk
end

-- Whether evaluating an expression takes time bounded by the size of the data it
-- reads: constants, names, literals, attribute and item lookup, the filters
-- jinjalib marks linear (L.linear_filters), map(attribute=...) and map of such a
-- filter, select/reject/selectattr/rejectattr with a test it marks linear, `not`,
-- unary -/+, `x if c else y`, ~ (each operand rendered once), + - / // ** (numbers,
-- or one copy of each operand's top level; ** of numbers squares at most 63 times),
-- * by a number written in the template (a repetition the template bounds), % with a
-- format written in the template, without * (its widths are the template's), and
-- one comparison with a constant scalar (never a walk of two nested values: shared
-- values make that exponential). No call, `in`, or other operator, filter or test:
-- those may iterate without bound (over a range, nested) or compare nested values.
-- The embedder runs bounded templates without counting instructions.
local bounded_stmt
local bounded

local ARITH = {["+"] = true, ["-"] = true, ["/"] = true, ["//"] = true, ["**"] = true}
local ORDER = {eq = true, ne = true, lt = true, le = true, gt = true, ge = true}
local function scalar_const(n)
  return n.k == "const" and (type(n.v) ~= "table" or n.v == rt.null)
end

-- The operator node `n` (k = "bin"), its operands bounded.
local function bounded_bin(n)
  if not (bounded(n.l) and bounded(n.r)) then return false end
  local op, l, r = n.op, n.l, n.r
  if ARITH[op] then return true end
  if op == "*" then
    return (l.k == "const" and type(l.v) == "number") or (r.k == "const" and type(r.v) == "number")
  end
  return op == "%" and l.k == "const" and type(l.v) == "string" and not l.v:find("*", 1, true)
end

-- A constant string naming something in `set`.
local function const_in(n, set)
  return n and n.k == "const" and type(n.v) == "string" and set[n.v] ~= nil
end

-- Tests that compare a value with their argument: with a constant scalar, one step
-- (rt.eq, rt.lt… never walk a nested value against a scalar).
local SCALAR_TESTS = {["=="] = true, eq = true, equalto = true, ["!="] = true, ne = true,
  [">"] = true, gt = true, greaterthan = true, [">="] = true, ge = true, ["<"] = true,
  lt = true, lessthan = true, ["<="] = true, le = true}

-- The glare functions: one host call, whose work the host bounds (a fetch has the
-- evaluation's deadline; what it returns counts against the memory limit).
local HOST_CALLS = {glare = true, glare_path = true, glare_b64 = true, glare_info = true}

-- The filter `n` (its input and arguments bounded, no * or ** arguments).
local function bounded_filter(n)
  local a, name = n.a, n.name
  if a.dyn_args or a.dyn_kwargs or not bounded(n.e) then return false end
  for _, x in ipairs(a.args) do if not bounded(x) then return false end end
  for _, kv in ipairs(a.kwargs) do if not bounded(kv.value) then return false end end
  local nargs, nkw = #a.args, #a.kwargs
  if name == "map" then
    if nargs == 0 then
      if nkw == 0 then return false end
      for _, kv in ipairs(a.kwargs) do
        if kv.key ~= "attribute" and kv.key ~= "default" then return false end
      end
      return true
    end
    return nargs == 1 and nkw == 0 and const_in(a.args[1], L.linear_filters) and
      L.linear_filters[a.args[1].v] == 0
  end
  if name == "select" or name == "reject" or name == "selectattr" or name == "rejectattr" then
    local first = (name == "selectattr" or name == "rejectattr") and 2 or 1
    if nkw > 0 or nargs > first + 1 or nargs < first - 1 then return false end
    if nargs == first + 1 then
      -- a comparison of each item with one constant scalar (`"equalto", "ubuntu"`)
      return const_in(a.args[first], SCALAR_TESTS) and scalar_const(a.args[first + 1])
    end
    return nargs < first or const_in(a.args[first], L.linear_tests)
  end
  -- arguments by name mean what the same ones by position do
  local most = L.linear_filters[name]
  return most ~= nil and nargs + nkw <= most
end

function bounded(n)
  local k = n.k
  if k == "const" or k == "name" then return true end
  if k == "getattr" then return bounded(n.e) end
  if k == "getitem" then return n.key.k ~= "slice" and bounded(n.e) and bounded(n.key) end
  if k == "tuple" or k == "list" then
    for _, x in ipairs(n.items) do if not bounded(x) then return false end end
    return true
  end
  if k == "dict" then
    for _, it in ipairs(n.items) do
      if not (bounded(it.key) and bounded(it.value)) then return false end
    end
    return true
  end
  if k == "filter" then return bounded_filter(n) end
  if k == "bin" then return bounded_bin(n) end
  if k == "not" or k == "neg" or k == "pos" then return bounded(n.e) end
  if k == "and" or k == "or" then return bounded(n.l) and bounded(n.r) end
  if k == "cond" then return bounded(n.test) and bounded(n.a) and (n.b == nil or bounded(n.b)) end
  if k == "concat" then
    for _, x in ipairs(n.args) do if not bounded(x) then return false end end
    return true
  end
  if k == "compare" then
    local c = n.ops[1]
    return #n.ops == 1 and ORDER[c.op] and (scalar_const(n.e) or scalar_const(c.e)) and
      bounded(n.e) and bounded(c.e)
  end
  if k == "test" then
    -- a test that looks at its value once, or compares it with a constant scalar
    local a = n.a
    if a.dyn_args or a.dyn_kwargs or #a.kwargs > 0 or not bounded(n.e) then return false end
    if #a.args == 0 then return L.linear_tests[n.name] ~= nil end
    return #a.args == 1 and SCALAR_TESTS[n.name] ~= nil and scalar_const(a.args[1])
  end
  if k == "call" then
    -- env() and the glare functions: a lookup and a host call (a bounded template
    -- assigns no variable, so these names are Mistral's and the host's)
    local f, a = n.f, n.a
    if f.k ~= "name" or a.dyn_args or a.dyn_kwargs then return false end
    if f.v == "env" then return #a.args == 0 and #a.kwargs == 0 end
    if not HOST_CALLS[f.v] then return false end
    for _, x in ipairs(a.args) do if not bounded(x) then return false end end
    for _, kv in ipairs(a.kwargs) do if not bounded(kv.value) then return false end end
    return true
  end
  return false
end
local function bounded_body(body)
  for _, st in ipairs(body) do if not bounded_stmt(st) then return false end end
  return true
end
function bounded_stmt(st)
  if st.k == "data" then return true end
  if st.k == "output" then return bounded(st.e) end
  if st.k == "if" then
    for _, br in ipairs(st.branches) do
      if not (bounded(br.test) and bounded_body(br.body)) then return false end
    end
    return st.else_ == nil or bounded_body(st.else_)
  end
  return false
end

-- expression only (compile_expression) -> function(D) returning the value, its
-- source, and whether it is bounded
function jinja.compile_expression(src)
  src = normalize(src)
  local toks = lex_expression(src)
  local p = Parser.new(toks)
  local e = p:expression()
  if p:cur().t ~= "eof" then p:fail("chunk after expression", p:cur()) end
  local g = Gen.new()
  local folds = {}
  fold_walk(g, e, folds)
  local ex = g:ex(e)
  local out = {HEADER, consts_code(g), "return function(D)\n", fold_code(folds), checks_code(g), "\n"}
  for _, line in ipairs(g.buf) do out[#out + 1] = line .. "\n" end
  out[#out + 1] = "return " .. ex .. "\nend\n"
  local code = concat(out)
  return load_src(code, "=jinja")(rt, L, {}, FOLD), code, bounded(e)
end

-- full template -> function(D) returning the rendered string, its source, the
-- state (position of the running statement) and whether it is bounded
function jinja.compile_render(src)
  src = normalize(src)
  local toks = lex_template(src)
  local p = Parser.new(toks)
  local body = p:subparse(nil)
  local g = Gen.new()
  local folds = {}
  fold_walk_body(g, body, folds)
  g:emit("local out, n = {}, 0")
  local frame = g:open_frame(body)
  g:block(body)
  g:close_frame(frame)
  local out = {HEADER, consts_code(g), "return function(D)\n", fold_code(folds), checks_code(g), "\n"}
  for _, line in ipairs(g.buf) do out[#out + 1] = line .. "\n" end
  out[#out + 1] = "return concat(out, \"\", 1, n)\nend\n"
  local code = concat(out)
  local state = {pos = 1}
  return load_src(code, "=jinja")(rt, L, state, FOLD), code, state, bounded_body(body)
end

------------------------------------------------------------------------
-- Mistral's InlineJinjaEvaluator
------------------------------------------------------------------------
function jinja.compile_template(text)
  local T = M.template
  local matches = T.findall(text, "{{", "}}")
  if #matches == 0 then
    -- only {% %} blocks: Mistral fails on patterns[0] (list index out of range)
    local ok, e = pcall(jinja.compile_render, text)
    if not ok then T.rethrow(e, "jinja", text, 0, text) end
    return {kind = "jinja", text = text, eval = function()
      T.rethrow(setmetatable({kind = "eval", message = "list index out of range"}, rt.ErrMT), "jinja", text, 0, text)
    end}
  end
  local m = matches[1]
  if m.s == 1 and m.e == #text then
    local inner = ssub(text, 3, -3)
    local ok, fn, _, is_bounded = pcall(jinja.compile_expression, inner)
    if not ok then T.rethrow(fn, "jinja", text, 2, text) end
    local finalize, Undefined, undef_fail = L.finalize, rt.Undefined, rt.undef_fail
    -- the value, then the JSON data it becomes: one protected call. No Markup
    -- outlives an evaluation (its result is text), so the Markup checks start off.
    local function run(ctx)
      rt.markups = false
      local v = fn(ctx)
      if getmetatable(v) == Undefined and v.strict then undef_fail(v) end
      return finalize(v)
    end
    return {kind = "jinja", text = text, bounded = is_bounded, eval = function(ctx)
      local ok2, v = pcall(run, ctx)
      if not ok2 then T.rethrow(v, "jinja", text, 2, text) end
      return v
    end}
  end
  local ok, fn, _, state, is_bounded = pcall(jinja.compile_render, text)
  if not ok then T.rethrow(fn, "jinja", text, 0, text) end
  return {kind = "jinja", text = text, bounded = is_bounded, eval = function(ctx)
    state.pos = 1
    rt.markups = false
    local ok2, v = pcall(fn, ctx)
    if not ok2 then
      if type(v) == "table" and v.offset == nil and v.pos == nil then v.pos = state.pos end
      T.rethrow(v, "jinja", text, 0, text)
    end
    return v
  end}
end

return jinja
