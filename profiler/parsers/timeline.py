"""The timeline engine: where a capture's timeline is cut, and what is live at each cut.

Every decoder (heaptrack, memray, ...) reads its own format and feeds this engine the
events it has: the clock (`due`/`at_clock`), the in-band markers (`marker`) and the state at
each of them as a vector of live bytes per column (a column is a decoder's site, or part
of one: see `finish`). The engine owns everything about boundaries:

- the plan: the workload's iteration boundaries (iteration, t_end, wall_end), sorted by time,
  thinned to at most `keep` of them (evenly spaced, the first and the last always kept), or,
  without boundaries, equal slices of WORK on a grid whose step doubles as the capture grows:
  the decoder's cumulative count of allocation calls (`due_work`), cut at exact event
  positions, when it has one; equal slices of its clock (`due`) otherwise. A tool clock can
  stall (heaptrack's timer thread starves while the program allocates hard, crowding a steady
  phase into a few slices); the count of calls never does, and a slice boundary then means
  "after N allocation calls", a state the stream gives exactly;
- the cut: at the in-band marker written right after the record (profiler/markers.py) when the
  capture has it, else by the decoder's clock at t_end minus the clock's lag;
- the metadata on how each boundary was cut (`meta`), put into the capture's meta.

A decoder whose states are few and only placed once all are read (massif: at most
--max-snapshots detailed snapshots, a boundary's snapshot chosen from the snapshots around it)
hands the engine its pick for each kept boundary (`at_row`), or, without boundaries, its own
states as the slices (`state`); the engine thins, assembles and describes them the same way.

Memory: one vector per kept boundary (per candidate marker trace), so O(columns x keep)
whatever the number of iterations; the decoder keeps only its current state.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from profiler.markers import MARKER_SPAN

KEEP_BOUNDARIES = 512    # boundaries kept at most; longer runs are thinned evenly (ends kept)
CELL_BUDGET = 2_000_000  # sites x kept boundaries in the timeline table: fewer boundaries for many sites
GRID_MAX = 40            # without boundaries: at most this many equal slices kept while streaming
GRID_START_MS = 50.0
WORK_GRID_START = {"calls": 64.0, "bytes": 65536.0}   # slices of work: the first step per axis


def cut_meta(n: int, k: int, how: dict) -> dict:
    """How a timeline was cut: boundaries in the records, kept, and how many by each means."""
    cut = {"boundaries": n, "kept": k, "by": dict(how)}
    if k < n:
        cut["thinned"] = (f"{k} of {n} iteration boundaries kept, evenly spaced "
                          "(first and last included), so memory does not grow with the run")
    return cut


def thin(n: int, keep: int) -> list[int]:
    """Indices of `keep` of n boundaries: evenly spaced, first and last included."""
    if n <= keep:
        return list(range(n))
    if keep < 2:
        return [n - 1]
    step = (n - 1) / (keep - 1)
    return sorted({int(round(k * step)) for k in range(keep)})


@dataclass
class _Cut:
    vector: object                 # live bytes per column (numpy int64), columns known at the cut
    how: str                       # "marker" | "clock" | "calls" | "end"
    seq: int = -1                  # markers: position in the stream (checks the order)
    dist: float = 0.0              # markers: |stamp - target| on the decoder's clock
    ms: float | None = None        # calls: the decoder clock's latest stamp at the cut


class _Grid:
    """Equal steps of one cumulative count whose total is unknown until the end: the step
    doubles (every other target dropped) whenever more than GRID_MAX targets would be needed."""

    def __init__(self, step: float):
        self.dt = float(step)
        self.targets: list[float] = []
        self.pending: dict[int, float] = {}
        self.cuts: dict[int, _Cut] = {}

    def due(self, top: float) -> list[tuple[int, int]]:
        while top / self.dt > GRID_MAX:
            self.dt *= 2
            targets, cuts, pending = [], {}, {}
            for k, t in enumerate(self.targets):
                if round(t / self.dt * 2) % 2 == 0:
                    if k in self.cuts:
                        cuts[len(targets)] = self.cuts[k]
                    if k in self.pending:
                        pending[len(targets)] = t
                    targets.append(t)
            self.targets, self.cuts, self.pending = targets, cuts, pending
        nxt = (len(self.targets) + 1) * self.dt
        while nxt < top:
            self.pending[len(self.targets)] = nxt
            self.targets.append(nxt)
            nxt += self.dt
        return sorted(((k, int(t)) for k, t in self.pending.items() if t < top), key=lambda p: p[1])

    def cut(self, key: int, cut: _Cut) -> None:
        self.pending.pop(key, None)
        self.cuts[key] = cut

    def kept(self) -> list[tuple[float, _Cut]]:
        """(target, cut) of the final grid, at most GRID_MAX // 2 of them (every other when more)."""
        keys = sorted(self.cuts)
        if len(keys) > GRID_MAX // 2:
            keys = keys[1::2]
        return [(self.targets[k], self.cuts[k]) for k in keys]


