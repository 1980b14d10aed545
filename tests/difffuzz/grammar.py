"""Random YAQL and Jinja expressions over realistic Mistral task contexts.

An expression is a tree of nodes ("N", lang, type, fmt, kids): fmt is the node's
text with one "§" per kid. Types steer generation towards expressions that give
values rather than errors: num, str, bool, nlist (numbers), slist (strings),
hlist (host dicts), dict, any. Every choice comes from one random.Random, so a
seed gives the same cases on every machine.
"""

HOLE = "§"

# Strings Mistral users hold: host names, Unicode words and the cases Python's
# Unicode data decides (special casing, titlecase digraphs, number letters, spaces).
STRINGS = [
    "web-01", "Web-01", "db_02", "İstanbul", "straße", "ǅemal", "Ⅳ ⅳ", "naïve café",
    "ÉCOLE", "ﬁne ﬀ", "Σίσυφος", "ὈΔΥΣΣΕΎΣ", "ΣΑΣ", "ŉ", "ǈubljana", "日本語",
    "emoji 😀", "tab\tend", "line\nnext", "MiXeD cAsE", "123", "-4.5", "1e3", " 42 ",
    "a\u00a0b c", "", " ", "x", "a,b,,c", "don't", "ⅻ", "Ǳ", "ß", "ᾳ", "K", "µs",
]
WORDS = ["alpha", "Beta", "gamma", "İ", "ß", "Ⅻ", "ǆ", "", "z z", "10", "é"]
INTS = [0, 1, 2, 3, -1, -3, 7, 42, 1000, -250, 2147483648]
FLOATS = [0.0, -0.0, 0.5, -2.5, 2.5, 1e-07, 3.14159, 1e16, 100.0, -0.4, 0.1, 1.5, 2.675, 0.125, -1.5,
          123456789.125, 1e-05, 5e-324, 1.7976931348623157e308]


def make_context(rng):
    """A task context: scalars, hosts (a list of dicts), nested data, nulls."""
    def host(i):
        return {"name": rng.choice(STRINGS[:12]) + str(i), "ip": "10.0.%d.%d" % (i, rng.randint(1, 254)),
                "up": rng.random() < 0.6, "cpus": rng.choice([1, 2, 4, 8, 0, 16]),
                "mem": rng.choice(FLOATS + [2048.0, 0.25]),
                "zone": rng.choice(["az1", "az2", None, "zóna"]),
                "tags": rng.sample(WORDS, rng.randint(0, 3))}
    return {
        "count": rng.choice(INTS), "ratio": rng.choice(FLOATS), "zero": rng.choice([0, 0.0, -0.0]),
        "port": rng.choice([22, 443, 8080, 0]), "name": rng.choice(STRINGS),
        "title": rng.choice(STRINGS), "text": rng.choice(STRINGS) + " " + rng.choice(STRINGS),
        "region": rng.choice(["RegionOne", "région-2", "EU_west"]), "csv": rng.choice(["a,b,,c", "1,2,3", ""]),
        "enabled": rng.random() < 0.5, "nothing": None,
        "items": [rng.choice(INTS) for _ in range(rng.randint(0, 5))],
        "floats": [rng.choice(FLOATS) for _ in range(rng.randint(0, 4))],
        "words": [rng.choice(WORDS) for _ in range(rng.randint(0, 4))],
        "hosts": [host(i) for i in range(rng.randint(0, 4))],
        "cfg": {"a": {"b": rng.choice(INTS + [None])}, "list": [1, "two", None, 3.5],
                "flag": rng.random() < 0.5, "name": rng.choice(STRINGS)},
        "pairs": [[1, 2], [1, 2], [3]],
        "__env": {"region": "RegionOne", "debug": False},
    }


CONTEXT_KEYS = ["count", "ratio", "zero", "port", "name", "title", "text", "region", "csv",
                "enabled", "nothing", "items", "floats", "words", "hosts", "cfg", "pairs"]


