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

out = subprocess.run(["/usr/bin/python3", ORACLE, "-"], input=json.dumps(cases),
                     capture_output=True, text=True, check=True).stdout
results = json.loads(out)
# contexts are stored once and referenced by index
contexts, index = [], {}
for c, r in zip(cases, results):
    r.pop("id", None)
    c["oracle"] = r
    key = json.dumps(c["context"], sort_keys=True)
    if key not in index:
        index[key] = len(contexts)
        contexts.append(c["context"])
    c["context"] = index[key]
with open(os.path.join(HERE, "cases.json"), "w", encoding="utf-8") as f:
    f.write('{"contexts": %s,\n"cases": [\n' % json.dumps(contexts, ensure_ascii=False))
    f.write(",\n".join(json.dumps(c, ensure_ascii=False) for c in cases))
    f.write("\n]}\n")
print("%d cases written" % len(cases), file=sys.stderr)
