"""CPython's iteration order of int sets, for tests/lua/test_set_order.lua.

Prints, for each of a fixed series of random sequences of distinct ints, one line:
the sequence, then the order of frozenset(sequence), then that of set() built from
that frozenset's iteration (yaql's set(), then Mistral's output conversion), each
space-separated, the three joined by '|'.
"""
import random

r = random.Random(13)
# 2,000 sets of up to 4,000 items, then two past 50,000 (where CPython grows its
# tables by half as much)
for t in range(2002):
    n = r.choice([2, 3, 5, 8, 13, 20, 40, 100, 300, 1000, 4000]) if t < 2000 else 60000 * (t - 1998)
    kind = r.random()
    if kind < 0.3:
        xs = [r.randint(0, 4 * n) for _ in range(n)]
    elif kind < 0.5:
        xs = [r.randint(-50, 50) for _ in range(n)]
    elif kind < 0.7:
        xs = [r.choice([1, -1]) * r.randint(0, 2**61 - 2) for _ in range(n)]
    else:  # keys sharing their low bits: long probe chains
        xs = [r.randint(0, 64) * 2**r.randint(0, 40) for _ in range(n)]
    seq = list(dict.fromkeys(xs))
    fs = frozenset(seq)
    print("|".join(" ".join(map(str, s)) for s in (seq, list(fs), list(set(x for x in fs)))))
