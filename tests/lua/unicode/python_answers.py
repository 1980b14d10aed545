#!/usr/bin/python3
"""Python's own answers for every code point (surrogates left out), for
tests/lua/test_unicode.lua: the str methods, re's classes, IGNORECASE.

Code points go in batches of BATCH, joined by a newline (uncased, not
case-ignorable, so one code point's answer never depends on its neighbours).
Output: records "name length\\n" + UTF-8 text (surrogatepass for none)."""
import re
import sys
import _sre

BATCH = 4096
out = sys.stdout.buffer


def put(name, text):
    data = text.encode('utf-8')
    out.write(b'%s %d\n' % (name.encode(), len(data)))
    out.write(data)


# per code point: 3 hex digits, the predicates' bits, then cased and case-ignorable
PREDICATES = ('isalpha', 'isdecimal', 'isdigit', 'isnumeric', 'isspace', 'isupper',
              'islower', 'istitle', 'isalnum')

cps = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
for start in range(0, len(cps), BATCH):
    chars = [chr(c) for c in cps[start:start + BATCH]]
    text = '\n'.join(chars)
    put('batch', text)
    for method in ('lower', 'upper', 'casefold', 'swapcase', 'title', 'capitalize'):
        put(method, getattr(text, method)())
    put('split', '\0'.join(text.split()))
    masks = []
    for ch in chars:
        bits = 0
        for i, p in enumerate(PREDICATES):
            if getattr(ch, p)():
                bits |= 1 << i
        # cased: the next letter is lowercased by title(); case-ignorable (or cased):
        # a capital sigma after it is still final
        if (ch + 'a').title().endswith('a'):
            bits |= 1 << 9
        if ('A' + ch + '\u03a3').lower().endswith('\u03c2'):
            bits |= 1 << 10
        masks.append('%03x' % bits)
    put('masks', ''.join(masks))
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
out.flush()
