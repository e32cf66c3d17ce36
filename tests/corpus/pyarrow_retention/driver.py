"""pyarrow 17.0.0 with the system allocator: building a table from Python rows and converting it
back frees everything, but glibc keeps the freed pages, so RSS stays up (apache/arrow#36100: "pyarrow
is returning the memory back to the allocator ... the allocator is not releasing this memory to the
OS ... this isn't actually leaking"). Each iteration converts 20,000 rows there and back."""
import os
import sys

os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")   # as in the graphs
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import _loop  # noqa: E402

import pyarrow as pa  # noqa: E402


def step(i):
    rows = [{"id": k, "name": "row-%d-%d" % (i, k), "score": k * 0.5} for k in range(20_000)]
    table = pa.Table.from_pylist(rows)
    back = table.to_pylist()
    del rows, table, back


_loop.run(step, 15)
