"""msgpack 1.1.0, the flat control: pack and unpack the same small document 2,000 times per
iteration and keep nothing. Nothing should grow."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import _loop  # noqa: E402

import msgpack  # noqa: E402

DOC = {"id": 7, "tags": ["a", "b", "c"], "score": 0.25, "payload": b"\x00" * 512}


def step(i):
    for _ in range(2000):
        out = msgpack.unpackb(msgpack.packb(DOC))
        del out


_loop.run(step, 15)
