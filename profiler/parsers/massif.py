"""Valgrind massif output (`massif.out.PID`), and the massif file `heaptrack_print -M` writes.

A massif file is a header (desc, cmd, time_unit) and snapshots; detailed snapshots
carry a tree of allocation call stacks. Depth 1 under the root is the function
that called the allocator, deeper nodes are its callers, so the path from the
root down to a leaf is already a stack innermost-first. Each distinct
root-to-leaf path is a site ("in N places, below threshold" aggregates become a
site ending in a `(below threshold)` frame).

One streaming pass; memory grows with distinct paths and detailed snapshots
(massif keeps at most --max-snapshots, 100 by default). The timeline is cut by the shared
engine (parsers/timeline.py): massif picks each kept boundary's snapshot (below), the engine
plans, thins and assembles, so the table is O(sites x KEEP_BOUNDARIES) whatever the run length.

heaptrack_print -M quirks (heaptrack 1.4): the header comes at the END of the
file (ms_print refuses it), time_unit is `s` with fractional times, a snapshot per
heaptrack timestamp, aggregates say `in 1 places`, and a node may announce more
children than it lists (zero-byte entries are counted but not written): we
accept those files and do not enforce child counts for them.
"""
from __future__ import annotations

import math
from pathlib import Path

from profiler.errors import BadCapture
from profiler.tables import Capture, Frame, ProbeState, TimelineUnit, Truncated

FORMAT = "massif"

SEPARATOR = "#-----------"
BELOW_THRESHOLD = "(below threshold)"
_SNAPSHOT_FIELDS = ("time", "mem_heap_B", "mem_heap_extra_B", "mem_stacks_B", "heap_tree")
_TREE_KINDS = ("empty", "detailed", "peak")
# massif's millisecond clock (--time-unit=ms) is Valgrind's VG_(read_millisecond_timer): a
# monotonic clock whose zero is its first read, during Valgrind's own start-up, after the
# launcher has exec'd the tool; iteration records count from the process's creation (fork).
# The difference is constant within a run but varies between runs: 40-105 ms measured here
# (Valgrind 3.19, 2 busy cores; planted, the C switch loop, the Python switch loop), about the
# length of a toy iteration.
#
# Snapshots are time-driven (one at an allocation or free once massif's minimum interval has
# passed, the interval doubling at every cull), so no snapshot need fall on a boundary. A
# boundary's state, best first:
# 1. the workload's in-band marker (profiler/parsers/_stacks.py: malloc+free of marker_size(i)
#    right after record i): a detailed snapshot that caught it alive IS the boundary state (minus
#    the marker). Any caught marker also measures the run's clock offset (the median over the
#    caught ones: the first record's write is slowed by Valgrind translating new code), which
#    places the other boundaries. (A Python program's marker shares its massif path with its
#    other ctypes mallocs and sits below massif's 1% threshold in a large heap: not caught.)
# 2. otherwise a typical offset, VALGRIND_CLOCK_LAG_S;
# then, around the boundary on massif's clock: an iteration that ends by releasing at least half
# the heap (the switch loop unloading a model) ends at the low point after that release, within
# [t_end - QUIET_BEFORE_S, t_end + DROP_AFTER_S]; any other ends at the start of the longest
# quiet stretch (no snapshot) overlapping [t_end - QUIET_BEFORE_S, t_end + QUIET_AFTER_S]: it ends
# with bookkeeping, not allocation, and the next one starts allocating at once.
# Measured (leak_lost exactly 32 KiB x i at all 12 boundaries): 10 of 10 planted captures with
# or without their markers (the former fixed 120 ms: 4 of 8); the unloaded model and its 20.7 MB
# scheduler buffer no longer live at any boundary of 3 C switch-loop captures and a `memprof
# valgrind --tool massif --quick -n 4` runs (the former cut showed them live at 6 of 8 boundaries).
# Residual error without a caught marker: one snapshot (massif's interval: ~40 ms in a 20 s run,
# growing with the run), and an iteration a quiet stretch cannot place if the offset is off by
# more than ~40 ms.
VALGRIND_CLOCK_LAG_S = 0.08
DROP_AFTER_S = 0.06    # how far after t_end a release still belongs to the iteration (the clock is approximate)
QUIET_BEFORE_S = 0.05
QUIET_AFTER_S = 0.02


