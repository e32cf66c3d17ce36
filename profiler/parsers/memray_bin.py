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

The file is read in two child processes side by side (`python -m
profiler.parsers.memray_bin FILE BOUNDARIES aggregates|counts`: the aggregated
queries, and the pass over every record), each returning plain JSON: memray's C++ reader aborts or segfaults on some corrupt
files (one flipped byte is enough) and reports a cut record by printing
"Memray ERROR" rather than raising; the parent turns either into BadCapture.
A process killed mid-run leaves a readable file whose header was never
finalised: it is read to its last record (`meta["finalised"]` False).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
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
_ROUNDING_MARGIN_MS = 2.0   # see _slice_indices


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
    """Per distinct stack: peak bytes, live bytes at the end, allocation calls.

    memray ids a stack by (Python stack id, native stack id, segment generation),
    and its Python ids also tell apart bytecode offsets within one line, so two
    ids can resolve to the very same frames; sites are keyed by the resolved
    frames, each memray id mapped to its site once."""

    def __init__(self, native: bool):
        self.native = native
        self.index: dict[tuple, int] = {}
        self.by_frames: dict[tuple, int] = {}
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
            raw = rec.hybrid_stack_trace() if self.native else rec.stack_trace()
            frames = _frames(raw)
            i = self.by_frames.get(frames)
            if i is None:
                i = self.by_frames[frames] = len(self.stacks)
                self.stacks.append(frames)
                self.peak.append(0)
                self.live.append(0)
                self.count.append(0)
            self.index[k] = i
        return i


def _slice_indices(snap_ms: list[int], start_ms: int, end_ms: int, boundaries):
    """(slices, times_s, snapshot index k) for the timeline.

    An allocation interval is live at snapshot k when allocated_before <= k and
    (deallocated_before is None or > k); k = len(snapshots) is the end of the
    capture. With boundaries, each iteration takes the last snapshot taken before
    its wall_end, by a margin that covers both clocks' millisecond rounding
    (markers carry wall_end rounded to 1 ms, memray truncates to 1 ms): a snapshot
    stamped in the boundary's own millisecond may already follow the next
    iteration's first allocations. Without boundaries, the capture is cut into
    equal time slices (t in seconds since memray started tracking)."""
    import bisect

    out = []
    if boundaries:
        for it, t_end, wall_end in sorted(boundaries, key=lambda b: b[2]):
            ms = float(wall_end) * 1000.0 - _ROUNDING_MARGIN_MS
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



# --------------------------------------------------------------------------- the reading child

_EXIT_BAD = 3


def _extract(path: str, boundaries, part: str) -> dict:
    """What the parser needs from the file, as plain data (runs in a child process).

    part "aggregates": metadata, high-water-mark, leaked and temporal queries;
    part "counts": the pass over every allocation record (calls per stack, the
    totals memray stats prints). Two children run the two parts at once: the
    pass over every record costs as much as all the aggregated queries together."""
    import memray
    from memray import FileFormat

    reader = memray.FileReader(path)
    try:
        md = reader.metadata
        aggregated = md.file_format == FileFormat.AGGREGATED_ALLOCATIONS
        native = bool(md.has_native_traces)
        sites = _Sites(native)
        if part == "counts":
            if aggregated:
                return {"aggregated": True}
            return _counts(reader, sites)
        return _aggregates(memray, reader, md, aggregated, native, sites, boundaries)
    finally:
        reader.close()


