"""memray capture files (`memray run -o FILE.bin`, memray 1.20) -> sites, totals and a timeline.

Read through memray's own `FileReader`, because the binary format is private to
memray and versioned with it. Each query memray offers is an aggregation in C++,
so memory grows with distinct stacks, not with events:

- high-water-mark records  -> `peak_bytes` per site (bytes live at the global peak)
- temporal records         -> `live_bytes_end` (intervals never freed: the same bytes
                              memray's leaked query reports, without its extra pass
                              over the file) and the timeline: live bytes per site at
                              memray's memory snapshots (every 10 ms), picked at each
                              iteration's wall_end (snapshots are ms since the epoch)
- allocation calls         -> `alloc_count` per site (allocation calls this stack
                              made over the whole capture, freed or not) and the
                              totals `memray stats` prints. Python-only files: from
                              memray's statistics pass (compute_statistics, what
                              `memray stats` runs: one pass in C++ counting per
                              Python stack, see _counts_by_stack), plus a pass for
                              the mmap bytes when the file has mmaps. Files with
                              native traces (a site is a hybrid stack, which those
                              counts do not split): the one pass over every record
                              in Python, kept to counters per stack id.

A site is one distinct resolved stack. memray ids a stack by (Python stack id,
native stack id, native segment generation); each id seen is resolved ONCE, from
an allocation record of its own thread (resolving is most of the cost of a native
capture: memray symbolises native frames on first use, and a llama.cpp stack is
~170 frames deep). Stacks are hybrid (Python frames spliced into the native
ones) when the file has native traces. Native symbols are resolved when the
file is read, on the reading machine: a native frame whose library is gone reads
as `<unknown>`, Python frames always resolve. memray does not say which shared
object a native frame came from, so native frames have module None and keep
their source file; Python frames have the .py file as module.

Aggregated files (`memray run --aggregate`) answer only the high-water-mark and
leaked queries: no alloc_count, no timeline, no allocation totals (memray stats
refuses them too); `meta["queries"]` says what was available.

The file is read in two child processes side by side (`python -m
profiler.parsers.memray_bin FILE BOUNDARIES aggregates|records`: the aggregated
queries by stack id, and the calls per stack plus the resolution of every stack;
for Python-only files the aggregates child resolves its own ids and the two meet
on the resolved frames), each returning plain JSON: memray's C++ reader aborts or
segfaults on some corrupt files (one flipped byte is enough) and reports a cut record by printing
"Memray ERROR" rather than raising; the parent turns either into BadCapture and
joins the two on the stack ids. A process killed mid-run leaves a readable file
whose header was never finalised: it is read to its last record (`meta["finalised"]` False).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from profiler.errors import BadCapture
from profiler.parsers import _stacks, allocators
from profiler.tables import Capture, Frame, TimelineUnit, Truncated

FORMAT = "memray"

_MAGIC = b"memray\x00"
_LZ4_MAGIC = b"\x04\x22\x4d\x18"   # memray compresses its output with an LZ4 frame by default

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


def _frame(raw) -> Frame:
    function, file, line = raw
    file = None if file in (None, "", "<unknown>") else file
    function = None if function in (None, "", "<unknown>") else function
    module = file if file and _is_py_file(file) else None
    return Frame(function=function, module=module, file=file, line=int(line) if line else None)


def _is_plumbing(frame: Frame) -> bool:
    return _stacks.is_allocator(frame.function) or allocators.is_python_allocator(frame.function)


def _site_frame(stack: tuple[Frame, ...]) -> Frame | None:
    """Innermost frame that is neither allocator plumbing nor unresolved (`<unknown>`: its
    library was not found at read time); the innermost frame if none qualifies."""
    for frame in stack:
        if not _is_plumbing(frame) and (frame.function or frame.file):
            return frame
    return stack[0] if stack else None


class _Resolver:
    """Stacks of memray ids, resolved once each, as a table of distinct frames.

    Resolving is the costly part of reading a native capture (memray symbolises a
    native frame on first use; a llama.cpp stack is ~170 frames deep, most of them
    shared with other stacks), so it is done once per distinct id, and what goes
    back to the parent is a frame table plus stacks as lists of frame indices."""

    def __init__(self, native: bool, full: bool = False):
        self.native = native
        self.full = full   # memray's whole Python stack, its start-up frames on the main thread too
        self.frames: dict[tuple, int] = {}
        self.stacks: dict[tuple, int] = {}

    def stack_of(self, rec) -> int:
        if self.native:
            raw = rec.hybrid_stack_trace()
        else:
            raw = rec.stack_trace(max_stacks=sys.maxsize) if self.full else rec.stack_trace()
        return self.intern(raw)

    def intern(self, raw) -> int:
        table = self.frames
        add = table.setdefault   # a new frame takes the next index
        key = tuple([add(f, len(table)) for f in raw])
        s = self.stacks.get(key)
        if s is None:
            s = self.stacks[key] = len(self.stacks)
        return s

    def table(self) -> dict:
        return {"frames": list(self.frames), "stacks": list(self.stacks)}


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



# --------------------------------------------------------------------------- the reading children

_EXIT_BAD = 3


def _key(rec) -> tuple[int, int, int]:
    """memray's id of a stack: (Python stack id, native stack id, native segment generation);
    Python-only files have native ids 0."""
    return rec.stack_id, rec.native_stack_id, rec.native_segment_generation


def _extract(path: str, boundaries, part: str) -> dict:
    """What the parser needs from the file, as plain data keyed by memray's stack ids
    (runs in a child process).

    part "records": the pass over every allocation record (calls per stack, the
    totals memray stats prints) and the one resolution of every distinct stack;
    part "aggregates": metadata, the high-water-mark and temporal queries (bytes
    live at the peak, at the end and at each slice), ids only. Two children run
    the two parts at once, and the parent joins them on the ids: every stack an
    aggregated query reports made an allocation the record pass saw."""
    import memray
    from memray import FileFormat

    by_stack = _counts_by_stack(path) if part == "records" and _header_native(path) is False else None
    if by_stack is not None and (by_stack["aggregated"] or by_stack["totals"]["mmap_bytes"] is not None):
        return by_stack
    reader = memray.FileReader(path)
    try:
        if by_stack is not None:
            by_stack["totals"]["mmap_bytes"] = _mmap_bytes(reader)
            return by_stack
        md = reader.metadata
        aggregated = md.file_format == FileFormat.AGGREGATED_ALLOCATIONS
        native = bool(md.has_native_traces)
        if part == "records":
            if aggregated:
                return {"aggregated": True}
            return _records(reader, _Resolver(native, full=not native))
        return _aggregates(memray, reader, md, aggregated, native, boundaries)
    finally:
        reader.close()


_LZ4_HAS_CONTENT_SIZE, _LZ4_HAS_DICT_ID = 0x08, 0x01


def _header_native(path: str) -> bool | None:
    """Whether the file has native traces, read from memray's header without reading the file
    (memray's FileReader passes over every record before it answers anything); None when the
    header cannot be read that way.

    The header starts magic, version (4 bytes), Python version (4), native-traces flag (1).
    memray's LZ4 frame stores them in the first block, as literals when the first sequence
    has at least 16 of them (in every file memray 1.20 writes: nothing earlier to repeat)."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError:
        return None
    if head.startswith(_LZ4_MAGIC) and len(head) >= 7:
        flg = head[4]
        i = 7 + (8 if flg & _LZ4_HAS_CONTENT_SIZE else 0) + (4 if flg & _LZ4_HAS_DICT_ID else 0)
        if len(head) < i + 6:
            return None
        raw_block = head[i + 3] & 0x80
        i += 4
        if not raw_block:
            n, i = head[i] >> 4, i + 1
            if n == 15:
                while i < len(head):
                    n += head[i]
                    i += 1
                    if head[i - 1] != 255:
                        break
            if n < 16:
                return None
        head = head[i:]
    if not head.startswith(_MAGIC) or len(head) < 16 or _header_version(head) != 13:
        return None
    return {0: False, 1: True}.get(head[15])


class _StackAsModule:
    """Stands in for memray's ModuleResolver inside compute_statistics (see _counts_by_stack):
    the "module" of a stack is the stack itself."""

    def __init__(self, *args, **kwargs):
        pass

    def get_module_for_stack(self, stack):
        return tuple(stack)


def _counts_by_stack(path: str) -> dict | None:
    """Calls per Python stack and the totals of `memray stats`, from memray's own statistics pass
    (compute_statistics, what `memray stats` runs): one pass in C++, no record object per event.

    compute_statistics counts calls and bytes per Python stack in C++ and then asks a module
    resolver for each distinct stack's module, summing by module; given a resolver whose
    module is the stack itself, its per-module table is the per-stack one. That is memray
    1.20's internal wiring, so the result is checked: the stacks must add up to memray's own
    totals, or None sends the caller to the pass over every record. Python-only files only
    (with native traces a site is a hybrid stack, which these counts do not split): None
    for others. With mmap records, mmap_bytes is None: memprof reports their bytes, which
    these counts do not split by allocator, so the caller sums them in a pass of its own
    (any threaded program has some: memray records the mmap of each thread's stack). The stacks
    are memray's whole ones, its own start-up frames on the main thread included: the
    parent trims them as memray's readers do."""
    from memray import AllocatorType, _memray
    from memray.reporters import module_tools

    resolver = module_tools.ModuleResolver
    module_tools.ModuleResolver = _StackAsModule
    try:
        st = _memray.compute_statistics(path, num_largest=sys.maxsize)
    except NotImplementedError:
        return {"aggregated": True}
    finally:
        module_tools.ModuleResolver = resolver
    by_alloc = dict(st.allocation_count_by_allocator)
    rows = st.top_modules_by_allocation_count
    if (st.metadata.has_native_traces
            or not all(isinstance(name, tuple) for name, _, _ in rows)
            or sum(n for _, n, _ in rows) != st.total_num_allocations
            or sum(b for _, _, b in rows) != st.total_memory_allocated):
        return None
    resolver = _Resolver(False, full=True)
    counts: dict[int, int] = {}
    for stack, n, _ in rows:
        s = resolver.intern(stack)
        counts[s] = counts.get(s, 0) + n
    order = {a.name: int(a) for a in AllocatorType}
    return {
        "aggregated": False, "by_stack": True, **resolver.table(),
        "counts": [counts.get(s, 0) for s in range(len(resolver.stacks))],
        "totals": {"total_allocations": st.total_num_allocations, "total_bytes_allocated": st.total_memory_allocated,
                   "mmap_allocations": by_alloc.get("MMAP", 0), "mmap_bytes": None if by_alloc.get("MMAP") else 0},
        "allocations_by_allocator": dict(sorted(by_alloc.items(), key=lambda kv: order.get(kv[0], 1 << 30))),
    }


def _mmap_bytes(reader) -> int:
    """Bytes of every mmap call: the one figure memprof reports that memray's statistics pass
    does not split by allocator. A pass over every record, but with nothing to resolve or
    count per stack (two attribute reads per record, the cheapest pass the reader allows)."""
    from memray import AllocatorType

    mmap_kind = int(AllocatorType.MMAP)
    return sum(rec.size for rec in reader.get_allocation_records() if rec.allocator == mmap_kind)


def _records(reader, resolver: _Resolver) -> dict:
    from memray import AllocatorType

    dealloc = {int(AllocatorType.FREE), int(AllocatorType.PYMALLOC_FREE), int(AllocatorType.MUNMAP)}
    mmap_kind = int(AllocatorType.MMAP)
    nbytes = mmap_bytes = 0
    # the one pass over every event: a counter per (stack ids, allocator), nothing per event
    calls: dict = {}
    first: dict = {}
    if resolver.native:
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
                if key[:3] not in first:
                    first[key[:3]] = rec
            else:
                calls[key] = c + 1
    else:
        # Python-only files have native ids 0: the Python stack id alone is the key
        # (two attribute reads fewer per record: this loop is the records child's cost)
        for rec in reader.get_allocation_records():
            kind = rec.allocator
            if kind in dealloc:
                continue
            size = rec.size
            nbytes += size
            if kind == mmap_kind:
                mmap_bytes += size
            key = (rec.stack_id, kind)
            c = calls.get(key)
            if c is None:
                calls[key] = 1
                if (rec.stack_id, 0, 0) not in first:
                    first[(rec.stack_id, 0, 0)] = rec
            else:
                calls[key] = c + 1
        calls = {(key[0], 0, 0, key[1]): c for key, c in calls.items()}
    per_stack: dict[tuple, int] = {}
    counts_by_alloc: dict[int, int] = {}
    for key, c in calls.items():
        per_stack[key[:3]] = per_stack.get(key[:3], 0) + c
        counts_by_alloc[key[3]] = counts_by_alloc.get(key[3], 0) + c
    keys = []
    counts: dict[int, int] = {}
    while first:
        # each record keeps the frames it resolved: let it go once they are in the table
        k, rec = first.popitem()
        s = resolver.stack_of(rec)
        if resolver.native:
            keys.append([*k, s, per_stack[k]])
        else:
            counts[s] = counts.get(s, 0) + per_stack[k]
    by_stack = {} if resolver.native else {
        # what _counts_by_stack returns: calls per (whole) Python stack, no ids
        "by_stack": True, "counts": [counts.get(s, 0) for s in range(len(resolver.stacks))]}
    return {
        "aggregated": False,
        **resolver.table(),
        "keys": keys,
        **by_stack,
        "totals": {"total_allocations": sum(counts_by_alloc.values()), "total_bytes_allocated": nbytes,
                   "mmap_allocations": counts_by_alloc.get(mmap_kind, 0), "mmap_bytes": mmap_bytes},
        "allocations_by_allocator": {AllocatorType(k).name: v for k, v in sorted(counts_by_alloc.items())},
    }


def _aggregates(memray, reader, md, aggregated: bool, native: bool, boundaries) -> dict:
    queries = ["high_watermark", "leaked"]
    peak: dict[tuple, int] = {}
    live: dict[tuple, int] = {}
    # a record per stack id, to resolve it: aggregated files (no record pass) and Python-only
    # files (their record pass counts by stack, not by id; Python frames resolve cheaply)
    resolve_here = aggregated or not native
    records: dict[tuple, object] = {}
    for rec in reader.get_high_watermark_allocation_records(merge_threads=True):
        k = _key(rec)
        peak[k] = peak.get(k, 0) + rec.size
        if resolve_here:
            records.setdefault(k, rec)
    timeline = None
    meta_extra: dict = {}
    if aggregated:
        for rec in reader.get_leaked_allocation_records(merge_threads=True):
            k = _key(rec)
            live[k] = live.get(k, 0) + rec.size
            records.setdefault(k, rec)
    else:
        queries += ["allocations", "temporal", "snapshots"]
        # the temporal query's intervals never freed are the leaked query's records:
        # one pass over the file instead of two
        timeline, meta_extra = _timeline(reader, md, live, boundaries, records if resolve_here else None)

    totals: dict = {"peak_memory_bytes": int(md.peak_memory), "leaked_bytes": sum(live.values()),
                    "total_allocations": None, "total_bytes_allocated": None,
                    "mmap_allocations": None, "mmap_bytes": None}
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
    out = {"peak": [[*k, v] for k, v in peak.items()], "live": [[*k, v] for k, v in live.items()],
           "totals": totals, "meta": meta, "timeline": timeline}
    if aggregated:
        resolver = _Resolver(native)
        out["keys"] = [[*k, resolver.stack_of(rec), None] for k, rec in records.items()]
        out.update(resolver.table())
    elif not native:
        resolver = _Resolver(False, full=True)
        out["ids"] = [[k[0], resolver.stack_of(rec)] for k, rec in records.items()]
        out.update(resolver.table())
        out["trim"] = _main_thread_trim(reader, md, records.values())
    return out


def _main_thread_trim(reader, md, candidates) -> list | None:
    """[frames memray hides, function, file of the main thread's outermost frame], or None.

    memray's readers drop a fixed number of outermost frames from the main thread's stacks
    (its own start-up frames: `memray run`'s runner, runpy); the number is in the file's
    header, which memray does not expose. The stacks counted by stack (whole, their thread
    unknown) are trimmed the same way in the parent, so the number is measured here on a
    record of the main thread whose trimmed stack is not empty, and the main thread's
    stacks are told by their outermost frame (every one of them starts in it; another
    thread starts in its own function)."""
    import itertools

    main = md.main_thread_id
    # the aggregated queries' records first (at hand); else the first records of the file
    for rec in itertools.chain(candidates, itertools.islice(reader.get_allocation_records(), 100_000)):
        if rec.tid != main:
            continue
        try:
            trimmed = rec.stack_trace()
        except NotImplementedError:   # a deallocation has no stack
            continue
        if trimmed:
            full = rec.stack_trace(max_stacks=sys.maxsize)
            return [len(full) - len(trimmed), full[-1][0], full[-1][1]]
    return None


def _timeline(reader, md, live_end: dict, boundaries, records: dict | None = None):
    """Live bytes per stack at the picked snapshots, and (into live_end) at the end; into
    records (when given) a record of each stack id not in it yet."""
    import bisect

    snaps = list(reader.get_memory_snapshots())
    snap_ms = [s.time for s in snaps]
    start_ms = int(md.start_time.timestamp() * 1000)
    end_ms = int(md.end_time.timestamp() * 1000)
    meta = {"snapshots": len(snaps), "timeline_clock": "iterations" if boundaries else "seconds since memray start"}
    if (snap_ms and end_ms < snap_ms[-1]) or end_ms <= start_ms:
        # a killed process never rewrites the header: its end time stays its start time, before
        # snapshots it took; the last snapshot is the best end we have
        last = max(snap_ms[-1] if snap_ms else start_ms, start_ms)
        end_ms = last + 1
        meta["finalised"] = False
        meta["last_snapshot_s"] = (last - start_ms) / 1000.0
        meta["notes"] = ["memray header not finalised (process killed?): end time from the last snapshot"]
    picks = _slice_indices(snap_ms, start_ms, end_ms, boundaries)
    # sort the picks by snapshot index so "live at k" is a contiguous range per interval
    order = sorted(range(len(picks)), key=lambda r: picks[r][2])
    ks = [picks[r][2] for r in order]
    n = len(ks)
    live: dict[tuple, list[int]] = {}
    for rec in reader.get_temporal_allocation_records(merge_threads=True):
        k = _key(rec)
        if records is not None and k not in records:
            records[k] = rec
        row = live.get(k)
        for iv in rec.intervals:
            d = iv.deallocated_before_snapshot
            if d is None:
                live_end[k] = live_end.get(k, 0) + iv.n_bytes
            lo = bisect.bisect_left(ks, iv.allocated_before_snapshot)
            hi = n if d is None else bisect.bisect_left(ks, d)
            if lo < hi:
                if row is None:
                    row = live[k] = [0] * n
                for r in range(lo, hi):
                    row[r] += iv.n_bytes
    if not picks:
        return None, meta
    meta["slice_snapshot_ms"] = [snap_ms[k] if k < len(snap_ms) else end_ms for k in ks]
    meta["rss_at_slices"] = [snaps[min(k, len(snaps) - 1)].rss if snaps else None for k in ks]
    return {"slices": [picks[r][0] for r in order], "times": [picks[r][1] for r in order],
            "live": [[*k, row] for k, row in live.items()]}, meta


def _child_main(argv: list[str]) -> int:
    """`python -m profiler.parsers.memray_bin PATH BOUNDARIES_JSON [aggregates|records]`: JSON on stdout.

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
             for part in ("aggregates", "records")}
    try:
        # the tables need pandas: load it while the children read (a core frees up
        # once the shorter child is done) rather than after them
        import pandas  # noqa: F401

        # communicate() drains each pipe fully, so neither child can block on a full one
        outputs = {part: p.communicate() for part, p in procs.items()}
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
    agg = _child_result(path, head, procs["aggregates"].returncode, *outputs["aggregates"])
    recs = _child_result(path, head, procs["records"].returncode, *outputs["records"])
    try:
        joined = _join(agg, agg if recs["aggregated"] else recs)
    except (KeyError, TypeError, ValueError, IndexError):
        raise BadCapture(f"{path}: memray reader returned no usable result") from None
    stopped = agg.get("stopped") or recs.get("stopped")
    meta = joined["meta"]
    if meta.get("finalised") is False and not stopped:
        # killed mid-run (SIGKILL, the OOM killer): memray never finalised the header; every record
        # written before the kill is read, and the result says where the capture stops
        at = meta.get("last_snapshot_s")
        where = f", {at:.3f} s into the run (its last memory snapshot)" if at is not None else ""
        why = "memray never finalised its header: the process was killed or died mid-run"
        meta["truncated"] = Truncated(reason=why, details={"records": meta.get("records"), "last_time_s": at},
                                      summary=f"capture truncated ({why}): read up to its last record"
                                              f" ({meta.get('records')} records){where}")
    if stopped:
        why = f"memray's reader stopped at an unreadable record (memray: {stopped})"
        joined["meta"]["truncated"] = Truncated(reason=why, summary=f"capture truncated or corrupt: {why}; "
                                                                   "read up to that record")
    return joined


def _join(agg: dict, recs: dict) -> dict:
    """Per site (distinct resolved frames): stack, peak, live, calls and timeline rows,
    from the aggregates keyed by memray's stack ids and the records' resolved stacks.

    Two ids can resolve to the very same frames (memray's Python ids also tell
    bytecode offsets within one line apart), so sites are keyed by the frames.
    memray's queries do not agree on which native segment generation a stack's
    bytes belong to (the leaked query pools a stack's generations, the temporal one
    splits them; see tests/data/memray/dlopen_gen.py), but every id they report was
    seen by the record pass. An id it did not see (never observed; a safeguard)
    takes the stack of the same ids at the nearest generation.

    Python-only files: the record pass counts calls by whole stack, without ids, and the
    aggregates resolve their own ids to whole stacks; both are trimmed the same way (see
    _main_thread_trim) and meet on the trimmed frames."""
    site_of_frames: dict[tuple, int] = {}
    stacks: list[tuple[Frame, ...]] = []

    def sites_of(part: dict, trim=None) -> list[int]:
        """The site of each stack of a part's table, trimmed when trim is given."""
        frames = [_frame(f) for f in part["frames"]]
        main = (trim[1], trim[2]) if trim else None
        out = []
        for idx in part["stacks"]:
            if main and idx and tuple(part["frames"][idx[-1]][:2]) == main:
                idx = idx[:max(len(idx) - trim[0], 0)]
            st = tuple(frames[i] for i in idx)
            s = site_of_frames.get(st)
            if s is None:
                s = site_of_frames[st] = len(stacks)
                stacks.append(st)
            out.append(s)
        return out

    aggregated = recs is agg
    site_of_key: dict[tuple, int] = {}
    by_ids: dict[tuple, list] = {}
    calls: dict[int, int] = {}
    if recs.get("by_stack"):
        trim = agg.get("trim")
        if trim is None:
            agg["meta"].setdefault("notes", []).append(
                "memray's start-up frames could not be measured on a main-thread record: "
                "main-thread stacks are shown whole, memray's runner frames included")
        for s, n in zip(sites_of(recs, trim), recs["counts"]):
            calls[s] = calls.get(s, 0) + n
        site_of_agg_stack = sites_of(agg, trim)
        for sid, stack in agg["ids"]:
            site_of_key[(sid, 0, 0)] = site_of_agg_stack[stack]
    else:
        site_of_stack = sites_of(recs)
        for sid, nid, gen, stack, n in recs["keys"]:
            s = site_of_key[(sid, nid, gen)] = site_of_stack[stack]
            by_ids.setdefault((sid, nid), []).append((gen, s))
            if not aggregated:
                calls[s] = calls.get(s, 0) + n
    count = None if aggregated else [calls.get(s, 0) for s in range(len(stacks))]

    python_only = not agg["meta"]["has_native_traces"]

    def site(sid, nid, gen) -> int:
        if python_only:
            nid = gen = 0
        s = site_of_key.get((sid, nid, gen))
        if s is None:
            near = by_ids.get((sid, nid))
            if near:
                s = min(near, key=lambda g: (abs(g[0] - gen), -g[0]))[1]
            else:  # never seen allocating: cannot be resolved
                s = len(stacks)
                stacks.append(())
                if count is not None:
                    count.append(0)
            site_of_key[(sid, nid, gen)] = s
        return s

    peak_rows = [(site(sid, nid, gen), v) for sid, nid, gen, v in agg["peak"]]
    live_rows = [(site(sid, nid, gen), v) for sid, nid, gen, v in agg["live"]]
    tl = agg["timeline"]
    tl_rows = [(site(sid, nid, gen), row) for sid, nid, gen, row in tl["live"]] if tl else []
    peak = [0] * len(stacks)
    live = [0] * len(stacks)
    for s, v in peak_rows:
        peak[s] += v
    for s, v in live_rows:
        live[s] += v
    timeline = None
    if tl is not None:
        rows: dict[int, list[int]] = {}
        for s, row in tl_rows:
            acc = rows.get(s)
            if acc is None:
                rows[s] = list(row)
            else:
                for r, v in enumerate(row):
                    acc[r] += v
        timeline = {"slices": tl["slices"], "times": tl["times"], "live": rows}
    totals = agg["totals"]
    meta = agg["meta"]
    if not aggregated:
        totals.update(recs["totals"])
        meta["allocations_by_allocator"] = recs["allocations_by_allocator"]
    return {"stacks": stacks, "peak": peak, "live": live, "count": count, "totals": totals,
            "meta": meta, "timeline": timeline}


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
    # the reader reports a cut or corrupt record by printing and stopping, not by raising: what
    # it read before that record stands (a capture cut off when the machine killed the process)
    errors = [ln.strip() for ln in err.splitlines() if "Memray ERROR" in ln]
    try:
        data = json.loads(stdout)
        if not isinstance(data, dict):
            raise ValueError("not an object")
    except ValueError:
        data = None
    if errors:
        said = errors[0].split(":", 1)[-1].strip()
        if data is None or not (data.get("keys") or data.get("counts") or data.get("peak") or data.get("live")):
            raise BadCapture(f"{path}: corrupt or truncated memray capture (memray: {said})")
        data["stopped"] = said
    if data is None:
        raise BadCapture(f"{path}: memray reader returned no usable result")
    return data


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
    from profiler.parsers import read_head

    path = Path(path)
    head = read_head(path, 64)
    if not sniff(head, path):
        raise BadCapture(f"{path}: not a memray capture (no memray header)")
    from profiler.parsers import timeline as engine

    usable = sorted(_usable_boundaries(boundaries), key=lambda b: b[2])
    # the timeline engine's plan: at most KEEP_BOUNDARIES of them, evenly thinned, ends kept
    kept = [usable[i] for i in engine.thin(len(usable), engine.KEEP_BOUNDARIES)]
    data = _read_in_children(path, kept, head)
    if usable and data["timeline"] is not None:
        n = len(data["timeline"]["slices"])
        data["meta"]["timeline_cut"] = engine.cut_meta(len(usable), n, {"clock": n})
        data["meta"]["timeline_cut"]["clock"] = "memray's memory snapshots: the last one before each wall_end"
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
                   meta=data["meta"], unit=None if timeline is None else (
                       TimelineUnit.ITERATION if data["meta"].get("timeline_clock") == "iterations" else TimelineUnit.SLICE))


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
