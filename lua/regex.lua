-- glarex regex: a backtracking implementation of Python's `re` syntax and
-- matching rules (search/match/fullmatch, finditer with Python 3.7 empty
-- match rules, sub with \g<n> templates, split with groups), used by YAQL's
-- regex functions.  Works on code points.
local M = ...
local rt, P = M.runtime, M.pyfmt
local R = {}

local sbyte, ssub, sfind, sformat, concat = string.byte, string.sub, string.find, string.format, table.concat
local raise = rt.raise

local RegexMT = {__name = "re.Pattern"}
R.RegexMT = RegexMT

local IGNORECASE, MULTILINE, DOTALL, VERBOSE, ASCII = 2, 8, 16, 64, 256

local function re_error(msg, pos)
  raise("eval", msg .. (pos and (" at position " .. pos) or ""))
end

-- code points of a string (array) -------------------------------------
local function cps_of(s)
  local out = {}
  if rt.is_ascii(s) then
    for i = 1, #s do out[i] = sbyte(s, i) end
    return out
  end
  local n = 0
  for _, cp in utf8.codes(s, true) do n = n + 1; out[n] = cp end
  return out
end
local function str_of(cps, i, j) -- cps[i..j] (1-based, inclusive) to string
  if j < i then return "" end
  local parts = {}
  for k = i, j do parts[#parts + 1] = utf8.char(cps[k]) end
  return concat(parts)
end

-- character predicates: Python's re (\d str.isdecimal, \s str.isspace, \w str.isalnum
-- or "_"; with re.ASCII the ASCII ones) -----------------------------------
local function is_digit(cp, ascii)
  if ascii or cp < 128 then return cp >= 48 and cp <= 57 end
  return P.is_decimal_cp(cp)
end
local function is_space(cp, ascii)
  if ascii then return cp == 32 or (cp >= 9 and cp <= 13) end
  return P.is_space_cp(cp)
end
local function is_word(cp, ascii)
  if cp < 128 then
    return (cp >= 48 and cp <= 57) or (cp >= 65 and cp <= 90) or (cp >= 97 and cp <= 122) or cp == 95
  end
  if ascii then return false end
  return P.is_alnum_cp(cp)
end
-- IGNORECASE as sre: characters match when their lowercases are equal or
-- share an uppercase (re._casefix); with re.ASCII only ASCII letters are cased
local function ascii_letter(cp) return cp < 128 and (cp | 32) >= 97 and (cp | 32) <= 122 end
local function fold(cp, ascii)
  if cp < 128 or ascii then
    if cp >= 65 and cp <= 90 then return cp + 32 end
    return cp
  end
  return P.re_lower(cp)
end
local function iscased(cp, ascii)
  if cp < 128 or ascii then return ascii_letter(cp) end
  return P.re_iscased(cp)
end
local function extra_cases(lo, ascii)
  if ascii then return nil end
  return P.re_extra[lo]
end

