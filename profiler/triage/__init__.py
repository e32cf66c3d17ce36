"""Triage: name each allocation site by the rules, give it a category and a growth verdict.

    load_rules(extra=())                 the shipped TOML rules plus the user's (theirs first)
    triage_capture(capture, rules)       re-named, merged sites with category/verdict/slope/evidence
    run_verdict(series, captures)        the run's verdict joining the RSS series with the sites
"""
from __future__ import annotations

from profiler.fmt import num
from profiler.results.sites import TimelineUnit
from profiler.results.sites import ThinGrowth
from profiler.tables import CaptureTriage, ProbeState
from profiler.triage.rules import CATEGORIES, Rules, load_rules
from profiler.triage.runverdict import capture_summary, run_verdict

__all__ = ["CATEGORIES", "Rules", "load_rules", "triage_capture", "run_verdict", "capture_summary",
           "timeline_unit", "iteration_count"]


def timeline_unit(capture) -> TimelineUnit:
    """What one step of the capture's timeline is, as the parser that cut it said."""
    return capture.unit or TimelineUnit.SLICE


def iteration_count(capture) -> int | None:
    """How many iterations the captured run had, when the capture says so: its own count (a leak
    check per iteration), else the iterations its timeline is cut at. The pipeline passes the run's
    count from the iteration records (triage reads no files)."""
    if capture.iterations:
        return int(capture.iterations)
    tl = capture.timeline
    if tl is not None and len(tl) and timeline_unit(capture) is TimelineUnit.ITERATION:
        return int(tl["slice"].nunique())
    return None


def _loss_kinds(capture, id_map: dict) -> dict[int, str]:
    """For each merged site whose blocks memcheck put under several loss kinds, the split in
    memcheck's words ("9 blocks definitely lost (288 KiB), 1 block possibly lost (32.0 KiB)"). The
    parser gives a stack's split (meta loss_kinds_by_site); a site of one kind is its own row."""
    mixed = capture.meta.get("loss_kinds_by_site") if capture.meta else None
    if not mixed:
        return {}
    from profiler.fmt import fmt_bytes
    from profiler.triage.growth import KIND_WORDS
    from profiler.parsers.memcheck import ALL_KINDS

    mixed = {int(k): v for k, v in mixed.items()}
    merged: dict[int, dict[str, list[int]]] = {}
    for rec in capture.sites[["site_id", "live_bytes_end", "alloc_count", "leak_kind"]].itertuples(index=False):
        sid, live, blocks, kind = int(rec[0]), rec[1], rec[2], rec[3]
        own = mixed.get(sid) or ({kind: [int(live), int(blocks)]} if isinstance(kind, str) else {})
        into = merged.setdefault(int(id_map.get(sid, sid)), {})
        for k, (b, n) in own.items():
            acc = into.setdefault(k, [0, 0])
            acc[0] += int(b)
            acc[1] += int(n)
    return {sid: ", ".join(f"{split[k][1]} block{'s' if split[k][1] != 1 else ''} {KIND_WORDS[k]} "
                           f"({fmt_bytes(split[k][0])})" for k in ALL_KINDS if k in split)
            for sid, split in merged.items() if len(split) > 1}


