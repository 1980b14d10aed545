import random, json, sys
random.seed(int(sys.argv[1]))
YS = ["$.s", "$.name", "$.uni", "$.csv", "$.q", "'a-b_c'", "'  pad '", "'Ünï'", "$.wf.script", "str($.a)", "str($.f)", "$.words[0]"]
YSM = ["toUpper()", "toLower()", "trim()", "len()", "split('-')", "split(',')", "split()", "replace('a', 'X')", "substring(1, 3)", "substring(-2)", "indexOf('l')", "lastIndexOf('l')", "startsWith('h')", "endsWith('o')", "toCharArray()", "trimLeft('h')", "trimRight('o')", "split('').len()", "matches('^h')", "rightSplit('-', 1)", "isEmpty()", "norm()"]
YF = ["'{0}|{1}'.format({}, {})", "format('{}-{}', {}, {})", "concat({}, '/', {})", "{} + '!' + {}", "{} * 2", "len({})", "str({})", "[{}, {}].join('|')", "{} in {}", "{} =~ 'l'", "{} < {}", "{} = {}"]
JS = ["_.s", "_.name", "_.uni", "_.csv", "_.q", "'a-b_c'", "'  pad '", "'Ünï'", "_.wf.script", "(_.a | string)", "(_.f | string)", "_.words[0]"]
JSM = [".upper()", ".lower()", ".strip()", ".split('-')", ".split(',')", ".split()", ".replace('a', 'X')", "[1:3]", "[-2:]", ".find('l')", ".rfind('l')", ".startswith('h')", ".endswith('o')", ".title()", ".capitalize()", ".center(12, '*')", ".ljust(8, '.')", ".zfill(8)", ".count('l')", ".isalpha()", ".isdigit()", " | length", " | upper", " | title", " | reverse", " | list", " | wordcount", " | truncate(4, true, '')", " | center(9)", " | replace('l', 'L')", " | trim", " | first", " | last", " | tojson"]
JF = ["'{}|{}'.format({}, {})", "'%s-%s' % ({}, {})", "{} ~ '/' ~ {}", "{} + '!' + {}", "{} * 2", "({} | length)", "({} | string)", "[{}, {}] | join('|')", "{} in {}", "{} < {}", "{} == {}"]
for i in range(int(sys.argv[2])):
    if random.random() < 0.5:
        a = random.choice(YS) + ('.' + random.choice(YSM) if random.random() < 0.7 else '')
        b = random.choice(YS)
        f = random.choice(YF)
        e = f.replace('{}', a, 1).replace('{}', b, 1) if f.count('{}') >= 2 else f.replace('{}', a)
        e = e.replace('{0}|{1}', '{0}|{1}')
        t = random.random()
        if t < 0.4: e = '<% ' + e + ' %>'
        elif t < 0.8: e = 'x <% ' + e + ' %> y <% ' + random.choice(YS) + ' %>'
        else: e = '<% ' + a + ' %>'
    else:
        a = random.choice(JS) + (random.choice(JSM) if random.random() < 0.7 else '')
        b = random.choice(JS)
        f = random.choice(JF)
        e = f.replace('{}', a, 1).replace('{}', b, 1) if f.count('{}') >= 2 else f.replace('{}', a)
        t = random.random()
        if t < 0.4: e = '{{ ' + e + ' }}'
        elif t < 0.8: e = 'x {{ ' + e + ' }} y {{ ' + random.choice(JS) + ' }}'
        else: e = '{{ ' + a + ' }}'
    print('J:' + json.dumps(e))
