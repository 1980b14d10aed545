-- glarex yaql: YAQL compiler.  Lexer (yaql 2.0 token rules, PLY priority
-- order), parser (yaql's LALR precedence table reproduced with a Pratt
-- parser) and code generator (straight-line Lua calling lua/yaqllib.lua).
-- compile(text) -> function(data) returning YAQL's internal value.
local M = ...
local rt, Y = M.runtime, M.yaqllib
local yaql = {}

local sbyte, ssub, sfind, sformat, srep = string.byte, string.sub, string.find, string.format, string.rep
local concat = table.concat
local MAX_NESTING = rt.MAX_NESTING

local function err(kind, msg, pos)
  error(setmetatable({kind = kind, message = msg, pos = pos}, rt.ErrMT), 0)
end

------------------------------------------------------------------------
-- Lexer
------------------------------------------------------------------------
local OPERATOR_WORDS = {mod = true, ["in"] = true, ["not"] = true, ["and"] = true, ["or"] = true}
local SYMBOLS = { -- longest first (PLY sorts string rules by regex length)
  "?.", "=~", "!~", "->", "=>", ">=", "<=", "!=", ".", "*", "+", "-", "[", "/", ">", "<", "=", "{",
  "(", ")", "]", ",", "}",
}

local function is_word_byte(b)
  return b and (b >= 128 or (b >= 48 and b <= 57) or (b >= 65 and b <= 90) or (b >= 97 and b <= 122) or b == 95)
end
local function is_alpha_byte(b)
  return b and (b >= 128 or (b >= 65 and b <= 90) or (b >= 97 and b <= 122) or b == 95)
end
local function is_digit_byte(b) return b and b >= 48 and b <= 57 end

local function cp_pos(s, bytepos) -- 0-based code point position of a 1-based byte position
  if rt.is_ascii(s) then return bytepos - 1 end
  return utf8.len(s, 1, bytepos - 1) or (bytepos - 1)
end

-- decode yaql string escapes (python unicode-escape on recognised sequences)
local simple_esc = {["\\"] = "\\", ["'"] = "'", ['"'] = '"', a = "\a", b = "\b", f = "\f", n = "\n",
  r = "\r", t = "\t", v = "\v"}
local function decode_escapes(s, pos)
  if not sfind(s, "\\", 1, true) then return s end
  local out, n, i, len = {}, 0, 1, #s
  while i <= len do
    local a = sfind(s, "\\", i, true)
    if not a then n = n + 1; out[n] = ssub(s, i); break end
    n = n + 1; out[n] = ssub(s, i, a - 1)
    local c = ssub(s, a + 1, a + 1)
    local function hexesc(k)
      -- \xHH, \uHHHH, \UHHHHHHHH: exactly k chars must follow
      local h = ssub(s, a + 2, a + 1 + k)
      if #h < k then return nil end
      if not h:match("^%x+$") or #h ~= k then
        err("syntax", "Lexical error: (unicode error) 'unicodeescape' codec can't decode bytes: truncated escape", pos)
      end
      local cp = tonumber(h, 16)
      if cp > 0x10ffff then err("syntax", "Lexical error: illegal Unicode character", pos) end
      if cp >= 0xd800 and cp <= 0xdfff then err("unsupported", "lone surrogate in YAQL string", pos) end
      n = n + 1; out[n] = utf8.char(cp)
      i = a + 2 + k
      return true
    end
    if simple_esc[c] then
      n = n + 1; out[n] = simple_esc[c]; i = a + 2
    elseif c == "x" and hexesc(2) then
    elseif c == "u" and hexesc(4) then
    elseif c == "U" and hexesc(8) then
    elseif c:match("^[0-7]$") then
      local o = s:match("^[0-7][0-7]?[0-7]?", a + 1)
      n = n + 1; out[n] = utf8.char(tonumber(o, 8)); i = a + 1 + #o
    elseif c == "N" and ssub(s, a + 2, a + 2) == "{" and sfind(s, "}", a + 3, true) then
      err("unsupported", "\\N{...} escapes are not supported", pos)
    else
      n = n + 1; out[n] = "\\"; i = a + 1
    end
  end
  return concat(out)
end

