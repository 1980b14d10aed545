-- glarex template: Mistral's expression detection and template semantics.
-- Decides Jinja vs YAQL vs plain text, whole-value typing, YAQL's
-- replace-based substitution and Jinja rendering; returns compiled objects
-- {kind=, text=, bounded=, eval=function(ctx)} whose eval raises glarex errors;
-- `bounded` when its running time is bounded by the size of the data it reads.
local M = ...
local rt, P, Y, yaql = M.runtime, M.pyfmt, M.yaqllib, M.yaql
local T = {}

local sfind, ssub = string.find, string.sub
local getmetatable, setmetatable, type, error, pcall = getmetatable, setmetatable, type, error, pcall
local null = rt.null
local ErrMT = rt.ErrMT

-- non-greedy `open(.*?)close` where `.` does not match a newline;
-- returns array of {s = start, e = end (inclusive), inner_s, inner_e}
local function findall(s, open, close)
  local out = {}
  local pos = 1
  while true do
    local a = sfind(s, open, pos, true)
    if not a then break end
    local b = sfind(s, close, a + 2, true)
    local nl = sfind(s, "\n", a + 2, true)
    if b and (not nl or nl > b) then
      out[#out + 1] = {s = a, e = b + 1}
      pos = b + 2
    else
      pos = a + 1
    end
  end
  return out
end
T.findall = findall

local function has_match(s, open, close)
  return #findall(s, open, close) > 0
end

function T.is_jinja(s)
  return (sfind(s, "{{", 1, true) and has_match(s, "{{", "}}")) or
         (sfind(s, "{%", 1, true) and has_match(s, "{%", "%}"))
end
function T.is_yaql(s)
  return sfind(s, "<%", 1, true) and has_match(s, "<%", "%>")
end

-- attach template context to an error and re-raise it
local function rethrow(e, lang, expr_text, base_offset, template)
  if getmetatable(e) ~= ErrMT then
    -- a Lua error inside the runtime: report it as an evaluation error
    local msg = tostring(e)
    e = setmetatable({kind = "eval", message = "internal error: " .. msg, internal = true}, ErrMT)
  end
  if e.expr == nil then e.expr = expr_text end
  if e.offset == nil then
    if e.pos then e.offset = base_offset + e.pos - 1 else e.offset = base_offset end
    e.pos = nil
  end
  e.lang = e.lang or lang
  if e.kind == "unsupported" and e.offset and not e.message:find("at offset", 1, true) then
    e.message = e.message .. " at offset " .. e.offset
  end
  e.template = template
  error(e, 0)
end
T.rethrow = rethrow

-- strip the characters < % > from both ends (Python str.strip('<%>'))
local function strip_delims(m)
  local i, j = 1, #m
  while i <= j and sfind("<%>", ssub(m, i, i), 1, true) do i = i + 1 end
  while j >= i and sfind("<%>", ssub(m, j, j), 1, true) do j = j - 1 end
  return ssub(m, i, j), i
end

------------------------------------------------------------------------
-- YAQL templates
------------------------------------------------------------------------
local function compile_yaql(text, matches)
  local exprs = {}
  local all_bounded = true
  for i, m in ipairs(matches) do
    local mtext = ssub(text, m.s, m.e)
    local inner, istart = strip_delims(mtext)
    local stripped = P.strip(inner)
    local lead = 0
    if stripped ~= "" then lead = (sfind(inner, stripped, 1, true) or 1) - 1 end
    local base = (m.s - 1) + (istart - 1) + lead -- 0-based offset of the expression in the template
    local ok, fn, _, is_bounded = pcall(yaql.compile, stripped, "=yaql")
    if not ok then rethrow(fn, "yaql", stripped, base, text) end
    exprs[i] = {text = mtext, expr = stripped, fn = fn, base = base}
    all_bounded = all_bounded and is_bounded
  end
  local whole = (#matches == 1 and matches[1].s == 1 and matches[1].e == #text)
  local finalize, pstr = Y.finalize, P.str
  local check = T.check_result
  if whole then
    local x = exprs[1]
    local fn = x.fn
    local function run(ctx) return finalize(fn(ctx), true) end
    return {kind = "yaql", text = text, bounded = all_bounded, eval = function(ctx)
      local ok, v = pcall(run, ctx)
      if not ok then rethrow(v, "yaql", x.expr, x.base, text) end
      return v
    end}
  end
  -- one protected call per expression: evaluate, convert, render as Python str()
  local function render(fn, ctx) return pstr(finalize(fn(ctx), false)) end
  local replace = P.replace
  -- literal segments between the matches (for the fast path)
  local segs, dup = {}, false
  local seen = {}
  local prev = 1
  for i, m in ipairs(matches) do
    segs[i] = ssub(text, prev, m.s - 1)
    prev = m.e + 1
    if seen[exprs[i].text] then dup = true end
    seen[exprs[i].text] = true
  end
  segs[#matches + 1] = ssub(text, prev)
  local n = #exprs
  local concat = table.concat
  return {kind = "yaql", text = text, bounded = all_bounded, eval = function(ctx)
    -- evaluate every expression first (in order): evaluation never depends
    -- on the text being built
    local vals = {}
    local simple = not dup
    for i = 1, n do
      local x = exprs[i]
      local ok, v = pcall(render, x.fn, ctx)
      if not ok then rethrow(v, "yaql", x.expr, x.base, text) end
      vals[i] = v
      if simple and sfind(v, "<%", 1, true) then simple = false end
    end
    if simple then
      -- no value can be re-substituted: plain interleaving
      local out = {}
      for i = 1, n do out[2 * i - 1] = segs[i]; out[2 * i] = vals[i] end
      out[2 * n + 1] = segs[n + 1]
      return concat(out)
    end
    -- Mistral's sequential str.replace over the current result
    local result = text
    for i = 1, n do result = replace(result, exprs[i].text, vals[i], -1) end
    return result
  end}
end

local function compile_plain(text)
  return {kind = "plain", text = text, bounded = true, eval = function() return text end}
end

------------------------------------------------------------------------
-- entry
------------------------------------------------------------------------
function T.compile(text)
  if T.is_jinja(text) then
    return M.jinja.compile_template(text)
  end
  if sfind(text, "<%", 1, true) then
    local matches = findall(text, "<%", "%>")
    if #matches > 0 then return compile_yaql(text, matches) end
  end
  return compile_plain(text)
end

return T