def _counts(reader, sites: _Sites) -> dict:
    from memray import AllocatorType

    dealloc = {int(AllocatorType.FREE), int(AllocatorType.PYMALLOC_FREE), int(AllocatorType.MUNMAP)}
    mmap_kind = int(AllocatorType.MMAP)
    nbytes = mmap_bytes = 0
    # the one pass over every event: a counter per (stack, allocator), nothing per event;
    # Python-only files have native ids 0, so their key is the Python stack id alone
    calls: dict = {}
    first: dict = {}
    if sites.native:
        for rec in reader.get_allocation_records():
            kind = rec.allocator
            if kind in dealloc:
                continue
            size = rec.size
            nbytes += size
            if kind == mmap_kind:
                mmap_bytes += size
            key = (rec.stack_id, rec.native_stack_id, rec.native_segment_generation, kind)
            c = calls.get(key)
            if c is None:
                calls[key] = 1
                first[key] = rec
            else:
                calls[key] = c + 1
    else:
        for rec in reader.get_allocation_records():
            kind = rec.allocator
            if kind in dealloc:
                continue
            size = rec.size
            nbytes += size
            if kind == mmap_kind:
                mmap_bytes += size
            key = (rec.stack_id, 0, 0, kind)
            c = calls.get(key)
            if c is None:
                calls[key] = 1
                first[key] = rec
            else:
                calls[key] = c + 1
    counts_by_alloc: dict[int, int] = {}
    for key, c in calls.items():
        i = sites.get(first[key])
        sites.count[i] += c
        counts_by_alloc[key[3]] = counts_by_alloc.get(key[3], 0) + c
    n_mmap = counts_by_alloc.get(mmap_kind, 0)
    return {
        "aggregated": False,
        "stacks": sites.stacks,
        "count": sites.count,
        "totals": {"total_allocations": sum(counts_by_alloc.values()), "total_bytes_allocated": nbytes,
                   "mmap_allocations": n_mmap, "mmap_bytes": mmap_bytes},
        "allocations_by_allocator": {AllocatorType(k).name: v for k, v in sorted(counts_by_alloc.items())},
    }


def _aggregates(memray, reader, md, aggregated: bool, native: bool, sites: _Sites, boundaries) -> dict:
    queries = ["high_watermark", "leaked"]
    for rec in reader.get_high_watermark_allocation_records(merge_threads=True):
        sites.peak[sites.get(rec)] += rec.size
    leaked_bytes = 0
    for rec in reader.get_leaked_allocation_records(merge_threads=True):
        sites.live[sites.get(rec)] += rec.size
        leaked_bytes += rec.size

    totals: dict = {"peak_memory_bytes": int(md.peak_memory), "leaked_bytes": leaked_bytes,
                    "total_allocations": None, "total_bytes_allocated": None,
                    "mmap_allocations": None, "mmap_bytes": None}
    timeline = None
    meta_extra: dict = {}
    if not aggregated:
        queries += ["allocations", "temporal", "snapshots"]
        timeline, meta_extra = _timeline(reader, md, sites, boundaries)
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
        "finalised": True,   # _timeline sets False when the header was never rewritten
        "records": int(md.total_allocations),   # every record, frees included
        "allocations_by_allocator": {},
        "memray_version": getattr(memray, "__version__", None),
        **meta_extra,
    }
    return {"stacks": sites.stacks, "peak": sites.peak, "live": sites.live, "count": None,
            "totals": totals, "meta": meta, "timeline": timeline}


def _timeline(reader, md, sites: _Sites, boundaries):
    import bisect

    snaps = list(reader.get_memory_snapshots())
    snap_ms = [s.time for s in snaps]
    start_ms = int(md.start_time.timestamp() * 1000)
    end_ms = int(md.end_time.timestamp() * 1000)
    meta = {"snapshots": len(snaps), "timeline_clock": "iterations" if boundaries else "seconds since memray start"}
    if snap_ms and end_ms < snap_ms[-1]:
        # a killed process never rewrites the header: its end time is (about) its start
        # time, before snapshots it took; the last snapshot is the best end we have
        end_ms = snap_ms[-1] + 1
        meta["finalised"] = False
        meta["notes"] = ["memray header not finalised (process killed?): end time from the last snapshot"]
    picks = _slice_indices(snap_ms, start_ms, end_ms, boundaries)
    if not picks:
        return None, meta
    # sort the picks by snapshot index so "live at k" is a contiguous range per interval
    order = sorted(range(len(picks)), key=lambda r: picks[r][2])
    ks = [picks[r][2] for r in order]
    live: dict[int, list[int]] = {}
    for rec in reader.get_temporal_allocation_records(merge_threads=True):
        j = sites.index.get((rec.stack_id, rec.native_stack_id, rec.native_segment_generation))
        if j is None:
            j = sites.get(rec)
        row = live.get(j)
        for iv in rec.intervals:
            d = iv.deallocated_before_snapshot
            lo = bisect.bisect_left(ks, iv.allocated_before_snapshot)
            hi = len(ks) if d is None else bisect.bisect_left(ks, d)
            if lo < hi:
                if row is None:
                    row = live[j] = [0] * len(ks)
                for r in range(lo, hi):
                    row[r] += iv.n_bytes
    slices = [picks[r][0] for r in order]
    times = [picks[r][1] for r in order]
    meta["slice_snapshot_ms"] = [snap_ms[k] if k < len(snap_ms) else end_ms for k in ks]
    meta["rss_at_slices"] = [snaps[min(k, len(snaps) - 1)].rss if snaps else None for k in ks]
    return {"slices": slices, "times": times, "live": live}, meta


