#!/usr/bin/python3
"""Regenerates tests/cases/yaml/cases.json: what PyYAML's safe_load (Mistral's
yaml_parse) returns for each input, so glarex's YAML reader is checked against it.

Inputs whose result JSON cannot carry (datetimes, non-string keys, inf/nan, sets)
are recorded as expected errors.
"""
import json
import math
import os
import yaml

INPUTS = [
    "a: 1", "a: 1.5", "a: 1.0e+3", "a: 1e3", "a: 1_000", "a: 0x1f", "a: 017", "a: 0b101",
    "a: 1:30", "a: -1:30", "a: 1:30.5", "a: +12", "a: -0", "a: 0", "a: 9223372036854775807",
    "a: yes", "a: No", "a: on", "a: OFF", "a: true", "a: False", "a: y", "a: n",
    "a: ~", "a: null", "a: Null", "a:", "a: ''", "a: '1'", 'a: "yes"', "a: !!str 12",
    "a: !!int '7'", "a: !!float '2'", "a: .5", "a: 1.", "a: .inf", "a: .nan",
    "a: 2001-12-14", "a: 2001-12-14t21:59:43.10-05:00", "1: a", "[1, 2, 3]",
    "- a\n- b\n", "name: net1\nvlan: 10\nsubnets:\n  - 10.0.0.0/24\n", "", "# only a comment\n",
    "--- 1\n--- 2\n", "a: [1, {b: c}]", "a: &x [1, 2]\nb: *x\n", "a: *nope",
    "a: 'unterminated", "a: b: c", "key: value\nkey: other\n", "? complex\n: 1\n",
    "<<: {a: 1}", "a: !!timestamp 2001-12-14", "a: !custom x", "a: |\n  line1\n  line2\n",
    "a: >\n  folded\n  text\n", "a: 1.0", "a: 3.14159", "a: -2.5e-3", "a: 12345678901234567890",
    "héllo: wörld", "a: \"\\u00e9\"", "- - - deep\n", "{a: 1, b: [x, y]}",
]


def main():
    cases = []
    for text in INPUTS:
        case = {"yaml": text}
        try:
            value = yaml.safe_load(text)
            dumped = json.dumps(value, allow_nan=False)
            if not isinstance(value, (dict, list, str, int, float, bool, type(None))):
                raise TypeError(type(value).__name__)
            if _has_nonjson(value):
                raise TypeError("not JSON")
            case["expected"] = json.loads(dumped)
        except Exception as exc:  # noqa: BLE001 - any failure is an expected error
            case["error"] = type(exc).__name__
        cases.append(case)
    path = os.path.join(os.path.dirname(__file__), "cases", "yaml", "cases.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(cases, f, indent=1, ensure_ascii=False)
        f.write("\n")


def _has_nonjson(v):
    if isinstance(v, dict):
        return any(not isinstance(k, str) or _has_nonjson(x) for k, x in v.items())
    if isinstance(v, list):
        return any(_has_nonjson(x) for x in v)
    if isinstance(v, float):
        return math.isinf(v) or math.isnan(v)
    if isinstance(v, int) and not isinstance(v, bool):
        return not -2**63 <= v < 2**63
    return not isinstance(v, (str, int, float, bool, type(None)))


if __name__ == "__main__":
    main()
