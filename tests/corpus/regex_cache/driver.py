"""regex 2024.11.6: `regex.compile()` keeps every compiled pattern in a module cache of at most
500 entries, shrunk by a fifth when full, so a program that compiles ever new patterns grows
until the cache is full and then stays (mrabarnett/mrab-regex#387: a user ran out of memory on
it with 200 KB patterns and asked for a way to skip the cache). Each iteration compiles 40
patterns no earlier iteration compiled."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import _loop  # noqa: E402

import regex  # noqa: E402


def step(i):
    for k in range(40):
        regex.compile("k%05d" % (i * 40 + k))


_loop.run(step, 30)