------------------------------------------------------------------------
-- Parser: pattern -> AST
------------------------------------------------------------------------
-- node kinds: char{cp}, any, set{items,neg}, bol, eol, A, Z, wordb{neg},
-- group{n, node}, ncgroup{node}, backref{n}, look{ahead, neg, node, width},
-- alt{list}, seq{list}, rep{node, min, max, greedy}
local function parse(pat, flags)
  local p = cps_of(pat)
  local pos = 1
  local ngroups = 0
  local names = {}
  local function peek(k) return p[pos + (k or 0)] end
  local function ch(c) return sbyte(c) end
  local verbose = (flags & VERBOSE) ~= 0

  local parse_alt

  local function parse_escape(in_class)
    -- after backslash
    local c = p[pos]
    if not c then re_error("bad escape (end of pattern)", pos - 2) end
    pos = pos + 1
    local cc = utf8.char(c)
    if cc == "d" then return {k = "cls", f = "d"} end
    if cc == "D" then return {k = "cls", f = "d", neg = true} end
    if cc == "w" then return {k = "cls", f = "w"} end
    if cc == "W" then return {k = "cls", f = "w", neg = true} end
    if cc == "s" then return {k = "cls", f = "s"} end
    if cc == "S" then return {k = "cls", f = "s", neg = true} end
    if cc == "n" then return {k = "char", cp = 10} end
    if cc == "t" then return {k = "char", cp = 9} end
    if cc == "r" then return {k = "char", cp = 13} end
    if cc == "f" then return {k = "char", cp = 12} end
    if cc == "v" then return {k = "char", cp = 11} end
    if cc == "a" then return {k = "char", cp = 7} end
    if cc == "b" then
      if in_class then return {k = "char", cp = 8} end
      return {k = "wordb"}
    end
    if not in_class then
      if cc == "B" then return {k = "wordb", neg = true} end
      if cc == "A" then return {k = "A"} end
      if cc == "Z" then return {k = "Z"} end
    end
    if cc == "x" or cc == "u" or cc == "U" then
      local n = cc == "x" and 2 or cc == "u" and 4 or 8
      local hex = {}
      for i = 1, n do
        local h = p[pos + i - 1]
        if not h or not utf8.char(h):match("^%x$") then re_error("incomplete escape \\" .. cc, pos - 2) end
        hex[i] = utf8.char(h)
      end
      pos = pos + n
      return {k = "char", cp = tonumber(concat(hex), 16)}
    end
    if c >= 48 and c <= 57 then
      -- octal or backreference
      if c == 48 or in_class then
        local digits = {utf8.char(c)}
        while #digits < 3 and p[pos] and p[pos] >= 48 and p[pos] <= 55 do digits[#digits + 1] = utf8.char(p[pos]); pos = pos + 1 end
        return {k = "char", cp = tonumber(concat(digits), 8)}
      end
      local digits = {utf8.char(c)}
      if p[pos] and p[pos] >= 48 and p[pos] <= 57 then digits[2] = utf8.char(p[pos]); pos = pos + 1 end
      local n = tonumber(concat(digits))
      if n > ngroups then re_error("invalid group reference " .. n, pos - #digits - 1) end
      return {k = "backref", n = n}
    end
    if (c >= 65 and c <= 90) or (c >= 97 and c <= 122) then
      re_error("bad escape \\" .. cc, pos - 2)
    end
    return {k = "char", cp = c}
  end

  local function parse_class()
    -- after '['
    local node = {k = "set", items = {}}
    if peek() == ch("^") then node.neg = true; pos = pos + 1 end
    local first = true
    while true do
      local c = p[pos]
      if not c then re_error("unterminated character set", pos) end
      if c == ch("]") and not first then pos = pos + 1; break end
      first = false
      local item
      if c == ch("\\") then
        pos = pos + 1
        item = parse_escape(true)
      else
        pos = pos + 1
        item = {k = "char", cp = c}
      end
      if item.k == "char" and peek() == ch("-") and p[pos + 1] and p[pos + 1] ~= ch("]") then
        pos = pos + 1
        local hi
        local c2 = p[pos]
        if c2 == ch("\\") then
          pos = pos + 1
          local e = parse_escape(true)
          if e.k ~= "char" then re_error("bad character range", pos) end
          hi = e.cp
        else
          pos = pos + 1
          hi = c2
        end
        if hi < item.cp then re_error("bad character range", pos) end
        item = {k = "range", lo = item.cp, hi = hi}
      end
      node.items[#node.items + 1] = item
    end
    return node
  end

  local function parse_atom()
    local c = p[pos]
    if c == ch("(") then
      pos = pos + 1
      if peek() == ch("?") then
        pos = pos + 1
        local c2 = p[pos]
        if c2 == ch(":") then
          pos = pos + 1
          local node = parse_alt()
          if peek() ~= ch(")") then re_error("missing ), unterminated subpattern", pos) end
          pos = pos + 1
          return {k = "ncgroup", node = node}
        elseif c2 == ch("P") then
          pos = pos + 1
          if peek() == ch("<") then
            pos = pos + 1
            local name = {}
            while p[pos] and p[pos] ~= ch(">") do name[#name + 1] = utf8.char(p[pos]); pos = pos + 1 end
            pos = pos + 1
            ngroups = ngroups + 1
            local n = ngroups
            names[concat(name)] = n
            local node = parse_alt()
            if peek() ~= ch(")") then re_error("missing ), unterminated subpattern", pos) end
            pos = pos + 1
            return {k = "group", n = n, node = node}
          elseif peek() == ch("=") then
            pos = pos + 1
            local name = {}
            while p[pos] and p[pos] ~= ch(")") do name[#name + 1] = utf8.char(p[pos]); pos = pos + 1 end
            pos = pos + 1
            local n = names[concat(name)]
            if not n then re_error("unknown group name '" .. concat(name) .. "'", pos) end
            return {k = "backref", n = n}
          end
          re_error("unknown extension ?P" .. utf8.char(peek() or 32), pos)
        elseif c2 == ch("=") or c2 == ch("!") then
          pos = pos + 1
          local node = parse_alt()
          if peek() ~= ch(")") then re_error("missing ), unterminated subpattern", pos) end
          pos = pos + 1
          return {k = "look", ahead = true, neg = c2 == ch("!"), node = node}
        elseif c2 == ch("<") and (p[pos + 1] == ch("=") or p[pos + 1] == ch("!")) then
          local neg = p[pos + 1] == ch("!")
          pos = pos + 2
          local node = parse_alt()
          if peek() ~= ch(")") then re_error("missing ), unterminated subpattern", pos) end
          pos = pos + 1
          return {k = "look", ahead = false, neg = neg, node = node}
        elseif c2 == ch("#") then
          while p[pos] and p[pos] ~= ch(")") do pos = pos + 1 end
          pos = pos + 1
          return {k = "seq", list = {}}
        else
          -- inline flags (?aiLmsux) or (?flags:...)
          local fl = 0
          while p[pos] and utf8.char(p[pos]):match("^[aiLmsux]$") do
            local f = utf8.char(p[pos])
            if f == "i" then fl = fl | IGNORECASE elseif f == "m" then fl = fl | MULTILINE
            elseif f == "s" then fl = fl | DOTALL elseif f == "x" then fl = fl | VERBOSE
            elseif f == "a" then fl = fl | ASCII end
            pos = pos + 1
          end
          if peek() == ch(")") then
            pos = pos + 1
            return {k = "flags", flags = fl}
          elseif peek() == ch(":") then
            pos = pos + 1
            local node = parse_alt()
            if peek() ~= ch(")") then re_error("missing ), unterminated subpattern", pos) end
            pos = pos + 1
            return {k = "scoped", flags = fl, node = node}
          end
          re_error("unknown extension ?" .. utf8.char(c2 or 32), pos)
        end
      end
      ngroups = ngroups + 1
      local n = ngroups
      local node = parse_alt()
      if peek() ~= ch(")") then re_error("missing ), unterminated subpattern", pos) end
      pos = pos + 1
      return {k = "group", n = n, node = node}
    elseif c == ch("[") then
      pos = pos + 1
      return parse_class()
    elseif c == ch(".") then pos = pos + 1; return {k = "any"}
    elseif c == ch("^") then pos = pos + 1; return {k = "bol"}
    elseif c == ch("$") then pos = pos + 1; return {k = "eol"}
    elseif c == ch("\\") then
      pos = pos + 1
      return parse_escape(false)
    elseif c == ch("*") or c == ch("+") or c == ch("?") then
      re_error("nothing to repeat", pos - 1)
    end
    pos = pos + 1
    return {k = "char", cp = c}
  end

  local function parse_quant(atom)
    while true do
      local c = p[pos]
      local min, max
      if c == ch("*") then min, max = 0, math.huge; pos = pos + 1
      elseif c == ch("+") then min, max = 1, math.huge; pos = pos + 1
      elseif c == ch("?") then min, max = 0, 1; pos = pos + 1
      elseif c == ch("{") then
        -- {m}, {m,}, {,n}, {m,n}; anything else is a literal '{'
        local j = pos + 1
        local a, b = {}, {}
        while p[j] and p[j] >= 48 and p[j] <= 57 do a[#a + 1] = utf8.char(p[j]); j = j + 1 end
        local comma = false
        if p[j] == ch(",") then
          comma = true; j = j + 1
          while p[j] and p[j] >= 48 and p[j] <= 57 do b[#b + 1] = utf8.char(p[j]); j = j + 1 end
        end
        if p[j] == ch("}") and (#a > 0 or (comma and #b > 0) or (comma and #a == 0 and #b == 0 and false)) then
          min = #a > 0 and tonumber(concat(a)) or 0
          if comma then max = #b > 0 and tonumber(concat(b)) or math.huge else max = min end
          if max < min then re_error("min repeat greater than max repeat", pos) end
          pos = j + 1
        else
          return atom
        end
      else
        return atom
      end
      if atom.k == "bol" or atom.k == "eol" or atom.k == "A" or atom.k == "Z" or atom.k == "wordb" or atom.k == "look" or atom.k == "rep" then
        if atom.k == "rep" then re_error("multiple repeat", pos - 1) end
      end
      local greedy = true
      if p[pos] == ch("?") then greedy = false; pos = pos + 1 end
      atom = {k = "rep", node = atom, min = min, max = max, greedy = greedy}
    end
  end

  local function parse_seq()
    local list = {}
    while true do
      local c = p[pos]
      if not c or c == ch("|") or c == ch(")") then break end
      if verbose and (is_space(c) or c == ch("#")) then
        if c == ch("#") then while p[pos] and p[pos] ~= 10 do pos = pos + 1 end else pos = pos + 1 end
      else
        local atom = parse_atom()
        if atom.k == "flags" then
          flags = flags | atom.flags
          verbose = (flags & VERBOSE) ~= 0
        else
          list[#list + 1] = parse_quant(atom)
        end
      end
    end
    return {k = "seq", list = list}
  end

  parse_alt = function()
    local alts = {parse_seq()}
    while peek() == ch("|") do
      pos = pos + 1
      alts[#alts + 1] = parse_seq()
    end
    if #alts == 1 then return alts[1] end
    return {k = "alt", list = alts}
  end

  local ast = parse_alt()
  if pos <= #p then
    if p[pos] == ch(")") then re_error("unbalanced parenthesis", pos - 1) end
    re_error("unexpected end of pattern", pos - 1)
  end
  return ast, ngroups, names, flags
end

------------------------------------------------------------------------
-- Compiler: AST -> matcher closures m(i, k)
------------------------------------------------------------------------
-- state (per match attempt): S.s (code points), S.n, S.caps
local function width_of(node)
  local k = node.k
  if k == "char" or k == "any" or k == "set" or k == "cls" or k == "range" then return 1 end
  if k == "bol" or k == "eol" or k == "A" or k == "Z" or k == "wordb" or k == "look" or k == "flags" then return 0 end
  if k == "group" or k == "ncgroup" or k == "scoped" then return width_of(node.node) end
  if k == "seq" then
    local w = 0
    for _, x in ipairs(node.list) do local wx = width_of(x); if not wx then return nil end; w = w + wx end
    return w
  end
  if k == "alt" then
    local w
    for _, x in ipairs(node.list) do
      local wx = width_of(x)
      if not wx or (w and wx ~= w) then return nil end
      w = wx
    end
    return w
  end
  if k == "rep" then
    if node.min == node.max then local w = width_of(node.node); return w and w * node.min end
    return nil
  end
  return nil
end

local function compile(ast, ngroups, gflags)
  local S = {}

  local char_pred

  -- a character set as sre compiles it: with IGNORECASE and a cased member, the
  -- character's lowercase is looked up among the members' lowercases (and their
  -- extra cases); members beyond the BMP are compared as sre does (RANGE_UNI_IGNORE)
  local function set_pred(node, flags, icase, ascii)
    local items, neg = node.items, node.neg or false
    if #items == 1 and items[1].k == "char" then -- re's parser makes [x] a literal
      local f = char_pred(items[1], flags)
      return function(c) return f(c) ~= neg end
    end
    local bmp, wide, classes, hascased = {}, {}, {}, false
    for _, it in ipairs(items) do
      local lo, hi = it.lo or it.cp, it.hi or it.cp
      if it.k == "cls" then
        classes[#classes + 1] = char_pred(it, flags)
      else
        if icase and not hascased then
          if ascii then
            for c = lo, math.min(hi, 127) do hascased = hascased or ascii_letter(c) end
          else
            hascased = P.re_any_cased(lo, hi)
          end
        end
        if hi > 0xffff and icase then
          hascased = true
          wide[#wide + 1] = {lo, hi, it.k == "range"}
        end
        if lo <= 0xffff or not icase then bmp[#bmp + 1] = {lo, icase and math.min(hi, 0xffff) or hi} end
      end
    end
    local function listed(c)
      for i = 1, #bmp do if c >= bmp[i][1] and c <= bmp[i][2] then return true end end
      return false
    end
    local function in_classes(c)
      for i = 1, #classes do if classes[i](c) then return true end end
      return false
    end
    if not hascased then return function(c) return (listed(c) or in_classes(c)) ~= neg end end
    -- some listed character lowers to v
    local function listed_lowered(v)
      if listed(v) and fold(v, ascii) == v then return true end
      local up = ascii and (v >= 97 and v <= 122 and v - 32) or (not ascii and P.simple_upper(v))
      if up and up ~= v and listed(up) and fold(up, ascii) == v then return true end
      for _, x in ipairs(not ascii and P.lower_from[v] or {}) do
        if listed(x) and fold(x, ascii) == v then return true end
      end
      return false
    end
    local function wide_match(v)
      for _, w in ipairs(wide) do
        if v >= w[1] and v <= w[2] then return true end
        if w[3] then
          local u = P.re_upper(v)
          if u >= w[1] and u <= w[2] then return true end
        end
      end
      return false
    end
    return function(c)
      local v = fold(c, ascii)
      local hit = listed_lowered(v) or wide_match(v) or in_classes(v)
      if not hit then
        for _, y in ipairs(extra_cases(v, ascii) or {}) do
          if listed_lowered(y) then hit = true; break end
        end
      end
      return hit ~= neg
    end
  end

  char_pred = function(node, flags)
    local icase = (flags & IGNORECASE) ~= 0
    local ascii = (flags & ASCII) ~= 0
    local k = node.k
    if k == "char" then
      local cp = node.cp
      if icase and iscased(cp, ascii) then
        local lo = fold(cp, ascii)
        local extra = extra_cases(lo, ascii)
        if not extra then return function(c) return fold(c, ascii) == lo end end
        return function(c)
          local l = fold(c, ascii)
          if l == lo then return true end
          for i = 1, #extra do if l == extra[i] then return true end end
          return false
        end
      end
      return function(c) return c == cp end
    elseif k == "any" then
      if (flags & DOTALL) ~= 0 then return function() return true end end
      return function(c) return c ~= 10 end
    elseif k == "cls" then
      local f = node.f == "d" and is_digit or node.f == "w" and is_word or is_space
      if node.neg then return function(c) return not f(c, ascii) end end
      return function(c) return f(c, ascii) end
    elseif k == "set" then
      return set_pred(node, flags, icase, ascii)
    end
  end

  local comp
  comp = function(node, flags)
    local k = node.k
    if k == "char" or k == "any" or k == "cls" or k == "set" then
      local pred = char_pred(node, flags)
      return function(i, cont)
        local c = S.s[i]
        if c and pred(c) then return cont(i + 1) end
        return false
      end, pred
    elseif k == "seq" then
      local ms = {}
      for _, x in ipairs(node.list) do
        if x.k == "flags" then flags = flags | x.flags else ms[#ms + 1] = comp(x, flags) end
      end
      if #ms == 0 then return function(i, cont) return cont(i) end end
      if #ms == 1 then return ms[1] end
      local function build(idx)
        if idx == #ms then return ms[idx] end
        local first, rest = ms[idx], build(idx + 1)
        return function(i, cont)
          return first(i, function(j) return rest(j, cont) end)
        end
      end
      return build(1)
    elseif k == "alt" then
      local ms = {}
      for i, x in ipairs(node.list) do ms[i] = comp(x, flags) end
      return function(i, cont)
        for a = 1, #ms do
          if ms[a](i, cont) then return true end
        end
        return false
      end
    elseif k == "group" then
      local m = comp(node.node, flags)
      local n = node.n
      return function(i, cont)
        local caps = S.caps
        local os, oe = caps[2 * n - 1], caps[2 * n]
        if m(i, function(j)
          local ps, pe = caps[2 * n - 1], caps[2 * n]
          caps[2 * n - 1], caps[2 * n] = i, j
          if cont(j) then return true end
          caps[2 * n - 1], caps[2 * n] = ps, pe
          return false
        end) then return true end
        caps[2 * n - 1], caps[2 * n] = os, oe
        return false
      end
    elseif k == "ncgroup" then
      return comp(node.node, flags)
    elseif k == "scoped" then
      return comp(node.node, flags | node.flags)
    elseif k == "backref" then
      local n = node.n
      local icase = (flags & IGNORECASE) ~= 0
      local ascii = (flags & ASCII) ~= 0
      return function(i, cont)
        local s0, e0 = S.caps[2 * n - 1], S.caps[2 * n]
        if not s0 then return false end
        local len = e0 - s0
        for d = 0, len - 1 do
          local a, b = S.s[s0 + d], S.s[i + d]
          if not b then return false end
          if a ~= b and not (icase and fold(a, ascii) == fold(b, ascii)) then return false end
        end
        return cont(i + len)
      end
    elseif k == "bol" then
      local ml = (flags & MULTILINE) ~= 0
      return function(i, cont)
        if i == 1 or (ml and S.s[i - 1] == 10) then return cont(i) end
        return false
      end
    elseif k == "eol" then
      local ml = (flags & MULTILINE) ~= 0
      return function(i, cont)
        local n = S.n
        if i == n + 1 or (S.s[i] == 10 and (ml or i == n)) then return cont(i) end
        return false
      end
    elseif k == "A" then
      return function(i, cont) if i == 1 then return cont(i) end return false end
    elseif k == "Z" then
      return function(i, cont) if i == S.n + 1 then return cont(i) end return false end
    elseif k == "wordb" then
      local ascii = (flags & ASCII) ~= 0
      local neg = node.neg
      return function(i, cont)
        local a = i > 1 and is_word(S.s[i - 1], ascii) or false
        local b = S.s[i] and is_word(S.s[i], ascii) or false
        local at = a ~= b
        if neg then at = not at end
        if at then return cont(i) end
        return false
      end
    elseif k == "look" then
      local m = comp(node.node, flags)
      local neg, ahead = node.neg, node.ahead
      local w
      if not ahead then
        w = width_of(node.node)
        if not w then re_error("look-behind requires fixed-width pattern") end
      end
      return function(i, cont)
        local ok
        if ahead then
          ok = m(i, function() return true end)
        else
          local st = i - w
          ok = st >= 1 and m(st, function(j) return j == i end)
        end
        if neg then ok = not ok end
        if ok then return cont(i) end
        return false
      end
    elseif k == "rep" then
      local m, pred = comp(node.node, flags)
      local min, max, greedy = node.min, node.max, node.greedy
      if pred then
        -- single-character item: iterative
        return function(i, cont)
          local s = S.s
          local j = i
          local count = 0
          if greedy then
            while count < max and s[j] and pred(s[j]) do j = j + 1; count = count + 1 end
            while count >= min do
              if cont(i + count) then return true end
              count = count - 1
            end
            return false
          else
            while count < min do
              if not (s[j] and pred(s[j])) then return false end
              j = j + 1; count = count + 1
            end
            while true do
              if cont(j) then return true end
              if count >= max or not (s[j] and pred(s[j])) then return false end
              j = j + 1; count = count + 1
            end
          end
        end
      end
      local function try(i, c, cont)
        if greedy then
          if c < max then
            if m(i, function(j)
              if j == i and c >= min then return false end
              return try(j, c + 1, cont)
            end) then return true end
          end
          if c >= min then return cont(i) end
          return false
        else
          if c >= min and cont(i) then return true end
          if c < max then
            return m(i, function(j)
              if j == i and c >= min then return false end
              return try(j, c + 1, cont)
            end)
          end
          return false
        end
      end
      return function(i, cont) return try(i, 0, cont) end
    elseif k == "flags" then
      return function(i, cont) return cont(i) end
    end
    re_error("unsupported regular expression construct")
  end

  local m = comp(ast, gflags)
  -- try a match starting exactly at i; returns end or nil (caps filled)
  return function(s, n, i, endcond)
    S.s, S.n = s, n
    local caps = {}
    S.caps = caps
    local result
    if m(i, function(j)
      if endcond and not endcond(j) then return false end
      result = j
      return true
    end) then
      return result, caps
    end
    return nil
  end
end

------------------------------------------------------------------------
-- public API
------------------------------------------------------------------------
function R.compile(pattern, flags)
  flags = flags or 0
  local ast, ngroups, names, fl = parse(pattern, flags)
  local matcher = compile(ast, ngroups, fl)
  return setmetatable({pattern = pattern, flags = fl, ngroups = ngroups, names = names, m = matcher}, RegexMT)
end

-- match object: {s = cps, start, stop (0-based, exclusive), caps}
local function make_match(rx, cps, i, j, caps)
  return {rx = rx, cps = cps, start = i - 1, stop = j - 1, caps = caps}
end

function R.group(mo, n)
  n = n or 0
  if n == 0 then return str_of(mo.cps, mo.start + 1, mo.stop) end
  local s0, e0 = mo.caps[2 * n - 1], mo.caps[2 * n]
  if not s0 then return nil end
  return str_of(mo.cps, s0, e0 - 1)
end
function R.span(mo, n)
  n = n or 0
  if n == 0 then return mo.start, mo.stop end
  local s0, e0 = mo.caps[2 * n - 1], mo.caps[2 * n]
  if not s0 then return -1, -1 end
  return s0 - 1, e0 - 1
end

-- search from code point position pos (1-based); forbid_empty_at: position
-- where an empty match is not allowed
local function search_cps(rx, cps, pos, forbid_empty_at, anchored, full)
  local n = #cps
  local last = anchored and pos or n + 1
  for i = pos, last do
    local endcond = nil
    if forbid_empty_at == i then endcond = function(j) return j ~= i end end
    if full then
      local ec = endcond
      endcond = function(j) return j == n + 1 and (not ec or ec(j)) end
    end
    local j, caps = rx.m(cps, n, i, endcond)
    if j then return make_match(rx, cps, i, j, caps) end
  end
  return nil
end

function R.search(rx, s) return search_cps(rx, cps_of(s), 1) end
function R.match(rx, s) return search_cps(rx, cps_of(s), 1, nil, true) end
function R.fullmatch(rx, s) return search_cps(rx, cps_of(s), 1, nil, true, true) end

-- all matches (Python 3.7+ rules for empty matches)
function R.finditer(rx, s)
  local cps = cps_of(s)
  local out = {}
  local pos = 1
  local forbid
  while pos <= #cps + 1 do
    local mo = search_cps(rx, cps, pos, forbid)
    if not mo then break end
    out[#out + 1] = mo
    if mo.stop == mo.start then
      forbid = mo.stop + 1
      pos = mo.stop + 1
    else
      forbid = nil
      pos = mo.stop + 1
    end
  end
  return out, cps
end

-- A replacement template parsed as Python's re parses it (sre_parse.
-- parse_template, 3.11) before any matching: a bad escape or a reference to
-- a group the pattern lacks is an error even when nothing matches.
-- Returns an array of literal strings and group numbers.
local TEMPLATE_ESCAPES = {a = "\a", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t", v = "\v", ["\\"] = "\\"}
local function parse_template(rx, repl)
  local parts, lit = {}, {}
  local function literal(text) lit[#lit + 1] = text end
  local function group(g, pos)
    if g > rx.ngroups then re_error("invalid group reference " .. g, pos) end
    if #lit > 0 then parts[#parts + 1] = concat(lit); lit = {} end
    parts[#parts + 1] = g
  end
  local i, n = 1, #repl
  while i <= n do
    local j = sfind(repl, "\\", i, true)
    if not j then literal(ssub(repl, i)); break end
    if j > i then literal(ssub(repl, i, j - 1)) end
    local c = ssub(repl, j + 1, j + 1)
    if c == "" then re_error("bad escape (end of pattern)", j - 1) end
    i = j + 2
    if c == "g" then
      if ssub(repl, i, i) ~= "<" then re_error("missing <", i - 1) end
      local close = sfind(repl, ">", i + 1, true)
      local name = ssub(repl, i + 1, (close or n + 1) - 1)
      if name == "" then re_error("missing group name", i) end
      if not close then re_error("missing >, unterminated name", i) end
      local g
      if name:match("^[%a_][%w_]*$") then
        g = rx.names[name]
        if not g then raise("eval", "unknown group name '" .. name .. "'") end
      else
        -- Python's int(): surrounding blanks and a '+' are accepted
        g = name:match("^%s*%+?(%d+)%s*$")
        g = g and tonumber(g)
        if not g then re_error("bad character in group name '" .. name .. "'", i) end
      end
      group(g, i)
      i = close + 1
    elseif c == "0" then
      -- \0, \0o, \0oo: an octal character code
      local oct = repl:match("^[0-7]?[0-7]?", i)
      literal(utf8.char(tonumber("0" .. oct, 8) & 0xff))
      i = i + #oct
    elseif c:match("%d") then
      local num = c
      if ssub(repl, i, i):match("^%d$") then
        num = num .. ssub(repl, i, i); i = i + 1
        local third = ssub(repl, i, i)
        if num:match("^[0-7][0-7]$") and third:match("^[0-7]$") then
          local code = tonumber(num .. third, 8)
          if code > 255 then re_error("octal escape value \\" .. num .. third .. " outside of range 0-0o377", j - 1) end
          literal(utf8.char(code)); i = i + 1
          num = nil
        end
      end
      if num then group(tonumber(num), j - 1) end
    elseif TEMPLATE_ESCAPES[c] then
      literal(TEMPLATE_ESCAPES[c])
    elseif c:match("%a") then
      re_error("bad escape \\" .. c, j - 1)
    else
      literal("\\") -- kept with the character after it
      i = j + 1
    end
  end
  if #lit > 0 then parts[#parts + 1] = concat(lit) end
  return parts
end

local function expand(parts, mo)
  local out = {}
  for k, part in ipairs(parts) do
    out[k] = type(part) == "number" and (R.group(mo, part) or "") or part
  end
  return concat(out)
end

-- re.sub(pattern, repl, string, count); repl: string or function(mo)
function R.sub(rx, repl, s, count)
  count = count or 0
  local template = type(repl) ~= "function" and parse_template(rx, repl)
  local mos, cps = R.finditer(rx, s)
  local out = {}
  local prev = 1
  local done = 0
  for _, mo in ipairs(mos) do
    if count > 0 and done >= count then break end
    out[#out + 1] = str_of(cps, prev, mo.start)
    if template then out[#out + 1] = expand(template, mo) else out[#out + 1] = repl(mo) end
    prev = mo.stop + 1
    done = done + 1
  end
  out[#out + 1] = str_of(cps, prev, #cps)
  return concat(out)
end

-- re.split(pattern, string, maxsplit) -> array (nil for unmatched groups)
function R.split(rx, s, maxsplit)
  maxsplit = maxsplit or 0
  local mos, cps = R.finditer(rx, s)
  local out = {}
  local prev = 1
  local done = 0
  for _, mo in ipairs(mos) do
    if maxsplit > 0 and done >= maxsplit then break end
    out[#out + 1] = str_of(cps, prev, mo.start)
    for g = 1, rx.ngroups do
      local v = R.group(mo, g)
      out[#out + 1] = v == nil and rt.null or v
    end
    prev = mo.stop + 1
    done = done + 1
  end
  out[#out + 1] = str_of(cps, prev, #cps)
  return out
end

-- re.escape
function R.escape(s)
  local out = {}
  for _, ch in ipairs(rt.uchars(s)) do
    if #ch == 1 and not ch:match("[%w_]") then out[#out + 1] = "\\" .. ch else out[#out + 1] = ch end
  end
  return concat(out)
end

R.flags = {IGNORECASE = IGNORECASE, MULTILINE = MULTILINE, DOTALL = DOTALL}

-- repr(re.compile(...)) as Python prints it
local prev_hook = P.repr_hook
P.repr_hook = function(v, mode)
  if getmetatable(v) == RegexMT then
    local names = {}
    if v.flags & IGNORECASE ~= 0 then names[#names + 1] = "re.IGNORECASE" end
    if v.flags & MULTILINE ~= 0 then names[#names + 1] = "re.MULTILINE" end
    if v.flags & DOTALL ~= 0 then names[#names + 1] = "re.DOTALL" end
    if v.flags & VERBOSE ~= 0 then names[#names + 1] = "re.VERBOSE" end
    local s = "re.compile(" .. P.str_repr(v.pattern)
    if #names > 0 then s = s .. ", " .. concat(names, "|") end
    return s .. ")"
  end
  if prev_hook then return prev_hook(v, mode) end
  return nil
end

-- cache of compiled patterns used with string arguments
local cache, ncache = {}, 0
function R.cached(pattern)
  local rx = cache[pattern]
  if rx then return rx end
  rx = R.compile(pattern, 0)
  if ncache > 256 then cache, ncache = {}, 0 end
  cache[pattern] = rx
  ncache = ncache + 1
  return rx
end

return R
