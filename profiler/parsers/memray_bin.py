"""memray capture files (`memray run -o FILE.bin`, memray 1.20) -> sites, totals and a timeline.

Read through memray's own `FileReader`, because the binary format is private to
memray and versioned with it. Each query memray offers is an aggregation in C++,
so memory grows with distinct stacks, not with events:

- high-water-mark records  -> `peak_bytes` per site (bytes live at the global peak)
- leaked records           -> `live_bytes_end`
- temporal records         -> the timeline: live bytes per site at memray's memory
                              snapshots (every 10 ms), picked at each iteration's
                              wall_end (snapshots are ms since the epoch)
- raw allocation records   -> `alloc_count` per site and the totals `memray stats`
                              prints (every allocation, freed or not, counts); this
                              is the one pass over every event, kept to counters.

A site is one distinct memray stack: (Python stack id, native stack id, native
segment generation). Stacks are hybrid (Python frames spliced into the native
ones) when the file has native traces. Native symbols are resolved when the
file is read, on the reading machine: a native frame whose library is gone reads
as `<unknown>`, Python frames always resolve. memray does not say which shared
object a native frame came from, so native frames have module None and keep
their source file; Python frames have the .py file as module.

Aggregated files (`memray run --aggregate`) answer only the high-water-mark and
leaked queries: no alloc_count, no timeline, no allocation totals (memray stats
refuses them too); `meta["queries"]` says what was available.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from profiler.errors import BadCapture
from profiler.parsers import _stacks
from profiler.tables import Capture, Frame

FORMAT = "memray"

_MAGIC = b"memray\x00"
_LZ4_MAGIC = b"\x04\x22\x4d\x18"   # memray compresses its output with an LZ4 frame by default

# CPython's allocator layers sit between the code that asked and malloc: skip them when naming a site.
_PY_ALLOCATOR_FUNCTIONS = frozenset({
    "PyMem_Malloc", "PyMem_Calloc", "PyMem_Realloc", "PyMem_RawMalloc", "PyMem_RawCalloc",
    "PyMem_RawRealloc", "_PyMem_RawMalloc", "_PyMem_RawCalloc", "_PyMem_RawRealloc",
    "PyObject_Malloc", "PyObject_Calloc", "PyObject_Realloc", "_PyObject_Malloc", "_PyObject_Calloc",
    "_PyObject_Realloc", "pymalloc_alloc", "_PyObject_New", "_PyObject_NewVar", "_PyObject_GC_New",
    "_PyObject_GC_NewVar", "_PyObject_GC_Malloc", "_PyObject_GC_Link", "gc_alloc", "new_arena",
    "allocate_from_new_pool", "_PyMem_DebugRawAlloc", "_PyMem_DebugMalloc", "_PyMem_DebugRawMalloc",
})

_SLICES_WITHOUT_BOUNDARIES = 20


def sniff(head: bytes, path=None) -> bool:
    if head.startswith(_MAGIC):
        return True
    # an LZ4 frame whose first block starts with memray's header: the magic is in its first literals
    return head.startswith(_LZ4_MAGIC) and _MAGIC in head[:64]


def _header_version(head: bytes) -> int | None:
    i = head.find(_MAGIC)
    if i < 0 or len(head) < i + len(_MAGIC) + 4:
        return None
    return int.from_bytes(head[i + len(_MAGIC): i + len(_MAGIC) + 4], "little")


@contextlib.contextmanager
def _memray_stderr(sink: list[str]):
    """Collect what memray's C++ reader prints on fd 2 ("Memray ERROR: Failed to process ...").

    The reader reports a corrupt or cut record by printing and stopping, not by
    raising; catching those lines turns them into one BadCapture line instead of
    noise on the user's terminal and a silently partial result."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            sink.extend(ln.strip() for ln in tmp.read(65536).decode(errors="replace").splitlines() if ln.strip())


def _is_py_file(file: str) -> bool:
    return file.endswith((".py", ".pyw")) or file.startswith("<frozen ") or file == "<string>"


def _frames(raw) -> tuple[Frame, ...]:
    out = []
    for function, file, line in raw:
        file = None if file in (None, "", "<unknown>") else file
        function = None if function in (None, "", "<unknown>") else function
        module = file if file and _is_py_file(file) else None
        out.append(Frame(function=function, module=module, file=file, line=int(line) if line else None))
    return tuple(out)


def _is_plumbing(frame: Frame) -> bool:
    return _stacks.is_allocator(frame.function) or frame.function in _PY_ALLOCATOR_FUNCTIONS