def _atoms(p):
    """Leaves per type; p is the context prefix ($ in YAQL, _ in Jinja)."""
    s = ["'abc'", "'İstanbul'", "'straße'", "'ǅemal'", "'Ⅳ ⅳ'", "'naïve café'", "' padded  '",
         "'a,b,,c'", "''", "'ﬁ Σ ß'", "'ὈΔΥΣΣΕΎΣ'"]
    return {
        "num": ["0", "1", "2", "3", "-1", "7", "2.5", "-0.5", "0.0", "1.5", "0.1"]
               + [p + ".count", p + ".ratio", p + ".zero", p + ".port", p + ".cfg.a.b"],
        "str": s + [p + ".name", p + ".title", p + ".text", p + ".region", p + ".csv",
                    p + ".cfg.name"],
        "nlist": ["[1, 2, 3]", "[]", "[3, -1, 0]", p + ".items", p + ".floats"],
        "slist": ["['b', 'a', 'B']", p + ".words", "['ß', 'İ', 'x']"],
        "hlist": [p + ".hosts"],
        "dict": [p + ".cfg", p + ".__env"],
        "bool": ["true", "false", p + ".enabled", p + ".cfg.flag"],
        "any": [p + ".nothing", p + ".cfg.list", p + ".pairs"],
    }


