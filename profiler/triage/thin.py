"""Thin growth: many sites that each grow too little to matter, whose sum does.

The minor-growth bar (runverdict.MIN_MATERIAL_BYTES_PER_ITER) keeps a few interned strings
from making a run a leak; applied only per site it also hides a leak spread over hundreds of
call sites (a cache keyed by caller, a per-object header allocated all over a library), each a
few bytes per iteration. So the bar applies to the total too: the sites whose live bytes keep
rising after start-up are grouped by module, category and their nearest common caller (the
longest outer stack suffix they share), and a group whose summed rate reaches the bar and is a
material share of the heap's own growth is ONE leak finding, however many rows it sums.

A grower must rise through the later half of the judged window (positive Theil-Sen slope, a
higher end, hardly ever falling): a step early in the run and flat since is not growth.
"""
from __future__ import annotations

from typing import Sequence

from profiler.results.sites import SiteBrief, ThinGrowth, TimelineUnit
from profiler.triage.growth import LEAK, MIN_JUDGED, STARTUP_MOST, TRANSIENT, UNKNOWN, fmt_bytes, theil_sen

# a group must carry at least this share of the live heap's growth rate over the same window
MIN_SHARE = 0.10
MIN_SITES = 2               # one site alone is what the per-site bar judges
GROUP_KIND = "thin-growth"


def _grows(v: Sequence[float]) -> float:
    """The site's rate over the later half of `v` when it keeps rising there, else 0."""
    n = len(v)
    if n < 4:
        return 0.0
    half = n // 2
    late = v[half:]
    if late[-1] <= late[0] or late[-1] <= max(v[:half] or [0.0]):
        return 0.0
    d = [late[i] - late[i - 1] for i in range(1, len(late))]
    ups = sum(1 for x in d if x > 0)
    downs = sum(1 for x in d if x < 0)
    if ups < 2 or downs * 2 > ups:
        return 0.0
    slope = theil_sen(late)
    return slope if slope > 0 else 0.0


def _suffix(stacks: list) -> tuple:
    """The longest outer suffix all stacks share (outermost frames last, as the tables keep them)."""
    if not stacks:
        return ()
    common = list(reversed(stacks[0]))
    for st in stacks[1:]:
        rev = list(reversed(st))
        k = 0
        while k < len(common) and k < len(rev) and _same(common[k], rev[k]):
            k += 1
        common = common[:k]
        if not common:
            break
    return tuple(reversed(common))


def _same(a, b) -> bool:
    return (getattr(a, "function", None), getattr(a, "module", None), getattr(a, "file", None),
            getattr(a, "line", None)) == (getattr(b, "function", None), getattr(b, "module", None),
                                         getattr(b, "file", None), getattr(b, "line", None))


