"""The live heap's floor: heap in use right after each reclaim, and after the collection probe.

Why: RSS is a poor witness of a leak. It keeps what the allocator retains, it follows
the teeth of garbage awaiting Python's cyclic collector, and it starts cold (the first
iterations map libraries and fill pools). Heap in use (mallinfo2: allocated and not
freed, in the records as `heap_in_use`) at the troughs right after each reclaim says
what the program still holds once the garbage is gone. If every reclaim brings it back
to the same floor, the teeth are garbage waiting for a collection: a plateau, however
the RSS teeth wobble. If the floor climbs, something stays behind every time: a leak.

The collection probe (workload/child.py) is one more trough, made on purpose at the
end of the loop after a full gc.collect(): it settles a run too short for the
collector to have run at all (the default loop collects about every 30 iterations).

Method, all in MB of heap in use:
  - the heap's cold start (leading steps up 10x its median step and 5% of its level: e.g.
    the reset strategy's first load of the second model) is left out: reclaims are looked
    for after it, and the "start" below is the first record after it;
  - heap reclaims: the drops reclaims.find() finds in the heap series (a fall far
    beyond the step-to-step noise that gives back at least half of the tooth before
    it); the floor after each is the heap right after the fall;
  - the floors compared are those after the reclaims plus the probe's, never the run's
    first record: the first tooth starts cold (warmup), so it is not the baseline later
    teeth "climb" from. With a single floor (one reclaim and no probe, or a probe and no
    reclaim) the first record is the only reference, and only a floor at or below it
    settles anything (the heap returned to where it started);
  - same floor: the climb from the first floor to the last is within the tolerance
    max(64 KiB, 0.5% of the floor), or its rate is irrelevant by verdict.py's rule
    (under 10% of the RSS level per 1000 iterations);
  - climbing floor (leak): beyond the tolerance, relevant, and every floor higher than
    the one before (more than half of them with 4+ floors);
  - anything else (a relevant climb in some floors only, a floor above the cold start
    with nothing to compare, a last tooth far longer than any before that stands above
    every peak) decides nothing here: the next evidence (the RSS shape) does.
"""
from __future__ import annotations

import math

import numpy as np

from profiler import stats
from profiler.analysis import reclaims
from profiler.results.series import Envelope, HeapFloor, HeapFloorPoint, HeapReclaim, Probe

TOL_ABS_MB = 64 / 1024
TOL_FRACTION = 0.005
RELEVANT_FRACTION_PER_1000 = 0.10
OVERDUE_FACTOR = 1.5
STEP_FACTOR = 10.0
STEP_FRACTION = 0.05

HEAP_FLOOR = "heap floor after reclaims"
PROBE = "collection probe"


def _col(df, name) -> np.ndarray | None:
    import pandas as pd

    if name not in df.columns:
        return None
    v = pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=float)
    # all zero: glibc's mallinfo2 sees no heap because another allocator serves malloc (Valgrind's
    # replacement, an LD_PRELOADed jemalloc/tcmalloc): the figure is absent, not a floor of 0
    if not v.size or not np.isfinite(v).all() or not (v > 0).any():
        return None
    return v / stats.MB


def _probe(probes: list[dict], kind: str) -> dict | None:
    return next((p for p in probes if p.get("probe") == kind), None)


def _mb(rec: dict | None, key: str) -> float | None:
    if not rec or rec.get(key) is None:
        return None
    v = float(rec[key])
    return v / stats.MB if math.isfinite(v) else None