def triage_capture(capture, rules: Rules | None = None, *, iterations: int | None = None):
    """A new Capture whose sites are re-named by the plumbing rules, merged, and judged.

    `iterations` (the run's iteration count) lets memcheck's block counts stand in for a
    timeline; the pipeline knows it from the iteration records."""
    from dataclasses import replace

    import numpy as np

    from profiler.triage import growth, naming, thin

    rules = rules if rules is not None else load_rules()
    sites = naming.rename(capture.sites, rules)
    sites, timeline, id_map = naming.merge(sites, capture.timeline)
    unit = timeline_unit(capture).value
    # 0: the run completed no iteration (its records say so); judged as "no count" where a count is used
    n_iter = iterations if iterations is not None else iteration_count(capture)

    series: dict[int, dict] = {}
    slices: list = []
    if timeline is not None and len(timeline):
        slices = sorted(timeline["slice"].unique().tolist())
        wide = timeline.pivot_table(index="site_id", columns="slice", values="live_bytes",
                                    aggfunc="sum", fill_value=0).reindex(columns=slices, fill_value=0)
        matrix = wide.to_numpy(dtype=float)
        window = active_window(matrix) if unit == "slice" else len(slices)
        if window < len(slices):
            slices = slices[:window]
            matrix = matrix[:, :window]
        series = {int(sid): row for sid, row in zip(wide.index, matrix.tolist())}
        total = matrix.sum(axis=0) if matrix.size else None
        # time slices run on after the work stops: the run's last third is the active run's
        stop = growth.growth_end(total.tolist()) if unit == "slice" and total is not None else None
        start = growth.startup_end(total[:stop] if stop else total) if total is not None else 0
    else:
        start, stop = 0, None

    verdicts, slopes, lows, evidence = [], [], [], []
    split = _loss_kinds(capture, id_map)
    for rec in sites[["site_id", "live_bytes_end", "peak_bytes", "alloc_count", "leak_kind", "category"]].itertuples(
            index=False):
        sid, live_end, peak, count, kind, cat = rec
        if isinstance(kind, str) and kind:
            j = growth.judge_exit_record(kind, count, live_end, n_iter or None, cat)
            if int(sid) in split:     # blocks of several kinds: the verdict names the most severe
                j = growth.Judgement(j.verdict, j.slope_bytes_per_iter, f"{j.evidence}; its blocks: {split[int(sid)]}")
        elif slices:
            v = series.get(int(sid), [0.0] * len(slices))
            if max(v) <= 0 and live_end and live_end > 0:
                j = growth.Judgement(growth.INIT_ONCE, 0.0,
                                     f"never live at {'an iteration' if unit == 'iteration' else 'a slice'} "
                                     f"boundary but {growth.fmt_bytes(live_end)} live at the end: "
                                     f"allocated after the last boundary and kept")
            else:
                j = growth.judge_series(slices, v, peak_bytes=_num(peak), alloc_count=_num(count), unit=unit)
                # start-up (imports, first-time set-up, pools filling) is not growth: a leak must
                # keep growing after the live heap stops climbing steeply
                j = growth.after_startup(j, v, slices, start, unit, end=stop)
        else:
            j = growth.judge_without_timeline(_num(live_end), _num(peak), _num(count))
        verdicts.append(j.verdict)
        slopes.append(float(j.slope_bytes_per_iter))
        lows.append(np.nan if j.slope_low_bytes_per_iter is None else float(j.slope_low_bytes_per_iter))
        evidence.append(j.evidence)
    sites["verdict"] = verdicts
    sites["slope_bytes_per_iter"] = np.asarray(slopes, dtype="float64")
    if not np.isnan(np.asarray(lows, dtype="float64")).all():
        sites["slope_low_bytes_per_iter"] = np.asarray(lows, dtype="float64")
    sites["evidence"] = evidence
    groups = thin.find_groups(sites, series, slices, unit, start=start, end=stop) if slices else []
    _mark_thin(sites, groups, series)
    if capture.probe is not None and slices and unit == "iteration":
        _mark_probe(sites, capture.probe, id_map, series, start, slices)
    meta = dict(capture.meta or {})
    meta["triage"] = CaptureTriage(
        rules=tuple(rules.sources), timeline_unit=TimelineUnit(unit) if slices else None,
        judged_slices=(int(slices[0]), int(slices[-1])) if slices else None, judged_steps=len(slices),
        startup_end=int(slices[start]) if slices and start else None, thin_growth=tuple(groups),
        iterations=n_iter, sites_before_merge=int(len(capture.sites)), sites=int(len(sites)))
    return replace(capture, sites=sites, timeline=timeline, meta=meta)


# a growing site is garbage the collector frees when the collection probe leaves at most this share
# of what it grew (from the end of start-up to the last boundary) still live
PROBE_KEPT_SHARE = 0.1


