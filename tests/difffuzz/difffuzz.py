#!/usr/bin/python3
"""Differential fuzzer: glarex's evaluator against real Mistral.

Generates YAQL, Jinja and recursive (dicts and lists holding expressions) cases over
realistic task contexts, deterministically from a seed; runs them through Mistral
(mistral_oracle.py, many cases per run) and through glarex's evaluator (check.lua,
the Lua sources under the test harness), compares as the conformance tests do, and
prints every disagreement shrunk to a small expression and context.

    difffuzz.py [--seed S] [--cases N] [--batch B] [--record] [--stats FILE]
                [--check EXPECTED | --write-expected EXPECTED] [--summary STATS]
                [--check-c PROGRAM]

--check EXPECTED exits 1 on any disagreement but those the file lists by case number
(written by --write-expected, which minimises every disagreement, and refuses when one is
of a new cause: each listed one is of a known or an open cause), and 77 when Mistral is
not installed.
--record adds the minimised disagreements to found.json (new causes), known.json
(KNOWN_CAUSES) or open.json (OPEN_CAUSES), in the conformance corpus' format, with
Mistral's own answer.
See docs/fuzzing.md.
"""

import argparse
import collections
import fcntl
import json
import os
import random
import re
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # the tree stays unwritten when the test runs
import grammar  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ORACLE = os.environ.get("GLAREX_MISTRAL_ORACLE", "/work/shared/tools/mistral_oracle.py")
LUA = os.environ.get("GLAREX_TEST_LUA", "lua5.4")
CHECK_LUA = os.path.join(HERE, "check.lua")
# what evaluates glarex's side: the Lua sources (check.lua), or with --check-c the C
# library (check_c.c, built as difffuzz_check_c)
CHECKER = [LUA, CHECK_LUA]
FOUND = os.path.join(HERE, "found.json")
KNOWN = os.path.join(HERE, "known.json")
OPEN = os.path.join(HERE, "open.json")

DISAGREE = {"wrong_value", "value_for_error", "error_for_value", "internal", "timeout"}
# Root causes of wrong values that are being fixed on their own (issue 13, part 1).
KNOWN_CAUSES = {"unicode", "format_spec", "nested_format_width", "regex_template", "signed_zero",
                "filesizeformat", "distinct_mergewith", "list_flatten", "float_pow", "yaml_tags"}
NEW_PER_BATCH = 6  # disagreements of new causes minimised per batch
# New causes found by this fuzzer and not fixed yet (docs/fuzzing.md, "Defects found"):
# recorded in open.json, and not failing --check.
OPEN_CAUSES = set()
CASE_FUNCS = re.compile(r"upper|lower|title|capitali[sz]e|swapcase|casefold|is(alpha|digit|space|alnum)"
                        r"|wordcount|\| ?(min|max|unique)\b|\\\\[wWsSdD]|\\[wWsSdD]|center|split\(\)|trim|strip|sort|orderBy", re.I)


# ---------------------------------------------------------------- running both sides
def run_oracle(cases):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as f:
        json.dump([{"expr": c["expr"], "context": c["context"], "mode": c["mode"]} for c in cases],
                  f, ensure_ascii=False)
    try:
        out = subprocess.run(["/usr/bin/python3", ORACLE, f.name], capture_output=True,
                             text=True, check=True).stdout
    finally:
        os.unlink(f.name)
    return json.loads(out)


def run_glarex(cases, oracle):
    batch = [{"id": i, "expr": c["expr"], "context": c["context"], "mode": c["mode"], "oracle": o}
             for i, (c, o) in enumerate(zip(cases, oracle))]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as f:
        json.dump(batch, f, ensure_ascii=False)
    try:
        out = subprocess.run(CHECKER + [f.name], capture_output=True, text=True)
    finally:
        os.unlink(f.name)
    if out.returncode != 0:
        sys.exit("difffuzz: %s failed:\n%s" % (os.path.basename(CHECKER[-1]), out.stderr))
    lines = [json.loads(line) for line in out.stdout.splitlines() if line]
    return [line for line in sorted(lines, key=lambda x: x["id"])]