def probe_summary(df, probes: list[dict]) -> Probe | None:
    """What the probe measured against the last iteration: heap and RSS after gc.collect() and
    after malloc_trim(0), None without a gc_collect probe record."""
    gc_p, trim_p = _probe(probes, "gc_collect"), _probe(probes, "malloc_trim")
    if gc_p is None:
        return None
    last = df.iloc[-1]
    heap_seen = _col(df, "heap_in_use") is not None
    out = {"after_iteration": int(gc_p.get("after_iteration") or last["iteration"]),
           "collected": int(gc_p["probe_collected"]) if gc_p.get("probe_collected") is not None else None,
           "rss_last_mb": stats.rnd(float(last["rss"]) / stats.MB, 3),
           "rss_after_gc_mb": stats.rnd(_mb(gc_p, "rss"), 3),
           "heap_last_mb": stats.rnd(float(last["heap_in_use"]) / stats.MB, 3) if heap_seen else None,
           "heap_after_gc_mb": stats.rnd(_mb(gc_p, "heap_in_use"), 3) if heap_seen else None,
           "rss_after_trim_mb": stats.rnd(_mb(trim_p, "rss"), 3) if trim_p else None,
           "heap_free_retained_after_trim_mb": stats.rnd(_mb(trim_p, "heap_free_retained"), 3) if trim_p else None}
    return Probe(**out)


def _tolerance(floor_mb: float) -> float:
    return max(TOL_ABS_MB, TOL_FRACTION * abs(floor_mb))