@dataclass
class Timeline:
    """Boundaries of one capture. `boundaries`: (iteration, t_end, wall_end) triples or None.
    `clock_lag_s`: the decoder's clock starts this long after the process the records count
    from (t_end - lag is the boundary on the decoder's clock)."""

    boundaries: list | None = None
    clock_lag_s: float = 0.0
    keep: int | None = None          # None: KEEP_BOUNDARIES
    rows: list = field(init=False)
    kept: list = field(init=False)
    meta: dict = field(init=False, default_factory=dict)

    def __post_init__(self):
        rows = []
        for b in self.boundaries or ():
            wall = b[2] if len(b) > 2 else None
            rows.append((int(b[0]), float(b[1]), wall))
        rows.sort(key=lambda r: r[1])
        self.rows = rows
        self.keep = KEEP_BOUNDARIES if self.keep is None else int(self.keep)
        self.kept = thin(len(rows), self.keep)
        self.grid = not rows
        self._by_code: dict[int, list[int]] = {}
        for r in self.kept:
            self._by_code.setdefault(rows[r][0] % MARKER_SPAN, []).append(r)
        self.wanted_codes = frozenset(it % MARKER_SPAN for it, _, _ in rows)
        self._codes_by_trace: dict[int, set] = {}
        self._at_mark: dict[tuple, _Cut] = {}        # (row, trace) -> best marker cut
        self._at_clock: dict[int, _Cut] = {}         # row (or grid index) -> clock cut
        self.grid_dt = GRID_START_MS
        self.by_work = False                         # grids over work counts (due_work)
        self._work: dict[str, _Grid] = {}            # axis ("calls", "bytes") -> its grid
        self._grid: list[float] = []                 # grid targets, ms on the decoder's clock
        self._pending = {r: self.target_ms(r) for r in self.kept}
        self._picked: dict[int, _Cut] = {}           # row -> a state the decoder picked (at_row)
        self._states: list[tuple] = []               # (slice, t, vector): a decoder's own slices (state)
        self.truncated = False      # set by the decoder when the capture was cut off

    # ------------------------------------------------------------------ the plan
    def target_ms(self, row: int) -> float:
        return max(0.0, (self.rows[row][1] - self.clock_lag_s) * 1000.0)

    def due(self, top_ms: float) -> list[tuple[int, float]]:
        """Clock targets not yet cut whose time is below `top_ms`, the decoder clock's latest
        stamp (a later stamp proves no more events belong before them): (key, ms) pairs."""
        if self.grid:
            self._extend_grid(top_ms)
        return sorted(((k, t) for k, t in self._pending.items() if t < top_ms), key=lambda p: p[1])

    def due_work(self, tops: dict) -> list[tuple[str, int, int]]:
        """Without boundaries, slices of work: for each axis of `tops` (the decoder's cumulative
        count so far: "calls" = allocation calls, "bytes" = bytes those calls requested), the grid
        targets (axis, key, N) below it. The decoder cuts target N at the event where the count
        first passes N (for calls: just before the (N+1)-th call, after exactly N calls and the
        frees that followed them) and reports it with at_work."""
        if not self.grid:
            return []
        if not self.by_work:
            if self._grid:
                raise ValueError("a timeline's grid is cut by work or by the clock, not both")
            self.by_work = True
        out = []
        for axis, top in tops.items():
            g = self._work.get(axis)
            if g is None:
                g = self._work[axis] = _Grid(WORK_GRID_START.get(axis, 64.0))
            out += [(axis, k, n) for k, n in g.due(top)]
        return out

    def next_clock_ms(self) -> float:
        """The earliest clock target not cut yet (inf when none): a stamp above it makes it due,
        so a decoder that reads events one by one need not ask before."""
        return min(self._pending.values(), default=float("inf"))

    def next_work(self, axis: str) -> int:
        """The least count of `axis` a work target not cut yet can have: a decoder reading events
        one by one asks due_work only once its count passes it (the grid's step only doubles,
        so no target is ever made below it)."""
        g = self._work.get(axis)
        if g is None:
            return int(WORK_GRID_START.get(axis, 64.0))
        if g.pending:
            return int(min(g.pending.values()))
        return int((len(g.targets) + 1) * g.dt)

    def at_work(self, axis: str, key: int, vector, stamp_ms: float, seq: int) -> None:
        """The state at work target `key` of `axis` (from `due_work`), at stream position `seq`
        (+/- events before the cut) and decoder clock `stamp_ms` (its latest stamp there)."""
        self._work[axis].cut(key, _Cut(vector, axis, seq, ms=float(stamp_ms)))

    def _extend_grid(self, max_ms: float):
        """Equal slices of a duration unknown until the end: double the step when there are too many."""
        while max_ms / self.grid_dt > GRID_MAX:
            self.grid_dt *= 2
            kept_targets, cuts, pending = [], {}, {}
            for k, t in enumerate(self._grid):
                if round(t / self.grid_dt * 2) % 2 == 0:
                    nk = len(kept_targets)
                    if k in self._at_clock:
                        cuts[nk] = self._at_clock[k]
                    if k in self._pending:
                        pending[nk] = t
                    kept_targets.append(t)
            self._grid, self._at_clock, self._pending = kept_targets, cuts, pending
        nxt = (len(self._grid) + 1) * self.grid_dt
        while nxt < max_ms:
            self._pending[len(self._grid)] = nxt
            self._grid.append(nxt)
            nxt += self.grid_dt

    # ------------------------------------------------------------------ the cuts
    def at_clock(self, key: int, vector) -> None:
        """The state at clock target `key` (from `due`)."""
        self._pending.pop(key, None)
        self._at_clock[key] = _Cut(vector, "clock")

    def at_row(self, row: int, vector, how: str) -> None:
        """The state at kept boundary `row` (an index into `rows`, one of `kept`), picked by the
        decoder after reading all its states: how = "marker" (a state that caught the row's
        in-band marker) or "clock" (placed on the decoder's clock)."""
        self._picked[row] = _Cut(vector, how)

    def state(self, slice_no: int, t: float, vector) -> None:
        """Without boundaries: one of the decoder's own states (massif: a detailed snapshot), in
        order, as a slice of the timeline; more than `keep` are thinned evenly, ends kept."""
        self._states.append((int(slice_no), float(t), vector))

    def marker_rows(self, code: int) -> list[int]:
        """Kept boundary rows a marker of this code may cut (the decoder computes a vector only then)."""
        return self._by_code.get(code, [])

    def marker(self, code: int, stamp_ms: float, trace: int, seq: int, vector=None) -> None:
        """A marker-sized allocation seen at stream position `seq`, decoder clock `stamp_ms`, from
        call stack `trace`; `vector` is the state just before it (needed only if marker_rows(code))."""
        if code not in self.wanted_codes:
            return
        self._codes_by_trace.setdefault(trace, set()).add(code)
        for r in self._by_code.get(code, ()):
            dist = abs(stamp_ms - self.target_ms(r))
            old = self._at_mark.get((r, trace))
            if old is None or dist < old.dist:
                if callable(vector):
                    vector = vector()
                self._at_mark[(r, trace)] = _Cut(vector, "marker", seq, dist)

    def marker_trace(self) -> int | None:
        """The call stack that wrote the markers: the one hitting the most boundaries' codes
        (one call site writes them all; a marker-sized allocation elsewhere is a stray)."""
        if not self._codes_by_trace:
            return None
        return max(self._codes_by_trace, key=lambda t: (len(self._codes_by_trace[t]), -t))

    # ------------------------------------------------------------------ the result
    def finish(self, end_vector, end_ms: float, n_columns: int, decoder_clock: str = "clock"):
        """(slices, times, matrix, cut_by) for the kept boundaries, or the grid slices plus the end.

        matrix[k] is the live bytes per column at slice k (columns the decoder added after a cut
        are 0 there). A boundary no marker cut and no clock stamp passed is the end state."""
        import numpy as np

        def row_of(v):
            out = np.zeros(n_columns, np.int64)
            v = np.asarray(v, dtype=np.int64)
            out[: len(v)] = v[:n_columns]
            return out

        if self.grid and self._states:
            kept = [self._states[i] for i in thin(len(self._states), self.keep)]
            if len(kept) * max(n_columns, 1) > CELL_BUDGET:
                kept = [kept[i] for i in thin(len(kept), max(CELL_BUDGET // max(n_columns, 1), 64))]
            n, k = len(self._states), len(kept)
            cut = {"boundaries": 0, "states": n, "kept": k, "by": {"state": k}}
            if k < n:
                cut["thinned"] = (f"{k} of {n} of the capture's own states kept, evenly spaced (first and "
                                  "last included), so memory does not grow with the run")
            self.meta = {"timeline_unit": "slice", "timeline_cut": cut}
            return ([k[0] for k in kept], [k[1] for k in kept],
                    np.vstack([row_of(k[2]) for k in kept]), {})
        if self.grid:
            keys = sorted(self._at_clock)
            if len(keys) > GRID_MAX // 2:
                keys = keys[1::2]
            slices = list(range(len(keys) + 1))
            vecs = [self._at_clock[k].vector for k in keys] + [end_vector]
            if self.by_work:
                # the union of the axes' cuts, in stream order (a position two axes share is one cut)
                per_axis = {axis: g.kept() for axis, g in self._work.items()}
                cuts = sorted({c.seq: c for kept in per_axis.values() for _, c in kept}.values(),
                              key=lambda c: c.seq)
                slices = list(range(len(cuts) + 1))
                times = [c.ms / 1000.0 for c in cuts] + [end_ms / 1000.0]
                vecs = [c.vector for c in cuts] + [end_vector]
                by = {axis: sum(c.how == axis for c in cuts) for axis in per_axis}
                steps = {axis: int(kept[0][0]) if kept else None for axis, kept in per_axis.items()}
                self.meta = {"timeline": (f"slices by allocation count and by allocated bytes: a cut after every "
                                          f"{steps.get('calls')} allocation calls and after every "
                                          f"{steps.get('bytes')} bytes requested, at exact event positions in "
                                          f"the stream, not by the {decoder_clock} (it stalls while the program "
                                          f"allocates); last slice = end"),
                             "timeline_unit": "slice",
                             "timeline_cut": {"boundaries": 0, "kept": len(slices),
                                              "by": {**by, "end": 1}, "per_slice": steps}}
                return slices, times, np.vstack([row_of(v) for v in vecs]), {}
            else:
                times = [self._grid[k] / 1000.0 for k in keys] + [end_ms / 1000.0]
                self.meta = {"timeline": "equal time slices of the capture; last slice = end",
                             "timeline_unit": "slice",
                             "timeline_cut": {"boundaries": 0, "kept": len(slices),
                                              "by": {"clock": len(keys), "end": 1}}}
            return slices, times, np.vstack([row_of(v) for v in vecs]) if vecs else np.zeros((0, n_columns)), {}
        trace = self.marker_trace()
        kept = self.kept
        if len(kept) * max(n_columns, 1) > CELL_BUDGET:
            # many sites: fewer boundaries, so the timeline table stays O(CELL_BUDGET)
            kept = [kept[i] for i in thin(len(kept), max(CELL_BUDGET // max(n_columns, 1), 64))]
        slices, times, vecs, how = [], [], [], {"marker": 0, "clock": 0, "end": 0}
        after_cut = 0
        last_seq = -1
        for r in kept:
            cut = self._picked.get(r)
            if cut is not None:
                how.setdefault(cut.how, 0)
                how[cut.how] += 1
                slices.append(self.rows[r][0])
                times.append(self.rows[r][1])
                vecs.append(row_of(cut.vector))
                continue
            cut = self._at_mark.get((r, trace)) if trace is not None else None
            if cut is not None and cut.seq <= last_seq:
                cut = None                     # out of order: a stray, not this boundary's marker
            if cut is not None:
                last_seq = cut.seq
            else:
                cut = self._at_clock.get(r) or _Cut(end_vector, "end")
            if cut.how == "end" and self.truncated:
                after_cut += 1      # the capture stops before this boundary: no state to show
                continue
            how[cut.how] += 1
            slices.append(self.rows[r][0])
            times.append(self.rows[r][1])
            vecs.append(row_of(cut.vector))
        matrix = np.vstack(vecs) if vecs else np.zeros((0, n_columns), np.int64)
        n, k = len(self.rows), len(kept)
        cut = cut_meta(n, k, how)
        cut["clock_lag_s"] = self.clock_lag_s
        if after_cut:
            cut["after_truncation"] = after_cut
            cut["last_iteration"] = slices[-1] if slices else None
        self.meta = {"timeline": self._note(how, decoder_clock), "timeline_unit": "iteration",
                     "timeline_cut": cut}
        return slices, times, matrix, how

    def _note(self, how: dict, decoder_clock: str) -> str:
        k = sum(how.values())
        lagged = f"t_end minus {self.clock_lag_s:.3f} s {decoder_clock} lag"
        if how["marker"] == k:
            return "iteration boundaries, cut at the workload's in-band markers"
        if how["marker"]:
            return (f"iteration boundaries: {how['marker']} of {k} cut at in-band markers, "
                    f"the rest at {lagged}")
        return f"iteration boundaries ({lagged}; no in-band markers in the capture)"