def find_groups(sites, series: dict, slices: list, unit: str, *, start: int = 0, end: int | None = None,
                min_bytes_per_iter: float | None = None) -> list[ThinGrowth]:
    """Groups of thin growers in one triaged capture (sites table with verdicts, live bytes per
    site at each judged boundary from `start` on). Material groups have `material` True; their
    member site ids are in `site_ids`."""
    import numpy as np

    from profiler.triage.runverdict import MIN_MATERIAL_BYTES_PER_ITER

    bar = MIN_MATERIAL_BYTES_PER_ITER if min_bytes_per_iter is None else min_bytes_per_iter
    if not series or len(slices) - start < 4:
        return []
    m = len(slices)
    if unit == "slice":
        # time slices: growth must go on through the last third of the active run, as for one site;
        # with start-up over most of the run nothing is left to judge
        m = min(m, end or m)
        if start > STARTUP_MOST * m:
            return []
        start = max(start, m - max(MIN_JUDGED, m // 3))
    rows = {}
    for r in sites[["site_id", "verdict", "module", "category", "stack", "live_bytes_end"]].itertuples(index=False):
        sid, verdict, module, category, stack, live_end = r
        v = series.get(int(sid))
        if v is None or verdict in (TRANSIENT, UNKNOWN):
            continue
        w = v[start:m]
        rate = _grows(w)
        if rate <= 0 or (verdict == LEAK and rate >= bar):
            continue        # not growing, or a leak that is material on its own
        key = (module if isinstance(module, str) else None, category if isinstance(category, str) else "unknown")
        rows.setdefault(key, []).append((int(sid), rate, stack or (), float(live_end or 0)))
    total = np.asarray([series[k] for k in series], dtype=float).sum(axis=0)[start:m]
    heap_rate = theil_sen(total[len(total) // 2:]) if total.size >= 4 else 0.0
    groups = []
    for (module, category), members in rows.items():
        if len(members) < MIN_SITES:
            continue
        rate = float(sum(m[1] for m in members))
        suffix = _suffix([m[2] for m in members])
        caller = suffix[0] if suffix else None
        share = rate / heap_rate if heap_rate > 0 else 0.0
        material = rate >= bar and heap_rate > 0 and share >= MIN_SHARE
        cname = (caller.function or caller.label()) if caller is not None else None
        groups.append(ThinGrowth(
            kind=GROUP_KIND,
            module=module,
            category=category,
            caller=cname,
            caller_frame=caller.label() if caller is not None else None,
            common_stack=tuple(f.label() for f in suffix[:8]),
            sites=len(members),
            site_ids=tuple(sorted(m[0] for m in members)),
            slope_bytes_per_iter=rate,
            max_site_bytes_per_iter=float(max(m[1] for m in members)),
            live_bytes_end=int(sum(m[3] for m in members)),
            heap_bytes_per_iter=float(heap_rate),
            share_of_heap_growth=share,
            material=bool(material),
            unit=TimelineUnit(unit),
            window=(int(start), int(m)),
        ))
    groups.sort(key=lambda g: (-g.slope_bytes_per_iter, str(g.module)))
    return groups


def label(group: ThinGrowth) -> str:
    """The finding's name: how many sites, under which caller, in which module."""
    import os

    where = f"under {group.caller}" if group.caller else "with no common caller"
    mod = os.path.basename(group.module) if group.module else "?"
    return f"{group.sites} sites {where} ({mod}, thin growth)"


def evidence(group: ThinGrowth) -> str:
    u = group.unit
    return (f"{group.sites} sites in {group.module or '?'} [{group.category}] "
            f"{'under ' + group.caller_frame if group.caller_frame else 'with no common caller'} "
            f"each grow at most {fmt_bytes(group.max_site_bytes_per_iter)}/{u}, under the per-site bar, "
            f"but together {fmt_bytes(group.slope_bytes_per_iter)}/{u}, "
            f"{min(group.share_of_heap_growth, 9.99):.0%} of the live heap's growth "
            f"({fmt_bytes(group.heap_bytes_per_iter)}/{u}): a leak spread thin")


def _groups(capture) -> tuple[ThinGrowth, ...]:
    tri = capture.triage
    return tri.thin_growth if tri is not None else ()


def findings(capture) -> list[SiteBrief]:
    """The material thin-growth groups of a triaged capture as leaking-site briefs (one per group),
    the shape runverdict and the gate list leaking sites in."""
    out = []
    for g in _groups(capture):
        if not g.material:
            continue
        out.append(SiteBrief(
            site=label(g),
            function=label(g),
            caller=g.caller,
            module=g.module,
            category=g.category,
            verdict=LEAK,
            slope_bytes_per_iter=float(g.slope_bytes_per_iter),
            live_bytes_end=int(g.live_bytes_end),
            peak_bytes=None,
            leak_kind=None,
            evidence=evidence(g),
            backend=capture.format,
            unit=g.unit,
            group=g.brief(),
        ))
    return out


def grouped_site_ids(capture) -> set[int]:
    return {sid for g in _groups(capture) if g.material for sid in g.site_ids}
