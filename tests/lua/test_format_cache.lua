-- str.format parses each format once: a warm call reads the parsed pieces instead of
-- scanning the format again; the cache of parsed formats stays within its bound; and
-- a warm call gives exactly what the first gave, errors included, in the same order.
-- Run: lua5.4 tests/lua/test_format_cache.lua
local script = arg and arg[0] or "tests/lua/test_format_cache.lua"
package.path = (script:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local H = require("harness")
local M = H.new()
local rt, ev, P = M.runtime, M.evaluator, M.pyfmt

local failed = 0
local function check(ok, what)
  if ok then
    print("ok   " .. what)
  else
    failed = failed + 1
    print("FAIL " .. what)
  end
end

local ctx = rt.dict()
rt.dict_set(ctx, "t", "x")
rt.dict_set(ctx, "a", 1)
rt.dict_set(ctx, "l", setmetatable({1, 2}, rt.List))

local function outcome(expr)
  local ok, v = pcall(ev.evaluate, expr, ctx)
  if ok then return "value " .. H.show(M, v) end
  return "error " .. tostring(type(v) == "table" and v.message or v)
end

-- calls of string.sub while `expr` runs warm (the scan of a format calls it per piece;
-- a format spec such as `:>4` is read by format_value, so these have none)
local function subs_in_warm_run(expr)
  ev.evaluate(expr, ctx)
  local n = 0
  local sub = string.sub
  debug.sethook(function()
    if debug.getinfo(2, "f").func == sub then n = n + 1 end
  end, "c")
  ev.evaluate(expr, ctx)
  debug.sethook()
  return n
end

for _, expr in ipairs{
  "<% '{}'.format($.t) %>",
  "<% '{0}-{1}'.format($.t, $.a) %>",
  "<% format('{0}:{1}', $.t, $.a) %>",
  "<% 'Status:{} Message:{}'.format($.t, $.a) %>",
  "{{ '{}-{}'.format(_.t, _.a) }}",
  "{{ '{0}|{1!r}'.format(_.t, _.a) }}",
} do
  local n = subs_in_warm_run(expr)
  check(n == 0, ("%s: %d calls of string.sub when warm"):format(expr, n))
end

-- the first and the warm call agree, malformed formats included: a malformed piece
-- after a field is raised after that field's lookup, as Python does
for _, expr in ipairs{
  "<% '{}'.format($.t) %>",
  "<% '{}}'.format($.t) %>",
  "<% '{}}'.format() %>",
  "<% '{'.format($.t) %>",
  "<% '{0!x}'.format($.t) %>",
  "<% '{0!}'.format() %>",
  "<% '{!r:}{'.format($.t) %>",
  "<% '{0}{}'.format($.t, $.a) %>",
  "<% '{}{0}'.format($.t, $.a) %>",
  "<% '{:{}}'.format($.t, 4) %>",
  "<% '{:{:{}}}'.format($.t, 4, 1) %>",
  "<% '{x}'.format($.t) %>",
  "<% '{0.real}'.format($.a) %>",
  "{{ '{0[5]}'.format(_.l) }}",
  "{{ '{0[1]}'.format(_.l) }}",
} do
  local first = outcome(expr)
  local second = outcome(expr)
  check(first == second, ("%s: %s, then %s"):format(expr, first, second))
end

-- formats read from data: at most 256 kept, none longer than 256 bytes
for i = 1, 1000 do P.format("{}" .. i, {i}, nil, "yaql") end
check(P.format_cache_count() <= 256, ("1000 formats: %d kept"):format(P.format_cache_count()))
P.clear_format_cache()
P.format("{}" .. string.rep("x", 300), {1}, nil, "yaql")
check(P.format_cache_count() == 0, "a format of 302 bytes is not kept")
P.format("{}" .. string.rep("x", 200), {1}, nil, "yaql")
check(P.format_cache_count() == 1, "a format of 202 bytes is kept")
ev.clear_cache()
check(P.format_cache_count() == 0, "emptying the evaluator's caches empties it")

if failed > 0 then
  print(failed .. " failed")
  os.exit(1)
end