def assess(df, probes: list[dict] | None, rss_level_mb: float) -> HeapFloor | None:
    """The heap-floor evidence of a series sorted by iteration (see the module docstring), or None
    when the records carry no heap in use. Keys: start_mb, reclaims[{iteration, before_mb, floor_mb}],
    floors[{iteration, floor_mb, source}], climb_mb, mb_per_iter, tolerance_mb, relevant, consistent,
    probe (probe_summary), verdict (plateau | leak | None: undecided), basis, sentence."""
    probes = probes or []
    heap = _col(df, "heap_in_use")
    if heap is None or heap.size < 2:
        return None
    it = df["iteration"].to_numpy(dtype=np.int64)
    w = _warmup(heap)
    positions = reclaims.find(heap, start=w)
    events = tuple(HeapReclaim(int(it[p]), stats.rnd(heap[p - 1], 3), stats.rnd(heap[p], 3)) for p in positions)
    floors = [{"iteration": int(it[p]), "floor_mb": float(heap[p]), "source": "reclaim"} for p in positions]
    probe = probe_summary(df, probes)
    if probe and probe.heap_after_gc_mb is not None:
        floors.append({"iteration": int(it[-1]), "floor_mb": float(probe.heap_after_gc_mb), "source": "probe"})
    start = float(heap[w])
    out = {"start_mb": stats.rnd(start, 3), "reclaims": events,
           "floors": tuple(HeapFloorPoint(f["iteration"], stats.rnd(f["floor_mb"], 3), f["source"]) for f in floors),
           "probe": probe, "climb_mb": None, "mb_per_iter": None, "tolerance_mb": None,
           "relevant": None, "consistent": None, "verdict": None, "basis": None}
    basis = HEAP_FLOOR if positions else PROBE
    if not floors:
        out["sentence"] = ("heap in use was recorded, but no reclaim brought it down and the run has no "
                           "collection probe: the heap floor says nothing here")
        return HeapFloor(**out)
    probe_words = _probe_words(probe)
    if len(floors) == 1:
        f = floors[0]
        tol = _tolerance(start)
        out["tolerance_mb"] = stats.rnd(tol, 3)
        out["climb_mb"] = stats.rnd(f["floor_mb"] - start, 3)
        where = (f"after the full collection of the probe (after iteration {f['iteration']})" if f["source"] == "probe"
                 else f"right after the reclaim at iteration {f['iteration']}")
        if f["floor_mb"] <= start + tol:
            out.update(verdict="plateau", basis=basis, sentence=(
                f"{basis}: heap in use {where} is {f['floor_mb']:.2f} MB, "
                + ("back at" if f["floor_mb"] >= start - tol else "below") + f" the {start:.2f} MB it had after "
                f"iteration {int(it[w])} (tolerance {tol:.2f} MB): "
                + (f"heap in use did not grow ({float(heap.max()) - start:+.2f} MB at most): nothing was left "
                   "behind for a collection to find" if float(heap.max()) - start <= tol else
                   f"what grew in between ({float(heap.max()) - start:+.2f} MB at most) was "
                   + ("garbage waiting for Python's cyclic collector" if f["source"] == "probe" or _gc_at(df, f)
                      else "freed again")) + f", not a leak{probe_words}"))
        else:
            out["sentence"] = (
                f"heap in use {where} is {f['floor_mb']:.2f} MB, {f['floor_mb'] - start:+.2f} MB above the "
                f"{start:.2f} MB after iteration {int(it[w])}; the first iteration starts cold, so one floor "
                f"cannot tell warmup from growth{probe_words}")
        return _overdue(out, heap, it, positions)
    vals = np.array([f["floor_mb"] for f in floors])
    its = np.array([f["iteration"] for f in floors], dtype=float)
    tol = _tolerance(float(vals[0]))
    climb = float(vals[-1] - vals[0])
    span = float(its[-1] - its[0])
    if vals.size >= 3 and span > 0:
        rate = stats.theil_sen(its, vals).slope
    else:
        rate = climb / span if span > 0 else 0.0
    steps = np.diff(vals)
    up = int((steps > tol / 2).sum())
    consistent = up == steps.size if steps.size <= 3 else up > steps.size / 2
    relevant = bool(rss_level_mb > 0 and rate * 1000 >= RELEVANT_FRACTION_PER_1000 * rss_level_mb)
    out.update(climb_mb=stats.rnd(climb, 3), mb_per_iter=stats.sig(rate), tolerance_mb=stats.rnd(tol, 3),
               relevant=relevant, consistent=bool(consistent))
    listed = ", ".join(f"{f['floor_mb']:.2f}" for f in floors)
    at = ", ".join(str(f["iteration"]) + (" (probe)" if f["source"] == "probe" else "") for f in floors)
    head = (f"{basis}: heap in use right after each "
            + ("reclaim" if positions else "collection") + f" is {listed} MB (at iterations {at})")
    per_1000 = f"{rate * 1000:+.2f} MB per 1000 iterations, {rate * 1000 / rss_level_mb:+.1%} of the " \
               f"{rss_level_mb:.0f} MB level" if rss_level_mb > 0 else f"{rate * 1000:+.2f} MB per 1000 iterations"
    if climb <= tol or not relevant:
        why = (f"within {tol:.2f} MB of each other" if abs(climb) <= tol else
               f"the last {-climb:.2f} MB below the first" if climb < 0 else
               f"a drift of {climb:+.2f} MB ({per_1000}), too small to matter")
        out.update(verdict="plateau", basis=basis, sentence=(
            f"{head}: the same floor every time ({why}): the teeth are garbage awaiting collection "
            f"(or memory freed and reused), not a leak; the first tooth starts cold and is not the baseline"
            f"{probe_words}"))
    elif consistent:
        out.update(verdict="leak", basis=basis, sentence=(
            f"{head}: the floor climbs {climb:+.2f} MB ({per_1000}), {up} of {steps.size} steps up: every "
            f"collection leaves more live heap behind: a leak{probe_words}"))
    else:
        out["sentence"] = (f"{head}: the floor moved {climb:+.2f} MB ({per_1000}) but in {up} of {steps.size} "
                           f"steps only: not decided by the heap floor{probe_words}")
    return _overdue(out, heap, it, positions)


def _warmup(heap: np.ndarray) -> int:
    """Where the heap's cold start ends: the leading steps up far larger than its usual step
    (STEP_FACTOR x the median step and STEP_FRACTION of its median level), e.g. the reset
    strategy loading the second model for the first time; at most a quarter of the run."""
    if heap.size < 4:
        return 0
    d = np.diff(heap)
    big = max(STEP_FACTOR * float(np.median(np.abs(d))), STEP_FRACTION * abs(float(np.median(heap))))
    w = 0
    while w < heap.size // 4 and d[w] > big:
        w += 1
    return w


