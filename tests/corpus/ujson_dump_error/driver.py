"""ujson 5.12.0: `ujson.dump()` does not release the encoded string when the file's write()
raises (CVE-2026-44660, fixed in 5.12.1). Each iteration tries to write a 100 KB document 20 times
to a stream whose write fails, the way a full disk or a closed socket would."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import _loop  # noqa: E402

import ujson  # noqa: E402


class FullDisk:
    def write(self, data):
        raise OSError(28, "No space left on device")


DOC = {"id": 1, "body": "x" * 100_000}
SINK = FullDisk()


def step(i):
    for _ in range(20):
        try:
            ujson.dump(DOC, SINK)
        except OSError:
            pass


_loop.run(step, 15)
