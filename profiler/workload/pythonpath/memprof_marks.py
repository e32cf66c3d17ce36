"""Mark iterations from Python for memprof: stdlib only, one line per iteration.

    import memprof_marks

    for request in requests:
        with memprof_marks.iteration():      # or: handle(request); memprof_marks.end_iteration()
            handle(request)
    memprof_marks.collection_probe()         # optional: gc.collect() + malloc_trim(0), recorded

Each iteration appends one JSON line {"iteration", "model", "t_start", "t_end", "wall_start",
"wall_end"} to the file named by $MEMPROF_ITERATIONS (memprof sets it; unset, nothing is written),
seconds since the process started and epoch seconds, flushed and fsynced as it is written; then
it mallocs and frees one block of MARKER_BASE + 8 * (iteration % MARKER_SPAN) bytes through the C
library, the in-band marker heap profilers record among the program's own events
($MEMPROF_MARKERS=0 leaves it out). The same protocol as memprof's own loop and the C header
tests/workloads/memprof_marks.h; memprof puts this file's directory on the PYTHONPATH of
`memprof ... -- CMD` runs.
"""
from __future__ import annotations

import gc
import json
import os
import time

# The protocol (the parsers cut timelines at these sizes; a unit test holds them equal to
# memprof's own constants and to the C header)
ITERATIONS_ENV = "MEMPROF_ITERATIONS"
MARKERS_ENV = "MEMPROF_MARKERS"
MARKER_BASE = 12035
MARKER_SPAN = 2048
PROBE_GC = "gc_collect"
PROBE_TRIM = "malloc_trim"
# under Valgrind memprof names a file here: the probe waits (at most HOLD_MAX_S) until it exists,
# while memprof has the tool take its state right after the gc.collect()
HOLD_ENV = "MEMPROF_PROBE_HOLD"
HOLD_MAX_S = 60.0

__all__ = ["iteration", "end_iteration", "collection_probe", "marker_size"]

_state = {"n": 0, "last_end": None, "last_wall": None, "libc": False}
_start: list = []


def marker_size(i: int) -> int:
    return MARKER_BASE + 8 * (int(i) % MARKER_SPAN)


def _since_start() -> float:
    if not _start:
        with open("/proc/self/stat", "rb") as f:
            data = f.read().decode(errors="replace")
        ticks = int(data[data.rindex(")") + 2:].split()[19])
        _start.append(ticks / os.sysconf("SC_CLK_TCK"))
    return time.clock_gettime(time.CLOCK_BOOTTIME) - _start[0]


def _libc():
    if _state["libc"] is False:
        try:
            import ctypes

            lib = ctypes.CDLL(None)
            lib.malloc.restype = ctypes.c_void_p
            lib.malloc.argtypes = [ctypes.c_size_t]
            lib.free.restype = None
            lib.free.argtypes = [ctypes.c_void_p]
            _state["libc"] = lib
        except (OSError, AttributeError, ImportError):
            _state["libc"] = None
    return _state["libc"]


def _append(record: dict) -> bool:
    path = os.environ.get(ITERATIONS_ENV)
    if not path:
        return False
    line = json.dumps(record) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return True


def _mark(i: int) -> None:
    if os.environ.get(MARKERS_ENV) == "0":
        return
    lib = _libc()
    if lib:
        lib.free(lib.malloc(marker_size(i)))


if os.environ.get(ITERATIONS_ENV) and os.environ.get(MARKERS_ENV) != "0":
    _libc()     # ctypes loads now, at import, not inside the first iteration


def end_iteration(model: str | None = None, *, t_start: float | None = None,
                  wall_start: float | None = None) -> int:
    """Mark the end of one iteration now (it began where the previous one ended, or at process
    start); returns its number (1, 2, ...)."""
    t_end, wall_end = _since_start(), time.time()
    _state["n"] += 1
    i = _state["n"]
    if t_start is None:
        t_start = _state["last_end"] if _state["last_end"] is not None else 0.0
    if wall_start is None:
        wall_start = _state["last_wall"] if _state["last_wall"] is not None else wall_end - t_end
    rec = {"iteration": i, "t_start": round(t_start, 6), "t_end": round(t_end, 6),
           "wall_start": round(wall_start, 6), "wall_end": round(wall_end, 6)}
    if model is not None:
        rec["model"] = str(model)
    if _append(rec):
        _mark(i)
    _state["last_end"], _state["last_wall"] = t_end, wall_end
    return i


class iteration:  # noqa: N801 - used as `with memprof_marks.iteration():`
    """Context manager around one iteration: the record is written when the block ends (also
    when it raises: the iteration happened)."""

    def __init__(self, model: str | None = None):
        self.model = model
        self.number = None

    def __enter__(self):
        self._t, self._w = _since_start(), time.time()
        return self

    def __exit__(self, *exc):
        self.number = end_iteration(self.model, t_start=self._t, wall_start=self._w)
        return False


def _heap_in_use():
    try:
        import ctypes

        class _Mallinfo2(ctypes.Structure):
            _fields_ = [(n, ctypes.c_size_t) for n in
                        ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
                         "fordblks", "keepcost")]

        lib = _libc()
        fn = lib.mallinfo2
        fn.restype = _Mallinfo2
        m = fn()
        return int(m.uordblks + m.hblkhd)
    except (AttributeError, OSError, TypeError):
        return None


def _rss_bytes():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _measure(rec: dict) -> None:
    rec.update({"after_iteration": _state["n"], "t": round(_since_start(), 6), "wall": round(time.time(), 6),
                "heap_in_use_bytes": _heap_in_use(), "rss_bytes": _rss_bytes()})
    _append(rec)


def _hold() -> None:
    path = os.environ.get(HOLD_ENV)
    t0 = time.monotonic()
    while path and not os.path.exists(path) and time.monotonic() - t0 < HOLD_MAX_S:
        time.sleep(0.05)


def collection_probe() -> list[dict]:
    """One measurement after a full gc.collect() and one after malloc_trim(0), each appended as a
    probe record {"probe": "gc_collect"|"malloc_trim", "after_iteration", "t", "wall",
    "heap_in_use_bytes", "rss_bytes"} (plus "collected" for the gc one). When heap in use falls back
    to its floor, the growth was garbage waiting for the collector, or memory the allocator kept.
    Call it once at the end of the run. Returns the records."""
    out = [{"probe": PROBE_GC, "collected": gc.collect()}]
    _measure(out[-1])
    _hold()
    lib = _libc()
    trim = getattr(lib, "malloc_trim", None) if lib else None
    if trim is not None:
        import ctypes

        trim.argtypes = [ctypes.c_size_t]
        trim.restype = ctypes.c_int
        trim(0)
        out.append({"probe": PROBE_TRIM})
        _measure(out[-1])
    return out
