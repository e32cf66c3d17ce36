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
    calls: pass counts_known=False and the column is float NaN even when there are no rows)."""
    import numpy as np
    import pandas as pd

    cols: dict[str, list] = {c: [] for c in SITE_COLUMNS}
    for site_id, stack, live_end, peak, count, leak_kind in rows:
        frame = site_frame(stack)
        cols["site_id"].append(int(site_id))
        cols["site"].append(frame.label() if frame else "???")
        cols["function"].append(frame.function if frame else None)
        cols["module"].append(frame.module if frame else None)
        cols["stack"].append(tuple(stack))
        cols["backend"].append(backend)
        cols["live_bytes_end"].append(int(live_end))
        cols["peak_bytes"].append(int(peak))
        cols["alloc_count"].append(np.nan if count is None else count)
        cols["leak_kind"].append(leak_kind)
        cols["category"].append(None)
        cols["slope_bytes_per_iter"].append(np.nan)
        cols["verdict"].append(None)
    # text columns stay `object` so a missing function/module is None, not NaN (pandas 3 infers str)
    text = {"site", "function", "module", "stack", "backend", "leak_kind", "category", "verdict"}
    df = pd.DataFrame({c: pd.Series(v, dtype=object) if c in text else v for c, v in cols.items()},
                      columns=SITE_COLUMNS)
    df["site_id"] = df["site_id"].astype("int64")
    df["live_bytes_end"] = df["live_bytes_end"].astype("int64")
    df["peak_bytes"] = df["peak_bytes"].astype("int64")
    floats = not counts_known or df["alloc_count"].isna().any()
    df["alloc_count"] = df["alloc_count"].astype("float64" if floats else "int64")
    df["slope_bytes_per_iter"] = df["slope_bytes_per_iter"].astype("float64")
    return df


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