# (result type, fmt, kid types)
YAQL = [
    ("num", "§ + §", ["num", "num"]), ("num", "§ - §", ["num", "num"]), ("num", "§ * §", ["num", "num"]),
    ("num", "§ / §", ["num", "num"]), ("num", "§ mod §", ["num", "num"]), ("num", "-§", ["num"]),
    ("num", "abs(§)", ["num"]), ("num", "round(§)", ["num"]), ("num", "round(§, 1)", ["num"]),
    ("num", "int(§)", ["num"]), ("num", "float(§)", ["num"]), ("num", "int(§)", ["str"]),
    ("num", "§.len()", ["str"]), ("num", "len(§)", ["nlist"]), ("num", "§.sum()", ["nlist"]),
    ("num", "§.max()", ["nlist"]), ("num", "§.min()", ["nlist"]), ("num", "§.count()", ["hlist"]),
    ("num", "§.indexOf(§)", ["str", "str"]), ("num", "max(§, §)", ["num", "num"]),
    ("num", "§.first(0)", ["nlist"]), ("num", "§.aggregate($1 + $2, 0)", ["nlist"]),
    ("num", "§.select($.cpus).sum()", ["hlist"]), ("num", "§ * 1.0", ["num"]),
    ("num", "pow(§, 2)", ["num"]), ("num", "§.len()", ["slist"]),
    ("str", "§.toUpper()", ["str"]), ("str", "§.toLower()", ["str"]), ("str", "§ + §", ["str", "str"]),
    ("str", "§.trim()", ["str"]), ("str", "§.replace('a', 'o')", ["str"]),
    ("str", "§.substring(1)", ["str"]), ("str", "§.substring(1, 3)", ["str"]),
    ("str", "str(§)", ["num"]), ("str", "str(§)", ["any"]), ("str", "str(§)", ["nlist"]),
    ("str", "§.join(', ')", ["slist"]), ("str", "'{0}:{1}'.format(§, §)", ["str", "num"]),
    ("str", "'{:.2f}'.format(§)", ["num"]), ("str", "'{:>8}|'.format(§)", ["str"]),
    ("str", "'{:,}'.format(§)", ["num"]), ("str", "'{:08.3f}'.format(§)", ["num"]),
    ("str", "'{:+}'.format(§)", ["num"]), ("str", "'{:.2}'.format(§)", ["num"]),
    ("str", "'{:{}}|'.format(§, 6)", ["str"]), ("str", "'{:^9}'.format(§)", ["str"]),
    ("str", "regex('(\\\\w+)').replace(§, '<\\\\1>')", ["str"]),
    ("str", "regex('[aeiou]').replace(§, '_')", ["str"]), ("str", "§.split(',').join('|')", ["str"]),
    ("str", "json_dump(§)", ["any"]), ("str", "§ * 2", ["str"]), ("str", "concat(§, §)", ["str", "str"]),
    ("str", "§.toCharArray().join('.')", ["str"]), ("str", "§.name", ["dict"]),
    ("str", "§.first('none')", ["slist"]), ("str", "yaml_dump(§)", ["any"]),
    ("bool", "§ = §", ["num", "num"]), ("bool", "§ != §", ["str", "str"]), ("bool", "§ < §", ["num", "num"]),
    ("bool", "§ < §", ["str", "str"]), ("bool", "§ >= §", ["num", "num"]), ("bool", "§ and §", ["bool", "bool"]),
    ("bool", "§ or §", ["bool", "bool"]), ("bool", "not §", ["bool"]), ("bool", "§ in §", ["num", "nlist"]),
    ("bool", "§ in §", ["str", "slist"]), ("bool", "§.startsWith('a')", ["str"]),
    ("bool", "isString(§)", ["any"]), ("bool", "isInteger(§)", ["num"]), ("bool", "§.any($ > 2)", ["nlist"]),
    ("bool", "§.all($.up)", ["hlist"]), ("bool", "§ =~ '^[a-z]+$'", ["str"]),
    ("bool", "§ =~ '\\\\w'", ["str"]), ("bool", "bool(§)", ["any"]), ("bool", "§.isEmpty()", ["nlist"]),
    ("nlist", "§.select($ * 2)", ["nlist"]), ("nlist", "§.where($ > §)", ["nlist", "num"]),
    ("nlist", "§.orderBy($)", ["nlist"]), ("nlist", "§.orderByDescending($)", ["nlist"]),
    ("nlist", "§.distinct()", ["nlist"]), ("any", "§.distinct()", ["any"]), ("slist", "§.select($.name)", ["hlist"]),
    ("hlist", "§.where($.up)", ["hlist"]), ("hlist", "§.orderBy($.cpus)", ["hlist"]),
    ("nlist", "§.skip(1)", ["nlist"]), ("nlist", "§.take(2)", ["nlist"]), ("nlist", "§ + §", ["nlist", "nlist"]),
    ("nlist", "list(§)", ["nlist"]), ("any", "list(§.orderBy($))", ["nlist"]), ("nlist", "§.reverse()", ["nlist"]),
    ("nlist", "range(§)", ["num"]), ("slist", "§.split(',')", ["str"]), ("slist", "§.keys()", ["dict"]),
    ("any", "§.values()", ["dict"]), ("nlist", "§.append(§)", ["nlist", "num"]),
    ("any", "§.groupBy($.up)", ["hlist"]), ("any", "§.zip(§)", ["nlist", "slist"]),
    ("any", "§.flatten()", ["any"]), ("slist", "§.split()", ["str"]), ("slist", "§.select($.toUpper())", ["slist"]),
    ("dict", "§.mergeWith(§)", ["dict", "dict"]), ("dict", "dict(a => §)", ["any"]), ("dict", "{k => §}", ["num"]),
    ("dict", "§.toDict($.name, $.cpus)", ["hlist"]), ("dict", "§.first()", ["hlist"]),
    ("dict", "§.set('x', §)", ["dict", "num"]), ("any", "§.mergeWith({a => [1]})", ["dict"]),
    ("any", "switch(§ => §, true => §)", ["bool", "any", "any"]), ("any", "let(v => §) -> $v", ["any"]),
    ("any", "coalesce(§, §)", ["any", "any"]), ("any", "§.first()", ["nlist"]), ("any", "§[-1]", ["slist"]),
    ("any", "§.get('a')", ["dict"]), ("any", "§.cpus", ["dict"]), ("any", "set(§)", ["nlist"]),
]

