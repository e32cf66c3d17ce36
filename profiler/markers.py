"""The in-band iteration marker protocol, shared by the workload that writes markers and the
parsers that cut timelines at them (tests/workloads/memprof_marks.h is the C side; a unit test
holds the two equal).

Right after writing an iteration record, a workload mallocs and at once frees one block of
marker_size(iteration) bytes. A heap profiler records that pair in the same event stream as
everything else, so a parser can cut the timeline exactly at the boundary instead of mapping
t_end onto the tool's own clock (heaptrack's `c` stamps can stall for seconds while its timer
thread waits for the lock; Valgrind's clock starts 75-175 ms after the process). The sizes are
odd and 3 modulo 8 (never a power of two, nor a multiple of 1 KiB plus one for a terminator:
the sizes real code asks for), small (well below glibc's 128 KiB mmap threshold, so the
allocator behaves as without them) and carry the iteration number, so a stray allocation of the
same size elsewhere would also have to fall on the right iteration and near its t_end to be
mistaken. The calls are real: the tools count them in their totals, and so do the parsers; only
the marker's own site is left out of the sites table.
"""
from __future__ import annotations

MARKER_BASE = 12035
MARKER_SPAN = 2048
ENV_SWITCH = "MEMPROF_MARKERS"      # "0" turns the markers off


def marker_size(iteration: int) -> int:
    """Bytes of the marker allocation written after iteration `iteration`'s record."""
    return MARKER_BASE + 8 * (int(iteration) % MARKER_SPAN)


def marker_code(size: int) -> int | None:
    """iteration % MARKER_SPAN for a marker-sized allocation, else None."""
    k = int(size) - MARKER_BASE
    if k < 0 or k % 8 or k // 8 >= MARKER_SPAN:
        return None
    return k // 8


def marker_codes(sizes):
    """marker_code for a numpy array of sizes at once: -1 where a size is not a marker's."""
    import numpy as np

    k = np.asarray(sizes, dtype=np.int64) - MARKER_BASE
    ok = (k >= 0) & (k % 8 == 0) & (k // 8 < MARKER_SPAN)
    return np.where(ok, k // 8, -1)
