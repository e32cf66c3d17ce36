"""Re-name sites by the rules' plumbing list and merge the rows that end up with the same name.

Parsers name a site after the first frame that is not malloc/new; for GGML
that is `ggml_aligned_malloc` or `ggml_backend_cpu_buffer_type_alloc_buffer`
for half the stacks, which says nothing. Skipping the rules' plumbing frames
names a site after whoever asked for the buffer (the KV cache, the graph
allocator), and rows that now share a name are one site: their bytes and
counts add up, their timelines add up slice by slice, and the heaviest stack
stays as the representative. Memcheck rows keep their loss kind apart
(a definitely lost and a still reachable record of one function are two
different findings).
"""
from __future__ import annotations

import math

from profiler.tables import SITE_COLUMNS

EXTRA_COLUMNS = ["evidence", "n_stacks", "rule"]


def _label(frame) -> str:
    try:
        return frame.label()
    except AttributeError:
        return str(frame)


def _is_python(frame) -> bool:
    where = getattr(frame, "file", None) or getattr(frame, "module", None) or ""
    return where.endswith(".py") or where.startswith("<frozen ")


def _site_label(stack, idx: int, rules=None) -> str:
    """The site frame's label. An unresolved frame is named by its object and its caller instead
    of its address, which moves from run to run (ASLR) and would split one site in two. The caller
    is the first frame outward that says something: a native frame some rule knows at any depth
    (ggml_backend_sched_reserve, llama_kv_cache::...) or a Python frame, whichever comes first;
    libffi, ctypes and the interpreter in between are the same for every call into native code.
    Failing both, the first resolved frame that is not plumbing."""
    fr = stack[idx]
    if getattr(fr, "function", None):
        return _label(fr)
    # massif's "(below threshold)" aggregate is not a caller
    rest = [f for f in stack[idx + 1:]
            if getattr(f, "function", None) and not str(f.function).startswith("(")
            and (rules is None or not rules.is_plumbing(f))]
    caller = None
    for f in rest:
        if _is_python(f) or (rules is not None and any(rules.rule_for_frame(f, tier, False) is not None
                                                        for tier in (0, 1))):
            caller = f
            break
    if caller is None and rest:
        caller = rest[0]
    mod = getattr(fr, "module", None)
    head = f"??? (in {mod})" if mod else "???"
    return head + (f" <- {_label(caller) if _is_python(caller) else caller.function}" if caller is not None else "")


def rename(sites, rules):
    """A copy of `sites` with site/function/module re-named and category filled (row per stack)."""
    df = sites.copy()
    stacks = [tuple(s) if s is not None and not (isinstance(s, float) and math.isnan(s)) else ()
              for s in df["stack"]]
    # rows are distinct stacks already (the parsers key them so); the rules work out each distinct
    # frame once, and the site frame's name is worked out once per frame object
    decide = rules.name_and_classify
    named: dict[tuple, tuple] = {}          # (site frame, rule) -> the row's five names
    rows = []
    for i, stack in enumerate(stacks):
        idx, cat, rule, _ = decide(stack)
        if idx is None:
            rows.append((df["site"].iat[i], df["function"].iat[i], df["module"].iat[i], cat or "unknown", None))
            continue
        fr = stack[idx]
        key = (id(fr), id(rule))
        hit = named.get(key)
        if hit is None:
            f = getattr(fr, "function", None)
            hit = named[key] = (_label(fr) if f else None, f, getattr(fr, "module", None), cat or "unknown",
                                rule.source if rule is not None else None)
        rows.append(hit if hit[1] else (_site_label(stack, idx, rules),) + hit[1:])
    names, fns, mods, cats, rule_src = (list(c) for c in zip(*rows)) if rows else ([], [], [], [], [])
    df["site"] = names
    df["function"] = fns
    df["module"] = mods
    df["category"] = cats
    df["rule"] = rule_src
    return df


