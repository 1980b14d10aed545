#!/usr/bin/python3
"""Generates tests/cases/version/{coerce,compare}.tsv from Python's semantic_version.

Glare normalises every version with semantic_version.Version.coerce(str(value)) and
then stores it through glare/common/semver_db.py, which rejects a major, minor or
patch above 65535 and a numeric prerelease identifier longer than 6 digits
(InvalidVersion). This script replays exactly that on a fixed corpus, so that
tests/test_version.c can check src/version.c against the real library.

Run it with the interpreter Glare uses (/usr/bin/python3, semantic_version 2.x):

    /usr/bin/python3 tests/gen_version_cases.py tests/cases/version

Output format (one case per line, fields separated by a TAB, '#' lines are comments):

  coerce.tsv   INPUT  COERCE  STRICT
               COERCE is what Glare stores for INPUT, or !KIND when it refuses it;
               STRICT is what a glarex reference accepts (only text that is already
               semver, partial versions allowed), same notation.
  compare.tsv  A  B  SIGN   (-1, 0 or 1: the precedence order of two stored versions)

KIND is one of no-number (ValueError "Version string lacks a numerical component"),
syntax (any other ValueError), leading-zero (a numeric prerelease identifier with a
leading zero), too-large (component above 65535) and prerelease-too-long (numeric
prerelease identifier above 6 digits). INPUT escapes \\, TAB, control characters and
every non-ASCII byte as \\\\, \\t, \\xHH.
"""
import os
import random
import re
import sys

import semantic_version

MAX_COMPONENT = pow(2, 16) - 1          # glare/common/semver_db.py
MAX_NUMERIC_PRERELEASE_LENGTH = 6       # glare/common/semver_db.py

STRICT_RE = re.compile(r'[0-9]+(?:\.[0-9]+(?:\.[0-9]+)?)?'
                       r'(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?')


def glare_store(text):
    """What Glare stores for `text`: the normalised version, or '!kind'."""
    try:
        v = semantic_version.Version.coerce(text)
    except ValueError as e:
        msg = str(e)
        if msg.startswith('Version string lacks a numerical component'):
            return '!no-number'
        if msg.startswith('Invalid leading zero in identifier'):
            return '!leading-zero'
        return '!syntax'
    for part in (v.major, v.minor, v.patch):
        if part > MAX_COMPONENT:
            return '!too-large'
    for ident in v.prerelease:
        if ident.isdigit() and len(ident) > MAX_NUMERIC_PRERELEASE_LENGTH:
            return '!prerelease-too-long'
    return str(v)


def strict(text):
    if not STRICT_RE.fullmatch(text):
        return '!no-number' if not text[:1].isdigit() else '!syntax'
    return glare_store(text)


def escape(text):
    out = []
    for byte in text.encode('utf-8'):
        c = chr(byte)
        if c == '\\':
            out.append('\\\\')
        elif c == '\t':
            out.append('\\t')
        elif byte < 0x20 or byte >= 0x7f:
            out.append('\\x%02x' % byte)
        else:
            out.append(c)
    return ''.join(out)


BASES = ['0', '1', '01', '00', '1.0', '1.10', '1.9', '01.002.0003', '1.2.3', '1.2.3.4',
         '1.2.3.4.5', '65535', '65536', '65535.65535.65535', '1.65536', '1.0.70000',
         '99999999999999999999', '0.0.0', '10.20.30', '1.', '1.2.', '007.0']
RESTS = ['', '-alpha', '-alpha.1', '-1', '-01', '-0', '-0a', '-a..b', '-', '+',
         '+build', '+01', '-rc.1+b.2', 'beta', '_beta', ' beta', '-a+b+c', '.x', '..',
         '-a-b', '-1234567', '-123456', '-a.1234567', '+a+', '++', '-\u00e9', '\u00e9',
         '\t', '\n', '-a_b', 'rc1', '+b-c', '-a.', '-.a', '-.', '.', '.4.5', 'x', '-x.7.z',
         '-beta+exp.sha.5114f85', '+0.build.1', '-0.3.7', '-alpha.beta.1', '-A', '-Z.a',
         '---', '-a+', '.1+2-3+4_5', ' ', '-1.0', '+-', '-+']
OTHERS = ['', 'abc', 'v1', ' 1', '.1', '-1', '+1', 'x1.0', 'latest', '1.x', '1.x.y',
          '1.0.0-', '1.0.0+', 'sha256=ab', '>=1.0', '1.0.0-rc.1', '2.0.0-beta',
          '1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta.2',
          '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0']


def corpus():
    seen = set()
    items = []
    for text in OTHERS + [b + r for b in BASES for r in RESTS]:
        if text not in seen:
            seen.add(text)
            items.append(text)
    rng = random.Random(20240611)
    alphabet = '0123456789' * 3 + '...--++' + 'abZ_ ' + '0'
    while len(items) < 2500:
        text = ''.join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        if text not in seen:
            seen.add(text)
            items.append(text)
    return items


ORDERED = ['0.0.0', '0.0.1', '0.1.0', '1.0.0-0', '1.0.0-1', '1.0.0-2', '1.0.0-10',
           '1.0.0-0a', '1.0.0-1a', '1.0.0-A', '1.0.0-Z', '1.0.0-a', '1.0.0-a-b',
           '1.0.0-a.b', '1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.1.0',
           '1.0.0-alpha.beta', '1.0.0-beta', '1.0.0-beta.2', '1.0.0-beta.11',
           '1.0.0-rc.1', '1.0.0-rc.1+build.2', '1.0.0', '1.0.0+build', '1.0.0+0',
           '1.0.1', '1.9.0', '1.10.0', '1.10.0-999999', '2.0.0-beta', '2.0.0',
           '10.0.0', '65535.65535.65535', '1.0.0-00a', '1.0.0-a0', '1.0.0--',
           '1.0.0-0.0', '1.0.0-0.a', '1.0.0-a.0', '1.2.3-x.7.z.92', '1.2.3-x-y-z.-',
           '1.2.3+x.7.z.92', '0.0.0-0', '0.0.0+0']


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), 'cases', 'version')
    header = ('# Generated by tests/gen_version_cases.py from semantic_version %s;'
              ' do not edit.\n' % semantic_version.__version__)
    with open(os.path.join(outdir, 'coerce.tsv'), 'w', encoding='ascii') as f:
        f.write(header)
        f.write('# input\tcoerce (what Glare stores)\tstrict (what a reference accepts)\n')
        for text in corpus():
            f.write('%s\t%s\t%s\n' % (escape(text), glare_store(text), strict(text)))
    versions = [semantic_version.Version(v) for v in ORDERED]
    with open(os.path.join(outdir, 'compare.tsv'), 'w', encoding='ascii') as f:
        f.write(header)
        f.write('# a\tb\tsign of a <=> b (precedence: build metadata ignored)\n')
        for a in versions:
            for b in versions:
                sign = -1 if a < b else (1 if a > b else 0)
                f.write('%s\t%s\t%d\n' % (a, b, sign))


if __name__ == '__main__':
    main()