JINJA = [
    ("num", "(§ + §)", ["num", "num"]), ("num", "(§ - §)", ["num", "num"]), ("num", "(§ * §)", ["num", "num"]),
    ("num", "(§ / §)", ["num", "num"]), ("num", "(§ // §)", ["num", "num"]), ("num", "(§ % §)", ["num", "num"]),
    ("num", "(§ ** 2)", ["num"]), ("num", "(§ ** §)", ["num", "num"]), ("num", "-§", ["num"]),
    ("num", "(§ | abs)", ["num"]), ("num", "(§ | round)", ["num"]), ("num", "(§ | round(1))", ["num"]),
    ("num", "(§ | round(0, 'floor'))", ["num"]), ("num", "(§ | int)", ["num"]), ("num", "(§ | int)", ["str"]),
    ("num", "(§ | float)", ["str"]), ("num", "(§ | length)", ["str"]), ("num", "(§ | length)", ["nlist"]),
    ("num", "(§ | sum)", ["nlist"]), ("num", "(§ | max)", ["nlist"]), ("num", "(§ | min)", ["nlist"]),
    ("num", "(§ | sum(attribute='cpus'))", ["hlist"]), ("num", "§.count('a')", ["str"]),
    ("num", "(§ | wordcount)", ["str"]), ("num", "(§ | first)", ["nlist"]),
    ("str", "(§ | upper)", ["str"]), ("str", "(§ | lower)", ["str"]), ("str", "(§ | title)", ["str"]),
    ("str", "(§ | capitalize)", ["str"]), ("str", "§.swapcase()", ["str"]), ("str", "§.casefold()", ["str"]),
    ("str", "§.title()", ["str"]), ("str", "§.upper()", ["str"]), ("str", "(§ ~ §)", ["any", "num"]),
    ("str", "(§ + §)", ["str", "str"]), ("str", "(§ | trim)", ["str"]), ("str", "(§ | replace('a', 'o'))", ["str"]),
    ("str", "(§ | truncate(5))", ["str"]), ("str", "(§ | center(11))", ["str"]), ("str", "(§ | string)", ["any"]),
    ("str", "(§ | join(', '))", ["slist"]), ("str", "(§ | join)", ["nlist"]),
    ("str", "('%s-%d' | format(§, §))", ["str", "num"]), ("str", "('%.2f' | format(§))", ["num"]),
    ("str", "'{:.2f}'.format(§)", ["num"]), ("str", "'{:>8}|'.format(§)", ["str"]),
    ("str", "'{:,}'.format(§)", ["num"]), ("str", "'{:.2}'.format(§)", ["num"]),
    ("str", "'{:{}}|'.format(§, 4)", ["str"]), ("str", "'{:_}'.format(§)", ["str"]),
    ("str", "(§ | filesizeformat)", ["num"]), ("str", "(§ | filesizeformat)", ["str"]),
    ("str", "(§ | tojson)", ["any"]), ("str", "(§ | indent(2))", ["str"]), ("str", "§.zfill(5)", ["str"]),
    ("str", "§.ljust(6, '*')", ["str"]), ("str", "(§.split(',') | join('+'))", ["str"]),
    ("str", "(§ | default('d'))", ["any"]), ("str", "(§ | urlencode)", ["str"]),
    ("str", "(§ | json_dump)", ["any"]), ("str", "(§ | string | lower)", ["nlist"]),
    ("str", "(§ | map(attribute='name') | join(' '))", ["hlist"]), ("str", "§.name", ["dict"]),
    ("bool", "(§ == §)", ["num", "num"]), ("bool", "(§ != §)", ["str", "str"]), ("bool", "(§ < §)", ["num", "num"]),
    ("bool", "(§ < §)", ["str", "str"]), ("bool", "(§ and §)", ["bool", "bool"]), ("bool", "(§ or §)", ["bool", "bool"]),
    ("bool", "not §", ["bool"]), ("bool", "(§ in §)", ["num", "nlist"]), ("bool", "(§ in §)", ["str", "str"]),
    ("bool", "(§ is number)", ["any"]), ("bool", "(§ is string)", ["any"]), ("bool", "(§ is defined)", ["any"]),
    ("bool", "(§ is odd)", ["num"]), ("bool", "(§ is divisibleby 3)", ["num"]), ("bool", "(§ is upper)", ["str"]),
    ("bool", "(§ is lower)", ["str"]), ("bool", "§.isalpha()", ["str"]), ("bool", "§.isupper()", ["str"]),
    ("bool", "§.isdigit()", ["str"]), ("bool", "§.isspace()", ["str"]), ("bool", "§.isalnum()", ["str"]),
    ("bool", "§.startswith(§)", ["str", "str"]),
    ("slist", "(§ | map('upper') | list)", ["slist"]), ("nlist", "(§ | select('odd') | list)", ["nlist"]),
    ("hlist", "(§ | selectattr('up') | list)", ["hlist"]), ("hlist", "(§ | rejectattr('up') | list)", ["hlist"]),
    ("slist", "(§ | map(attribute='name') | list)", ["hlist"]), ("nlist", "(§ | sort)", ["nlist"]),
    ("slist", "(§ | sort)", ["slist"]), ("hlist", "(§ | sort(attribute='cpus'))", ["hlist"]),
    ("nlist", "(§ | sort(reverse=true))", ["nlist"]), ("nlist", "(§ | unique | list)", ["nlist"]),
    ("slist", "(§ | unique | list)", ["slist"]), ("nlist", "(§ | reverse | list)", ["nlist"]),
    ("any", "(§ | batch(2) | list)", ["nlist"]), ("any", "(§ | slice(2) | list)", ["nlist"]),
    ("nlist", "(§ + §)", ["nlist", "nlist"]), ("slist", "(§ | list)", ["str"]), ("any", "(§ | dictsort)", ["dict"]),
    ("any", "(§ | items | list)", ["dict"]), ("slist", "§.split()", ["str"]), ("slist", "§.split(',')", ["str"]),
    ("nlist", "(range(§) | list)", ["num"]), ("nlist", "(§ | map('int') | list)", ["slist"]),
    ("any", "(§ | groupby('up') | list)", ["hlist"]),
    ("dict", "(§ | first)", ["hlist"]), ("dict", "dict(a=§)", ["any"]), ("dict", "{'k': §}", ["num"]),
    ("any", "(§ if § else §)", ["any", "bool", "any"]), ("any", "(§ | last)", ["slist"]), ("any", "§[0]", ["nlist"]),
    ("any", "(§ | default(§))", ["any", "any"]), ("any", "§.get('a')", ["dict"]), ("any", "§.cpus", ["dict"]),
]

