"""pcre2 0.7.0: `Pattern.search()` and `Pattern.match()` allocate a pcre2_match_data block and,
when nothing matches, return None without freeing it (grtetrault/pcre2.py#27, fixed by #28 in
0.7.1). Each iteration runs 200 searches that find nothing, as the issue's reproducer does."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import _loop  # noqa: E402

import pcre2  # noqa: E402

PATTERN = pcre2.compile(r"(\w+)\.(com|org|net)")
SUBJECT = "i swear i am not a pattern"


def step(i):
    for _ in range(200):
        PATTERN.search(SUBJECT)


_loop.run(step, 15)
