# The sorting and selecting filters' cases (tests/cases/sort/cases.json) with
# Python's answers: Jinja 3.1's sort, dictsort, sum, select, reject, selectattr and
# rejectattr under a SandboxedEnvironment with StrictUndefined, as Mistral evaluates
# them, over chosen inputs and random lists of mixed types.
# Run: python3 tests/gen_sort_cases.py > tests/cases/sort/cases.json
import json, random, sys, math
from jinja2.sandbox import SandboxedEnvironment
from jinja2 import StrictUndefined
env = SandboxedEnvironment(undefined=StrictUndefined)
def run(expr, ctx):
    try:
        v = env.compile_expression(expr)(_=ctx)
        return {"value": json.loads(json.dumps(v))}
    except Exception as e:
        return {"error": str(e)}
ctx = {
  "nums": [3, 1.5, -2, 7, 0, 1.5, True, False],
  "words": ["beta", "Alpha", "gamma", "alpha", "Beta", "ÉCOLE", "école", "Zeta", ""],
  "mixed": [1, "a", 2.5, None],
  "mixed2": [1, 2, "a", 1.5],
  "mixed3": ["b", 3, None, "a"],
  "d": {"x": "y", "k": 3, "n": None},
  "dw": {"b": 1, "A": 2, "a": 3, "B": 4, "é": 5, "É": 6},
  "dv": {"a": "Beta", "b": "alpha", "c": "beta", "d": "Alpha"},
  "dd": {"a": {"x": 1}, "b": {"x": 1}},
  "db": {"c": False, "b": True, "a": False, "d": 0},
  "hosts": [{"name": "h%d" % i, "cpus": c, "meta": {"rack": r}} for i, (c, r) in
            enumerate([(4, "b"), (2, "a"), (4, "a"), (8, "B"), (2, "A"), (4, "c")])],
  "eqd": [{"a": 1}, {"a": 1}],
  "nan": "nan", "l": [1, 2, 3], "fl": [0.1, 0.2, 0.3], "e": [],
}
exprs = [
  "_.nums | sort", "_.nums | sort(true)", "_.nums | sort(reverse=true)",
  "_.words | sort", "_.words | sort(case_sensitive=true)", "_.words | sort(true, true)",
  "_.words | sort(reverse=true)",
  "_.mixed | sort", "_.mixed | sort(true)", "_.mixed2 | sort", "_.mixed2 | sort(reverse=true)",
  "_.mixed3 | sort", "_.mixed3 | sort(reverse=true)", "[3, _.nan | float, 1, 2] | sort | map('string') | list",
  "[3, _.nan | float, 1, 2] | sort(true) | map('string') | list",
  "[2, _.nan | float, 1, _.nan | float, 0] | sort | map('string') | list",
  "_.d | dictsort", "_.d | dictsort(by='value')", "_.d | dictsort(false, 'value', true)",
  "_.dw | dictsort", "_.dw | dictsort(true)", "_.dw | dictsort(reverse=true)",
  "_.dw | dictsort(by='value', reverse=true)", "_.dv | dictsort(by='value')",
  "_.dv | dictsort(case_sensitive=true, by='value')", "_.dd | dictsort(by='value')",
  "_.d | dictsort(by='items')", "_.db | dictsort(by='value')",
  "_.db | dictsort(by='value', reverse=true)",
  "_.hosts | sort(attribute='cpus') | map(attribute='name') | list",
  "_.hosts | sort(attribute='cpus', reverse=true) | map(attribute='name') | list",
  "_.hosts | sort(attribute='meta.rack') | map(attribute='name') | list",
  "_.hosts | sort(attribute='meta.rack', case_sensitive=true) | map(attribute='name') | list",
  "_.hosts | sort(attribute='cpus,meta.rack') | map(attribute='name') | list",
  "_.hosts | sort(attribute='meta.rack,cpus', reverse=true) | map(attribute='name') | list",
  "_.hosts | sort(attribute='nope') | map(attribute='name') | list",
  "_.hosts | sort(false, false, 'cpus') | map(attribute='name') | list",
  "_.eqd | sort", "_.eqd | sort(attribute='a')", "_.e | sort", "_.l | sort(true)",
  "[_.l, [1, 2], [0, 9]] | sort", "[[1, 'a'], [1, 2]] | sort",
  "_.l | sum", "_.fl | sum", "_.l | sum(start=10)", "_.hosts | sum(attribute='cpus')",
  "[[1], [2]] | sum(none, [])", "_.words | sum", "[1, 'a'] | sum", "_.l | sum(none, 0.5)",
  "[true, 2] | sum", "'abc' | sort", "_.d | sort", "_.d.x | dictsort",
  "_.hosts | selectattr('cpus', 'nosuchtest') | list",
  "_.e | selectattr('cpus', 'nosuchtest') | list",
  "_.hosts | selectattr('cpus', 'equalto', 4) | map(attribute='name') | list",
  "_.hosts | rejectattr('cpus', 'gt', 2) | map(attribute='name') | first",
  "_.hosts | selectattr('meta.rack', 'equalto', 'a') | map(attribute='name') | list",
  "_.hosts | selectattr('cpus', 'divisibleby', 4) | map(attribute='name') | list",
  "_.hosts | selectattr('nope') | list", "_.nums | select | list",
  "_.nums | reject('odd') | list", "_.words | select('lower') | list",
  "_.words | reject | list", "_.hosts | rejectattr('cpus', 'lt', 8) | list | length",
]
rnd = random.Random(13)
pool = [0, 1, -1, 2.5, True, False, "a", "B", "b", "", "ab", None, [1], [0, "x"], (1,)]
cases = []
for e in exprs:
    cases.append({"expr": e, **run(e, ctx)})
for i in range(120):
    n = rnd.randint(2, 70) if i % 4 == 0 else rnd.randint(2, 8)
    kinds = rnd.choice([pool[:6], pool[6:11], pool[:11], pool])
    vals = [rnd.choice(kinds) for _ in range(n)]
    vals = [list(v) if isinstance(v, tuple) else v for v in vals]
    rev = rnd.choice(["", "(true)"])
    e = "_.r%d | sort%s" % (i, rev)
    ctx["r%d" % i] = vals
    cases.append({"expr": e, **run(e, ctx)})
json.dump({"context": ctx, "cases": cases}, sys.stdout, indent=0, allow_nan=True)