# Forms real workflows use beyond the above: slices, sequence and dict methods, host
# filters with tests, printf formats, float sums and string forms of floats.
YAQL += [
    ("num", "§.select($.mem).sum()", ["hlist"]), ("num", "§.sum() / §.len()", ["nlist", "nlist"]),
    ("num", "round(§, 2)", ["num"]), ("num", "int(§ * 100)", ["num"]), ("num", "float(§)", ["str"]),
    ("num", "§.indexOf(0)", ["nlist"]), ("num", "§.max() - §.min()", ["nlist", "nlist"]),
    ("num", "§.lastIndexOf('a')", ["str"]), ("num", "§.selectMany($.tags).len()", ["hlist"]),
    ("str", "§.substring(-3)", ["str"]), ("str", "§.trimLeft()", ["str"]), ("str", "§.trimRight()", ["str"]),
    ("str", "str(§ + 0.2)", ["num"]), ("str", "str(§)", ["dict"]), ("str", "§.norm()", ["str"]),
    ("str", "', '.join(§)", ["slist"]), ("str", "§.rightSplit('-', 1).join('+')", ["str"]),
    ("str", "json_dump(§.select(str($)))", ["nlist"]), ("str", "§.select(str($)).join(' ')", ["nlist"]),
    ("str", "format('{0}/{1}', §, §)", ["str", "any"]), ("str", "§.toUpper().toLower()", ["str"]),
    ("str", "str(§.len())", ["hlist"]), ("str", "§.replace(' ', '')", ["str"]),
    ("bool", "§.endsWith('1')", ["str"]), ("bool", "§.contains(0)", ["nlist"]),
    ("bool", "§.any($.cpus > 4)", ["hlist"]), ("bool", "§.isEmpty()", ["str"]),
    ("nlist", "§.where($ mod 2 = 0)", ["nlist"]), ("nlist", "§.takeWhile($ > 0)", ["nlist"]),
    ("nlist", "§.skipWhile($ < 2)", ["nlist"]), ("nlist", "§.orderBy(-$)", ["nlist"]),
    ("nlist", "§.select($.len())", ["slist"]), ("nlist", "§.select($.mem * 2)", ["hlist"]),
    ("slist", "§.selectMany($.tags)", ["hlist"]), ("slist", "§.orderBy($)", ["slist"]),
    ("slist", "§.where($.zone != null).select($.zone)", ["hlist"]), ("slist", "§.split(' ', 1)", ["str"]),
    ("slist", "§.keys().orderBy($)", ["dict"]), ("hlist", "§.where($.zone = null)", ["hlist"]),
    ("any", "§.select([$.name, $.cpus])", ["hlist"]), ("any", "§.groupBy($.zone, $.name)", ["hlist"]),
    ("any", "§.get('missing', 'dflt')", ["dict"]), ("any", "§.items()", ["dict"]),
    ("any", "§.slice(2)", ["nlist"]), ("any", "§.select(§)", ["nlist", "any"]),
]
JINJA += [
    ("str", "§[:3]", ["str"]), ("str", "§[::-1]", ["str"]), ("nlist", "§[1:]", ["nlist"]),
    ("num", "§.find('e')", ["str"]), ("bool", "§.endswith('1')", ["str"]), ("str", "§.lstrip()", ["str"]),
    ("str", "§.rstrip('0')", ["str"]), ("any", "§.partition('-')", ["str"]), ("slist", "§.rsplit('-', 1)", ["str"]),
    ("num", "(§ | map(attribute='mem') | sum)", ["hlist"]), ("num", "(§ | sum)", ["nlist"]),
    ("nlist", "(§ | map('round') | list)", ["nlist"]), ("num", "((§ * 100) | int)", ["num"]),
    ("str", "('%05.1f' % §)", ["num"]), ("str", "('%d items' % §)", ["num"]), ("str", "('%x' % §)", ["num"]),
    ("str", "('%e' % §)", ["num"]), ("str", "('%s' % (§,))", ["any"]), ("str", "(§ | float | string)", ["num"]),
    ("str", "([§] | tojson)", ["any"]), ("hlist", "(§ | selectattr('cpus', 'gt', 2) | list)", ["hlist"]),
    ("hlist", "(§ | selectattr('zone', 'none') | list)", ["hlist"]),
    ("hlist", "(§ | selectattr('zone', 'equalto', 'az1') | list)", ["hlist"]),
    ("slist", "(§ | map(attribute='zone') | select | list)", ["hlist"]),
    ("slist", "(§ | sort(attribute='name') | map(attribute='name') | list)", ["hlist"]),
    ("slist", "(§ | sort(case_sensitive=true))", ["slist"]), ("str", "(§ | min)", ["slist"]),
    ("str", "(§ | max)", ["slist"]), ("any", "(§ | batch(2, 0) | list)", ["nlist"]),
    ("str", "(§ | list | reverse | join)", ["str"]), ("str", "(§ | wordwrap(5))", ["str"]),
    ("str", "(§ | replace(' ', '_'))", ["str"]), ("str", "(§ | join(', '))", ["nlist"]),
    ("num", "(§ | sum(start=10))", ["nlist"]), ("any", "(§ | dictsort(by='value'))", ["dict"]),
    ("slist", "(§ | list)", ["dict"]), ("slist", "(§.keys() | list)", ["dict"]), ("num", "(§ | length)", ["dict"]),
    ("nlist", "(range(1, §, 3) | list)", ["num"]), ("str", "(§ | map('string') | join)", ["nlist"]),
    ("dict", "dict(§, x=1)", ["dict"]), ("bool", "(§ is sameas true)", ["any"]),
    ("bool", "(§ is ge 2)", ["num"]), ("any", "(§ | groupby('zone') | list)", ["hlist"]),
    ("num", "(§ | round(2, 'ceil'))", ["num"]), ("num", "(§ | int(0, 16))", ["str"]),
    ("num", "(§ | float(1.5))", ["str"]), ("str", "('%.3g' | format(§))", ["num"]), ("str", "(§ | e)", ["str"]),
    ("str", "(§ | trim('.'))", ["str"]), ("str", "(§ | truncate(4, true, '…'))", ["str"]),
    ("str", "(§ | indent(2, true))", ["str"]), ("any", "(§ | unique(attribute='up') | list)", ["hlist"]),
    ("str", "(§ | string)", ["num"]), ("str", "((§ + 0.2) | string)", ["num"]),
    ("any", "(§ | map(attribute='tags') | sum(start=[]))", ["hlist"]), ("str", "§.center(9, '*')", ["str"]),
    ("num", "§.index(§)", ["nlist", "num"]), ("str", "(§ | title | swapcase)", ["str"]),
    ("str", "('%5s|' % §)", ["str"]), ("str", "('%-6s|' % §)", ["any"]), ("str", "('%.1f' % §)", ["num"]),
    ("str", "('%g' % §)", ["num"]), ("str", "('%r' % (§,))", ["any"]), ("str", "('%5.2f%%' % §)", ["num"]),
    ("str", "('%+d' % §)", ["num"]), ("str", "('%o' % §)", ["num"]), ("str", "'{!r}'.format(§)", ["any"]),
    ("str", "'{:e}'.format(§)", ["num"]), ("str", "'{:%}'.format(§)", ["num"]), ("str", "'{:g}'.format(§)", ["num"]),
    ("str", "'{0[0]}'.format(§)", ["slist"]), ("str", "'{a}'.format(a=§)", ["any"]),
    ("num", "(§ | round(2))", ["num"]), ("str", "(§ | string)", ["dict"]), ("str", "(§ | pprint)", ["any"]),
]
YAQL += [
    ("num", "round(§, 2)", ["num"]), ("str", "str(§ / 3)", ["num"]), ("num", "§ / 3", ["num"]),
    ("str", "'{0!r}'.format(§)", ["any"]), ("str", "'{:e}'.format(§)", ["num"]), ("str", "'{:g}'.format(§)", ["num"]),
    ("str", "'{a}-{b}'.format(a => §, b => §)", ["str", "num"]), ("str", "str(§)", ["hlist"]),
    ("num", "§.count()", ["dict"]), ("bool", "§ > §", ["str", "str"]), ("any", "§.sum()", ["slist"]),
    ("str", "regex('(a)').replace(§, '\\\\2')", ["str"]), ("str", "regex('(é)').replace(§, '[\\\\1]')", ["str"]),
    ("any", "dict(a => tuple(§, 2)).mergeWith(dict(a => [3]))", ["num"]), ("any", "[§, [1]].distinct()", ["nlist"]),
    ("num", "§.select($ mod -2).sum()", ["nlist"]), ("num", "§ mod -1.5", ["num"]),
    ("str", "str(§.items())", ["dict"]), ("str", "str(§.values())", ["dict"]), ("str", "str([§, §])", ["num", "str"]),
    ("str", "str(§.mergeWith(§).values())", ["dict", "dict"]), ("str", "str(§.delete('a'))", ["dict"]),
    ("str", "str(tuple(§, §))", ["any", "num"]), ("str", "str(§.toDict($.cpus, $.up))", ["hlist"]),
    ("str", "str(§.select([$, $]))", ["nlist"]), ("str", "str(dict(§.select([$, 1])))", ["slist"]),
]
JINJA += [
    ("str", "(§.items() | string)", ["dict"]), ("str", "(§.keys() | string)", ["dict"]),
    ("str", "(§.values() | list | string)", ["dict"]), ("str", "((§, 1) | string)", ["any"]),
    ("str", "(§ | string)", ["hlist"]), ("str", "(§ | batch(2) | list | string)", ["slist"]),
    ("str", "(§ | dictsort | string)", ["dict"]), ("str", "(§ | groupby('up') | string)", ["hlist"]),
    ("str", "(§ | items | list | string)", ["dict"]), ("str", "((§ ~ '') | list | string)", ["num"]),
]