def _site_frame(stack: tuple[Frame, ...]) -> Frame | None:
    """Innermost frame that is neither allocator plumbing nor unresolved (`<unknown>`: its
    library was not found at read time); the innermost frame if none qualifies."""
    for frame in stack:
        if not _is_plumbing(frame) and (frame.function or frame.file):
            return frame
    return stack[0] if stack else None


class _Sites:
    """Per distinct memray stack: peak bytes, live bytes at the end, allocation calls."""

    def __init__(self, native: bool):
        self.native = native
        self.index: dict[tuple, int] = {}
        self.stacks: list[tuple[Frame, ...]] = []
        self.peak: list[int] = []
        self.live: list[int] = []
        self.count: list[int] = []

    @staticmethod
    def key(rec) -> tuple:
        return (rec.stack_id, rec.native_stack_id, rec.native_segment_generation)

    def get(self, rec) -> int:
        k = self.key(rec)
        i = self.index.get(k)
        if i is None:
            i = self.index[k] = len(self.stacks)
            raw = rec.hybrid_stack_trace() if self.native else rec.stack_trace()
            self.stacks.append(_frames(raw))
            self.peak.append(0)
            self.live.append(0)
            self.count.append(0)
        return i


def _slice_indices(snap_ms: list[int], start_ms: int, end_ms: int, boundaries):
    """(slices, times_s, snapshot index k) for the timeline.

    An allocation interval is live at snapshot k when allocated_before <= k and
    (deallocated_before is None or > k); k = len(snapshots) is the end of the
    capture. With boundaries, each iteration takes the last snapshot taken at or
    before its wall_end; without, the capture is cut into equal time slices
    (t in seconds since memray started tracking)."""
    import bisect

    out = []
    if boundaries:
        for it, t_end, wall_end in sorted(boundaries, key=lambda b: b[2]):
            ms = float(wall_end) * 1000.0
            k = len(snap_ms) if ms >= end_ms else bisect.bisect_right(snap_ms, ms) - 1
            if k < 0:
                continue  # the iteration ended before memray's first snapshot
            out.append((int(it), float(t_end), k))
    else:
        for n, t in enumerate(_stacks.equal_slices((end_ms - start_ms) / 1000.0, _SLICES_WITHOUT_BOUNDARIES)):
            ms = start_ms + t * 1000.0
            k = len(snap_ms) if ms >= end_ms else bisect.bisect_right(snap_ms, ms) - 1
            out.append((n, t, max(k, 0)))
    return out


def parse(path, boundaries=None) -> Capture:
    import numpy as np

    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError as exc:
        raise BadCapture(f"{path}: cannot read ({exc.strerror})") from None
    if not sniff(head, path):
        raise BadCapture(f"{path}: not a memray capture (no memray header)")
    try:
        import memray
        from memray import AllocatorType, FileFormat
    except ImportError:  # pragma: no cover - memray is a hard dependency
        from profiler.errors import ToolMissing

        raise ToolMissing("memray is not installed: pip install memray==1.20.0") from None

    noise: list[str] = []
    try:
        with _memray_stderr(noise):
            result = _read(memray, AllocatorType, FileFormat, path, boundaries, np)
    except OSError as exc:
        msg = str(exc).split(":")[0].strip().rstrip(".")
        if "incompatible" in msg:
            version = _header_version(head)
            detail = f"file format version {version}" if version is not None else "another file format version"
            raise BadCapture(f"{path}: memray capture of an unsupported version ({detail}; "
                             f"memray {memray.__version__ if hasattr(memray, '__version__') else ''} cannot read it)".replace("memray  ", "memray ")) from None
        raise BadCapture(f"{path}: corrupt or truncated memray capture ({msg})") from None
    except (RuntimeError, ValueError, KeyError, IndexError, UnicodeDecodeError) as exc:
        # NotImplementedError is a RuntimeError: only queries memray refuses for this file kind
        raise BadCapture(f"{path}: memray could not read this capture ({type(exc).__name__}: {exc})") from None
    errors = [ln for ln in noise if "ERROR" in ln]
    if errors:
        raise BadCapture(f"{path}: corrupt or truncated memray capture (memray: {errors[0].split(':', 1)[-1].strip()})")
    return result