def run_both(cases):
    """Each case gains "oracle" (Mistral's answer), "verdict" and "glarex"."""
    if not cases:
        return cases
    oracle = run_oracle(cases)
    for c, o, g in zip(cases, oracle, run_glarex(cases, oracle)):
        c["oracle"], c["verdict"], c["glarex"] = o, g["verdict"], g["glarex"]
        if o.get("error_class") == "OracleTimeout":
            # Mistral did not finish in the oracle's 20 s (range(2**31) built in full,
            # say): there is no answer to compare with, and minimising such a case
            # would cost 20 s per candidate
            c["verdict"] = "mistral_out_of_time"
    return cases


def materialise(shape, mode, context):
    return {"shape": shape, "mode": mode, "context": context,
            "expr": grammar.render_structure(shape)}


# ---------------------------------------------------------------- root causes
def mistral_answer(c):
    o = c["oracle"]
    if "result" in o:
        return json.dumps(o["result"], ensure_ascii=False) + " (" + o["type"] + ")"
    return o.get("error") or "unrepresentable: " + o.get("unrepresentable", "")


def differ_in_sign_only(c):
    if "result" not in c["oracle"]:
        return False
    try:
        mine = json.dumps(json.loads(c["glarex"]), ensure_ascii=False)
    except ValueError:
        return False
    theirs = json.dumps(c["oracle"]["result"], ensure_ascii=False)
    return mine.replace("-", "") == theirs.replace("-", "")


def classify(c):
    """The root cause a disagreement points to, from its (minimised) text."""
    expr = json.dumps(c["expr"], ensure_ascii=False)
    ctx = json.dumps(c["context"], ensure_ascii=False)
    answers = mistral_answer(c) + " " + c["glarex"]
    if "!!" in expr:
        return "yaml_tags"
    if "{:{" in expr:
        return "nested_format_width"
    if "'{:" in expr and c["verdict"] in ("value_for_error", "error_for_value"):
        return "format_spec"
    if "regex(" in expr and re.search(r"group|escape", mistral_answer(c) + c["glarex"]):
        return "regex_template"
    if "filesizeformat" in expr:
        return "filesizeformat"
    if "distinct()" in expr or "mergeWith" in expr:
        return "distinct_mergewith"
    if "<%" in expr and "list(" in expr:
        return "list_flatten"
    if "**" in expr or "pow(" in expr:
        return "float_pow"
    if (ZERO.search(answers) or differ_in_sign_only(c)) and re.search(r"round|\bmod\b| % |//|-0\.", expr + ctx):
        return "signed_zero"
    if re.search(r"[^\x00-\x7f]", expr + ctx) and CASE_FUNCS.search(expr):
        return "unicode"
    return "new"


# ---------------------------------------------------------------- shrinking
ZERO = re.compile(r"(?<![\d.])-?0\.0(?![\d.e])")
TAGS = {"N", "T", "E", "R", "D", "L", "V"}


def subtrees(obj, path=()):
    if isinstance(obj, tuple):
        if obj and obj[0] in TAGS:
            yield path, obj
        for i, x in enumerate(obj):
            if isinstance(x, tuple):
                yield from subtrees(x, path + (i,))


def replace_at(obj, path, new):
    if not path:
        return new
    i = path[0]
    return obj[:i] + (replace_at(obj[i], path[1:], new),) + obj[i + 1:]


def shape_candidates(shape, mode):
    for path, t in subtrees(shape):
        tag = t[0]
        if tag == "N":
            kids = t[4]
            for k in kids:
                if k[2] == t[2]:
                    yield replace_at(shape, path, k)
            atom = grammar.atom_for(t)
            if t != atom:
                yield replace_at(shape, path, atom)
            for k in kids:
                if k[2] != t[2]:
                    yield replace_at(shape, path, k)
        elif tag == "T" and len(t[1]) > 1:
            for part in t[1]:
                if not isinstance(part, str) and part[0] == "E":
                    yield replace_at(shape, path, ("T", (part,)))
        elif tag in ("D", "L") and mode == "recursive":
            items = t[1]
            for i, item in enumerate(items):
                child = item[1] if tag == "D" else item
                if child[0] != "V":
                    yield replace_at(shape, path, child)
                if len(items) > 1:
                    yield replace_at(shape, path, (tag, items[:i] + items[i + 1:]))