def _gc_at(df, floor: dict) -> bool:
    if "gc_collections" not in df.columns:
        return False
    row = df[df["iteration"] == floor["iteration"]]
    return bool(len(row) and (row["gc_collections"].fillna(0) > 0).any())


def _probe_words(probe: Probe | None) -> str:
    if not probe or probe.heap_after_gc_mb is None:
        return ""
    text = ""
    if probe.heap_last_mb is not None:
        text = (f"; the collection probe after iteration {probe.after_iteration}: gc.collect() took heap in "
                f"use from {probe.heap_last_mb:.2f} to {probe.heap_after_gc_mb:.2f} MB"
                + (f" ({probe.collected} objects)" if probe.collected is not None else ""))
    if probe.rss_after_trim_mb is not None and probe.rss_after_gc_mb is not None:
        gave = probe.rss_after_gc_mb - probe.rss_after_trim_mb
        text += (f", RSS {probe.rss_last_mb:.1f} → {probe.rss_after_gc_mb:.1f} MB, and malloc_trim(0) took it "
                 f"to {probe.rss_after_trim_mb:.1f} MB (giving back {gave:.1f} MB the allocator had kept)")
    return text


def _overdue(out: dict, heap: np.ndarray, it, positions: list[int]) -> HeapFloor:
    """A last tooth far longer than any finished one, above every earlier peak, may never be
    reclaimed: a plateau read from the floors alone would miss it (the probe, if any, already saw it).
    `out`: the assessment's fields so far."""
    if out["verdict"] != "plateau" or not positions or (out["probe"] and out["probe"].heap_after_gc_mb is not None):
        return HeapFloor(**out)
    bounds = [0] + list(positions) + [heap.size]
    teeth = [(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
    done, last = teeth[:-1], teeth[-1]
    longest = max(b - a for a, b in done)
    top = max(float(heap[a:b].max()) for a, b in done)
    if last[1] - last[0] > OVERDUE_FACTOR * longest and float(heap[last[0]:last[1]].max()) > top:
        out.update(verdict=None, basis=None)
        out["sentence"] += (f"; but the last tooth has run {last[1] - last[0]} iterations without a reclaim (longer "
                            f"than any before) and stands above every earlier peak: not decided by the heap floor")
    return HeapFloor(**out)


def outside_climb(df, env: Envelope | None, rss_level_mb: float) -> str | None:
    """When the heap floor holds but the RSS troughs climb: does the part of RSS outside the malloc
    heap (rss - heap in use - allocator retention: mmap'd buffers, file pages) climb at the RSS
    troughs, relevantly? Then the sentence saying so (the verdict cannot be plateau), else None."""
    if not env or not env.troughs.rises:
        return None
    rss, used, free = _col(df, "rss"), _col(df, "heap_in_use"), _col(df, "heap_free_retained")
    if rss is None or used is None or free is None:
        return None
    it = df["iteration"].to_numpy(dtype=np.int64)
    pos = [int(np.nonzero(it == r)[0][0]) for r in env.reclaims if (it == r).any()]
    if len(pos) < 2:
        return None
    rest = rss - used - free
    climb = float(rest[pos[-1]] - rest[pos[0]])
    span = float(it[pos[-1]] - it[pos[0]])
    rate = climb / span if span > 0 else 0.0
    if rss_level_mb <= 0 or rate * 1000 < RELEVANT_FRACTION_PER_1000 * rss_level_mb:
        return None
    return (f"the RSS troughs climb and memory outside the malloc heap (mmap'd buffers, file pages) climbs "
            f"{climb:+.2f} MB between the reclaims at iterations {int(it[pos[0]])} and {int(it[pos[-1]])} "
            f"({rate * 1000:+.1f} MB per 1000 iterations), which the heap floor cannot see: a capture that "
            "records mmap (memray) or a longer run would settle it")

