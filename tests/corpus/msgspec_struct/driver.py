"""msgspec 0.13.0: decoding JSON into Struct types leaks a reference per decoded object
(msgspec/msgspec#311, fixed by #312 in 0.13.1; 0.13.0 is yanked on PyPI as "Memory leak in JSON
decoder"). Each iteration decodes a 100-point array 100 times and drops the result."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import _loop  # noqa: E402

import msgspec  # noqa: E402


class Point(msgspec.Struct):
    x: int
    label: str


PAYLOAD = msgspec.json.encode([Point(k, "p%04d" % k) for k in range(100)])
DECODER = msgspec.json.Decoder(list[Point])


def step(i):
    for _ in range(100):
        points = DECODER.decode(PAYLOAD)
        del points


_loop.run(step, 15)
