"""msgpack 1.1.0: a long-lived streaming Unpacker keeps its read buffer at the largest message it
has seen, to avoid reallocating ("It is intended. Unpacker can be reused and it holds buffer to
reduce allocation", msgpack/msgpack-python#129; #571 is a user who took it for a leak). Each
iteration feeds 4 messages whose sizes follow a fixed, seeded long-tailed distribution, so the
retained buffer rises in ever rarer steps to a high-water mark."""
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import _loop  # noqa: E402

import msgpack  # noqa: E402

RNG = random.Random(7)
UNPACKER = msgpack.Unpacker(max_buffer_size=64 << 20)


def step(i):
    for _ in range(4):
        size = min(int(RNG.lognormvariate(11, 1.0)), 4 << 20)
        UNPACKER.feed(msgpack.packb({"seq": i, "blob": b"\x01" * size}))
        for msg in UNPACKER:
            del msg


_loop.run(step, 24)
