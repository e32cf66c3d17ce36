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
- raw allocation records   -> `alloc_count` per site (allocation calls this stack
                              made over the whole capture, freed or not) and the
                              totals `memray stats` prints; this is the one pass over
                              every event, kept to counters per stack id.

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
queries by stack id, and the pass over every record plus the resolution of every
stack), each returning plain JSON: memray's C++ reader aborts or segfaults on some
corrupt files (one flipped byte is enough) and reports a cut record by printing
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

    def __init__(self, native: bool):
        self.native = native
        self.frames: dict[tuple, int] = {}
        self.stacks: dict[tuple, int] = {}

    def stack_of(self, rec) -> int:
        raw = rec.hybrid_stack_trace() if self.native else rec.stack_trace()
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

    reader = memray.FileReader(path)
    try:
        md = reader.metadata
        aggregated = md.file_format == FileFormat.AGGREGATED_ALLOCATIONS
        native = bool(md.has_native_traces)
        if part == "records":
            if aggregated:
                return {"aggregated": True}
            return _records(reader, _Resolver(native))
        return _aggregates(memray, reader, md, aggregated, native, boundaries)
    finally:
        reader.close()


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
    while first:
        # each record keeps the frames it resolved: let it go once they are in the table
        k, rec = first.popitem()
        keys.append([*k, resolver.stack_of(rec), per_stack[k]])
    return {
        "aggregated": False,
        **resolver.table(),
        "keys": keys,
        "totals": {"total_allocations": sum(counts_by_alloc.values()), "total_bytes_allocated": nbytes,
                   "mmap_allocations": counts_by_alloc.get(mmap_kind, 0), "mmap_bytes": mmap_bytes},
        "allocations_by_allocator": {AllocatorType(k).name: v for k, v in sorted(counts_by_alloc.items())},
    }


def _aggregates(memray, reader, md, aggregated: bool, native: bool, boundaries) -> dict:
    queries = ["high_watermark", "leaked"]
    peak: dict[tuple, int] = {}
    live: dict[tuple, int] = {}
    records: dict[tuple, object] = {}   # aggregated files only: a record per stack, to resolve it
    for rec in reader.get_high_watermark_allocation_records(merge_threads=True):
        k = _key(rec)
        peak[k] = peak.get(k, 0) + rec.size
        if aggregated:
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
        timeline, meta_extra = _timeline(reader, md, live, boundaries)

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
    return out


def _timeline(reader, md, live_end: dict, boundaries):
    """Live bytes per stack at the picked snapshots, and (into live_end) at the end."""
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
    takes the stack of the same ids at the nearest generation."""
    frames = [_frame(f) for f in recs["frames"]]
    site_of_frames: dict[tuple, int] = {}
    stacks: list[tuple[Frame, ...]] = []
    site_of_stack = []
    for idx in recs["stacks"]:
        st = tuple(frames[i] for i in idx)
        s = site_of_frames.get(st)
        if s is None:
            s = site_of_frames[st] = len(stacks)
            stacks.append(st)
        site_of_stack.append(s)
    aggregated = recs is agg
    count = None if aggregated else [0] * len(stacks)
    site_of_key: dict[tuple, int] = {}
    by_ids: dict[tuple, list] = {}
    for sid, nid, gen, stack, n in recs["keys"]:
        s = site_of_key[(sid, nid, gen)] = site_of_stack[stack]
        by_ids.setdefault((sid, nid), []).append((gen, s))
        if count is not None:
            count[s] += n

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
        if data is None or not (data.get("keys") or data.get("peak") or data.get("live")):
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
