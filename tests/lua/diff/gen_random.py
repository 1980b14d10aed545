import random, json, sys
random.seed(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
Y_ATOMS = ['$.a', '$.b', '$.f', '$.neg', '$.z', '$.s', '$.name', '$.e', '$.t', '$.fl', '$.n', '$.l', '$.words', '$.el', '$.ed', '$.d', '$.hosts', '$.uni', '$.csv', '1', '2', '0', '-3', '2.5', '0.1', "'x'", "'ab'", "''", 'true', 'false', 'null', '[1, 2]', '[]', '{a => 1}', 'foo', '$.d.k', '$.l[0]', '$.hosts[0]', '$.hosts.name', '$.hosts.cpus']
Y_BIN = ['+', '-', '*', '/', 'mod', '=', '!=', '<', '>', '<=', '>=', 'and', 'or', 'in']
Y_METH0 = ['len()', 'count()', 'first()', 'last()', 'sum()', 'max()', 'min()', 'distinct()', 'reverse()', 'toList()', 'flatten()', 'toUpper()', 'toLower()', 'trim()', 'keys()', 'values()', 'isEmpty()', 'split()', 'enumerate()', 'any()', 'all()']
Y_METH1 = ['select($ * 2)', 'where($ > 1)', 'select($.name)', 'where($.up)', 'orderBy($)', 'orderByDescending($)', 'first(0)', 'skip(1)', 'take(2)', 'join(",")', 'split(",")', 'contains(1)', 'indexOf(2)', 'get(x, 0)', 'startsWith("a")', 'replace("a", "b")', 'substring(1)', 'toDict($, $)', 'select(str($))', 'any($ = 1)', 'aggregate($1 + $2)', 'groupBy($ mod 2)', 'zip([1, 2])', 'append(9)', 'concat([0])', 'sum(10)']
Y_FUNC = ['len({})', 'str({})', 'int({})', 'float({})', 'bool({})', 'isString({})', 'isList({})', 'isDict({})', 'isInteger({})', 'isNumber({})', 'abs({})', 'round({})', 'json_dump({})', 'list({})', 'concat({}, "x")', 'max({}, 1)', 'min({}, 1)', 'not {}', '-{}', 'switch({} => 1, true => 2)', 'let(v => {}) -> $v', 'coalesce({}, 0)', 'dict(k => {})', '[{}]', '{{k => {}}}', 'range({})']
def yexpr(d=0):
    r = random.random()
    if d > 2 or r < 0.3: return random.choice(Y_ATOMS)
    if r < 0.5: return '%s %s %s' % (yexpr(d+1), random.choice(Y_BIN), yexpr(d+1))
    if r < 0.65: return '%s.%s' % (yexpr(d+1), random.choice(Y_METH0))
    if r < 0.85: return '%s.%s' % (yexpr(d+1), random.choice(Y_METH1))
    return random.choice(Y_FUNC).format(yexpr(d+1))
J_ATOMS = ['_.a', '_.b', '_.f', '_.neg', '_.z', '_.s', '_.name', '_.e', '_.t', '_.fl', '_.n', '_.l', '_.words', '_.el', '_.ed', '_.d', '_.hosts', '_.uni', '_.csv', '1', '2', '0', '-3', '2.5', '0.1', "'x'", "'ab'", "''", 'true', 'false', 'none', '[1, 2]', '[]', "{'a': 1}", '(1, 2)', '_.d.k', '_.l[0]', '_.hosts[0]', '_.missing', "_['d']", '_.d.x']
J_BIN = ['+', '-', '*', '/', '//', '%', '**', '==', '!=', '<', '>', '<=', '>=', 'and', 'or', 'in', 'not in', '~']
J_FILT = ['length', 'first', 'last', 'list', 'sort', 'unique | list', 'reverse | list', 'join', "join(',')", 'upper', 'lower', 'string', 'int', 'float', 'abs', 'round', 'sum', 'max', 'min', 'default(1)', "default('d', true)", 'tojson', 'trim', 'title', 'capitalize', 'dictsort', 'items | list', "map('string') | list", "select | list", "reject | list", "batch(2) | list", "map(attribute='name') | list", "selectattr('up') | list", 'count', "replace('a', 'b')", 'wordcount', 'center(9)', 'truncate(5)', 'string | length', "format(1)", 'pprint']
J_TEST = ['defined', 'undefined', 'none', 'number', 'string', 'mapping', 'sequence', 'iterable', 'odd', 'even', 'true', 'false', 'integer', 'float', 'lower', 'upper', 'divisibleby 2', 'in [1, 2]', 'eq 1', 'sameas none', 'callable']
def jexpr(d=0):
    r = random.random()
    if d > 2 or r < 0.3: return random.choice(J_ATOMS)
    if r < 0.5: return '(%s %s %s)' % (jexpr(d+1), random.choice(J_BIN), jexpr(d+1))
    if r < 0.75: return '(%s | %s)' % (jexpr(d+1), random.choice(J_FILT))
    if r < 0.85: return '(%s is %s)' % (jexpr(d+1), random.choice(J_TEST))
    if r < 0.92: return '(%s if %s else %s)' % (jexpr(d+1), jexpr(d+1), jexpr(d+1))
    return 'not %s' % jexpr(d+1)
n = int(sys.argv[2]) if len(sys.argv) > 2 else 300
for i in range(n):
    if random.random() < 0.5:
        e = '<% ' + yexpr() + ' %>'
        if random.random() < 0.2: e = 'v=' + e
    else:
        e = '{{ ' + jexpr() + ' }}'
        if random.random() < 0.2: e = 'v=' + e
    print('J:' + json.dumps(e))