TYPES = ["num", "str", "bool", "nlist", "slist", "hlist", "dict", "any"]
GRAMMARS = {"yaql": (YAQL, _atoms("$")), "jinja": (JINJA, _atoms("_"))}


def gen_node(rng, lang, typ, depth):
    rules, atoms = GRAMMARS[lang]
    if typ == "any":
        typ = rng.choice(TYPES)
    choices = [r for r in rules if r[0] == typ]
    if depth <= 0 or not choices or rng.random() < 0.25:
        return ("N", lang, typ, rng.choice(atoms[typ]), ())
    _, fmt, kids = rng.choice(choices)
    return ("N", lang, typ, fmt, tuple(gen_node(rng, lang, k, depth - 1) for k in kids))


def render_node(node):
    _, _, _, fmt, kids = node
    pieces = fmt.split(HOLE)
    out = [pieces[0]]
    for kid, rest in zip(kids, pieces[1:]):
        out.append(render_node(kid))
        out.append(rest)
    return "".join(out)


def atom_for(node):
    """The simplest leaf of a node's type (what the shrinker tries first)."""
    _, lang, typ, _, _ = node
    return ("N", lang, typ, GRAMMARS[lang][1][typ][0], ())


# A template ("T", parts): text, ("E", lang, node) for one expression, or ("R", node)
# for a node written as is (inside a Jinja statement).
def gen_template(rng, lang):
    depth = rng.choice([1, 2, 2, 3, 3, 4])
    node = gen_node(rng, lang, "any", depth)
    r = rng.random()
    if lang == "jinja" and r < 0.12:
        body = rng.choice(["{{ x }}", "{{ loop.index }}:{{ x }} ", "{{ x | string | upper }},",
                           "{% if loop.last %}{{ x }}{% endif %}"])
        lst = gen_node(rng, lang, rng.choice(["nlist", "slist", "hlist"]), depth - 1)
        return ("T", ("{% for x in ", ("R", lst), " %}" + body + "{% endfor %}"))
    if lang == "jinja" and r < 0.16:
        return ("T", ("{% set n = ", ("R", node), " %}", rng.choice(["{{ n }}", "{{ n | string }}!", "[{{ n }}]"])))
    if lang == "jinja" and r < 0.19:
        return ("T", ("{% for k, v in ", ("R", gen_node(rng, lang, "dict", depth - 1)),
                      ".items() %}{{ k }}={{ v }};{% endfor %}"))
    if lang == "jinja" and r < 0.25:
        cond = gen_node(rng, lang, "bool", depth - 1)
        return ("T", ("{% if ", ("R", cond), " %}yes{% else %}", ("E", lang, node), "{% endif %}"))
    if r < 0.45:
        other = gen_node(rng, lang, "any", depth - 1)
        return ("T", (rng.choice(["host ", "v=", "", "é: "]), ("E", lang, node), " / ", ("E", lang, other)))
    return ("T", (("E", lang, node),))


