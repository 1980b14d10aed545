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
     "glare": {"plugin": "contrib" | "function",
               "contrib_path": ".../contrib/mistral",
               "content": [{"name": ..., "version": ..., "resource": ...,
                            "content": ...}]},   # optional, see below
     "cases": [{"id": ..., "expr": ..., "context": {...},
                "mode": "evaluate" | "recursive"}]}

"glare", when present, registers glare(name, version, resource) the way a
real Mistral plugin is registered: a distribution with a
'mistral.expression.functions' entry point, put on sys.path (as
../shared/tools/mistral_oracle.py does), so Mistral looks it up through
stevedore exactly as it would look up an installed plugin.  Plugin
"contrib" is glarex's own plugin (contrib/mistral, libglarex through ctypes;
it reads GLARE_URL, OS_AUTH_TOKEN, GLAREX_CACHE_DIR and GLAREX_LIBRARY from
the environment); plugin "function" is a Python function returning the
content given for (name, version, resource).  Without "glare" no plugin is
loaded, as in section 12.

Output on stdout, JSON: {"python": ..., "mistral": ..., "plugin": ..., "cases": [
    {"id": ..., "n": N, "runs_us": [...], "best_us": ..., "median_us": ...,
     "result": <the warm evaluation's result>}   or
    {"id": ..., "error": "<Class>: <message>"}]}

mistral_bench.py --serve speaks a line protocol instead (see serve()), which
glarex-bench uses to interleave its runs with Mistral's.
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


def install_plugin(mode, contrib_path=None):
    """Puts a distribution with 'mistral.expression.functions' entry points
    on sys.path, as an installed plugin would be.

    mode "contrib": glarex's own plugin, contrib/mistral (glarex_mistral,
    backed by libglarex through ctypes), loaded from the source tree.
    mode "function": a module whose glare() returns the content it is given.
    """
    base = os.path.join(tempfile.gettempdir(), "glarex-bench-plugin-%s-%d"
                        % (mode, os.getuid()))
    if mode == "contrib":
        dist = "glarex_bench_contrib-%s.dist-info" % PLUGIN_VERSION
        files = {
            os.path.join(dist, "METADATA"):
                "Metadata-Version: 2.1\nName: glarex-bench-contrib\n"
                "Version: %s\n" % PLUGIN_VERSION,
            os.path.join(dist, "entry_points.txt"):
                "[mistral.expression.functions]\n"
                "glare = glarex_mistral:glare_\n"
                "glare_path = glarex_mistral:glare_path_\n"
                "glare_b64 = glarex_mistral:glare_b64_\n"
                "glare_info = glarex_mistral:glare_info_\n",
        }
    else:
        dist = "%s-%s.dist-info" % (PLUGIN_MODULE, PLUGIN_VERSION)
        files = {
            PLUGIN_MODULE + ".py": PLUGIN_SOURCE,
            os.path.join(dist, "METADATA"):
                "Metadata-Version: 2.1\nName: glarex-bench-glare\n"
                "Version: %s\n" % PLUGIN_VERSION,
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
    if contrib_path:
        sys.path.insert(0, contrib_path)


def load_mistral(glare):
    """Imports Mistral (and registers the glare() plugin when asked)."""
    if glare:
        install_plugin(glare.get("plugin", "function"),
                       glare.get("contrib_path"))
    warnings.simplefilter("ignore")
    import logging
    from mistral import expressions
    from mistral.expressions import base as expr_base
    import mistral.version

    logging.getLogger("mistral").setLevel(logging.CRITICAL)
    if glare and glare.get("plugin") == "contrib":
        # Evaluated here outside any request: authentication off, as in the plugin's
        # single-tenant setup, where it fetches with its configured token.
        from oslo_config import cfg
        import mistral.config  # noqa: F401  registers [pecan]
        cfg.CONF.set_override("auth_enable", False, group="pecan")
    if glare and glare.get("plugin", "function") == "function":
        import glarex_bench_glare
        for g in glare.get("content", []):
            glarex_bench_glare.CONTENT[
                (g["name"], g["version"], g["resource"])] = g["content"]
    if glare and "glare" not in expr_base.get_custom_functions():
        raise SystemExit("mistral_bench: the glare() plugin was not picked up")
    return expressions, {
        "python": sys.version.split()[0],
        "mistral": mistral.version.version_info.version_string(),
        "plugin": glare.get("plugin", "function") if glare else None}


class Case:
    """One expression and its context, bound to Mistral's entry point."""

    def __init__(self, expressions, case):
        self.expr = case["expr"]
        self.ctx = case.get("context", {})
        mode = case.get("mode") or ("evaluate" if isinstance(self.expr, str)
                                    else "recursive")
        self.fn = (expressions.evaluate if mode == "evaluate"
                   else expressions.evaluate_recursively)

    def warm(self):
        """One evaluation before timing; returns (result, seconds)."""
        t0 = time.perf_counter()
        result = self.fn(self.expr, self.ctx)
        spent = time.perf_counter() - t0
        try:
            json.dumps(result)
        except (TypeError, ValueError):
            result = repr(result)
        return result, spent

    def calibrate(self, target, min_n, max_n):
        """N so that one run lasts about `target` seconds: warm evaluations
        for a tenth of that (at most 1000) estimate the steady cost."""
        count = 0
        t0 = time.perf_counter()
        while True:
            self.fn(self.expr, self.ctx)
            count += 1
            spent = time.perf_counter() - t0
            if spent >= target / 10 or count >= 1000:
                break
        est = max(spent / count, 1e-7)
        return max(min_n, min(max_n, int(math.ceil(target / est))))

    def run(self, n):
        """One timed run of n evaluations: microseconds per evaluation."""
        fn, expr, ctx = self.fn, self.expr, self.ctx
        t0 = time.perf_counter()
        for _ in range(n):
            fn(expr, ctx)
        return (time.perf_counter() - t0) / n * 1e6


def error_text(e):
    return "%s: %s" % (type(e).__name__, e)


def batch(spec):
    """Every case of the spec, RUNS runs each; the JSON described above."""
    expressions, meta = load_mistral(spec.get("glare"))
    runs = int(spec.get("runs", 3))
    fixed_n = spec.get("n")
    target = float(spec.get("target_seconds", 1.0))
    min_n = int(spec.get("min_n", 20))
    max_n = int(spec.get("max_n", 10000))
    out = []
    for raw in spec["cases"]:
        res = {"id": raw.get("id")}
        try:
            case = Case(expressions, raw)
            result, first = case.warm()
            n = int(fixed_n) if fixed_n else case.calibrate(target, min_n,
                                                             max_n)
            per = [case.run(n) for _ in range(runs)]
        except Exception as e:  # what Mistral raises is reported, not hidden
            res["error"] = error_text(e)
            out.append(res)
            continue
        res.update({"n": n, "runs_us": per, "best_us": min(per),
                    "median_us": statistics.median(per),
                    "first_us": first * 1e6, "result": result})
        out.append(res)
    return dict(meta, cases=out)


def serve(stdin, stdout):
    """Line protocol used by glarex-bench, so that it can interleave its own
    runs with Mistral's (a noisy machine then affects both alike).  One JSON
    object per line each way:
        {"op": "load", "glare": ...}      -> {"python":..., "mistral":...}
        {"op": "prepare", "case": {...}, "target_seconds": S,
         "min_n": A, "max_n": B}          -> {"n": N, "result": ...,
                                              "first_us": ...} | {"error"}
        {"op": "run", "n": N}             -> {"us": per-evaluation} | {"error"}
        {"op": "quit"}
    """
    expressions = case = None
    for line in stdin:
        req = json.loads(line)
        op = req.get("op")
        try:
            if op == "load":
                expressions, reply = load_mistral(req.get("glare"))
            elif op == "prepare":
                case = None
                c = Case(expressions, req["case"])
                result, first = c.warm()
                n = c.calibrate(float(req.get("target_seconds", 1.0)),
                                int(req.get("min_n", 20)),
                                int(req.get("max_n", 10000)))
                case = c
                reply = {"n": n, "result": result, "first_us": first * 1e6}
            elif op == "run":
                if case is None:
                    raise RuntimeError("no prepared case")
                reply = {"us": case.run(int(req["n"]))}
            elif op == "quit":
                break
            else:
                raise ValueError("unknown op %r" % op)
        except Exception as e:  # reported to the caller, which carries on
            reply = {"error": error_text(e)}
        stdout.write(json.dumps(reply) + "\n")
        stdout.flush()
    return 0


def main(argv):
    if len(argv) == 2 and argv[1] == "--serve":
        return serve(sys.stdin, sys.stdout)
    if len(argv) != 2:
        print("usage: mistral_bench.py SPEC.json|-|--serve", file=sys.stderr)
        return 2
    if argv[1] == "-":
        spec = json.load(sys.stdin)
    else:
        with open(argv[1]) as f:
            spec = json.load(f)
    json.dump(batch(spec), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