def _read(memray, AllocatorType, FileFormat, path: Path, boundaries, np) -> Capture:
    reader = memray.FileReader(str(path))
    try:
        md = reader.metadata
        aggregated = md.file_format == FileFormat.AGGREGATED_ALLOCATIONS
        native = bool(md.has_native_traces)
        sites = _Sites(native)
        queries = ["high_watermark", "leaked"]

        for rec in reader.get_high_watermark_allocation_records(merge_threads=True):
            sites.peak[sites.get(rec)] += rec.size
        leaked_bytes = 0
        for rec in reader.get_leaked_allocation_records(merge_threads=True):
            sites.live[sites.get(rec)] += rec.size
            leaked_bytes += rec.size

        totals: dict = {"peak_memory_bytes": int(md.peak_memory), "leaked_bytes": leaked_bytes}
        by_allocator: dict[str, int] = {}
        timeline = None
        meta_extra: dict = {}
        if aggregated:
            totals.update(total_allocations=None, total_bytes_allocated=None, mmap_allocations=None, mmap_bytes=None)
        else:
            queries += ["allocations", "temporal", "snapshots"]
            dealloc = {int(AllocatorType.FREE), int(AllocatorType.MUNMAP)}
            mmap_kind = int(AllocatorType.MMAP)
            n = nbytes = n_mmap = mmap_bytes = 0
            counts_by_alloc: dict[int, int] = {}
            count = sites.count
            for rec in reader.get_allocation_records():
                kind = rec.allocator
                if kind in dealloc:
                    continue
                size = rec.size
                n += 1
                nbytes += size
                counts_by_alloc[kind] = counts_by_alloc.get(kind, 0) + 1
                if kind == mmap_kind:
                    n_mmap += 1
                    mmap_bytes += size
                i = sites.index.get((rec.stack_id, rec.native_stack_id, rec.native_segment_generation))
                if i is None:
                    i = sites.get(rec)
                count[i] += 1
            by_allocator = {AllocatorType(k).name: v for k, v in sorted(counts_by_alloc.items())}
            totals.update(total_allocations=n, total_bytes_allocated=nbytes,
                          mmap_allocations=n_mmap, mmap_bytes=mmap_bytes)
            timeline, meta_extra = _timeline(reader, md, sites, boundaries, np)

        rows = ((i, sites.stacks[i], sites.live[i], sites.peak[i], None if aggregated else sites.count[i], None)
                for i in range(len(sites.stacks)))
        df = _stacks.sites_frame(rows, FORMAT)
        # name sites past CPython's allocator layers too (the shared helper knows libc's only)
        for i, stack in enumerate(df["stack"]):
            fr = _site_frame(stack)
            df.at[i, "site"] = fr.label() if fr else "???"
            df.at[i, "function"] = fr.function if fr else None
            df.at[i, "module"] = fr.module if fr else None

        meta = {
            "tool": "memray",
            "file_format": md.file_format.name,
            "aggregated": aggregated,
            "has_native_traces": native,
            "stacks": "hybrid" if native else "python",
            "queries": queries,
            "command_line": md.command_line,
            "pid": md.pid,
            "python_allocator": md.python_allocator,
            "trace_python_allocators": bool(md.trace_python_allocators),
            "start_time": md.start_time.timestamp(),
            "end_time": md.end_time.timestamp(),
            "records": int(md.total_allocations),   # every record, frees included
            "allocations_by_allocator": by_allocator,
            **meta_extra,
        }
        return Capture(format=FORMAT, path=str(path), totals=totals, sites=df, timeline=timeline, meta=meta)
    finally:
        reader.close()


def _timeline(reader, md, sites: _Sites, boundaries, np):
    snaps = list(reader.get_memory_snapshots())
    snap_ms = [s.time for s in snaps]
    start_ms = int(md.start_time.timestamp() * 1000)
    end_ms = int(md.end_time.timestamp() * 1000)
    picks = _slice_indices(snap_ms, start_ms, end_ms, boundaries)
    meta = {"snapshots": len(snaps), "timeline_clock": "iterations" if boundaries else "seconds since memray start"}
    if not picks:
        return None, meta
    ks = np.array([k for _, _, k in picks], dtype=np.int64)
    live = np.zeros((len(picks), len(sites.stacks)), dtype=np.int64)
    for rec in reader.get_temporal_allocation_records(merge_threads=True):
        j = sites.index.get((rec.stack_id, rec.native_stack_id, rec.native_segment_generation))
        if j is None:
            j = sites.get(rec)
            live = np.pad(live, ((0, 0), (0, 1)))
        for iv in rec.intervals:
            a, d = iv.allocated_before_snapshot, iv.deallocated_before_snapshot
            alive = (ks >= a) if d is None else ((ks >= a) & (ks < d))
            if alive.any():
                live[alive, j] += iv.n_bytes
    slices = [s for s, _, _ in picks]
    times = [t for _, t, _ in picks]
    meta["slice_snapshot_ms"] = [snap_ms[k] if k < len(snap_ms) else end_ms for k in ks.tolist()]
    meta["rss_at_slices"] = [snaps[k].rss if k < len(snaps) else (snaps[-1].rss if snaps else None) for k in ks.tolist()]
    # pad count/peak/live for sites first seen in the temporal query (none in practice)
    return _stacks.timeline_frame(list(range(len(sites.stacks))), slices, times, live), meta
