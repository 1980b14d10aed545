#!/usr/bin/env python3
"""Build tool: writes lua/unidata.lua's data from the Unicode Character Database.

    gen_unidata.py UCD_DIR OUTPUT.lua [MAX_AGE]

Reads the UCD text files (Debian's unicode-data package installs them in
/usr/share/unicode), never Python's own unicodedata module, and keeps only the
characters assigned by Unicode MAX_AGE (default 14.0, the version CPython 3.11
uses), so every answer is the one Mistral's Python gives.  The tables follow
CPython's Tools/unicode/makeunicodedata.py: which properties make a character
alpha, decimal, digit, numeric, space, upper, lower, title, cased,
case-ignorable, a line break, printable and an identifier's start or continuation, and which case mappings str.lower/upper/title/casefold use.

Output: a Lua chunk returning a table of binary strings (sorted fixed-width
records, searched with string.unpack) and small tables for the multi-character
mappings.  See lua/README.md (module unidata) for the record layouts.
"""
import bz2
import collections
import os
import sys

MAX_CP = 0x10FFFF

# flag bits of the "flags" runs; lua/pyfmt.lua reads them by these values
FLAGS = {
    'ALPHA': 1, 'DECIMAL': 2, 'DIGIT': 4, 'NUMERIC': 8, 'SPACE': 16, 'UPPER': 32,
    'LOWER': 64, 'TITLE': 128, 'CASED': 256, 'CASE_IGNORABLE': 512, 'LINEBREAK': 1024,
    'PRINTABLE': 2048, 'XID_START': 4096, 'XID_CONTINUE': 8192,
}


def data_lines(path):
    opener = bz2.open if path.endswith('.bz2') else open
    with opener(path, 'rt', encoding='utf-8') as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line:
                yield [field.strip() for field in line.split(';')]


def cp_range(text):
    if '..' in text:
        lo, hi = text.split('..')
        return range(int(lo, 16), int(hi, 16) + 1)
    return range(int(text, 16), int(text, 16) + 1)


def cps(text):
    return [int(x, 16) for x in text.split()]


def read_age(ucd, max_age):
    """Code points assigned after max_age: treated as unassigned."""
    limit = tuple(int(x) for x in max_age.split('.'))
    newer = set()
    for fields in data_lines(os.path.join(ucd, 'DerivedAge.txt')):
        if tuple(int(x) for x in fields[1].split('.')) > limit:
            newer.update(cp_range(fields[0]))
    return newer


def read_unicode_data(ucd, newer):
    """code point -> (category, bidi, decimal, digit, numeric, upper, lower, title)."""
    records = {}
    first = None
    for fields in data_lines(os.path.join(ucd, 'UnicodeData.txt')):
        cp = int(fields[0], 16)
        rec = (fields[2], fields[4], fields[6], fields[7], fields[8],
               fields[12], fields[13], fields[14])
        if fields[1].endswith(', First>'):
            first = cp
            continue
        span = range(first, cp + 1) if fields[1].endswith(', Last>') else (cp,)
        first = None
        for c in span:
            if c not in newer:
                records[c] = rec
    return records


def read_property(ucd, filename, names, newer):
    """property name -> set of code points, for the binary properties in names."""
    props = {name: set() for name in names}
    for fields in data_lines(os.path.join(ucd, filename)):
        if fields[1] in props:
            props[fields[1]].update(c for c in cp_range(fields[0]) if c not in newer)
    return props


def read_line_breaks(ucd, newer):
    """Mandatory line breaks (str.splitlines), as makeunicodedata.py reads LineBreak.txt."""
    found = set()
    for fields in data_lines(os.path.join(ucd, 'LineBreak.txt')):
        if fields[1] in ('BK', 'CR', 'LF', 'NL'):
            found.update(c for c in cp_range(fields[0]) if c not in newer)
    return found


def read_unihan_numeric(ucd, newer):
    found = set()
    path = os.path.join(ucd, 'Unihan_NumericValues.txt.bz2')
    if not os.path.exists(path):
        path = os.path.join(ucd, 'Unihan_NumericValues.txt')
    opener = bz2.open if path.endswith('.bz2') else open
    with opener(path, 'rt', encoding='utf-8') as f:
        for line in f:
            if line.startswith('U+'):
                code, field, _ = line.split('\t', 2)
                cp = int(code[2:], 16)
                if field in ('kAccountingNumeric', 'kPrimaryNumeric', 'kOtherNumeric') \
                        and cp not in newer:
                    found.add(cp)
    return found


def read_special_casing(ucd, newer):
    """Unconditional entries only, as CPython: cp -> (lower, title, upper) lists."""
    special = {}
    for fields in data_lines(os.path.join(ucd, 'SpecialCasing.txt')):
        if len(fields) > 4 and fields[4]:
            continue  # language or context conditions; CPython hardcodes final sigma only
        cp = int(fields[0], 16)
        if cp not in newer:
            special[cp] = (cps(fields[1]), cps(fields[2]), cps(fields[3]))
    return special


