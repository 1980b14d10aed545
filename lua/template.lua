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
    if sfind(msg, "stack overflow", 1, true) then
      -- a recursion through a value without a depth check of its own
      msg = "the value is a list or dict that contains itself, or is nested too deeply"
    else
      msg = "internal error: " .. msg
    end
    e = setmetatable({kind = "eval", message = msg, internal = true}, ErrMT)
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
  -- The output laid out as it will be joined: the literal segments between the
  -- matches, with each expression's slot (even indexes) false until rendered.
  local n = #exprs
  local layout, dup, seen = {}, false, {}
  local prev = 1
  for i, m in ipairs(matches) do
    layout[2 * i - 1] = ssub(text, prev, m.s - 1)
    layout[2 * i] = false
    prev = m.e + 1
    if seen[exprs[i].text] then dup = true end
    seen[exprs[i].text] = true
  end
  layout[2 * n + 1] = ssub(text, prev)
  local size = 2 * n + 1
  -- every expression in order (evaluation never depends on the text being built),
  -- each value converted and rendered as Python str(), into its slot
  local function render_all(ctx, out)
    for i = 1, n do out[2 * i] = pstr(finalize(exprs[i].fn(ctx), false)) end
  end
  local replace, concat, unpack = P.replace, table.concat, table.unpack
  return {kind = "yaql", text = text, bounded = all_bounded, eval = function(ctx)
    local out = {unpack(layout, 1, size)}
    local ok, e = pcall(render_all, ctx, out)
    if not ok then
      local i = 1
      while out[2 * i] do i = i + 1 end -- the first slot not rendered failed
      local x = exprs[i]
      rethrow(e, "yaql", x.expr, x.base, text)
    end
    local simple = not dup
    for i = 1, n do
      if simple and sfind(out[2 * i], "<%", 1, true) then simple = false end
    end
    -- no value can be re-substituted: plain interleaving
    if simple then return concat(out) end
    -- Mistral's sequential str.replace over the current result
    local result = text
    for i = 1, n do result = replace(result, exprs[i].text, out[2 * i], -1) end
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