def sniff(head: bytes, path) -> bool:
    lines = head.split(b"\n", 3)
    if len(lines) >= 3 and lines[0].startswith(b"desc:") and lines[1].startswith(b"cmd:") \
            and lines[2].startswith(b"time_unit:"):
        return True
    # heaptrack_print -M: snapshots first, header at the end
    return head.startswith(b"#-----------\nsnapshot=0\n#-----------\ntime=")


def _split_location(text: str) -> tuple[str, str | None]:
    """'fn (loc)' -> (fn, loc), where loc is the LAST balanced bracket group
    (C++ names carry their own brackets, spaces and commas)."""
    if not text.endswith(")"):
        return text, None
    depth = 0
    for i in range(len(text) - 1, -1, -1):
        ch = text[i]
        if ch == ")":
            depth += 1
        elif ch == "(":
            depth -= 1
            if depth == 0:
                return text[:i].rstrip(), text[i + 1:-1]
    return text, None


def parse_label(label: str, resolve=None) -> Frame:
    """A tree label as a Frame: `0xADDR: fn (file:line)`, `0xADDR: fn (in /obj)`,
    `0xADDR: ??? (in /obj)` (resolved through `resolve(module, address)` when given),
    heaptrack's `0xADDR: fn (module)`, or an aggregate."""
    address = None
    rest = label
    if label.startswith("0x"):
        colon = label.find(": ")
        if colon > 0:
            try:
                address = int(label[2:colon], 16)
                rest = label[colon + 2:]
            except ValueError:
                address = None
    fn, loc = _split_location(rest)
    module = file = None
    line = None
    if loc is not None:
        if loc.startswith("in "):
            module = loc[3:]
        else:
            head, sep, tail = loc.rpartition(":")
            if sep and tail.isdigit():
                file, line = head, int(tail)
            elif loc != "???":
                module = loc          # heaptrack -M writes a bare module when there is no file
    if fn == "???":
        fn = None
        if resolve is not None and module:
            fn = resolve(module, address)
    return Frame(fn or None, module, file, line, address)


class _Snapshot:
    __slots__ = ("index", "time", "heap", "extra", "stacks", "tree", "leaves")

    def __init__(self, index):
        self.index = index
        self.time = None
        self.heap = self.extra = self.stacks = None
        self.tree = None
        self.leaves: dict[int, int] | None = None   # site index -> bytes (detailed snapshots)


def looks_like_ms_print(head: bytes) -> bool:
    """ms_print's report of a massif file (its dashed rule, then `Command:`), not the file itself."""
    start = head.lstrip(b"\r\n")
    return start.startswith(b"-" * 40) and b"\nCommand:" in head[:400] and b"Massif arguments:" in head