def _mark_probe(sites, probe: ProbeState, id_map: dict, series: dict, start: int, slices: list) -> None:
    """The capture's state after the collection probe's gc.collect() (capture.probe): each site's
    live bytes there (`live_bytes_probe`), and, for a site judged a leak, whether the collection
    gave its growth back (`probe_collected`: at most PROBE_KEPT_SHARE of it left; `probe_freed_bytes`:
    its bytes at the last boundary minus those at the probe). The verdict
    stays the growth's; the run verdict (runverdict.probe_collected) weighs the probe."""
    from profiler.triage import growth

    live: dict[int, int] = {}
    for old, b in probe.live.items():
        new = id_map.get(int(old), int(old))
        live[new] = live.get(new, 0) + int(b)
    after = probe.after_iteration
    at_probe, collected, freed = [], [], []
    for i, sid, verdict in zip(sites.index, sites["site_id"], sites["verdict"]):
        b = live.get(int(sid), 0)
        at_probe.append(float(b))
        v = series.get(int(sid))
        if verdict != growth.LEAK or not v:
            collected.append(None)
            freed.append(float("nan"))
            continue
        first, last = float(v[min(start, len(v) - 1)]), float(v[-1])
        freed.append(last - b)
        grew = last - first
        ok = bool(grew > 0 and b <= first + PROBE_KEPT_SHARE * grew)
        collected.append(ok)
        where = f"after the collection probe's gc.collect(){f' (after iteration {after})' if after else ''}"
        if ok:
            said = (f"{where} it holds {growth.fmt_bytes(b)}, against {growth.fmt_bytes(first)} at iteration "
                    f"{slices[min(start, len(v) - 1)]} before it grew {growth.fmt_bytes(grew)}: the growth was "
                    "garbage the collector frees, not a leak")
        else:
            said = (f"{where} it still holds {growth.fmt_bytes(b)} of the {growth.fmt_bytes(last)} it had at the "
                    "last boundary: the collection does not give its growth back")
        sites.at[i, "evidence"] = f"{sites.at[i, 'evidence']}; {said}"
    sites["live_bytes_probe"] = at_probe
    sites["probe_collected"] = collected
    sites["probe_freed_bytes"] = freed


def _mark_thin(sites, groups: list[ThinGrowth], series: dict) -> None:
    """The members of a material thin-growth group are leaking, each below the per-site bar: say so
    on each row (the group is the finding)."""
    from profiler.triage import growth, thin

    for g in groups:
        if not g.material:
            continue
        ids = set(g.site_ids)
        rows = sites.index[sites["site_id"].isin(ids)]
        for i in rows:
            a, b = g.window
            rate = thin._grows(series[int(sites.at[i, "site_id"])][a:b])
            sites.at[i, "verdict"] = growth.LEAK
            sites.at[i, "slope_bytes_per_iter"] = float(rate)
            sites.at[i, "evidence"] = (
                f"grows {growth.fmt_bytes(rate)}/{g.unit}, under the per-site bar; one of the {g.sites} sites "
                f"{'under ' + g.caller if g.caller else 'in ' + str(g.module)} that together grow "
                f"{growth.fmt_bytes(g.slope_bytes_per_iter)}/{g.unit} (a leak spread thin, reported as one finding)")


def active_window(matrix) -> int:
    """How many leading time slices to judge growth on (sites x slices matrix of live bytes).

    Time slices (no iteration markers) run to the end of the capture, and a process is often
    idle at the end (the loop is over, the program waits or exits): there every site is flat, and
    a leak would read as a plateau. Judge up to the last slice in which any site changed; a final
    slice in which sites only shrink is the exit tearing things down, not the workload."""
    import numpy as np

    n = matrix.shape[1] if matrix.ndim == 2 else 0
    if n < 4:
        return n
    d = np.diff(matrix, axis=1)
    changed = np.flatnonzero((d != 0).any(axis=0)) + 1       # slice indices that differ from the previous
    if changed.size == 0:
        return n
    last = int(changed[-1])
    if last == n - 1 and not (d[:, -1] > 0).any():
        earlier = changed[changed < n - 1]
        last = int(earlier[-1]) if earlier.size else last
    return max(last + 1, 3)


def _num(x) -> float:
    return num(x, 0.0)
