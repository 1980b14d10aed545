#!/usr/bin/python3
"""Python's own answers for every code point (surrogates left out), for
tests/lua/test_unicode.lua: the str methods, re's classes, IGNORECASE.

Code points go in batches of BATCH, joined by a newline (uncased, not
case-ignorable, so one code point's answer never depends on its neighbours).
Output: records "name length\\n" + UTF-8 text (surrogatepass for none)."""
import random
import re
import sys
import _sre

BATCH = 4096
out = sys.stdout.buffer


def put(name, text):
    data = text.encode('utf-8')
    out.write(b'%s %d\n' % (name.encode(), len(data)))
    out.write(data)


# per code point: 4 hex digits, the predicates' bits, then cased, case-ignorable and
# identifier continuation
PREDICATES = ('isalpha', 'isdecimal', 'isdigit', 'isnumeric', 'isspace', 'isupper',
              'islower', 'istitle', 'isalnum', 'isprintable', 'isidentifier', 'isascii')

cps = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
for start in range(0, len(cps), BATCH):
    chars = [chr(c) for c in cps[start:start + BATCH]]
    text = '\n'.join(chars)
    put('batch', text)
    for method in ('lower', 'upper', 'casefold', 'swapcase', 'title', 'capitalize'):
        put(method, getattr(text, method)())
    put('split', '\0'.join(text.split()))
    put('splitlines', '\0'.join(text.splitlines()))
    put('splitlines_keepends', '\0'.join(text.splitlines(True)))
    masks = []
    for ch in chars:
        bits = 0
        for i, p in enumerate(PREDICATES):
            if getattr(ch, p)():
                bits |= 1 << i
        # cased: the next letter is lowercased by title(); case-ignorable (or cased):
        # a capital sigma after it is still final; an identifier's continuation
        if (ch + 'a').title().endswith('a'):
            bits |= 1 << 12
        if ('A' + ch + '\u03a3').lower().endswith('\u03c2'):
            bits |= 1 << 13
        if ('a' + ch).isidentifier():
            bits |= 1 << 14
        masks.append('%04x' % bits)
    put('masks', ''.join(masks))
    ints = []
    for ch in chars:
        try:
            ints.append(str(int(ch)))
        except ValueError:
            ints.append('-')
    put('int', ''.join(ints))
    for cls in ('w', 'd', 's', 'W'):
        put('re_' + cls, re.sub('\\' + cls, '', text))

# IGNORECASE: each cased code point as a literal, a one-item range and in a set,
# matched against every code point sharing its lowercase or an extra case.
by_lower = {}
for c in cps:
    by_lower.setdefault(_sre.unicode_tolower(c), []).append(c)
for c in cps:
    if not _sre.unicode_iscased(c):
        continue
    lo = _sre.unicode_tolower(c)
    near = set(by_lower[lo]) | {lo, ord(chr(c).upper()[0]), ord(chr(c).casefold()[0])}
    for k in re._casefix._EXTRA_CASES.get(lo, ()):
        near |= set(by_lower[k])
    subject = ''.join(map(chr, sorted(near)))
    for form in ('%s', '[%s]', '[%s-%s]', '[%s0]'):
        pattern = '(?i)' + form.replace('%s', re.escape(chr(c)))
        put('icase', '%s\n%s\n%s' % (pattern, subject, ''.join(re.findall(pattern, subject))))
# Sets of several items (ranges across case boundaries, classes, negation, re.ASCII)
# near the characters whose case is irregular, from a fixed seed.
rng = random.Random(13)
SPOTS = (0x41, 0x61, 0xb5, 0xc0, 0xdf, 0x100, 0x130, 0x17f, 0x1c4, 0x1f0, 0x345, 0x390,
         0x3a3, 0x3c2, 0x3f4, 0x400, 0x10a0, 0x13a0, 0x1e9e, 0x1fbe, 0x2126, 0x212a, 0x2160,
         0x24b6, 0xab70, 0xfb00, 0xff21, 0x10400, 0x118a0, 0x1e900)


def near_spot():
    return rng.choice(SPOTS) + rng.randint(-3, 40)


for _ in range(2000):
    items = []
    for _ in range(rng.randint(1, 3)):
        a = near_spot()
        if rng.random() < 0.5:
            items.append(re.escape(chr(a)) + '-' + re.escape(chr(a + rng.randint(0, 60))))
        else:
            items.append(re.escape(chr(a)))
    if rng.random() < 0.2:
        items.append(rng.choice(('\\d', '\\s', '\\w', '\\W')))
    pattern = rng.choice(('(?i)', '(?i)', '(?ai)', '')) + '[' + ('^' if rng.random() < 0.2 else '')
    pattern += ''.join(items) + ']'
    near = {near_spot() for _ in range(60)} | set(map(ord, 'aAkKsS'))
    subject = ''.join(map(chr, sorted(near)))
    put('icase', '%s\n%s\n%s' % (pattern, subject, ''.join(re.findall(pattern, subject))))
out.flush()