def render_template(t):
    out = []
    for part in t[1]:
        if isinstance(part, str):
            out.append(part)
        elif part[0] == "R":
            out.append(render_node(part[1]))
        elif part[1] == "yaql":
            out.append("<% " + render_node(part[2]) + " %>")
        else:
            out.append("{{ " + render_node(part[2]) + " }}")
    return "".join(out)


# The value given to evaluate_recursively: dicts and lists holding templates.
def gen_structure(rng, depth=2):
    r = rng.random()
    if depth <= 0 or r < 0.45:
        if rng.random() < 0.85:
            return gen_template(rng, rng.choice(["yaql", "jinja"]))
        return ("V", rng.choice(["plain text", 3, 2.5, None, True, "{not an expression", "<% no end"]))
    if r < 0.75:
        keys = rng.sample(["a", "hosts", "msg", "n", "é", "cfg"], rng.randint(1, 3))
        return ("D", tuple((k, gen_structure(rng, depth - 1)) for k in keys))
    return ("L", tuple(gen_structure(rng, depth - 1) for _ in range(rng.randint(1, 3))))


def render_structure(s):
    kind = s[0]
    if kind == "T":
        return render_template(s)
    if kind == "V":
        return s[1]
    if kind == "D":
        return {k: render_structure(v) for k, v in s[1]}
    return [render_structure(v) for v in s[1]]


def gen_case(rng):
    """One case: {"mode", "shape", "context"}; shape renders to the expression."""
    r = rng.random()
    if r < 0.2:
        return {"mode": "recursive", "shape": gen_structure(rng), "context": make_context(rng)}
    lang = "yaql" if r < 0.6 else "jinja"
    return {"mode": "evaluate", "shape": gen_template(rng, lang), "context": make_context(rng)}


def render(case):
    return render_structure(case["shape"])
