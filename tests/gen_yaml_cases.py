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
    # tags: safe_load refuses all but its own (SafeConstructor), on the node each takes
    '!!python/object/apply:os.system ["id"]', 'a: !!python/object/apply:os.system ["id"]',
    "- !!python/name:os.system", "a: !!python/tuple [1, 2]", "a: !!python/dict {b: 1}",
    "a: !!python/str x", "a: !custom [1]", "a: !custom {b: 1}", "--- !!python/object:object {}",
    "a: &x !!python/tuple [1]\nb: *x", "? !!python/tuple [1, 2]\n: x", "{!!python/none x: 1}",
    "a: !<tag:yaml.org,2002:python/none> x", "%TAG !e! tag:example.com,2000:\n---\na: !e!foo x",
    "a: !!merge x", "a: !!value x", "a: !!yaml x",
    "!!map {a: 1}", "!!seq [1, 2]", "a: !!map {b: 1}", "a: !!seq [1]", "--- !!map\na: 1",
    "a: !!seq {b: 1}", "a: !!map [1]", "a: !!str [1]", "a: !!int [1]", "a: !!null [1]",
    "a: !!map x", "a: !!seq x", "a: !!set {x, y}", "a: !!set [x]", "a: !!omap [{x: 1}, {y: 2}]",
    "a: !!omap {x: 1}", "a: !!pairs [{x: 1}, {x: 2}]", "a: !!binary aGVsbG8=",
    "a: !!binary \"not base64!\"", "a: !<tag:yaml.org,2002:str> 5", "!!str a: 1", "!!int 1: x",
    # explicit scalar tags: the constructor must read the text
    "a: !!int abc", 'a: !!int "1.5"', "a: !!int 09", "a: !!int 1_000", 'a: !!int "0x1F"',
    "a: !!int 0X1F", "a: !!int 1:30", 'a: !!int "1::2"', 'a: !!int ""', "a: !!int -0b11",
    "a: !!int +0x1f", "a: !!int", "a: !!float abc", "a: !!float 1e3", 'a: !!float "1e"',
    "a: !!float .", 'a: !!float "0x1p3"', 'a: !!float ""', "a: !!float 1_0.5", "a: !!float 1:30",
    "a: !!float .Inf", "a: !!float 7", "a: !!float", "a: !!bool x", "a: !!bool YES",
    "a: !!bool off", "a: !!bool oN", "a: !!bool 1", 'a: !!bool ""', "a: !!bool", "a: !!null x",
    'a: !!null ""', "a: !!str 1.5", "a: !!str",
    # the non-specific tag "!": resolved like a plain scalar, even when quoted
    "a: ! [1]", "a: ! {b: 1}", "a: ! 12", "a: ! '12'", 'a: ! "true"', "a: ! ~", "a: !\n",
    "a: ! |\n  12\n", "a: ! ''", "a: ! 2001-12-14", "a: ! x", "! <<: {b: 1}", "a: ! <<",
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
