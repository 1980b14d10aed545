-- Unit tests of the Lua modules (run: lua5.4 tests/lua/test_units.lua)
local script = arg and arg[0] or "tests/lua/test_units.lua"
package.path = (script:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local H = require("harness")
local M = H.new()
local rt, P, J, R, ev, Y = M.runtime, M.pyfmt, M.json, M.regex, M.evaluator, M.yaqllib

local passed, failed = 0, 0
local function check(name, got, want)
  local ok
  if type(want) == "table" or type(got) == "table" then ok = H.same(rt, got, want) else ok = got == want and math.type(got) == math.type(want) end
  if ok then passed = passed + 1 else
    failed = failed + 1
    print(("FAIL %s\n     got  %s\n     want %s"):format(name, H.show(M, got), H.show(M, want)))
  end
end
local function check_err(name, fn, kind)
  local ok, e = pcall(fn)
  if not ok and type(e) == "table" and getmetatable(e) == rt.ErrMT and (not kind or e.kind == kind) then
    passed = passed + 1
  else
    failed = failed + 1
    print(("FAIL %s: expected a %s error, got %s"):format(name, kind or "glarex", ok and H.show(M, e) or tostring(e)))
  end
end
local function J_(s) return J.parse(s) end

-- Python float repr ---------------------------------------------------
for _, c in ipairs{
  {0.1 + 0.2, "0.30000000000000004"}, {1e16, "1e+16"}, {1e15, "1000000000000000.0"}, {1e-5, "1e-05"},
  {0.0001, "0.0001"}, {6.0, "6.0"}, {2.5, "2.5"}, {1 / 3, "0.3333333333333333"}, {-0.0, "-0.0"},
  {1e22, "1e+22"}, {123456.789, "123456.789"}, {5e-324, "5e-324"}, {1.7976931348623157e308, "1.7976931348623157e+308"},
  {math.huge, "inf"}, {-math.huge, "-inf"}, {2.5e-7, "2.5e-07"}, {100.0, "100.0"}, {1e100, "1e+100"},
} do check("float_repr " .. c[2], P.float_repr(c[1]), c[2]) end

-- Python str / repr -----------------------------------------------------
check("repr str", P.repr("it's \"q\""), [['it\'s "q"']])
check("repr str dq", P.repr("it's"), [["it's"]])
check("repr ctrl", P.repr("a\nb\t\1"), [['a\nb\t\x01']])
check("repr unicode", P.repr("héllo"), "'héllo'")
check("repr nbsp", P.repr("a\u{a0}"), "'a\\xa0'")
check("repr list", P.repr(J_('[1, "a", null, true, 2.5, {"k": []}]')), "[1, 'a', None, True, 2.5, {'k': []}]")
check("repr tuple yaql", P.repr(J_('[1]'), "yaql"), "(1,)")
check("repr tuple yaql 2", P.repr(J_('[[1, 2], []]'), "yaql"), "((1, 2), ())")
check("str int", P.str(28), "28")
check("str min int", P.str(math.mininteger), "-9223372036854775808")

-- format / percent --------------------------------------------------------
check("format basic", P.format("{0}-{1}", {"a", 1}), "a-1")
check("format auto", P.format("{} {}", {1.0, true}), "1.0 True")
check("format spec", P.format("{0:>5}|{1:.2f}|{2:05d}|{3:,}|{4:x}", {"a", 3.14159, 42, 1234567, 255}), "    a|3.14|00042|1,234,567|ff")
check("format kw", P.format("{x}", {}, J_('{"x": 5}')), "5")
check("format escape", P.format("{{}}{}", {1}), "{}1")
check_err("format missing", function() return P.format("{1}", {1}) end)
check("percent", P.percent("%s-%d", rt.tuple_from({"a", 3})), "a-3")
check("percent float", P.percent("%05.1f|%x|%r", rt.tuple_from({3.14159, 255, "a"})), "003.1|ff|'a'")
check("percent single", P.percent("%s", J_('[1, 2]')), "[1, 2]")
check_err("percent too many", function() return P.percent("%s", rt.tuple_from({1, 2})) end)

-- str helpers ----------------------------------------------------------------
check("split ws", rt.list_from(P.split("  a b\t c ")), J_('["a", "b", "c"]'))
check("split sep max", rt.list_from(P.split("a,b,c", ",", 1)), J_('["a", "b,c"]'))
check("rsplit", rt.list_from(P.rsplit("a,b,c", ",", 1)), J_('["a,b", "c"]'))
check("strip chars", P.strip("xxhixx", "x"), "hi")
check("upper unicode", P.upper("héllo ß"), "HÉLLO SS")
check("find cp", P.find("héllo", "l"), 2)
check("replace count", P.replace("aXbXc", "X", "-", 1), "a-bXc")
check("replace empty", P.replace("ab", "", "-"), "-a-b-")

-- json ----------------------------------------------------------------------
local v = J.parse('{"a": [1, 2.5, null, true, -0, 1e3, "\\u00e9\\ud83d\\ude00"], "a": 7, "b": {}}')
check("json int/float", math.type(rt.dict_get(v, "a")), "integer")
check("json dup key", rt.dict_get(v, "a"), 7)
check("json keys order", rt.list_from(v.keys), J_('["a", "b"]'))
check("json float", math.type(J.parse("1.0")), "float")
check("json exp float", J.parse("1e3"), 1000.0)
check("json surrogates", J.parse('"\\ud83d\\ude00"'), "😀")
check_err("json extra", function() return J.parse("[1] x") end)
check_err("json big int", function() return J.parse("99999999999999999999") end, "unsupported")
check("json_dump", J.dump(J_('{"x": "y", "k": [1, {}], "e": []}')), '{\n    "x": "y",\n    "k": [\n        1,\n        {}\n    ],\n    "e": []\n}')
check("json_dump ascii", J.dump("é😀"), '"\\u00e9\\ud83d\\ude00"')
check("tojson", J.tojson(J_('{"b": 1, "a": "<"}')), '{"a": "\\u003c", "b": 1}')
check("yaml_dump", J.yaml_dump(J_('{"b": 1, "a": [1, "x"], "c": {"d": null, "e": true, "f": 1.5}}')),
  "a:\n- 1\n- x\nb: 1\nc:\n  d: null\n  e: true\n  f: 1.5\n")
check("yaml_dump scalar", J.yaml_dump("hello"), "hello\n...\n")
check("yaml_dump quoted", J.yaml_dump(J_('["yes", "1", "", "a: b", "multi\\nline"]')), "- 'yes'\n- '1'\n- ''\n- 'a: b'\n- 'multi\n\n  line'\n")

-- regex ----------------------------------------------------------------------
local rx = R.compile("(\\w+)@(\\w+)\\.com")
local mo = R.search(rx, "mail joe@example.com now")
check("regex group", R.group(mo, 2), "example")
check("regex span", mo.start, 5)
check("regex sub", R.sub(R.compile("x*"), "-", "abc"), "-a-b-c-")
check("regex split groups", rt.list_from(R.split(R.compile("(\\d)"), "a1b2c")), J_('["a", "1", "b", "2", "c"]'))
check("regex lookbehind", R.group(R.search(R.compile("(?<=\\$)\\d+"), "cost $42"), 0), "42")
check_err("regex bad", function() return R.compile("(") end)

-- dicts ------------------------------------------------------------------------
local d = rt.dict()
rt.dict_set(d, "a", 1); rt.dict_set(d, 1, "int"); rt.dict_set(d, 1.0, "float one")
check("dict int/float key merge", rt.dict_get(d, 1), "float one")
check("dict len", #d.keys, 2)
rt.dict_delete(d, "a")
check("dict delete", rt.list_from(d.keys), rt.list(1))
check("eq", rt.eq(J_('{"a": [1, 2.0]}'), J_('{"a": [1.0, 2]}')), true)
check("eq bool int", rt.eq(true, 1), true)
check_err("lt mixed", function() return rt.lt(1, "a") end)
check_err("int overflow", function() return rt.mul(math.maxinteger, 2) end, "unsupported")
check("floordiv", rt.floordiv(-7, 2), -4)
check("mod", rt.mod(-7, 3), 2)
check("mod float", rt.mod(-7, 2.5), 0.5)

-- evaluator API -----------------------------------------------------------------
local ctx = J_('{"a": 1, "s": "x", "l": [1, 2], "__env": {"r": "R"}}')
check("evaluate typed", ev.evaluate("<% $.a %>", ctx), 1)
check("evaluate template", ev.evaluate("a=<% $.a %>", ctx), "a=1")
check("evaluate jinja", ev.evaluate("{{ _.l }}", ctx), J_("[1, 2]"))
check("evaluate env", ev.evaluate("<% env().r %>{{ env().r }}", ctx), "<% env().r %>R")
check("evaluate plain", ev.evaluate("plain", ctx), "plain")
check("evaluate non-string", ev.evaluate(5, ctx), 5)
local c1 = ev.compile("<% $.a + 1 %>")
check("compile cached", ev.compile("<% $.a + 1 %>") == c1, true)
check("run", ev.run(c1, ctx), 2)
check("recursive", ev.evaluate_recursively(J_('{"<% $.a %>": ["<% $.a %>", 2, "{{ _.s }}"]}'), ctx), J_('{"<% $.a %>": [1, 2, "x"]}'))
local data = J_('{"k": "<% $.a %>"}')
check("recursive empty ctx", ev.evaluate_recursively(data, rt.dict()) == data, true)
check("recursive null ctx", ev.evaluate_recursively("<% 1 %>", rt.null), "<% 1 %>")
do
  local ok, e = pcall(ev.evaluate, "x <% $.a + %> y", ctx)
  check("syntax error kind", not ok and e.kind, "syntax")
  check("syntax error offset", e.offset, 10)
  check("syntax error expr", e.expr, "$.a +")
  check("error tostring", tostring(e), e.message)
  ok, e = pcall(ev.evaluate, "ab <% $.missing %>", ctx)
  check("eval error", e.kind, "eval")
  check("eval error offset", e.offset, 6)
  -- the failing expression of several is the one reported
  ok, e = pcall(ev.evaluate, "<% $.a %> and <% $.missing %> and <% $.a %>", ctx)
  check("template error expr", not ok and e.expr, "$.missing")
  check("template error offset", e.offset, 17)
  ok, e = pcall(ev.evaluate, "<% $.missing %> and <% $.a %>", ctx)
  check("template first error expr", not ok and e.expr, "$.missing")
  check("template first error offset", e.offset, 3)
  ok, e = pcall(ev.evaluate, "<% $.l.toSet() %>", ctx)
  check("unsupported kind", e.kind, "unsupported")
  check("unsupported message", e.message:match("at offset %d+$") ~= nil, true)
  ok, e = pcall(ev.compile, "{% macro m() %}{% endmacro %}{{ 1 }}")
  check("compile unsupported", not ok and e.kind, "unsupported")
  ok, e = pcall(ev.compile, "<% $.a + %>")
  check("compile syntax", not ok and e.kind, "syntax")
  check("compile ok for runtime-only errors", pcall(ev.compile, "{% if x %}y{% endif %}"), true)
end
-- generated code references no globals
do
  local src = M.yaql.generate("$.hosts.where($.up).select({n => $.name, i => $.ip})")
  local env_used = false
  local chunk = load(src, "=t", "t", setmetatable({}, {__index = function(_, k) env_used = k end}))
  chunk(rt, Y)(J_('{"hosts": []}'))
  check("no globals in generated yaql", env_used, false)
end

-- bounded templates (run without the instruction count): no iteration, no library call
do
  for _, c in ipairs{
    {"plain text", true}, {"<% $.x %>", true}, {"<% $ %>", true}, {"<% $.a.b[0] %>", true},
    {"<% $.a?.b %>", true}, {"<% $.a and $.b or $.c %>", true}, {"<% [$.a, 'b'] %>", true},
    {"<% glare('wf', '1.0', 'x.sh') %>", true}, {"<% task().result %>", true},
    {"<% $.d.get('k') %>", true}, {"<% $.hosts.select($.name) %>", true},
    {"<% $.hosts.where($.up).select($.ip) %>", true}, {"<% $.h.select([$.a, $.b[0]]) %>", true},
    {"<% $.h.select($.l.select($)) %>", false}, {"<% $.h.select($__env.l.name) %>", false},
    {"<% $.h.select(glare('a', 'b', $.c)) %>", false}, {"<% $.h.select($ + 1) %>", false},
    {"<% $.h.orderBy($.a) %>", false}, {"<% $.h.select($.a, $.b) %>", false},
    {"<% range(0, 9).select($) %>", true}, {"<% $.h.select($.a).where($.b) %>", true},
    {"<% range(0, 10) %>", true}, {"<% range(0, 65537) %>", false}, {"<% range($.n) %>", false},
    {"<% $.h.select(range(3)) %>", false}, {"<% $.x + 1 %>", true}, {"<% $.x = 1 %>", true},
    {"<% let(a => 1) -> $a %>", true}, {"<% let($.x, b => $.y) -> [$1, $b] %>", true},
    {"<% with($.x) -> $1 %>", true}, {"<% let(a => $.l.orderBy($)) -> $a %>", false},
    {"<% let(a => 1) -> $.l.orderBy($) %>", false},
    {"<% $.l.select(let(a => 1) -> $a) %>", false}, {"<% $.x -> $.y %>", false},
    {"<% glare(name => 'wf', version => '1', resource => 'x') %>", true},
    {"a <% $.x %> b <% $.y %>", true}, {"a <% $.x %> b <% $.y.len() %>", true},
    {"<% $.s.toUpper() %>", true}, {"<% len($.l) %>", true}, {"<% $.l.first(0) %>", true},
    {"<% $.h.select($.name.toLower()) %>", true}, {"<% $.y.distinct() %>", false},
    {"<% $.l.join(',') %>", false}, {"<% $.s.split(',') %>", false}, {"<% len($.l, 1) %>", false},
    {"{{ _.x }}", true}, {"{{ _.a.b[0] }}", true}, {"{{ x['k'] }}", true},
    {"{{ _.hosts | map(attribute='name') | list }}", true},
    {"{{ _.hosts | map(attribute='name', default='-') | list }}", true},
    {"{{ _.hosts | map('upper') | list }}", true}, {"{{ _.hosts | sum }}", true},
    {"{{ _.hosts | map('sort') | list }}", false}, {"{{ _.s | upper }}", true},
    {"{{ _.h | selectattr('up') | list }}", true}, {"{{ _.h | select('odd') | list }}", true},
    {"{{ _.h | selectattr('a', 'equalto', 1) | list }}", true},
    {"{{ _.h | selectattr('a', '<', 'b') | list }}", true},
    {"{{ _.h | reject('ne', none) | list }}", true},
    {"{{ _.h | selectattr('a', 'equalto', [1]) | list }}", false},
    {"{{ _.h | selectattr('a', 'equalto', _.x) | list }}", false},
    {"{{ _.h | selectattr('a', 'in', 'abc') | list }}", false},
    {"{{ _.h | selectattr('a', 'equalto', 1, 2) | list }}", false},
    {"{{ _.h | select('in', _.l) | list }}", false}, {"{{ _.h | sort | first }}", true},
    {"{{ _.h | join(', ') }}", true}, {"{{ _.h | join(', ', attribute='a') }}", false},
    {"{{ _.s | replace('a', 'b') | length }}", true}, {"{{ _.s | center(_.n) }}", true},
    {"{{ _.s | center(1, 2) }}", false}, {"{{ _.s | round }}", false},
    {"{{ _.hosts | map(attribute=_.k) | list }}", true}, {"{{ _.s[1:] }}", false},
    {"{{ range(10) | list }}", false}, {"{{ _.x + 1 }}", true}, {"{{ _.x is defined }}", true},
    {"{{ _.x is not none }}", true}, {"{{ _.x is eq(1) }}", true},
    {"{{ _.x is eq([1]) }}", false}, {"{{ _.x is sameas(_.y) }}", false},
    {"{{ _.x is divisibleby(3) }}", false}, {"{{ _.x is in(_.l) }}", false},
    {"{{ _.x is nosuchtest }}", false}, {"{{ env().region }}", true}, {"{{ env(1) }}", false},
    {"{{ glare('wf', '1.0', 'x') }}", true}, {"{{ glare(name=_.n, version='1', resource='x') }}", true},
    {"{{ glare(*_.l) }}", false}, {"{{ glare(_.l | unique) }}", false},
    {"{{ uuid() }}", false},
    {"{{ [_.a, {'k': _.b}] }}", true}, {"{{ _.l | list(*_.m) }}", false},
    {"Host {{ _.name }} at {{ _.ip }}", true},
    {"{% if _.a %}{{ _.b }}{% else %}c{% endif %}", true},
    {"{% if _.a | length %}b{% endif %}", false},
    {"{% for i in _.l %}{{ i }}{% endfor %}", false}, {"{% set x = 1 %}{{ x }}", false},
    -- operators: a repetition the template writes, comparisons with a constant scalar
    {"<% $.l * 3 %>", true}, {"<% 3 * $.l %>", true}, {"<% $.l * $.n %>", false},
    {"<% -$.x + $.y / 2 - $.z mod 3 %>", true}, {"<% not $.x %>", true},
    {"<% $.x = $.y %>", false}, {"<% $.x != null %>", true}, {"<% 'a' < $.s %>", true},
    {"<% $.x in [1, 2] %>", false}, {"<% $.x =~ 'a+' %>", false},
    {"<% $.h.where($.up = true).select($.ip) %>", true},
    {"<% $.h.where($.a = $.b) %>", false}, {"<% $.h.select($.a + 1) %>", false},
    {"<% {a => $.x} + {b => $.y} %>", true}, {"<% {$.k => $.l.len()} %>", true},
    {"<% {a => $.l.orderBy($)} %>", false}, {"<% '{0}:{1}'.format($.a, $.b) %>", true},
    {"<% format('{0}', $.a) %>", true}, {"<% int($.s) + float($.t) %>", true},
    {"<% concat($.a, '-', $.b) %>", true}, {"<% $.d.containsKey('k') %>", true},
    {"<% isString($.x) and isList($.l) %>", true}, {"<% $.d.get('k', 1, 2) %>", false},
    {"<% glare(name => $.l.orderBy($)) %>", false},
    {"{{ _.a ~ '-' ~ _.b }}", true}, {"{{ _.l * 2 }}", true}, {"{{ _.l * _.n }}", false},
    {"{{ -_.x ** 2 // 3 }}", true}, {"{{ '%s-%d' % (_.s, _.a) }}", true},
    {"{{ '%*d' % (_.w, _.a) }}", false}, {"{{ _.f % _.a }}", false},
    {"{{ _.a == 1 }}", true}, {"{{ none != _.a }}", true}, {"{{ _.a == _.b }}", false},
    {"{{ 1 < _.a < 3 }}", false}, {"{{ _.a in _.l }}", false},
    {"{{ _.a if _.b else _.c }}", true}, {"{{ not _.a and _.b or _.c }}", true},
    {"{{ _.a if _.l | sort else 1 }}", true},
    {"{{ _.a if _.l | unique else 1 }}", false}, {"{{ _.h | sort(attribute='a') }}", true},
    {"{{ _.h | sort(reverse=true, attribute='a') }}", true},
    {"{{ _.h | sum(attribute='a', start=_.x) }}", true}, {"{{ _.s | center(width=3) }}", true},
    {"{{ _.s | int(default=1, base=2, x=3) }}", false},
  } do
    check("bounded " .. c[1], ev.compile(c[1]).bounded == true, c[2])
  end
end

-- str.strip() of ASCII text: Python's whitespace, \x1c-\x1f included, on each side
do
  local ws = {[9] = true, [10] = true, [11] = true, [12] = true, [13] = true, [28] = true,
    [29] = true, [30] = true, [31] = true, [32] = true}
  local bad = {}
  for b = 0, 127 do
    local c = string.char(b)
    local s = c .. c .. "x" .. c .. "y" .. c
    local want_l = ws[b] and "x" .. c .. "y" .. c or s
    local want_r = ws[b] and c .. c .. "x" .. c .. "y" or s
    local want = ws[b] and "x" .. c .. "y" or s
    if P.strip(s) ~= want or P.strip(s, nil, "left") ~= want_l or P.strip(s, nil, "right") ~= want_r then
      bad[#bad + 1] = b
    end
  end
  check("strip of ASCII: bytes that differ from Python", table.concat(bad, ","), "")
  check("strip of all whitespace", P.strip(" \t\n\x1c "), "")
  check("strip of non-ASCII whitespace", P.strip("\u{3000}a\u{a0}"), "a")
end

-- glare() with keyword arguments takes the host's direct entry when all are strings
do
  local direct, generic = {}, {}
  local M2
  M2 = H.new({
    glare = function(a, b, c) direct[#direct + 1] = a .. ":" .. b .. ":" .. c; return "direct" end,
  })
  local call = M2.host.call
  M2.host.call = function(name, args, kw, ctx)
    local ks = {}
    for k in M2.runtime.dict_pairs(kw or M2.runtime.dict()) do ks[#ks + 1] = k end
    generic[#generic + 1] = name .. "(" .. #args .. "; " .. table.concat(ks, ",") .. ")"
    return call(name, args, kw, ctx)
  end
  local ctx2 = M2.json.parse('{"v": "1.0"}')
  check("glare, keywords in any order", M2.evaluator.evaluate(
    "<% glare(version => $.v, resource => 'x.sh', name => 'wf') %>", ctx2), "direct")
  check("glare, keywords: the direct entry, in its order", table.concat(direct, " "), "wf:1.0:x.sh")
  check("glare, keywords: no generic call", #generic, 0)
  local ok, e = pcall(M2.evaluator.evaluate, "<% glare(resource => 'x', version => 1, name => 'wf') %>", ctx2)
  check("glare, keywords, not strings: the generic call, keywords as written", generic[1],
    "glare(0; resource,version,name)")
  check("glare, keywords, not strings: its error", not ok and e.message,
    "glare() argument 'version' must be a string, got int")
  -- the values are evaluated as written, whatever the parameter order
  local ok2, e2 = pcall(M2.evaluator.evaluate,
    "<% glare(version => int('a'), name => int('b'), resource => 'x') %>", ctx2)
  check("glare, keywords: evaluated as written", not ok2 and e2.message:find("'a'", 1, true) ~= nil, true)
  check("glare, unknown keyword: the generic call",
    select(2, pcall(M2.evaluator.evaluate, "<% glare(name => 'a', version => 'b', file => 'c') %>", ctx2)).message,
    "glare() got an unexpected keyword argument 'file'")
end

-- $__env & co: converted once per context, not on every evaluation
do
  local big = {}
  for i = 1, 5000 do big[i] = "item" .. i end
  local ctx = J_('{"__env": {"region": "r1", "list": ["a", ["b"]]}}')
  rt.dict_set(rt.dict_get(ctx, "__env"), "big", setmetatable(big, rt.List))
  local function instructions(text)
    local n = 0
    debug.sethook(function() n = n + 1 end, "", 1)
    local v = ev.evaluate(text, ctx)
    debug.sethook()
    return n, v
  end
  instructions("<% $__env.region %>")
  local n, v = instructions("<% $__env.region %>")
  check("$__env read again: value", v, "r1")
  check("$__env read again: without converting it (" .. n .. " instructions)", n < 1000, true)
  check("$__env: its lists are Python lists", ev.evaluate("<% isList($__env.list[1]) %>", ctx), true)
  check("$__env: the context's list is left as it is",
    getmetatable(rt.dict_get(rt.dict_get(ctx, "__env"), "list")) == rt.List, true)
  check("$__env of another context", ev.evaluate("<% $__env.region %>", J_('{"__env": {"region": "r2"}}')), "r2")
end

print(string.format("%d passed, %d failed", passed, failed))
os.exit(failed == 0 and 0 or 1)
