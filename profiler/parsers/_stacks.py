"""Helpers every parser shares: naming a site, building the sites and timeline tables.

A parser accumulates, per distinct allocation stack, a handful of numbers
(live bytes at the end, bytes live at the global peak, allocation calls) and
optionally a matrix of live bytes per slice; these helpers turn that into the
common DataFrames of `profiler.tables`, so every format names sites and lays
out its tables the same way.
"""
from __future__ import annotations

from typing import Iterable, Sequence

from profiler.tables import SITE_COLUMNS, TIMELINE_COLUMNS, Frame

# The allocator frames are listed once, in the rules (profiler/rules/libc.toml [plumbing] allocators).
from profiler.parsers.allocators import is_allocator  # noqa: E402,F401


def site_frame(stack: Sequence[Frame]) -> Frame | None:
    """The innermost frame that is not an allocator function (the stack's innermost frame if all are)."""
    for frame in stack:
        if not is_allocator(frame.function):
            return frame
    return stack[0] if stack else None


def sites_frame(rows: Iterable[tuple], backend: str, counts_known: bool = True):
    """Sites DataFrame (SITE_COLUMNS) from rows of
    (site_id, stack, live_bytes_end, peak_bytes, alloc_count, leak_kind).

    `stack` is a tuple of Frame, innermost first; `site`, `function` and `module`
    come from its first non-allocator frame. alloc_count may be None (massif does not count
    calls: pass counts_known=False and the column is float NaN even when there are no rows).
    Built column by column (one pass per column, the allocator test and the label once per
    distinct function and frame): a capture has tens of thousands of sites."""
    import numpy as np
    import pandas as pd

    rows = list(rows)
    n = len(rows)
    stacks = [tuple(r[1]) for r in rows]
    allocator: dict = {}
    labels: dict = {}
    picked = []
    for stack in stacks:
        frame = stack[0] if stack else None
        for fr in stack:
            fn = fr.function
            a = allocator.get(fn)
            if a is None:
                a = allocator[fn] = is_allocator(fn)
            if not a:
                frame = fr
                break
        picked.append(frame)
    site = []
    for frame in picked:
        if frame is None:
            site.append("???")
            continue
        lab = labels.get(frame)
        if lab is None:
            lab = labels[frame] = frame.label()
        site.append(lab)
    counts = [r[4] for r in rows]
    floats = not counts_known or any(c is None or c != c for c in counts)
    if floats:
        alloc_count = np.array([np.nan if c is None else c for c in counts], dtype="float64")
    else:
        alloc_count = np.array(counts, dtype="int64")

    def obj(values):
        # text columns stay `object` so a missing function/module is None, not NaN (pandas 3 infers str)
        return pd.Series(values, dtype=object)

    nothing = [None] * n
    cols = {
        "site_id": np.array([int(r[0]) for r in rows], dtype="int64"),
        "site": obj(site),
        "function": obj([f.function if f else None for f in picked]),
        "module": obj([f.module if f else None for f in picked]),
        "stack": obj(stacks),
        "backend": obj([backend] * n),
        "live_bytes_end": np.array([int(r[2]) for r in rows], dtype="int64"),
        "peak_bytes": np.array([int(r[3]) for r in rows], dtype="int64"),
        "alloc_count": alloc_count,
        "leak_kind": obj([r[5] for r in rows]),
        "category": obj(nothing),
        "slope_bytes_per_iter": np.full(n, np.nan),
        "verdict": obj(nothing),
    }
    return pd.DataFrame(cols, columns=SITE_COLUMNS)


def timeline_frame(site_ids, slices, times, live):
    """Timeline DataFrame (TIMELINE_COLUMNS, long format) from a (n_slices x n_sites) matrix.

    `live[k, j]` is the bytes of site `site_ids[j]` live at slice `slices[k]`
    (time `times[k]`, seconds since process start). Every site gets a row per slice,
    zeros included, so a transient site is visible as one that is always 0."""
    import numpy as np
    import pandas as pd

    site_ids = np.asarray(site_ids, dtype="int64")
    live = np.asarray(live).reshape(len(slices), len(site_ids))
    n_sites = len(site_ids)
    return pd.DataFrame({
        "site_id": np.tile(site_ids, len(slices)),
        "slice": np.repeat(np.asarray(slices, dtype="int64"), n_sites),
        "t": np.repeat(np.asarray(times, dtype="float64"), n_sites),
        "live_bytes": live.reshape(-1).astype("int64"),
    }, columns=TIMELINE_COLUMNS)


def boundary_targets(boundaries) -> list[tuple[int, float]]:
    """(iteration, t_end seconds) from the parser contract's boundary triples, sorted by time."""
    out = []
    for b in boundaries or ():
        it, t_end = int(b[0]), float(b[1])
        out.append((it, t_end))
    out.sort(key=lambda p: p[1])
    return out


def equal_slices(t_end: float, n: int = 20) -> list[float]:
    """n equal time slices of [0, t_end]: the end time of each (used without iteration boundaries)."""
    if t_end <= 0:
        return [0.0]
    return [t_end * (k + 1) / n for k in range(n)]


# The in-band iteration marker protocol lives in profiler/markers.py (the workload imports it too).
from profiler.markers import MARKER_BASE, MARKER_SPAN, marker_code, marker_size  # noqa: E402,F401