def mode_candidates(c):
    """A recursive case holding one template is an evaluate case."""
    if c["mode"] == "recursive" and c["shape"][0] == "T":
        yield materialise(c["shape"], "evaluate", c["context"])


def context_candidates(ctx):
    for k, v in ctx.items():
        yield {x: y for x, y in ctx.items() if x != k}
        if isinstance(v, list) and len(v) > 1:
            yield dict(ctx, **{k: v[:1]})
        if isinstance(v, list) and v and isinstance(v[0], dict) and len(v[0]) > 1:
            for hk in v[0]:
                yield dict(ctx, **{k: [{x: y for x, y in h.items() if x != hk} for h in v]})
        if isinstance(v, str) and len(v) > 1:
            yield dict(ctx, **{k: v[: len(v) // 2]})


def size(c):
    return 4 * len(json.dumps(c["expr"], ensure_ascii=False)) + len(json.dumps(c["context"], ensure_ascii=False))


def still_same(orig, cand):
    """The same kind of disagreement; one of a new cause may not become a known one."""
    if cand["verdict"] != orig["verdict"]:
        return False
    return orig["cause"] in KNOWN_CAUSES or classify(cand) not in KNOWN_CAUSES


def minimise(found, max_rounds=40, per_case=80):
    """Greedy: each round tries every one-step smaller variant of every open case in
    one run of both sides, and keeps the smallest that still disagrees the same way."""
    open_cases = list(found)
    for _ in range(max_rounds):
        if not open_cases:
            break
        trials, owner = [], []
        for n, c in enumerate(open_cases):
            seen = set()
            cands = [materialise(s, c["mode"], c["context"]) for s in shape_candidates(c["shape"], c["mode"])]
            cands += [materialise(c["shape"], c["mode"], x) for x in context_candidates(c["context"])]
            cands = [x for x in cands if size(x) < size(c)] + list(mode_candidates(c))
            cands.sort(key=size)
            for x in cands:
                key = json.dumps([x["expr"], x["context"]], sort_keys=True)
                if key not in seen and len(seen) < per_case:
                    seen.add(key)
                    trials.append(x)
                    owner.append(n)
        run_both(trials)
        best = {}
        for x, n in zip(trials, owner):
            if still_same(open_cases[n], x) and (n not in best or size(x) < size(best[n])):
                best[n] = x
        still_open = []
        for n, c in enumerate(open_cases):
            if n in best:
                b = best[n]
                for k in ("shape", "mode", "context", "expr", "oracle", "verdict", "glarex"):
                    c[k] = b[k]
                still_open.append(c)
        open_cases = still_open
    for c in found:
        c["cause"] = classify(c)
    return found


# ---------------------------------------------------------------- recording
def kind_of(expr):
    text = json.dumps(expr)
    y, j = "<%" in text, "{{" in text or "{%" in text
    return "mixed" if y == j else ("yaql" if y else "jinja")


def as_corpus_case(c, ident, seed):
    o = c["oracle"]
    case = {"id": ident, "kind": kind_of(c["expr"]), "category": c["cause"], "mode": c["mode"],
            "expr": c["expr"], "context": c["context"]}
    if "result" in o:
        case.update(expected=o["result"], python_type=o["type"])
    else:
        case.update(expected_error=True, error_class=o.get("error_class", "unrepresentable"),
                    error=(o.get("error") or o.get("unrepresentable", ""))[:400])
    case["valid"] = o.get("valid", True)
    if "validate_error" in o:
        case["validate_error"] = o["validate_error"][:400]
    case["note"] = "difffuzz seed %d, %s: glarex gave %s" % (seed, c["verdict"], c["glarex"][:300])
    return case


def record(disagreements, seed):
    # campaigns may run side by side: one writer at a time
    with open(os.path.join(tempfile.gettempdir(), "glarex-difffuzz.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        record_locked(disagreements, seed)


def record_locked(disagreements, seed):
    for path, wanted in ((FOUND, lambda c: c["cause"] not in KNOWN_CAUSES | OPEN_CAUSES),
                         (KNOWN, lambda c: c["cause"] in KNOWN_CAUSES),
                         (OPEN, lambda c: c["cause"] in OPEN_CAUSES)):
        cases = json.load(open(path, encoding="utf-8")) if os.path.exists(path) else []
        keys = {json.dumps([c["mode"], c["expr"], c["context"]], sort_keys=True) for c in cases}
        added = 0
        for c in disagreements:
            key = json.dumps([c["mode"], c["expr"], c["context"]], sort_keys=True)
            if wanted(c) and key not in keys:
                keys.add(key)
                n = sum(1 for x in cases if x["category"] == c["cause"]) + 1
                cases.append(as_corpus_case(c, "difffuzz-%s-%03d" % (c["cause"], n), seed))
                added += 1
        if added:
            with open(path, "w", encoding="utf-8") as f:
                f.write("[\n" + ",\n".join(json.dumps(c, ensure_ascii=False) for c in cases) + "\n]\n")


# ---------------------------------------------------------------- main
def unsupported_message(text):
    """An "unsupported" error's message with the case-specific values taken out."""
    msg = text.split(": ", 1)[-1]
    return re.sub(r"'[^']*'|\"[^\"]*\"|\d+", "…", msg)[:120]


def report(d):
    print("  [%s] %s, mode %s" % (d["cause"], d["verdict"], d["mode"]))
    print("    expr:    " + json.dumps(d["expr"], ensure_ascii=False))
    print("    context: " + json.dumps(d["context"], ensure_ascii=False))
    print("    mistral: " + mistral_answer(d)[:300])
    try:
        shown = json.dumps(json.loads(d["glarex"]), ensure_ascii=False)
    except ValueError:
        shown = d["glarex"]
    print("    glarex:  " + shown[:300])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cases", type=int, default=300)
    ap.add_argument("--batch", type=int, default=1000, help="cases per run of each side")
    ap.add_argument("--check", metavar="EXPECTED",
                    help="exit 1 on any disagreement but those EXPECTED lists (by case number)")
    ap.add_argument("--write-expected", metavar="EXPECTED",
                    help="minimise every disagreement and list those of known and open causes in "
                    "EXPECTED for --check; exit 1 if one is of a new cause")
    ap.add_argument("--record", action="store_true", help="add disagreements to found.json/known.json")
    ap.add_argument("--stats", help="JSON file accumulating totals across runs")
    ap.add_argument("--max-minimise", type=int, default=8,
                    help="disagreements minimised per batch and known root cause (%d of new "
                    "causes); the rest are counted, classified as found, and not recorded" % NEW_PER_BATCH)
    ap.add_argument("--summary", metavar="STATS", help="print a --stats file as Markdown and exit")
    ap.add_argument("--check-c", metavar="PROGRAM",
                    help="evaluate glarex's side with the C library through PROGRAM "
                    "(the build's tests/difffuzz_check_c) instead of the Lua sources")
    args = ap.parse_args()
    if args.check_c:
        CHECKER[:] = [os.path.abspath(args.check_c)]
    if args.summary:
        print_summary(json.load(open(args.summary, encoding="utf-8")))
        return 0

    if not os.path.exists(ORACLE) or subprocess.run(
            ["/usr/bin/python3", "-c", "import mistral.expressions"], capture_output=True).returncode:
        print("difffuzz: Mistral is not installed (python3-mistral, %s): skipped" % ORACLE)
        return 77

    expected = {}
    if args.check:
        expected = json.load(open(args.check, encoding="utf-8"))["expected"]
    rng = random.Random(args.seed)
    verdicts, causes, unsupported = collections.Counter(), collections.Counter(), collections.Counter()
    all_found, done = [], 0
    while done < args.cases:
        n = min(args.batch, args.cases - done)
        cases = []
        for i in range(n):
            g = grammar.gen_case(rng)
            cases.append(materialise(g["shape"], g["mode"], g["context"]))
            cases[-1]["index"] = str(done + i)
        run_both(cases)
        done += n
        found = []
        for c in cases:
            verdicts[c["verdict"]] += 1
            if c["verdict"] == "unsupported":
                unsupported[unsupported_message(c["glarex"])] += 1
            elif c["verdict"] in DISAGREE:
                c["cause"] = classify(c)
                found.append(c)
        chosen, per_cause = [], collections.Counter()
        for c in found:
            per_cause[c["cause"]] += 1
            if args.check:
                if c["index"] in expected:
                    c["cause"] = expected[c["index"]]
                else:
                    chosen.append(c)
            elif args.write_expected or per_cause[c["cause"]] <= (
                    args.max_minimise if c["cause"] in KNOWN_CAUSES else NEW_PER_BATCH):
                chosen.append(c)
        minimise(chosen)
        for c in found:
            causes[c["cause"]] += 1
        all_found += chosen
        print("difffuzz seed %d: %d/%d cases, %d disagreements so far"
              % (args.seed, done, args.cases, len(all_found)), file=sys.stderr)

    everything = list(all_found)
    unique = {}
    for d in all_found:
        unique.setdefault(json.dumps([d["mode"], d["expr"], d["context"]], sort_keys=True), d)
    all_found = list(unique.values())
    failing = [d for d in all_found if d["cause"] not in KNOWN_CAUSES | OPEN_CAUSES]
    if args.check:  # every disagreement not expected fails, whatever it looks like
        failing, all_found = all_found, []
    for title, group in (("new causes" if not args.check else "not expected", failing),
                         ("new causes, open", [d for d in all_found if d["cause"] in OPEN_CAUSES]),
                         ("known causes, being fixed", [d for d in all_found if d["cause"] in KNOWN_CAUSES])):
        if group:
            print("%d disagreements, %s:" % (len(group), title))
            for d in sorted(group, key=lambda d: (d["cause"], size(d))):
                report(d)
    print("seed %d: %d cases; %s; causes %s; unsupported %d"
          % (args.seed, done, dict(verdicts), dict(causes), sum(unsupported.values())))
    if args.write_expected and not failing:
        with open(args.write_expected, "w", encoding="utf-8") as f:
            json.dump({"seed": args.seed, "cases": args.cases,
                       "expected": {d["index"]: d["cause"] for d in sorted(everything, key=lambda d: int(d["index"]))}},
                      f, indent=1)
            f.write("\n")
    if args.record:
        record(all_found, args.seed)
    if args.stats:
        with open(args.stats + ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            add_stats(args.stats, args.seed, done, verdicts, causes, unsupported)
    return 1 if (args.check or args.write_expected) and failing else 0


def print_summary(stats):
    v = stats["verdicts"]
    print("%d cases (seeds %s): %s\n" % (stats["cases"], ", ".join(map(str, stats["seeds"])),
                                        ", ".join("%s %d" % kv for kv in sorted(v.items()))))
    print("| root cause | disagreements |\n|---|---|")
    for cause, n in sorted(stats["causes"].items(), key=lambda kv: -kv[1]):
        print("| %s | %d |" % (cause, n))
    print("\n| unsupported (glarex's message) | cases |\n|---|---|")
    for msg, n in sorted(stats["unsupported"].items(), key=lambda kv: -kv[1]):
        print("| %s | %d |" % (msg.replace("|", "\\|"), n))


def add_stats(path, seed, done, verdicts, causes, unsupported):
    stats = json.load(open(path)) if os.path.exists(path) else {}
    for key, counter in (("verdicts", verdicts), ("causes", causes), ("unsupported", unsupported)):
        total = collections.Counter(stats.get(key, {}))
        total.update(counter)
        stats[key] = dict(total)
    stats["cases"] = stats.get("cases", 0) + done
    stats["seeds"] = sorted(set(stats.get("seeds", []) + [seed]))
    with open(path, "w") as f:
        json.dump(stats, f, indent=1, ensure_ascii=False, sort_keys=True)


if __name__ == "__main__":
    sys.exit(main())