local function lex(src)
  local toks, n = {}, 0
  local i, len = 1, #src
  local function push(t, v, p) n = n + 1; toks[n] = {t = t, v = v, pos = p} end
  while true do
    -- t_ignore
    while i <= len do
      local b = sbyte(src, i)
      if b == 32 or b == 9 or b == 13 or b == 10 then i = i + 1 else break end
    end
    if i > len then break end
    local b = sbyte(src, i)
    local c = ssub(src, i, i)
    local prev = i > 1 and sbyte(src, i - 1) or nil
    local matched = false
    if c == "$" then -- t_DOLLAR  \$\w*
      local j = i + 1
      while is_word_byte(sbyte(src, j)) do j = j + 1 end
      push("DOLLAR", ssub(src, i + 1, j - 1), i); i = j; matched = true
    elseif is_digit_byte(b) and not is_word_byte(prev) then -- t_NUMBER  \b\d+(\.?\d+)?\b
      local j = i
      while is_digit_byte(sbyte(src, j)) do j = j + 1 end
      local k = j
      if ssub(src, j, j) == "." and is_digit_byte(sbyte(src, j + 1)) then
        k = j + 1
        while is_digit_byte(sbyte(src, k)) do k = k + 1 end
      end
      if not is_word_byte(sbyte(src, k)) then
        local text = ssub(src, i, k - 1)
        local v
        if sfind(text, ".", 1, true) then v = tonumber(text) * 1.0
        else
          v = math.tointeger(tonumber(text))
          if not v or sformat("%d", v) ~= text:gsub("^0+(%d)", "%1") then
            err("unsupported", "integer literal beyond 64 bits", i)
          end
        end
        push("NUMBER", v, i); i = k; matched = true
      elseif k ~= j then
        -- \.?\d+ backtracking cannot help; fall through (no match)
      end
    end
    if not matched and is_alpha_byte(b) and not is_word_byte(prev) then
      local j = i + 1
      while is_word_byte(sbyte(src, j)) do j = j + 1 end
      local word = ssub(src, i, j - 1)
      if ssub(src, j, j) == "(" then -- t_FUNC
        push("FUNC", word, i); i = j + 1; matched = true
      elseif ssub(word, 1, 2) ~= "__" then -- t_KEYWORD_STRING
        if OPERATOR_WORDS[word] then push("OP", word, i)
        elseif word == "true" then push("CONST", true, i)
        elseif word == "false" then push("CONST", false, i)
        elseif word == "null" then push("CONST", rt.null, i)
        else push("KEYWORD", word, i) end
        i = j; matched = true
      end
    end
    if not matched and (c == "'" or c == '"' or c == "`") then
      -- quoted strings: q([^q\\]|\\.)*q   ('.' does not match a newline)
      local j = i + 1
      local ok = false
      while j <= len do
        local d = ssub(src, j, j)
        if d == c then ok = true; break end
        if d == "\\" then
          if j + 1 > len or ssub(src, j + 1, j + 1) == "\n" then break end
          -- a multi-byte char after a backslash
          local nb = sbyte(src, j + 1)
          local w = nb >= 0xf0 and 4 or nb >= 0xe0 and 3 or nb >= 0xc0 and 2 or 1
          j = j + 1 + w
        else
          j = j + 1
        end
      end
      if ok then
        local raw = ssub(src, i + 1, j - 1)
        local v
        if c == "`" then v = raw:gsub("\\`", "`") else v = decode_escapes(raw, i) end
        push("STRING", v, i); i = j + 1; matched = true
      end
    end
    if not matched then
      for _, sym in ipairs(SYMBOLS) do
        if ssub(src, i, i + #sym - 1) == sym then
          if sym == "=>" then push("MAPPING", sym, i)
          elseif sym == "(" or sym == ")" or sym == "]" or sym == "," or sym == "}" or sym == "[" or sym == "{" then push(sym, sym, i)
          else push("OP", sym, i) end
          i = i + #sym; matched = true
          break
        end
      end
    end
    if not matched then
      local ch = src:match("^[%z\1-\127\194-\253][\128-\191]*", i) or c
      err("syntax", sformat("Lexical error: illegal character '%s' at position %d", ch, cp_pos(src, i)), i)
    end
  end
  push("EOF", nil, len + 1)
  return toks
end
yaql.lex = lex

------------------------------------------------------------------------
-- Parser
------------------------------------------------------------------------
-- binding powers (higher binds tighter), from yaql's operator table
local INFIX = {
  ["."] = 110, ["?."] = 110,
  ["=~"] = 80, ["!~"] = 80,
  ["*"] = 70, ["/"] = 70, mod = 70,
  ["+"] = 60, ["-"] = 60,
  [">"] = 50, ["<"] = 50, [">="] = 50, ["<="] = 50, ["!="] = 50, ["="] = 50, ["in"] = 50,
  ["and"] = 30, ["or"] = 20, ["->"] = 10,
}
local INDEX_BP = 100
local UNARY_BP = 90   -- unary + and -
local NOT_BP = 40     -- unary not

local function parse(src)
  local toks = lex(src)
  local p = 1
  local function peek() return toks[p] end
  local function unexpected(t)
    if t.t == "EOF" then err("syntax", "Parse error: unexpected end of statement", t.pos) end
    local text
    if t.t == "DOLLAR" then text = "$" .. t.v
    elseif t.t == "CONST" then text = t.v == true and "True" or t.v == false and "False" or "None"
    elseif t.t == "NUMBER" then text = M.pyfmt.num_str(t.v)
    else text = tostring(t.v) end
    err("syntax", sformat("Parse error: unexpected '%s' at position %d of expression '%s'", text, cp_pos(src, t.pos), src), t.pos)
  end
  local function expect(ty)
    local t = toks[p]
    if t.t ~= ty then unexpected(t) end
    p = p + 1
    return t
  end

  local expr

  -- args: returns {pos = {...}, named = {{key=node, value=node}...}}
  local function args(close)
    local a = {pos = {}, named = {}, order = {}}
    if peek().t == close then p = p + 1; return a end
    while true do
      if peek().t == "," then err("unsupported", "unsupported YAQL construct 'empty argument'", peek().pos) end
      local start = peek()
      local e = expr(0)
      if peek().t == "MAPPING" then
        p = p + 1
        local v = expr(0)
        local item = {key = e, value = v, pos = start.pos}
        a.named[#a.named + 1] = item
        a.order[#a.order + 1] = {named = item}
      else
        if #a.named > 0 then unexpected(start) end
        a.pos[#a.pos + 1] = e
        a.order[#a.order + 1] = {pos = e}
      end
      local t = peek()
      if t.t == "," then
        p = p + 1
        if peek().t == close then unexpected(peek()) end
      elseif t.t == close then
        p = p + 1
        return a
      else
        unexpected(t)
      end
    end
  end

  local function primary()
    local t = peek()
    p = p + 1
    local ty = t.t
    if ty == "NUMBER" or ty == "STRING" or ty == "CONST" then return {k = "const", v = t.v, pos = t.pos} end
    if ty == "KEYWORD" then return {k = "keyword", v = t.v, pos = t.pos} end
    if ty == "DOLLAR" then return {k = "var", name = t.v == "" and "1" or t.v, pos = t.pos} end
    if ty == "(" then
      local e = expr(0)
      expect(")")
      return {k = "wrap", e = e, pos = t.pos}
    end
    if ty == "FUNC" then return {k = "call", name = t.v, args = args(")"), pos = t.pos} end
    if ty == "[" then return {k = "list", args = args("]"), pos = t.pos} end
    if ty == "{" then return {k = "map", args = args("}"), pos = t.pos} end
    if ty == "OP" then
      if t.v == "-" or t.v == "+" then
        return {k = "unary", op = t.v, e = expr(UNARY_BP), pos = t.pos}
      elseif t.v == "not" then
        return {k = "unary", op = "not", e = expr(NOT_BP), pos = t.pos}
      end
    end
    p = p - 1
    unexpected(t)
  end

  local depth = 0
  expr = function(min_bp)
    depth = depth + 1
    if depth > MAX_NESTING then rt.nesting_error("expression", peek().pos) end
    local left = primary()
    while true do
      local t = peek()
      if t.t == "[" then
        if INDEX_BP <= min_bp then break end
        p = p + 1
        left = {k = "index", e = left, args = args("]"), pos = t.pos}
      elseif t.t == "OP" and INFIX[t.v] then
        local bp = INFIX[t.v]
        if bp <= min_bp then break end
        p = p + 1
        local right
        if t.v == "->" then right = expr(bp - 1) else right = expr(bp) end
        left = {k = "binary", op = t.v, l = left, r = right, pos = t.pos}
      else
        break
      end
    end
    depth = depth - 1
    return left
  end

  local e = expr(0)
  if peek().t ~= "EOF" then unexpected(peek()) end
  return e
end
yaql.parse = parse

------------------------------------------------------------------------
-- Code generation
------------------------------------------------------------------------
local Gen = {}
Gen.__index = Gen

-- Lua source for a string and a number constant; shared with the Jinja generator
local function lua_str(s) return (sformat("%q", s):gsub("\\\n", "\\n")) end
local function lua_num(x)
  if math.type(x) == "integer" then
    if x == math.mininteger then return "math_mininteger" end
    return sformat("%d", x)
  end
  if x ~= x then return "(0/0)" end
  if x == math.huge then return "(1/0)" elseif x == -math.huge then return "(-1/0)" end
  local s = sformat("%.17g", x)
  if not sfind(s, "[%.eEn]") then s = s .. ".0" end
  return s
end

function Gen.new()
  local g = setmetatable({buf = {}, ntmp = 0, used = {}, uses_vars = false, depth = 0}, Gen)
  g.scope = {vars = {["1"] = "D"}, root = true}
  return g
end

function Gen:emit(s) local b = self.buf; b[#b + 1] = s end
function Gen:tmp()
  self.ntmp = self.ntmp + 1
  return "t" .. self.ntmp
end
function Gen:impl(c)
  self.used[c.id] = true
  return "f" .. c.id
end

-- look a variable up through the lexical scopes
function Gen:lookup(name)
  local s = self.scope
  while s do
    local v = s.vars[name]
    if v then
      if s.lambda and (name == "1" or name == "2") then s.needs[name] = true end
      return v
    end
    if s.root then break end
    s = s.parent
  end
  self.uses_vars = true
  return "getvar(V, " .. lua_str(name) .. ")"
end

-- compile a list of nodes keeping left-to-right evaluation order; shared with the
-- Jinja generator (any generator with `buf`, `ex` and `tmp`)
function Gen:exlist(nodes)
  local exprs = {}
  for i, n in ipairs(nodes) do
    local mark = #self.buf
    local e = self:ex(n)
    if #self.buf > mark and i > 1 then
      -- statements were emitted: hoist earlier non-trivial expressions
      local hoist = {}
      for j = 1, i - 1 do
        local ej = exprs[j]
        if not ej:match("^[%w_]+$") and not ej:match('^"[^"]*"$') then
          local t = self:tmp()
          hoist[#hoist + 1] = "local " .. t .. " = " .. ej
          exprs[j] = t
        end
      end
      for k = #hoist, 1, -1 do table.insert(self.buf, mark + 1, hoist[k]) end
    end
    exprs[i] = e
  end
  return exprs
end

-- `l and r` / `l or r` as Python evaluates them: r only when l does not decide,
-- the value of the last operand evaluated; shared with the Jinja generator
function Gen:and_or(op, l, r)
  local t = self:tmp()
  self:emit("local " .. t .. " = " .. self:ex(l))
  self:emit((op == "and" and "if truthy(" or "if not truthy(") .. t .. ") then")
  local re = self:ex(r)
  self:emit(t .. " = " .. re .. " end")
  return t
end

-- compile node into a lambda: function(a1, a2) ... end
function Gen:lambda(node)
  local outer_buf = self.buf
  local scope = {vars = {["1"] = "a1", ["2"] = "a2"}, parent = self.scope, lambda = true, needs = {}}
  -- unique param names to allow nested lambdas
  self.ntmp = self.ntmp + 1
  local a1, a2 = "p" .. self.ntmp .. "_1", "p" .. self.ntmp .. "_2"
  scope.vars["1"], scope.vars["2"] = a1, a2
  self.scope = scope
  self.buf = {}
  local e = self:ex(node)
  local body = self.buf
  self.buf = outer_buf
  self.scope = scope.parent
  local head = {}
  if scope.needs["1"] then head[#head + 1] = "if " .. a1 .. " == nil then " .. a1 .. " = " .. self:lookup("1") .. " end" end
  if scope.needs["2"] then head[#head + 1] = "if " .. a2 .. " == nil then " .. a2 .. " = " .. self:lookup("2") .. " end" end
  return "function(" .. a1 .. ", " .. a2 .. ") " .. concat(head, " ") .. (#head > 0 and " " or "")
    .. concat(body, " ") .. (#body > 0 and " " or "") .. "return " .. e .. " end"
end

-- resolve a builtin call against the declared signatures
local function resolve(cands, npos, named)
  if not cands then return nil end
  for _, c in ipairs(cands) do
    local ok = true
    local slots, kw = {}, nil
    local nparams = #c.params
    if npos > nparams and not c.varargs then ok = false end
    if ok then
      for i = 1, math.min(npos, nparams) do slots[i] = {pos = i} end
      for _, nm in ipairs(named) do
        local name = nm.name
        local idx
        for i, pn in ipairs(c.params) do if pn == name then idx = i end end
        if idx and idx > npos and not slots[idx] then
          slots[idx] = {named = nm}
        elseif c.kwargs and not idx then
          kw = kw or {}
          kw[#kw + 1] = nm
        else
          ok = false; break
        end
      end
    end
    if ok then
      for i = 1, c.min do if not slots[i] then ok = false; break end end
    end
    if ok then return c, slots, kw end
  end
  return nil
end

function Gen:call_builtin(c, slots, kw, pos_nodes, extra_first)
  -- extra_first: already compiled receiver expression (method form)
  local nparams = #c.params
  local maxslot = 0
  for i = 1, nparams do if slots[i] then maxslot = i end end
  -- evaluation order: positional args in order, then named in source order
  local order = {}
  local npos = #pos_nodes + (extra_first and 1 or 0)
  for i = 1, npos do order[#order + 1] = {slot = i} end
  for i = 1, nparams do
    if slots[i] and slots[i].named then order[#order + 1] = {slot = i} end
  end
  local exprs = {}
  local nodes, kinds = {}, {}
  local function node_for(i)
    if extra_first then
      if i == 1 then return nil end
      return pos_nodes[i - 1]
    end
    return pos_nodes[i]
  end
  for _, o in ipairs(order) do
    local i = o.slot
    local node
    if slots[i] and slots[i].named then node = slots[i].named.value else node = node_for(i) end
    nodes[#nodes + 1] = {slot = i, node = node}
  end
  -- compile non-lazy args in order (lazy ones become lambdas)
  local plain = {}
  for _, it in ipairs(nodes) do
    local lazy = (it.slot <= nparams and c.lazy[it.slot]) or (it.slot > nparams and c.lazy_rest)
    if it.node == nil then
      kinds[#kinds + 1] = "recv"
    elseif lazy then
      kinds[#kinds + 1] = "lazy"
    else
      kinds[#kinds + 1] = "plain"
      plain[#plain + 1] = it.node
    end
  end
  local compiled = self:exlist(plain)
  local pi = 0
  for k, it in ipairs(nodes) do
    if kinds[k] == "recv" then exprs[it.slot] = extra_first
    elseif kinds[k] == "lazy" then exprs[it.slot] = self:lambda(it.node)
    else pi = pi + 1; exprs[it.slot] = compiled[pi] end
  end
  local kwexpr
  if kw then
    local parts = {}
    local kwnodes = {}
    for _, nm in ipairs(kw) do kwnodes[#kwnodes + 1] = nm.value end
    local kwc = self:exlist(kwnodes)
    for i, nm in ipairs(kw) do parts[#parts + 1] = lua_str(nm.name) .. ", " .. kwc[i] end
    kwexpr = "mkdict(" .. concat(parts, ", ") .. ")"
  elseif c.kwargs then
    kwexpr = "nil"
  end
  local argl = {}
  if kwexpr then argl[1] = kwexpr end
  local last = math.max(maxslot, npos)
  for i = 1, last do argl[#argl + 1] = exprs[i] or "nil" end
  -- trailing nils are harmless but trim them for varargs functions
  if c.varargs then
    while #argl > 0 and argl[#argl] == "nil" and #argl > (kwexpr and 1 or 0) + maxslot do argl[#argl] = nil end
  end
  return self:impl(c) .. "(" .. concat(argl, ", ") .. ")"
end

local function named_list(args)
  local named = {}
  for _, nm in ipairs(args.named) do
    if nm.key.k ~= "keyword" then return nil end
    named[#named + 1] = {name = nm.key.v, value = nm.value}
  end
  return named
end

-- Lua source of an expression node (self:ex_node), nested at most MAX_NESTING deep:
-- chains such as `$.a.b.c` parse in a loop but generate nested code. The Jinja
-- generator uses it too.
function Gen:ex(n)
  local depth = self.depth + 1
  if depth > MAX_NESTING then rt.nesting_error("expression", n.pos) end
  self.depth = depth
  local e = self:ex_node(n)
  self.depth = depth - 1
  return e
end

function Gen:ex_node(n)
  local k = n.k
  if k == "const" then
    local v = n.v
    if v == rt.null then return "null" end
    if v == true then return "true" elseif v == false then return "false" end
    if type(v) == "string" then return lua_str(v) end
    return lua_num(v)
  elseif k == "keyword" then
    return lua_str(n.v)
  elseif k == "var" then
    return self:lookup(n.name)
  elseif k == "wrap" then
    return self:ex(n.e)
  elseif k == "list" then
    if #n.args.named > 0 then err("unsupported", "unsupported YAQL construct 'mapping rule in a list'", n.pos) end
    local es = self:exlist(n.args.pos)
    return "L({" .. concat(es, ", ") .. "})"
  elseif k == "map" then
    return self:mapping_dict(n.args, "#map", n.pos)
  elseif k == "unary" then
    local e = self:ex(n.e)
    if n.op == "not" then return "(not truthy(" .. e .. "))" end
    if n.op == "-" then return "neg(" .. e .. ")" end
    return "pos(" .. e .. ")"
  elseif k == "index" then
    if #n.args.named > 0 then return "no_func(\"#indexer\")" end
    local nodes = {n.e}
    for _, a in ipairs(n.args.pos) do nodes[#nodes + 1] = a end
    if #n.args.pos == 1 then
      local es = self:exlist(nodes)
      return "index(" .. es[1] .. ", " .. es[2] .. ")"
    elseif #n.args.pos == 2 then
      local es = self:exlist(nodes)
      return "index2(" .. es[1] .. ", " .. es[2] .. ", " .. es[3] .. ")"
    end
    return "no_func(\"#indexer\")"
  elseif k == "call" then
    return self:func_call(n)
  elseif k == "binary" then
    return self:binary(n)
  end
  err("unsupported", "unsupported YAQL construct '" .. tostring(k) .. "'", n.pos)
end

-- {k => v, ...} / dict(k => v, ...)
function Gen:mapping_dict(args, fname, pos)
  if #args.pos > 0 then
    -- positional args are not mapping rules: no overload matches
    return "no_func(" .. lua_str(fname) .. ")"
  end
  local nodes = {}
  for _, nm in ipairs(args.named) do
    nodes[#nodes + 1] = nm.key
    nodes[#nodes + 1] = nm.value
  end
  local es = self:exlist(nodes)
  -- keys that are strings written in the template, all different: the dict is built
  -- at once, its tables sized by their constructors (mkdict grows them key by key)
  local keys, seen = {}, {}
  for i = 1, #nodes, 2 do
    local kn = nodes[i]
    local key = (kn.k == "keyword" or (kn.k == "const" and type(kn.v) == "string")) and kn.v
    if not key or seen[key] then return "mkdict(" .. concat(es, ", ") .. ")" end
    seen[key] = true
    keys[#keys + 1] = lua_str(key)
  end
  local fields = {}
  for i = 2, #es, 2 do fields[#fields + 1] = "[" .. es[i - 1] .. "] = " .. es[i] end
  return "setmetatable({keys = {" .. concat(keys, ", ") .. "}, map = {" ..
    concat(fields, ", ") .. "}}, Dict)"
end

function Gen:func_call(n)
  local name, args = n.name, n.args
  if name == "let" or name == "with" then
    err("unsupported", "unsupported YAQL construct '" .. name .. "()' outside 'let(...) -> expr'", n.pos)
  end
  if name == "switch" then
    if #args.pos > 0 then return "no_func(\"switch\")" end
    local t = self:tmp()
    self:emit("local " .. t .. " = null")
    self:emit("repeat")
    for _, nm in ipairs(args.named) do
      local c = self:ex(nm.key)
      self:emit("if truthy(" .. c .. ") then")
      local v = self:ex(nm.value)
      self:emit(t .. " = " .. v .. " break end")
    end
    self:emit("until true")
    return t
  end
  if name == "dict" and (#args.named > 0 or #args.pos == 0) then
    return self:mapping_dict(args, "dict", n.pos)
  end
  if name == "env" then
    if #args.pos > 0 or #args.named > 0 then return "no_func(\"env\")" end
    return self:lookup("__env")
  end
  local named = named_list(args)
  if not named then return "no_func(" .. lua_str(name) .. ")" end
  local cands = Y.F[name]
  if cands then
    local c, slots, kw = resolve(cands, #args.pos, named)
    if not c then return "no_func(" .. lua_str(name) .. ")" end
    return self:call_builtin(c, slots, kw, args.pos, nil)
  end
  -- host function (or unknown)
  local es = self:exlist(args.pos)
  if name == "glare" and #es == 3 and #named == 0 then
    return "host_glare(D, " .. concat(es, ", ") .. ")"
  end
  if name == "glare" and #es == 0 and #named == 3 then
    -- glare(name => …, version => …, resource => …) in any order: the positional
    -- path, the values evaluated as written, the keyword order kept for errors
    local at = {}
    for i, nm in ipairs(named) do at[nm.name] = i end
    if at.name and at.version and at.resource then
      local vals = {}
      for i, nm in ipairs(named) do vals[i] = nm.value end
      local vc = self:exlist(vals)
      for i = 1, 3 do vc[i] = self:fix(vc[i]) end
      local order = named[1].name .. "," .. named[2].name .. "," .. named[3].name
      return "host_glare(D, " .. vc[at.name] .. ", " .. vc[at.version] .. ", " ..
        vc[at.resource] .. ", " .. lua_str(order) .. ")"
    end
  end
  local kwexpr = "nil"
  if #named > 0 then
    local vals = {}
    for _, nm in ipairs(named) do vals[#vals + 1] = nm.value end
    local vc = self:exlist(vals)
    local parts = {}
    for i, nm in ipairs(named) do parts[#parts + 1] = lua_str(nm.name) .. ", " .. vc[i] end
    kwexpr = "mkdict(" .. concat(parts, ", ") .. ")"
  end
  return "host_call(" .. lua_str(name) .. ", D, {" .. concat(es, ", ") .. "}, " .. kwexpr .. ")"
end

function Gen:method_call(recv_expr, call)
  local name, args = call.name, call.args
  local named = named_list(args)
  local cands = Y.M[name]
  if not cands then
    return "unknown_method(" .. lua_str(name) .. ", " .. recv_expr .. ")"
  end
  if not named then return "no_method(" .. lua_str(name) .. ", " .. recv_expr .. ")" end
  local c, slots, kw = resolve(cands, #args.pos + 1, named)
  if not c then return "no_method(" .. lua_str(name) .. ", " .. recv_expr .. ")" end
  return self:call_builtin(c, slots, kw, args.pos, recv_expr)
end

-- make sure an expression is evaluated now (stored in a temp)
function Gen:fix(e)
  if e:match("^[%w_]+$") or e:match('^"[^"]*"$') then return e end
  local t = self:tmp()
  self:emit("local " .. t .. " = " .. e)
  return t
end

local SIMPLE_OPS = {
  ["="] = "eq", ["!="] = "ne", ["<"] = "lt", [">"] = "gt", ["<="] = "le", [">="] = "ge",
  ["+"] = "add", ["-"] = "sub", ["*"] = "mul", ["/"] = "div", mod = "mod", ["in"] = "op_in",
  ["=~"] = "re_match", ["!~"] = "re_nomatch",
}

function Gen:binary(n)
  local op = n.op
  if op == "." then
    local r = n.r
    if r.k == "keyword" then
      local l = self:ex(n.l)
      return "dot(" .. l .. ", " .. lua_str(r.v) .. ")"
    elseif r.k == "call" then
      local l = self:fix(self:ex(n.l))
      return self:method_call(l, r)
    end
    return "no_func(\"#operator_.\")"
  elseif op == "?." then
    local l = self:ex(n.l)
    local t = self:tmp()
    self:emit("local " .. t .. " = " .. l)
    self:emit("if " .. t .. " ~= null then")
    local r = n.r
    local e
    if r.k == "keyword" then e = "dot(" .. t .. ", " .. lua_str(r.v) .. ")"
    elseif r.k == "call" then e = self:method_call(t, r)
    else e = "no_func(\"#operator_.\")" end
    self:emit(t .. " = " .. e .. " end")
    return t
  elseif op == "and" or op == "or" then
    return self:and_or(op, n.l, n.r)
  elseif op == "->" then
    return self:send_context(n)
  end
  local fname = SIMPLE_OPS[op]
  if not fname then err("unsupported", "unsupported YAQL operator '" .. op .. "'", n.pos) end
  local es = self:exlist({n.l, n.r})
  return fname .. "(" .. es[1] .. ", " .. es[2] .. ")"
end

-- let(...) -> body, with(...) -> body
function Gen:send_context(n)
  local l = n.l
  while l.k == "wrap" do l = l.e end
  if l.k ~= "call" or (l.name ~= "let" and l.name ~= "with") then
    local e = self:ex(n.l)
    self:emit("local _ = " .. e)
    return "no_func(\"#operator_->\")"
  end
  local args = l.args
  if l.name == "with" and #args.named > 0 then return "no_func(\"with\")" end
  local frame = {vars = {}, parent = self.scope}
  local nodes = {}
  for _, a in ipairs(args.pos) do nodes[#nodes + 1] = a end
  for _, nm in ipairs(args.named) do
    if nm.key.k ~= "keyword" then return "no_func(\"let\")" end
    nodes[#nodes + 1] = nm.value
  end
  local es = self:exlist(nodes)
  for i = 1, #args.pos do
    local t = self:tmp()
    self:emit("local " .. t .. " = " .. es[i])
    frame.vars[tostring(i)] = t
  end
  for j, nm in ipairs(args.named) do
    local t = self:tmp()
    self:emit("local " .. t .. " = " .. es[#args.pos + j])
    frame.vars[nm.key.v] = t
  end
  self.scope = frame
  local e = self:ex(n.r)
  self.scope = frame.parent
  return e
end

local HEADER = [[
local R, Y = ...
local null, truthy, math_mininteger = R.null, R.truthy, R.mininteger
local setmetatable, List, Dict = R.setmetatable, R.List, R.Dict
local function L(t) return setmetatable(t, List) end
local eq, ne, lt, gt, le, ge = Y.eq, Y.ne, Y.lt, Y.gt, Y.le, Y.ge
local add, sub, mul, div, mod, op_in, neg, pos = Y.add, Y.sub, Y.mul, Y.div, Y.mod, Y.op_in, Y.neg, Y.pos
local re_match, re_nomatch = Y.re_match, Y.re_nomatch
local dot, index, index2, mkdict, getvar = Y.dot, Y.index, Y.index2, Y.mkdict, Y.getvar
local no_func, no_method, unknown_method, host_call = Y.no_func, Y.no_method, Y.unknown_method, Y.host_call
local host_glare = Y.host_glare
local I = Y.I
]]

-- returns Lua source for the expression text
-- Whether evaluating `n` takes time bounded by the size of the data it reads
-- (which the memory limit bounds): constants, variables, member access,
-- indexing, list and dict literals, let/with -> body, and/or/not, unary -/+, + - / mod (numbers,
-- or one copy of each operand's top level), * by a number written in the
-- expression (a repetition the expression bounds), a comparison with a constant
-- scalar (never a walk of two nested values: shared values make that exponential),
-- host functions (glare() & co. and the embedder's, which are C), the functions
-- and methods yaqllib marks linear (Y.linear), and select/where whose lambda only
-- reads its item. No other method or library call: those may iterate without such
-- a bound (over a range, nested). The embedder runs bounded expressions without
-- counting instructions.
-- `item_only`: inside a select/where lambda, where the only variable is the item
-- and nothing else is called, so one pass costs the data once.
local bounded

local ARITH = {["+"] = true, ["-"] = true, ["/"] = true, mod = true}
local COMPARE = {["="] = true, ["!="] = true, ["<"] = true, [">"] = true, ["<="] = true,
  [">="] = true}
local function scalar_const(n)
  while n.k == "wrap" do n = n.e end
  return n.k == "const" and (type(n.v) ~= "table" or n.v == rt.null)
end
-- let(...)/with(...) before `->`: its arguments are evaluated once, then the body once
local function bounded_let(l)
  while l.k == "wrap" do l = l.e end
  if l.k ~= "call" or (l.name ~= "let" and l.name ~= "with") then return false end
  for _, a in ipairs(l.args.pos) do if not bounded(a, false) then return false end end
  for _, nm in ipairs(l.args.named) do
    if nm.key.k ~= "keyword" or not bounded(nm.value, false) then return false end
  end
  return true
end
local function number_const(n)
  while n.k == "wrap" do n = n.e end
  return n.k == "const" and type(n.v) == "number"
end
-- range() of integers written in the template, of at most RANGE_ITEMS items: what it
-- yields is bounded as a list literal that long would be, and its iterator asks for the
-- deadline as it goes (range_iter in yaqllib.lua), so a loop over it that allocates
-- nothing is stopped in time too.
local RANGE_ITEMS = 1 << 16
yaql.RANGE_ITEMS = RANGE_ITEMS
local function const_range(call)
  local args = call.args.pos
  if call.name ~= "range" or #call.args.named > 0 or #args < 1 or #args > 3 then return false end
  local v = {}
  for i, a in ipairs(args) do
    while a.k == "wrap" do a = a.e end
    if a.k ~= "const" or math.type(a.v) ~= "integer" then return false end
    v[i] = a.v + 0.0 -- counted in floats: no overflow
  end
  local start, stop, step = 0.0, v[1], 1.0
  if #v > 1 then start, stop, step = v[1], v[2], v[3] or 1.0 end
  if step == 0 then return false end
  return (stop - start) / step <= RANGE_ITEMS
end

-- A call of a linear function or method with at most `extra` more arguments
-- than Y.linear allows (1 for the receiver of the function form), each bounded.
local function bounded_linear(call, extra, item_only)
  local most = Y.linear[call.name]
  if not most or #call.args.named > 0 or #call.args.pos > most + extra then return false end
  for _, a in ipairs(call.args.pos) do if not bounded(a, item_only) then return false end end
  return true
end

function bounded(n, item_only)
  local k = n.k
  if k == "const" or k == "keyword" then return true end
  if k == "var" then return not item_only or n.name == "1" end
  if k == "wrap" then return bounded(n.e, item_only) end
  if k == "list" or k == "index" then
    if #n.args.named > 0 then return false end
    for _, a in ipairs(n.args.pos) do if not bounded(a, item_only) then return false end end
    return k == "list" or bounded(n.e, item_only)
  end
  if k == "binary" then
    local op, r = n.op, n.r
    if op == "." or op == "?." then
      if r.k == "keyword" then return bounded(n.l, item_only) end
      if r.k == "call" and Y.M[r.name] and bounded_linear(r, 0, item_only) then
        return bounded(n.l, item_only)
      end
      if item_only or r.k ~= "call" or (r.name ~= "select" and r.name ~= "where") or
        #r.args.pos ~= 1 or #r.args.named > 0 then
        return false
      end
      return bounded(n.l, false) and bounded(r.args.pos[1], true)
    end
    if op == "and" or op == "or" then return bounded(n.l, item_only) and bounded(r, item_only) end
    if COMPARE[op] and (scalar_const(n.l) or scalar_const(r)) then
      return bounded(n.l, item_only) and bounded(r, item_only)
    end
    if item_only then return false end
    if op == "->" then return bounded_let(n.l) and bounded(r, false) end
    if ARITH[op] or (op == "*" and (number_const(n.l) or number_const(r))) then
      return bounded(n.l, false) and bounded(r, false)
    end
    return false
  end
  if k == "unary" then return not item_only and bounded(n.e, false) end
  if k == "map" then
    if item_only or #n.args.pos > 0 then return false end
    for _, nm in ipairs(n.args.named) do
      if not (bounded(nm.key, false) and bounded(nm.value, false)) then return false end
    end
    return true
  end
  if k == "call" then
    local name = n.name
    if Y.F[name] and bounded_linear(n, 1, item_only) then return true end
    if not item_only and const_range(n) then return true end
    if item_only or Y.F[name] or name == "let" or name == "with" or name == "switch" or
      name == "dict" then
      return false
    end
    for _, a in ipairs(n.args.pos) do if not bounded(a, false) then return false end end
    for _, nm in ipairs(n.args.named) do
      if not (bounded(nm.key, false) and bounded(nm.value, false)) then return false end
    end
    return true
  end
  return false
end

-- Lua source of the expression, and whether it is bounded (see above).
function yaql.generate(text)
  local ast = parse(text)
  local g = Gen.new()
  local e = g:ex(ast)
  local out = {HEADER}
  local ids = {}
  for id in pairs(g.used) do ids[#ids + 1] = id end
  table.sort(ids)
  for _, id in ipairs(ids) do out[#out + 1] = "local f" .. id .. " = I[" .. id .. "]\n" end
  out[#out + 1] = "return function(D)\n"
  if g.uses_vars then out[#out + 1] = "local V = Y.mkvars(D)\n" end
  for _, line in ipairs(g.buf) do out[#out + 1] = line .. "\n" end
  out[#out + 1] = "return " .. e .. "\nend\n"
  return concat(out), bounded(ast, false)
end

-- compile expression text (already stripped) into function(data); also returns
-- the source and whether the expression is bounded
function yaql.compile(text, chunkname)
  local src, is_bounded = yaql.generate(text)
  local host = M.host
  local loader = host and host.load
  if not loader then error("glarex: M.host.load is not set", 0) end
  local chunk, lerr = loader(src, chunkname or "=yaql")
  if not chunk then rt.load_error("YAQL", lerr, src) end
  return chunk(rt, Y), src, is_bounded
end

yaql.exlist, yaql.and_or, yaql.ex, yaql.lua_str, yaql.lua_num =
  Gen.exlist, Gen.and_or, Gen.ex, lua_str, lua_num

return yaql