def _child_main(argv: list[str]) -> int:
    """`python -m profiler.parsers.memray_bin PATH BOUNDARIES_JSON [aggregates|counts]`: JSON on stdout.

    JSON, not pickle: the child parses untrusted bytes with a reader that can be
    made to crash, so what comes back is data to parse, never code to run."""
    path, boundaries, part = argv[0], json.loads(argv[1]), (argv[2] if len(argv) > 2 else "aggregates")
    try:
        data = _extract(path, boundaries, part)
    except OSError as exc:
        sys.stderr.write(f"MEMPROF OSError: {exc}\n")
        return _EXIT_BAD
    except (RuntimeError, ValueError, KeyError, IndexError, OverflowError, UnicodeDecodeError) as exc:
        # NotImplementedError is a RuntimeError: a query memray refuses for this kind of file
        sys.stderr.write(f"MEMPROF {type(exc).__name__}: {exc}\n")
        return _EXIT_BAD
    if data.get("timeline") is not None:
        data["timeline"]["live"] = sorted(data["timeline"]["live"].items())
    sys.stdout.write(json.dumps(data, separators=(",", ":")))
    return 0


# --------------------------------------------------------------------------- the parser

def _read_in_children(path: Path, boundaries, head: bytes) -> dict:
    """Read the file in child processes: memray's C++ reader aborts or segfaults on some
    corrupt files (found by fuzzing), and a capture must never take memprof down with it.
    The aggregated queries and the pass over every record run side by side."""
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    bjson = json.dumps([list(b) for b in boundaries] if boundaries else None)
    procs = {part: subprocess.Popen([sys.executable, "-m", "profiler.parsers.memray_bin", str(path), bjson, part],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
             for part in ("aggregates", "counts")}
    try:
        # communicate() drains each pipe fully, so neither child can block on a full one
        outputs = {part: p.communicate() for part, p in procs.items()}
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
    agg = _child_result(path, head, procs["aggregates"].returncode, *outputs["aggregates"])
    counts = _child_result(path, head, procs["counts"].returncode, *outputs["counts"])
    if counts["aggregated"]:
        return agg
    return _merge_counts(agg, counts)


def _merge_counts(agg: dict, counts: dict) -> dict:
    """Add the per-stack call counts and the allocation totals to the aggregates, by frames."""
    where = {st: i for i, st in enumerate(agg["stacks"])}
    agg["count"] = [0] * len(agg["stacks"])
    for st, c in zip(counts["stacks"], counts["count"]):
        i = where.get(st)
        if i is None:  # allocated and freed between snapshots, never live at the peak or the end
            i = where[st] = len(agg["stacks"])
            agg["stacks"].append(st)
            agg["peak"].append(0)
            agg["live"].append(0)
            agg["count"].append(0)
        agg["count"][i] += c
    agg["totals"].update(counts["totals"])
    agg["meta"]["allocations_by_allocator"] = counts["allocations_by_allocator"]
    return agg


def _child_result(path: Path, head: bytes, returncode: int, stdout: bytes, stderr: bytes) -> dict:
    err = stderr.decode(errors="replace")
    if returncode < 0:
        try:
            sig = signal.Signals(-returncode).name
        except ValueError:
            sig = f"signal {-returncode}"
        raise BadCapture(f"{path}: corrupt memray capture (memray's reader died with {sig} reading it)")
    mine = [ln for ln in err.splitlines() if ln.startswith("MEMPROF ")]
    if returncode == _EXIT_BAD and mine:
        kind, _, msg = mine[-1][len("MEMPROF "):].partition(": ")
        msg = msg.split(":")[0].strip().rstrip(".")
        if "incompatible" in msg:
            version = _header_version(head)
            detail = f"file format version {version}" if version is not None else "another file format version"
            raise BadCapture(f"{path}: memray capture of an unsupported version ({detail}; "
                             "the installed memray cannot read it)")
        if kind == "OSError":
            raise BadCapture(f"{path}: corrupt or truncated memray capture ({msg})")
        raise BadCapture(f"{path}: memray could not read this capture ({kind}: {msg})")
    if returncode != 0:
        if "No module named 'memray'" in err:
            from profiler.errors import ToolMissing

            raise ToolMissing("memray is not installed: pip install memray==1.20.0")
        last = err.strip().splitlines()[-1] if err.strip() else f"exit status {returncode}"
        raise BadCapture(f"{path}: memray could not read this capture ({last[:200]})")
    # the reader reports a cut or corrupt record by printing and stopping, not by raising
    errors = [ln.strip() for ln in err.splitlines() if "Memray ERROR" in ln]
    if errors:
        raise BadCapture(f"{path}: corrupt or truncated memray capture "
                         f"(memray: {errors[0].split(':', 1)[-1].strip()})")
    try:
        data = json.loads(stdout)
        if "stacks" in data:
            data["stacks"] = [tuple(Frame(*f) for f in st) for st in data["stacks"]]
        if data.get("timeline") is not None:
            data["timeline"]["live"] = {int(j): row for j, row in data["timeline"]["live"]}
        return data
    except (ValueError, TypeError, KeyError):
        raise BadCapture(f"{path}: memray reader returned no usable result") from None


def _usable_boundaries(boundaries) -> list[tuple[int, float, float]]:
    """Boundaries with a numeric wall_end (memray's clock is the epoch); others cannot be placed."""
    out = []
    for b in boundaries or ():
        try:
            it, t_end, wall_end = int(b[0]), float(b[1]) if b[1] is not None else float("nan"), float(b[2])
        except (TypeError, ValueError, IndexError):
            continue
        if wall_end == wall_end:  # not NaN
            out.append((it, t_end, wall_end))
    return out


def parse(path, boundaries=None) -> Capture:
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError as exc:
        raise BadCapture(f"{path}: cannot read ({exc.strerror})") from None
    if not sniff(head, path):
        raise BadCapture(f"{path}: not a memray capture (no memray header)")
    usable = _usable_boundaries(boundaries)
    data = _read_in_children(path, usable, head)
    if boundaries and not usable:
        data["meta"].setdefault("notes", []).append(
            "iteration records carry no wall_end: timeline cut into time slices")

    stacks, count = data["stacks"], data["count"]
    rows = ((i, stacks[i], data["live"][i], data["peak"][i], None if count is None else count[i], None)
            for i in range(len(stacks)))
    df = _stacks.sites_frame(rows, FORMAT)
    # name sites past CPython's allocator layers and unresolved frames too
    named = [_site_frame(st) for st in stacks]
    df["site"] = [fr.label() if fr else "???" for fr in named]
    df["function"] = [fr.function if fr else None for fr in named]
    df["module"] = [fr.module if fr else None for fr in named]

    timeline = None
    tl = data["timeline"]
    if tl is not None:
        n = len(tl["slices"])
        matrix = [[0] * len(stacks) for _ in range(n)]
        for j, row in tl["live"].items():
            for r in range(n):
                matrix[r][j] = row[r]
        timeline = _stacks.timeline_frame(list(range(len(stacks))), tl["slices"], tl["times"], matrix)
    return Capture(format=FORMAT, path=str(path), totals=data["totals"], sites=df, timeline=timeline,
                   meta=data["meta"])


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