def parse(path, boundaries=None, fileobj=None) -> Capture:
    """Read a massif file from `path`, or from `fileobj` (bytes or text, e.g. a decompressed
    stream; `path` then only names it in messages)."""
    from profiler import symbols

    path = Path(path)
    header: dict[str, str] = {}
    snapshots: list[_Snapshot] = []
    site_index: dict[int, int] = {}    # tree node -> site, for the leaves
    site_paths: list[tuple] = []
    # a tree node is a path of labels from the root, numbered once: (parent node, label) -> node.
    # A line costs one lookup whatever its depth, and a site's path is spelled out once
    node_of: dict[tuple, int] = {}
    node_parent: list[int] = [-1]      # node 0: the root (the empty path)
    node_label: list[str] = [""]
    label_frames: dict[str, Frame] = {}
    heaptrack_made = False

    def bad(n, what):
        return BadCapture(f"{path}: line {n}: {what}")

    if fileobj is None:
        try:
            f = open(path, "r", encoding="utf-8", errors="replace", newline="\n")
        except OSError as exc:
            raise BadCapture(f"{path}: cannot read ({exc.strerror})") from None
    else:
        import io

        f = fileobj if isinstance(fileobj, io.TextIOBase) else \
            io.TextIOWrapper(fileobj, encoding="utf-8", errors="replace", newline="\n")

    with f:
        n = 0
        first = True
        snap: _Snapshot | None = None
        # tree state
        in_tree = False
        labels: list[int] = []         # tree node per depth (0 = root)
        remaining: list[int] = []      # children still expected per depth
        tree_start = 0
        partial = False                # the last line has no newline: the writer was cut off there
        for raw in f:
            n += 1
            if not raw.endswith("\n"):
                partial = True
                break
            line = raw[:-1]
            if first:
                # heaptrack_print -M writes its header last: a file that opens with a snapshot is one of
                # those, and its trees may announce more children than they list (see module docstring)
                heaptrack_made = line == SEPARATOR
                first = False
            if in_tree:
                stripped = line.lstrip(" ")
                if stripped.startswith("n") and ":" in stripped[:12]:
                    depth = len(line) - len(stripped)
                    try:
                        colon = stripped.index(":")
                        kids = int(stripped[1:colon])
                        sp = stripped.index(" ", colon + 2)
                        nbytes = int(stripped[colon + 2:sp])
                    except ValueError:
                        raise bad(n, f"malformed tree line {line[:60]!r}") from None
                    label = stripped[sp + 1:]
                    if depth == 0:
                        if labels:
                            raise bad(n, "second tree root in one snapshot")
                    else:
                        if depth > len(labels) or not labels:
                            raise bad(n, f"truncated tree: a line at depth {depth} has no parent "
                                         "(lines are missing above it)")
                        # siblings and cousins close the deeper levels first
                        while len(labels) > depth:
                            if remaining[-1] and not heaptrack_made:
                                raise bad(n, f"truncated tree: the node at depth {len(labels) - 1} "
                                             f"lacks {remaining[-1]} children")
                            labels.pop()
                            remaining.pop()
                        if remaining[-1] <= 0 and not heaptrack_made:
                            raise bad(n, "more children than the parent announced")
                        remaining[-1] -= 1
                    if depth == 0:
                        node = 0
                    else:
                        if kids == 0 and " below massif's threshold" in label:
                            label = BELOW_THRESHOLD
                        nk = (labels[-1], label)
                        node = node_of.get(nk)
                        if node is None:
                            node = node_of[nk] = len(node_parent)
                            node_parent.append(labels[-1])
                            node_label.append(label)
                    labels.append(node)
                    remaining.append(kids)
                    if kids == 0 and depth > 0:
                        sid = site_index.get(node)
                        if sid is None:
                            sid = site_index[node] = len(site_paths)
                            path_labels = []
                            while node:
                                path_labels.append(node_label[node])
                                node = node_parent[node]
                            site_paths.append(tuple(reversed(path_labels)))
                        leaves = snap.leaves
                        leaves[sid] = leaves.get(sid, 0) + nbytes
                    continue
                # the tree ended: every announced child must have been listed
                if any(remaining) and not heaptrack_made:
                    raise bad(n, f"truncated tree in snapshot {snap.index} (started at line {tree_start}): "
                                 "children missing")
                in_tree = False
                labels, remaining = [], []
            if not line:
                continue
            if line == SEPARATOR:
                continue
            key, sep, value = line.partition("=")
            if sep and key == "snapshot":
                if snap is not None and snap.tree is None:
                    raise bad(n, f"snapshot {snap.index} is incomplete")
                try:
                    idx = int(value)
                except ValueError:
                    raise bad(n, f"bad snapshot number {value!r}") from None
                snap = _Snapshot(idx)
                snapshots.append(snap)
                continue
            if sep and key in _SNAPSHOT_FIELDS:
                if snap is None:
                    raise bad(n, f"{key}= outside a snapshot")
                if key == "heap_tree":
                    if value not in _TREE_KINDS:
                        raise bad(n, f"unknown heap_tree kind {value!r}")
                    if snap.heap is None or snap.time is None:
                        raise bad(n, f"snapshot {snap.index} lacks time/mem_heap_B before heap_tree")
                    snap.tree = value
                    if value != "empty":
                        snap.leaves = {}
                        in_tree = True
                        tree_start = n + 1
                    continue
                try:
                    num = float(value) if key == "time" else int(value)
                except ValueError:
                    raise bad(n, f"bad number in {line[:60]!r}") from None
                if key == "time":
                    if math.isnan(num):
                        raise bad(n, f"bad number in {line[:60]!r}")
                    snap.time = num
                elif key == "mem_heap_B":
                    snap.heap = num
                elif key == "mem_heap_extra_B":
                    snap.extra = num
                else:
                    snap.stacks = num
                continue
            hkey, hsep, hval = line.partition(": ")
            if not hsep and line.endswith(":"):
                hkey, hsep, hval = line[:-1], ":", ""
            if hsep and hkey in ("desc", "cmd", "time_unit"):
                header[hkey] = hval.strip()
                if hkey == "desc" and hval.strip() == "heaptrack":
                    heaptrack_made = True
                continue
            raise bad(n, f"unexpected line {line[:60]!r}")
        # a file cut off while written (the machine killed valgrind): the snapshot in progress
        # is dropped, every complete one before it is read
        cut = None
        if snap is not None and snap.tree is None:
            cut = f"the file ends inside snapshot {snap.index}"
        elif in_tree and any(remaining) and not heaptrack_made:
            cut = f"the file ends inside snapshot {snap.index}'s tree"
        elif partial and snap is not None:
            cut = f"the last line of snapshot {snap.index} is cut off"
        if cut:
            snapshots.pop()
            if not snapshots:
                raise BadCapture(f"{path}: truncated massif file: {cut}, before any complete snapshot")

    if "time_unit" not in header or "cmd" not in header:
        raise BadCapture(f"{path}: no massif header (desc:, cmd:, time_unit: lines)")
    if not snapshots:
        raise BadCapture(f"{path}: massif file without snapshots")
    for s in snapshots:
        if s.heap is None or s.extra is None or s.stacks is None:
            raise BadCapture(f"{path}: snapshot {s.index} lacks mem_heap_B/mem_heap_extra_B/mem_stacks_B")

    def frame(label):
        fr = label_frames.get(label)
        if fr is None:
            if label == BELOW_THRESHOLD:
                fr = Frame(BELOW_THRESHOLD, None)
            else:
                fr = parse_label(label, symbols.resolve)
            label_frames[label] = fr
        return fr

    cap = _build(path, header, snapshots, site_paths, frame, boundaries, heaptrack_made)
    cap.probe = probe_state(path, cap)
    if cut:
        last = snapshots[-1]
        cap.meta["truncated"] = Truncated(reason=cut, details={"complete_snapshots": len(snapshots)},
                                          summary=f"capture truncated ({cut}): read up to snapshot {last.index}")
    return cap


