#!/usr/bin/python3
"""Build cases.json from inputs/*.txt by running the Mistral oracle."""
import glob, json, os, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
ORACLE = "/work/shared/tools/mistral_oracle.py"
BASE = json.load(open("/work/shared/conformance/public.json"))[0]["context"]

cases = []
for path in sorted(glob.glob(os.path.join(HERE, "inputs", "*.txt"))):
    name = os.path.splitext(os.path.basename(path))[0]
    ctx = BASE
    n = 0
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("@context "):
            arg = line[len("@context "):].strip()
            ctx = BASE if arg == "base" else json.loads(arg)
            continue
        expr = json.loads(line[2:]) if line.startswith("J:") else line
        n += 1
        cases.append({"id": "%s-%03d" % (name, n), "expr": expr, "context": ctx,
                      "mode": "evaluate" if isinstance(expr, str) else "recursive"})

# Cases already in cases.json (same id, expression and context) keep the answer on
# record, and the contexts keep their indices: Mistral's string sets print in an order
# that changes with every Python process. --refresh asks the oracle again for all.
OUT = os.path.join(HERE, "cases.json")
old = {"contexts": [], "cases": []}
if os.path.exists(OUT) and "--refresh" not in sys.argv[1:]:
    old = json.load(open(OUT, encoding="utf-8"))


def case_key(c, ctx):
    return (c["id"], json.dumps(c["expr"]), json.dumps(ctx, sort_keys=True))


answers = {case_key(c, old["contexts"][c["context"]]): c["oracle"] for c in old["cases"]}
ask = [c for c in cases if case_key(c, c["context"]) not in answers]
out = subprocess.run(["/usr/bin/python3", ORACLE, "-"], input=json.dumps(ask),
                     capture_output=True, text=True, check=True).stdout if ask else "[]"
for c, r in zip(ask, json.loads(out)):
    r.pop("id", None)
    answers[case_key(c, c["context"])] = r
# contexts are stored once and referenced by index
contexts = list(old["contexts"])
index = {json.dumps(x, sort_keys=True): i for i, x in enumerate(contexts)}
for c in cases:
    c["oracle"] = answers[case_key(c, c["context"])]
    key = json.dumps(c["context"], sort_keys=True)
    if key not in index:
        index[key] = len(contexts)
        contexts.append(c["context"])
    c["context"] = index[key]
with open(OUT, "w", encoding="utf-8") as f:
    f.write('{"contexts": %s,\n"cases": [\n' % json.dumps(contexts, ensure_ascii=False))
    f.write(",\n".join(json.dumps(c, ensure_ascii=False) for c in cases))
    f.write("\n]}\n")
print("%d cases written, %d asked of the oracle" % (len(cases), len(ask)), file=sys.stderr)