def read_case_folding(ucd, newer):
    """Status C and F entries (str.casefold): cp -> list."""
    folding = {}
    for fields in data_lines(os.path.join(ucd, 'CaseFolding.txt')):
        cp = int(fields[0], 16)
        if fields[1] in ('C', 'F') and cp not in newer:
            folding[cp] = cps(fields[2])
    return folding


# Properties that Unicode 15.0 gave to characters older than 15.0, which DerivedAge
# cannot tell: MODIFIER LETTER GEORGIAN NAR, MODIFIER LETTER CAPITAL C, F and Q and
# MODIFIER LETTER SMALL TURNED W became Other_Lowercase, so Lowercase and Cased.  Found by tests/lua/test_unicode.lua.
ADDED_IN_15 = {
    'Lowercase': {0x10FC, 0xA7F2, 0xA7F3, 0xA7F4, 0xAB69},
    'Cased': {0x10FC, 0xA7F2, 0xA7F3, 0xA7F4, 0xAB69},
}


def flag_of(cp, rec, props, unihan):
    flags = 0
    if cp in props['line_breaks']:
        flags |= FLAGS['LINEBREAK']
    if rec:
        cat, bidi, decimal, digit, numeric = rec[:5]
        if cat in ('Lm', 'Lt', 'Lu', 'Ll', 'Lo'):
            flags |= FLAGS['ALPHA']
        if cat == 'Zs' or bidi in ('WS', 'B', 'S'):
            flags |= FLAGS['SPACE']
        if bidi == 'B':
            flags |= FLAGS['LINEBREAK']
        if cat == 'Lt':
            flags |= FLAGS['TITLE']
        if cp == 0x20 or cat[0] not in 'CZ':
            flags |= FLAGS['PRINTABLE']
        if decimal:
            flags |= FLAGS['DECIMAL']
        if digit:
            flags |= FLAGS['DIGIT']
        if numeric:
            flags |= FLAGS['NUMERIC']
    if cp in unihan:
        flags |= FLAGS['NUMERIC']
    for name, bit in (('Uppercase', 'UPPER'), ('Lowercase', 'LOWER'), ('Cased', 'CASED'),
                      ('Case_Ignorable', 'CASE_IGNORABLE'), ('XID_Start', 'XID_START'),
                      ('XID_Continue', 'XID_CONTINUE')):
        if cp in props[name]:
            flags |= FLAGS[bit]
    return flags


def flag_runs(records, props, unihan):
    runs = []
    prev = None
    for cp in range(MAX_CP + 1):
        f = flag_of(cp, records.get(cp), props, unihan)
        if f != prev:
            runs.append((cp, f))
            prev = f
    return runs


def delta_runs(mapping):
    """{cp: mapped cp} as runs (lo, hi, stride, delta): cp in lo..hi by stride maps to cp+delta."""
    runs = []
    for cp in sorted(mapping):
        delta = mapping[cp] - cp
        if runs:
            lo, hi, stride, d = runs[-1]
            if d == delta and stride in (cp - hi, 0) and cp - hi in (1, 2):
                runs[-1] = (lo, cp, cp - hi, d)
                continue
        runs.append((cp, cp, 0, delta))
    return [(lo, hi, stride or 1, d) for lo, hi, stride, d in runs]


def lua_bytes(data):
    out = []
    for b in data:
        c = chr(b)
        if 32 <= b < 127 and c not in '\\"':
            out.append(c)
        else:
            out.append('\\%03d' % b)
    return '"' + ''.join(out) + '"'


def lua_utf8(cplist):
    return lua_bytes(''.join(map(chr, cplist)).encode('utf-8'))


def lua_map(table):
    items = ['[%d]=%s' % (cp, lua_utf8(table[cp])) for cp in sorted(table)]
    return '{' + ','.join(items) + '}'


def pack_delta_runs(runs):
    data = bytearray()
    for lo, hi, stride, delta in runs:
        data += lo.to_bytes(3, 'little') + hi.to_bytes(3, 'little') + bytes([stride])
        data += delta.to_bytes(3, 'little', signed=True)
    return data


