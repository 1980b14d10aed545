#!/usr/bin/python3
"""Times OpenStack Mistral's own expression evaluator, for glarex-bench.

Run with Debian's Python (/usr/bin/python3, python3-mistral 15).  The method
is the one of ../shared mistral-expressions.md section 12: in-process, warm
(one evaluation before timing), mistral.expressions.evaluate /
evaluate_recursively called directly with a plain dict context, Mistral's
default [yaql] options; each case is timed as RUNS runs of N evaluations
with time.perf_counter, and the per-evaluation time of the best and of the
median run is reported.

Input (a file, or '-' for stdin), JSON:
    {"runs": 3,                     # optional, default 3
     "n": 10000,                    # optional: fixed N for every case
     "target_seconds": 1.0,         # otherwise N is chosen so that one run
     "min_n": 20, "max_n": 10000,   #   lasts about this long, within bounds
     "glare": [{"name": ..., "version": ..., "resource": ...,
                "content": ...}],   # optional, see below
     "cases": [{"id": ..., "expr": ..., "context": {...},
                "mode": "evaluate" | "recursive"}]}

"glare", when present, registers a glare(name, version, resource) expression
function the way a real Mistral plugin is registered: a distribution with a
'mistral.expression.functions' entry point, put on sys.path (as
../shared/tools/mistral_oracle.py does), so Mistral looks it up through
stevedore exactly as it would look up an installed plugin.  It returns the
content given for (name, version, resource): the same string glarex's
glare() returns from its warm cache.  Without "glare" no plugin is loaded,
as in section 12.

Output on stdout, JSON: {"python": ..., "mistral": ..., "cases": [
    {"id": ..., "n": N, "runs_us": [...], "best_us": ..., "median_us": ...,
     "result": <the warm evaluation's result>}   or
    {"id": ..., "error": "<Class>: <message>"}]}
"""

import json
import math
import os
import statistics
import sys
import tempfile
import time
import warnings

PLUGIN_MODULE = "glarex_bench_glare"
PLUGIN_VERSION = "1"

PLUGIN_SOURCE = '''\
"""glare() for glarex-bench: returns the content it was given."""

CONTENT = {}


def glare_(context, name, version, resource):
    return CONTENT[(name, version, resource)]
'''


def install_plugin():
    """Writes the plugin as an installed distribution and puts it on sys.path."""
    base = os.path.join(tempfile.gettempdir(),
                        "glarex-bench-plugin-%d" % os.getuid())
    dist = "%s-%s.dist-info" % (PLUGIN_MODULE, PLUGIN_VERSION)
    files = {
        PLUGIN_MODULE + ".py": PLUGIN_SOURCE,
        os.path.join(dist, "METADATA"):
            "Metadata-Version: 2.1\nName: glarex-bench-glare\nVersion: %s\n"
            % PLUGIN_VERSION,
        os.path.join(dist, "entry_points.txt"):
            "[mistral.expression.functions]\nglare = %s:glare_\n"
            % PLUGIN_MODULE,
    }
    for rel, text in files.items():
        path = os.path.join(base, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            with open(path) as f:
                if f.read() == text:
                    continue
        except OSError:
            pass
        tmp = "%s.tmp%d" % (path, os.getpid())
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    sys.path.insert(0, base)


def main(argv):
    if len(argv) != 2:
        print("usage: mistral_bench.py SPEC.json|-", file=sys.stderr)
        return 2
    if argv[1] == "-":
        spec = json.load(sys.stdin)
    else:
        with open(argv[1]) as f:
            spec = json.load(f)

    glare = spec.get("glare")
    if glare:
        install_plugin()

    warnings.simplefilter("ignore")
    import logging
    from mistral import expressions
    from mistral.expressions import base as expr_base
    import mistral.version

    logging.getLogger("mistral").setLevel(logging.CRITICAL)

    if glare:
        import glarex_bench_glare
        for g in glare:
            glarex_bench_glare.CONTENT[
                (g["name"], g["version"], g["resource"])] = g["content"]
        if "glare" not in expr_base.get_custom_functions():
            print("mistral_bench: the glare() plugin was not picked up",
                  file=sys.stderr)
            return 1

    runs = int(spec.get("runs", 3))
    fixed_n = spec.get("n")
    target = float(spec.get("target_seconds", 1.0))
    min_n = int(spec.get("min_n", 20))
    max_n = int(spec.get("max_n", 10000))
    out = []
    for case in spec["cases"]:
        expr = case["expr"]
        ctx = case.get("context", {})
        mode = case.get("mode") or ("evaluate" if isinstance(expr, str)
                                    else "recursive")
        fn = (expressions.evaluate if mode == "evaluate"
              else expressions.evaluate_recursively)
        res = {"id": case.get("id")}
        try:
            # Warm: one evaluation before timing (its result is reported).
            t0 = time.perf_counter()
            result = fn(expr, ctx)
            first = time.perf_counter() - t0
            if fixed_n:
                n = int(fixed_n)
            else:
                # Warm evaluations for about a tenth of a run (at most 1000)
                # estimate the steady cost.
                count = 0
                t0 = time.perf_counter()
                while True:
                    fn(expr, ctx)
                    count += 1
                    spent = time.perf_counter() - t0
                    if spent >= target / 10 or count >= 1000:
                        break
                est = max(spent / count, 1e-7)
                n = max(min_n, min(max_n, int(math.ceil(target / est))))
            per = []
            for _ in range(runs):
                t0 = time.perf_counter()
                for _ in range(n):
                    fn(expr, ctx)
                per.append((time.perf_counter() - t0) / n * 1e6)
        except Exception as e:  # what Mistral raises is reported, not hidden
            res["error"] = "%s: %s" % (type(e).__name__, e)
            out.append(res)
            continue
        try:
            json.dumps(result)
        except (TypeError, ValueError):
            result = repr(result)
        res.update({"n": n, "runs_us": per, "best_us": min(per),
                    "median_us": statistics.median(per),
                    "first_us": first * 1e6, "result": result})
        out.append(res)

    json.dump({"python": sys.version.split()[0],
               "mistral": mistral.version.version_info.version_string(),
               "cases": out}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