def merge(sites, timeline):
    """Merge rows sharing (site, category, leak_kind). Returns (sites, timeline, old->new site_id map).
    The category is part of the key so that two stacks that only look alike (an unresolved frame
    named after the same caller) never pool a KV cache with a compute buffer."""
    import pandas as pd

    df = sites.copy()
    if df.empty:
        df["n_stacks"] = pd.Series(dtype="int64")
        return df, timeline, {}
    df["_kind"] = df["leak_kind"].fillna("")
    df["_cat"] = df["category"].fillna("") if "category" in df.columns else ""
    keys = ["site", "_cat", "_kind"]
    df["_w0"] = pd.to_numeric(df["peak_bytes"], errors="coerce").fillna(0)
    df["_w1"] = pd.to_numeric(df["live_bytes_end"], errors="coerce").fillna(0)
    df["_w2"] = pd.to_numeric(df["alloc_count"], errors="coerce").fillna(0)
    df = df.sort_values(["_w0", "_w1", "_w2", "site_id"], ascending=[False, False, False, True], kind="mergesort")
    groups = df.groupby(keys, sort=False, dropna=False)
    rep = groups.head(1).set_index(keys)
    sums = groups.agg(live_bytes_end=("live_bytes_end", "sum"), n_stacks=("site_id", "size"))
    for c in ("peak_bytes", "alloc_count"):     # NaN for a group with no figure at all
        sums[c] = (groups[c].sum(min_count=1) if pd.api.types.is_numeric_dtype(df[c])
                   else groups[c].agg(lambda s: s.sum(min_count=1)))
    sums = sums[["live_bytes_end", "peak_bytes", "alloc_count", "n_stacks"]]
    out = rep.drop(columns=["live_bytes_end", "peak_bytes", "alloc_count"]).join(sums)
    out = out.reset_index()
    # the rows are sorted heaviest first: a group's first row is its representative
    id_map = dict(zip(df["site_id"].astype("int64").tolist(),
                      groups["site_id"].transform("first").astype("int64").tolist()))
    cols = [c for c in SITE_COLUMNS if c in out.columns] + [c for c in out.columns
                                                           if c not in SITE_COLUMNS and not c.startswith("_")]
    out = out[cols].sort_values("site_id", kind="mergesort").reset_index(drop=True)
    for c in ("live_bytes_end", "n_stacks", "site_id"):
        out[c] = out[c].astype("int64")
    for c in ("peak_bytes", "alloc_count"):     # NaN where the tool has no such figure (memcheck, massif)
        out[c] = out[c].astype("float64" if out[c].isna().any() else "int64")
    if timeline is not None and len(timeline):
        timeline = _merge_timeline(timeline, id_map)
    return out, timeline, id_map


def _merge_timeline(timeline, id_map: dict):
    """The timeline on the merged site ids: one row per (site, slice), sorted so, with the latest
    t and the summed live bytes. Every parser's timeline has small non-negative integer ids and
    slices: those go onto a dense (site x slice) grid in numpy, with no sort of the rows; anything
    else through pandas."""
    import numpy as np

    fast = _dense_timeline(timeline, id_map)
    if fast is not None:
        return fast
    tl = timeline.copy()
    tl["site_id"] = tl["site_id"].map(id_map).fillna(tl["site_id"]).astype("int64")
    tl = (tl.groupby(["site_id", "slice"], sort=True, as_index=False)
            .agg(t=("t", "max"), live_bytes=("live_bytes", "sum")))
    tl["live_bytes"] = tl["live_bytes"].astype(np.int64)
    return tl[["site_id", "slice", "t", "live_bytes"]]


def _dense_timeline(timeline, id_map: dict):
    """_merge_timeline's table, or None when the columns are not small non-negative integers (the
    grid would not fit, or the byte sums could lose a unit in float64). A pandas map and groupby
    over every row was most of the merge's time (380k rows on the bench capture)."""
    import numpy as np
    import pandas as pd

    sid, sl, t, lb = (timeline[c].to_numpy() for c in ("site_id", "slice", "t", "live_bytes"))
    if not all(np.issubdtype(a.dtype, np.integer) for a in (sid, sl, lb)) or not np.issubdtype(t.dtype, np.floating):
        return None
    old = np.fromiter(id_map.keys(), dtype=np.int64, count=len(id_map))
    new = np.fromiter(id_map.values(), dtype=np.int64, count=len(id_map))
    lo = min(int(sid.min()), int(sl.min()), int(old.min(initial=0)), int(new.min(initial=0)))
    top = max(int(sid.max()), int(new.max(initial=0))) + 1
    rows = len(sid)
    # the byte sums go through float64 (np.bincount): exact while they stay below 2**53
    if lo < 0 or top > 4 * rows + 4096 or int(sl.max()) > 4 * rows + 4096 or \
            int(np.abs(lb).max()) >= 2 ** 53 // rows:
        return None
    lut = np.arange(top, dtype=np.int64)
    keep = old < top
    lut[old[keep]] = new[keep]
    mapped = lut[sid]
    present = np.zeros(top, dtype=bool)
    present[mapped] = True
    sites = np.flatnonzero(present)
    site_pos = np.zeros(top, dtype=np.int64)
    site_pos[sites] = np.arange(len(sites))
    seen = np.zeros(int(sl.max()) + 1, dtype=bool)
    seen[sl] = True
    slices = np.flatnonzero(seen)
    slice_pos = np.zeros(len(seen), dtype=np.int64)
    slice_pos[slices] = np.arange(len(slices))
    size = len(sites) * len(slices)
    if size > 4 * rows + 4096:
        return None
    cell = site_pos[mapped] * len(slices) + slice_pos[sl]
    count = np.bincount(cell, minlength=size)
    total = np.bincount(cell, weights=lb, minlength=size)
    latest = np.full(size, np.nan)
    np.fmax.at(latest, cell, t)                        # max skipping NaN, as pandas' max does
    cells = np.flatnonzero(count)
    return pd.DataFrame({
        "site_id": sites[cells // len(slices)].astype(np.int64),
        "slice": slices[cells % len(slices)].astype(sl.dtype),
        "t": latest[cells].astype(t.dtype),
        "live_bytes": total[cells].astype(np.int64),
    })