def main():
    ucd, output = sys.argv[1], sys.argv[2]
    max_age = sys.argv[3] if len(sys.argv) > 3 else '14.0'
    newer = read_age(ucd, max_age)
    records = read_unicode_data(ucd, newer)
    props = read_property(ucd, 'DerivedCoreProperties.txt',
                          ('Uppercase', 'Lowercase', 'Cased', 'Case_Ignorable', 'XID_Start',
                           'XID_Continue'), newer)
    if tuple(map(int, max_age.split('.'))) < (15, 0):
        for name, added in ADDED_IN_15.items():
            props[name] -= added
    props['line_breaks'] = read_line_breaks(ucd, newer)
    unihan = read_unihan_numeric(ucd, newer)
    special = read_special_casing(ucd, newer)
    folding = read_case_folding(ucd, newer)

    simple = {}  # field index in records -> {cp: mapped}
    for name, index in (('upper', 5), ('lower', 6), ('title', 7)):
        simple[name] = {}
        for cp, rec in records.items():
            # an empty titlecase mapping means the uppercase one (makeunicodedata.py)
            text = rec[index] or (rec[5] if name == 'title' else '')
            if text and int(text, 16) != cp:
                simple[name][cp] = int(text, 16)
    full = {'lower': {}, 'title': {}, 'upper': {}}
    for cp, (lower, title, upper) in special.items():
        for name, value in (('lower', lower), ('title', title), ('upper', upper)):
            if value != [simple[name].get(cp, cp)]:
                full[name][cp] = value
    fold_simple = {cp: v[0] for cp, v in folding.items() if len(v) == 1 and v[0] != cp}
    fold_full = {cp: v for cp, v in folding.items() if len(v) > 1}

    # re's IGNORECASE extra cases (CPython Tools/scripts/generate_re_casefix.py): lowercase
    # characters that share an uppercase with another lowercase character.
    def full_map(name, cp):
        if cp in full[name]:
            return tuple(full[name][cp])
        return (simple[name].get(cp, cp),)
    same_upper = collections.defaultdict(set)
    for cp in range(MAX_CP + 1):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        lower = full_map('lower', cp)
        if len(lower) == 1:
            same_upper[full_map('upper', cp)].add(lower[0])
    extra = {}
    for group in same_upper.values():
        if len(group) > 1:
            for cp in group:
                extra[cp] = sorted(group - {cp})

    # code points whose simple lowercase is v, besides v and v's uppercase (KELVIN SIGN
    # for k): re's IGNORECASE sets match what lowers to a member
    lower_from = collections.defaultdict(list)
    for cp, v in sorted(simple['lower'].items()):
        if cp != simple['upper'].get(v, v):
            lower_from[v].append(cp)

    runs = flag_runs(records, props, unihan)
    flags_data = bytearray()
    for start, f in runs:
        flags_data += start.to_bytes(3, 'little') + f.to_bytes(2, 'little')

    with open(output, 'w', encoding='utf-8') as out:
        out.write('-- Generated by lua/gen_unidata.py from the Unicode %s data files: '
                  'do not edit.\n' % max_age)
        out.write('local M = ...\nlocal U = {version = "%s"}\n' % max_age)
        for name, bit in sorted(FLAGS.items(), key=lambda kv: kv[1]):
            out.write('U.%s = %d\n' % (name, bit))
        out.write('-- records "<I3I2": first code point of a run, its flags\n')
        out.write('U.flags = %s\n' % lua_bytes(flags_data))
        latin1 = bytearray()
        for cp in range(256):
            latin1 += flag_of(cp, records.get(cp), props, unihan).to_bytes(2, 'little')
        out.write('-- "<I2" for each of U+0000..U+00FF: its flags\n')
        out.write('U.latin1 = %s\n' % lua_bytes(latin1))
        zeros = bytearray()
        for cp in sorted(c for c, rec in records.items() if rec[2] == '0'):
            zeros += cp.to_bytes(3, 'little')
        out.write('-- records "<I3": the digit zero of each script (decimal digits run 0..9)\n')
        out.write('U.decimal_zero = %s\n' % lua_bytes(zeros))
        out.write('-- records "<I3I3I1i3": lo, hi, stride, delta (cp maps to cp + delta)\n')
        for name in ('lower', 'upper', 'title'):
            out.write('U.%s = %s\n' % (name, lua_bytes(pack_delta_runs(delta_runs(simple[name])))))
            out.write('U.%s_full = %s\n' % (name, lua_map(full[name])))
        out.write('U.fold = %s\n' % lua_bytes(pack_delta_runs(delta_runs(fold_simple))))
        out.write('U.fold_full = %s\n' % lua_map(fold_full))
        out.write('-- re IGNORECASE: lowercase code point -> the others with its uppercase\n')
        out.write('U.re_extra = {%s}\n' % ','.join(
            '[%d]={%s}' % (cp, ','.join(map(str, extra[cp]))) for cp in sorted(extra)))
        out.write('-- re IGNORECASE: lowercase code point -> the others lowering to it\n')
        out.write('U.lower_from = {%s}\n' % ','.join(
            '[%d]={%s}' % (v, ','.join(map(str, lower_from[v]))) for v in sorted(lower_from)))
        out.write('return U\n')


if __name__ == '__main__':
    main()