def probe_state(path: Path, cap: Capture) -> dict | None:
    """The detailed snapshot memprof had massif take right after the collection probe's
    gc.collect() (massif.out.PID.probe beside massif.out.PID, backends/vgdb.py), as live bytes
    per site of `cap` (a path the capture never saw is counted in `unmatched_bytes`), or None
    without one. An unreadable probe file is a caveat, not a failure of the capture."""
    from profiler import rundir

    sibling = path.with_name(path.name + rundir.PROBE_STATE_SUFFIX)
    if path.name.endswith(rundir.PROBE_STATE_SUFFIX) or not sibling.is_file():
        return None
    try:
        state = parse(sibling)
    except BadCapture as exc:
        cap.meta.setdefault("caveats", []).append(f"the state after the collection probe is unreadable: {exc}")
        return None
    ids = {tuple(st): int(sid) for sid, st in zip(cap.sites["site_id"], cap.sites["stack"])}
    live: dict[int, int] = {}
    unmatched = 0
    for st, b in zip(state.sites["stack"], state.sites["live_bytes_end"]):
        sid = ids.get(tuple(st))
        if sid is None:
            unmatched += int(b)
        else:
            live[sid] = live.get(sid, 0) + int(b)
    return ProbeState(source=sibling.name, t=(state.meta or {}).get("peak_time"),
                      heap_bytes=int(state.totals["end_heap_bytes"]), unmatched_bytes=unmatched, live=live)


def _quiet_cut(every, start, end):
    """(time of the snapshot that opens the longest snapshot-free stretch overlapping
    [start, end], that stretch's length) (`every`: sorted snapshot times framed by -inf and +inf)."""
    import numpy as np

    lo = max(int(np.searchsorted(every, start, side="left")) - 1, 0)
    hi = min(int(np.searchsorted(every, end, side="right")), len(every) - 1)
    best, best_len = lo, -1.0
    for k in range(lo, hi):
        length = min(every[k + 1], end) - max(every[k], start)
        if length > best_len:
            best, best_len = k, length
    return every[best], best_len


def _find_markers(detailed, bounds, to_seconds, prior_lag):
    """In-band markers caught alive in detailed snapshots: (marker site ids, {boundary row:
    snapshot index into `detailed`}, measured clock offset or None). A marker site is a path
    whose every appearance is one marker-sized block of a boundary's iteration; of several such
    paths the one that matches the most boundaries wins (one call site writes all markers)."""
    from profiler.parsers._stacks import MARKER_SPAN, marker_code

    wanted = {it % MARKER_SPAN: row for row, (it, _) in enumerate(bounds)} if bounds else {}
    hits: dict[int, list] = {}          # site -> [(detailed index, code)]
    spoiled = set()
    for k, snap in enumerate(detailed):
        for sid, b in snap.leaves.items():
            if sid in spoiled or not b:
                continue
            code = marker_code(b)
            if code is None:
                spoiled.add(sid)
                hits.pop(sid, None)
            else:
                hits.setdefault(sid, []).append((k, code))
    sites = {sid for sid, h in hits.items() if len({c for _, c in h}) >= 2 or any(c in wanted for _, c in h)}
    if not sites or not bounds or to_seconds is None:
        return sites, {}, None
    best = max(sites, key=lambda sid: (len({c for _, c in hits[sid] if c in wanted}), -sid))
    at = {}
    for k, code in hits[best]:
        row = wanted.get(code)
        if row is None:
            continue
        it, t_end = bounds[row]
        off = t_end - detailed[k].time * to_seconds
        # a wrapped code (more than MARKER_SPAN iterations) or a stray: keep the one nearest in time
        if row in at and abs(at[row][1] - prior_lag) <= abs(off - prior_lag):
            continue
        at[row] = (k, off)
    offsets = sorted(off for _, off in at.values())
    lag = offsets[len(offsets) // 2] if offsets else None
    return sites, {row: k for row, (k, _) in at.items()}, lag


def _boundary_snapshot(times, heaps, every, t_end):
    """Index (into the detailed snapshots) of the state at a boundary mapped to massif's clock.

    A release of at least half the heap just before the boundary (a model and its context unloaded: the
    switch loop's iterations end that way) marks the end: the state is the low point the descent
    reaches. Otherwise the last snapshot before the longest quiet stretch around the boundary."""
    import numpy as np

    lo = int(np.searchsorted(times, t_end - QUIET_BEFORE_S, side="left"))
    hi = int(np.searchsorted(times, t_end + DROP_AFTER_S, side="right"))
    # a descent to half (or less) of the heap of one of the three snapshots before
    drops = [k for k in range(max(lo, 1), hi)
             if heaps[k] < heaps[k - 1] and heaps[k] * 2 < heaps[max(k - 3, 0):k].max()]
    if drops:
        k = drops[-1]
        top = heaps[max(k - 3, 0):k].max()
        # follow the release down: inside the window while it falls, past it while it still
        # falls by a tenth of what was there (a model freed over several snapshots)
        while k + 1 < len(heaps) and heaps[k + 1] < heaps[k] and (
                k + 1 < hi or heaps[k] - heaps[k + 1] > top // 10):
            k += 1
        return k
    cut, _ = _quiet_cut(every, t_end - QUIET_BEFORE_S, t_end + QUIET_AFTER_S)
    return int(np.searchsorted(times, cut, side="right")) - 1


def _peak(snapshots, detailed, marked):
    """(peak snapshot, snapshot whose tree gives the per-site peak bytes, notes).

    The peak is the snapshot with the largest mem_heap_B (of equals, the marked one, else the
    earliest), whatever
    massif marked: massif marks its peak approximately (--peak-inaccuracy, 1% by default) and
    only among the snapshots it kept, so the marked one can be below the largest, or early in
    the run. Per-site peak bytes come from that snapshot's tree when it has one, else from the
    marked peak's tree when it is as large, else from the detailed snapshot with the largest heap."""
    peak = max(snapshots, key=lambda s: (s.heap, -s.index))
    if marked is not None and marked.heap == peak.heap:
        peak = marked        # equally large, and massif kept its tree
    notes = []
    if marked is not None and marked is not peak and marked.heap < peak.heap:
        notes.append(f"massif marked snapshot {marked.index} as the peak ({marked.heap} B of heap); "
                     f"snapshot {peak.index} holds more ({peak.heap} B) and is the peak used")
    if peak.leaves is not None:
        tree = peak
    elif marked is not None and marked.leaves is not None and marked.heap == peak.heap:
        tree = marked
    else:
        tree = max(detailed, key=lambda s: (s.heap, -s.index)) if detailed else None
        if tree is not None:
            notes.append(f"per-site peak bytes from detailed snapshot {tree.index} ({tree.heap} B), "
                         f"the largest with a tree; the peak snapshot {peak.index} has none")
    return peak, tree, notes


def _end_scale(last, last_tree):
    """(factor, note) for per-site live bytes at the end, taken from the last detailed snapshot.

    When the heap fell after that snapshot (massif's last snapshot is often not detailed), its
    tree overstates what lived at exit; each site's bytes are scaled to the final heap so that
    the sites add up to it. Which site freed is unknown: the note says so."""
    if last_tree is None or last_tree is last or last.heap >= last_tree.heap or last_tree.heap <= 0:
        return None, None
    factor = last.heap / last_tree.heap
    return factor, (f"per-site live bytes at the end are scaled by {factor:.3f}: the last detailed snapshot "
                    f"({last_tree.index}, {last_tree.heap} B) was followed by a fall of the heap to {last.heap} B "
                    f"at snapshot {last.index}; which sites freed is not recorded")


def _scaled_to(lives: dict, end_heap: int, tree_heap: int) -> dict:
    """Each site's bytes times end_heap / tree_heap, in whole bytes that add up to the exact scaled
    total (largest remainders: each site is floored, the bytes the floors lost go one each to the
    sites with the largest fractions, ties to the lower site id). Flooring alone left the sum up
    to one byte per site under massif's final heap."""
    num = {sid: b * end_heap for sid, b in lives.items()}
    out = {sid: n // tree_heap for sid, n in num.items()}
    target = (2 * sum(num.values()) + tree_heap) // (2 * tree_heap)     # the exact total, rounded
    short = target - sum(out.values())
    for sid in sorted(num, key=lambda k: (-(num[k] % tree_heap), k))[:max(short, 0)]:
        out[sid] += 1
    return out


def _build(path, header, snapshots, site_paths, frame, boundaries, heaptrack_made) -> Capture:
    import numpy as np

    from profiler.parsers._stacks import boundary_targets, sites_frame, timeline_frame

    unit = header["time_unit"]
    detailed = [s for s in snapshots if s.leaves is not None]
    marked = next((s for s in snapshots if s.tree == "peak"), None)
    peak_snap, peak_tree, peak_notes = _peak(snapshots, detailed, marked)
    last_tree = detailed[-1] if detailed else None
    end_scale, end_note = _end_scale(snapshots[-1], last_tree)

    m = len(site_paths)
    to_seconds = {"ms": 1e-3, "s": 1.0}.get(unit)
    bounds = boundary_targets(boundaries)
    marker_sites, at_marker, measured_lag = _find_markers(detailed, bounds, to_seconds, VALGRIND_CLOCK_LAG_S)
    keep = [sid for sid in range(m) if sid not in marker_sites]
    lives = {sid: last_tree.leaves.get(sid, 0) if last_tree else 0 for sid in keep}
    if end_scale is not None:
        lives = _scaled_to(lives, snapshots[-1].heap, last_tree.heap)
    rows = []
    for sid, key in enumerate(site_paths):
        if sid in marker_sites:
            continue      # the marker's own site is protocol, not the program's memory
        stack = tuple(frame(label) for label in key)
        live = lives[sid]
        peak = peak_tree.leaves.get(sid, 0) if peak_tree else 0
        rows.append((sid, stack, live, peak, None, None))
    sites = sites_frame(rows, FORMAT, counts_known=False)

    # the timeline goes through the engine (parsers/timeline.py): it plans the boundaries (at most
    # KEEP_BOUNDARIES of them, thinned evenly, ends kept; fewer for many sites), assembles the
    # matrix and says how each was cut. massif's snapshots are few (--max-snapshots) and a
    # boundary's snapshot is picked from those around it, so massif hands over its picks
    from profiler.parsers.timeline import Timeline

    def vector(snap):
        v = np.zeros(m, np.int64)
        if snap is not None:
            for sid, b in snap.leaves.items():
                v[sid] = b
        return v

    aligned = bool(bounds and to_seconds is not None and detailed)
    if aligned:
        lag = 0.0 if heaptrack_made else (measured_lag if measured_lag is not None else VALGRIND_CLOCK_LAG_S)
        times = np.array([s.time * to_seconds + lag for s in detailed])
        every = np.array([-np.inf] + [s.time * to_seconds + lag for s in snapshots] + [np.inf])
        heaps = np.array([s.heap for s in detailed])
        tl = Timeline([(it, t_end, None) for it, t_end in bounds], clock_lag_s=lag)
        # the engine's rows are the boundaries sorted by t_end, as boundary_targets sorts them
        for row in tl.kept:
            t_end = bounds[row][1]
            if row in at_marker:
                j, how = at_marker[row], "marker"
            else:
                j, how = _boundary_snapshot(times, heaps, every, t_end), "clock"
            tl.at_row(row, vector(detailed[j] if j >= 0 else None), how)
        slices, ts, mat, _ = tl.finish(np.zeros(m, np.int64), 0.0, m)
        timeline = timeline_frame(keep, slices, ts, mat[:, keep])
        how = ("measured by the in-band markers" if measured_lag is not None and not heaptrack_made
               else "taken")
        timeline_note = (f"iteration boundaries: {len(at_marker)} of {len(bounds)} at a snapshot that caught "
                         "the in-band marker, the rest at the last detailed snapshot before the longest quiet "
                         f"stretch from {QUIET_BEFORE_S:.3f} s before to {QUIET_AFTER_S:.3f} s after each "
                         f"t_end (massif clock {how} to lag process start by {lag:.3f} s)")
    else:
        tl = Timeline(None)
        for s in detailed:
            tl.state(s.index, s.time * to_seconds if to_seconds is not None else float("nan"), vector(s))
        if detailed:
            slices, ts, mat, _ = tl.finish(np.zeros(m, np.int64), 0.0, m)
        else:
            slices, ts, mat = [], [], np.zeros((0, m), np.int64)
        timeline = timeline_frame(keep, slices, ts, mat[:, keep])
        if to_seconds is None:
            timeline_note = (f"slices are detailed snapshot numbers: time_unit {unit!r} (instructions or "
                             "bytes) cannot be aligned to wall time" + ("; boundaries ignored" if bounds else ""))
        else:
            timeline_note = "slices are detailed snapshot numbers (no iteration boundaries given)"

    total_snap = max(snapshots, key=lambda s: (s.heap + s.extra + s.stacks, -s.index))
    totals = {
        # heap and extra of ONE snapshot, the one with the largest mem_heap_B
        "peak_heap_bytes": peak_snap.heap,
        "peak_heap_extra_bytes": peak_snap.extra,
        "peak_total_bytes": total_snap.heap + total_snap.extra + total_snap.stacks,
        "end_heap_bytes": snapshots[-1].heap,
        "snapshots": len(snapshots),
        "detailed_snapshots": len(detailed),
        "time_unit": unit,
    }
    meta = {
        "command": header.get("cmd"),
        "desc": header.get("desc"),
        "time_unit": unit,
        "peak_snapshot": peak_snap.index,
        "peak_time": peak_snap.time,
        "peak_total_snapshot": total_snap.index,
        "marked_peak_snapshot": marked.index if marked is not None else None,
        "peak_tree_snapshot": peak_tree.index if peak_tree is not None else None,
        "end_snapshot": last_tree.index if last_tree else None,
        "end_snapshot_is_last": bool(last_tree is snapshots[-1]),
        "end_sites_scale": end_scale,
        # what the reader of a verdict must know about these figures (printed with the capture)
        "caveats": peak_notes + ([end_note] if end_note else []),
        "written_by": "heaptrack_print -M" if heaptrack_made else "valgrind massif",
        "pages_as_heap": "--pages-as-heap=yes" in (header.get("desc") or ""),
        "timeline": timeline_note,
        "timeline_unit": "iteration" if aligned else "slice",
        "timeline_cut": tl.meta.get("timeline_cut"),
        "markers": {"sites": len(marker_sites), "boundaries_at_markers": len(at_marker),
                    "boundaries": len(bounds), "clock_lag_s": None if measured_lag is None else round(measured_lag, 3)},
    }
    return Capture(format=FORMAT, path=str(path), totals=totals, sites=sites, timeline=timeline, meta=meta,
                   unit=TimelineUnit(meta["timeline_unit"]) if timeline is not None else None,
                   markers=len(at_marker) if bounds else None)
