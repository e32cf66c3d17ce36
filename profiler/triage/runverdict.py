"""The run's verdict: join the RSS series with the triaged sites and say what grew and why.

An RSS slope alone cannot tell a leak from a pool still filling, and a site
table alone cannot see memory no allocation site holds (glibc keeping freed
arenas, file-backed pages, objects waiting for Python's cyclic collector).
Put together they can: a site whose live bytes keep growing is a leak whatever
RSS does; RSS that grows while no site's live bytes do is growth OUTSIDE the
heap sites, and the RSS decomposition (when the run recorded it) says which
part of memory it sits in.

Order of evidence (`evidence_basis`, strongest first): per-site live bytes over a capture's
timeline ("site timeline"; a capture without one, memcheck's records at exit, is "capture
leak records"), then what the series says (analysis: "heap floor after reclaims",
"collection probe", "rss shape"). A capture that finds no growing site outweighs a rising
RSS line: the growth is named for what the RSS decomposition says it is (allocator
retention, file-backed pages, garbage awaiting Python's collector, memory outside the
heap) and the verdict is not leak: plateau when the part is one that is not live memory
or the series' own heap evidence says plateau, else inconclusive, with what would settle it.
"""
from __future__ import annotations

import math

from profiler.constants import MB
from profiler.fmt import fmt_pct
from profiler.results.series import SeriesAnalysis
from profiler.results.sites import CaptureSummary, CategoryFigures, GrowthNamed, RunVerdict, SiteBrief, TimelineUnit
from profiler.triage.growth import LEAK, SEVERITY, fmt_bytes

# RSS growth counts as "explained" by the sites when they account for at least this share of it
EXPLAINED_SHARE = 0.5
MAX_NAMED = 5
# A site that grows by less than this per iteration (1 MiB per 1000 iterations) is minor growth:
# reported, but it does not make the run a leak (a few interned strings are not an OOM in waiting).
MIN_MATERIAL_BYTES_PER_ITER = 1024
# Without iteration records sites grow per slice of time: they are minor when what they add in all
# over the capture's slices is under this share of its peak heap and under this many bytes (the
# fixed ujson 5.12.1's interned strings: 32 KiB, 1%; the leaking releases in tests/corpus: 1.4 MiB
# and more, 18% to 91%)
MIN_SLICE_GROWTH_SHARE = 0.05
MIN_SLICE_GROWTH_BYTES = 1 << 20

# a site timeline needs this many iteration boundaries before "no site keeps growing" says anything
MIN_STEPS_FOR_GROWTH = 2

SITE_TIMELINE = "site timeline"
CAPTURE_RECORDS = "capture leak records"


def is_material(site: SiteBrief, min_bytes_per_iter: float = MIN_MATERIAL_BYTES_PER_ITER) -> bool:
    """A leaking site matters when it grows at least `min_bytes_per_iter`; a leak judged without a
    timeline (memcheck's loss records) has no rate and always matters; a rate per time slice is
    judged with the rest of its capture's (minor_slice_sites)."""
    slope = site.slope_bytes_per_iter or 0.0
    if site.unit != TimelineUnit.ITERATION or not slope:
        return True
    return slope >= min_bytes_per_iter and not unsettled(site, min_bytes_per_iter)


def unsettled(site: SiteBrief, min_bytes_per_iter: float = MIN_MATERIAL_BYTES_PER_ITER) -> bool:
    """A per-iteration leak whose rate is over the minor bar but whose 95% interval reaches below it
    (a few late iterations, uneven steps): whether it is material is not known."""
    low = site.slope_low_bytes_per_iter
    return (site.unit == TimelineUnit.ITERATION and low is not None and min_bytes_per_iter > 0
            and (site.slope_bytes_per_iter or 0.0) >= min_bytes_per_iter > low)


def minor_slice_sites(sites, scale: tuple[int | None, float | None],
                      min_bytes_per_iter: float = MIN_MATERIAL_BYTES_PER_ITER) -> set[str]:
    """The labels of one capture's leaking sites judged per time slice (no iteration records) that
    are minor: together, at their late rates over the capture's slice steps, they add less than
    MIN_SLICE_GROWTH_BYTES and less than MIN_SLICE_GROWTH_SHARE of its peak heap. A slice has no
    work to rate growth by, so the bar is on what the sites add in all (a leak spread over many
    sites adds up) against both the heap and an absolute size (a large set-up heap hides nothing).
    min_bytes_per_iter <= 0 (`check --min-growth 0`) makes nothing minor."""
    steps, peak = scale
    per_slice = [d for d in sites if d.unit == TimelineUnit.SLICE and d.slope_bytes_per_iter]
    if not per_slice or min_bytes_per_iter <= 0 or not steps or steps < 2 or not peak:
        return set()
    grown = sum(d.slope_bytes_per_iter for d in per_slice) * (steps - 1)
    if grown >= MIN_SLICE_GROWTH_BYTES or grown >= MIN_SLICE_GROWTH_SHARE * float(peak):
        return set()
    return {d.site for d in per_slice}


def _doubtful_sentence(sites: list[SiteBrief]) -> str:
    """Sites whose rate is over the minor bar with an interval reaching under it, named with both."""
    return (f"{len(sites)} site(s) grow at {fmt_bytes(MIN_MATERIAL_BYTES_PER_ITER)}/iteration or more, but the "
            "95% interval of the rate reaches below that (few or uneven steps): "
            + ", ".join(f"{_name(d)} {fmt_bytes(d.slope_bytes_per_iter)}/iteration, from "
                        f"{fmt_bytes(max(d.slope_low_bytes_per_iter or 0.0, 0.0))}" for d in sites[:MAX_NAMED])
            + "; a leak or minor growth: more iterations narrow it")


def _slice_growth(sites: list[SiteBrief], scale_of: dict) -> str:
    """Each site's late rate per slice and what it adds at that rate over the slice steps, then
    their sum against the peak heap."""
    parts = []
    total = sum(d.slope_bytes_per_iter * (scale_of[d.site][0] - 1) for d in sites)
    for d in sites[:MAX_NAMED]:
        steps, peak = scale_of[d.site]
        grown = d.slope_bytes_per_iter * (steps - 1)
        parts.append(f"{_name(d)} {fmt_bytes(d.slope_bytes_per_iter)}/slice late in the run, "
                     f"{fmt_bytes(grown)} at that rate over {steps - 1} slice steps")
    steps, peak = scale_of[sites[0].site]
    return (", ".join(parts) + f"; in all {total / float(peak):.0%} of a {fmt_bytes(peak)} peak heap, under "
            f"{MIN_SLICE_GROWTH_SHARE:.0%} of it and under {fmt_bytes(MIN_SLICE_GROWTH_BYTES)}")


def growth_scale(capture) -> tuple[int | None, float | None]:
    """(slices triage judged, peak heap bytes) of a capture: what a per-slice rate is held against."""
    tri = capture.triage
    return (tri.judged_steps if tri is not None else None), (_f(_peak_heap(capture.totals)) or None)


def _peak_heap(totals: dict | None):
    """The capture's peak heap as its tool states it (memray calls it the peak memory)."""
    totals = totals or {}
    return totals.get("peak_heap_bytes", totals.get("peak_memory_bytes"))


def _summary_scale(summ: CaptureSummary) -> tuple[int | None, float | None]:
    """growth_scale's pair from a capture's summary."""
    return summ.judged_steps, (_f(summ.peak_heap_bytes) or None)


def _f(x) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return 0.0
    return 0.0 if math.isnan(v) else v


def judged_unit(capture) -> TimelineUnit:
    """The unit triage judged the capture's sites in (iteration when it judged none over a timeline:
    a leak record at exit is per run)."""
    tri = capture.triage
    return tri.timeline_unit if tri is not None and tri.timeline_unit is not None else TimelineUnit.ITERATION


def _has_peaks(capture) -> bool:
    s = capture.sites
    return len(s) > 0 and "peak_bytes" in s and s["peak_bytes"].notna().any() and float(s["peak_bytes"].fillna(0).sum()) > 0


def capture_summary(capture, top: int = 5) -> CaptureSummary:
    """Per-capture figures the report and the run verdict share."""
    s = capture.sites
    unit = judged_unit(capture)
    has_peak = _has_peaks(capture)
    weight_col = "peak_bytes" if has_peak else "live_bytes_end"
    by_cat: dict[str, CategoryFigures] = {}
    if len(s):
        for cat, g in s.groupby(s["category"].fillna("unknown"), sort=False):
            # growth = what the leaking sites add per iteration; a pool's or a transient's slope
            # over a few boundaries is not growth without bound and would only blur the sum
            by_cat[str(cat)] = CategoryFigures(
                peak_bytes=int(g["peak_bytes"].fillna(0).sum()) if has_peak else None,
                live_bytes_end=int(g["live_bytes_end"].fillna(0).sum()),
                slope_bytes_per_iter=float(g.loc[g["verdict"] == LEAK, "slope_bytes_per_iter"].fillna(0).sum()),
                sites=int(len(g)),
                verdicts={str(k): int(v) for k, v in g["verdict"].value_counts().items()},
            )
    order = sorted(by_cat, key=lambda c: (-(by_cat[c].peak_bytes or by_cat[c].live_bytes_end), c))
    leaking: list[SiteBrief] = []
    if len(s):
        from profiler.triage import thin   # a leak spread thin over many sites: one finding per group

        lk = s[(s["verdict"] == LEAK) & ~s["site_id"].isin(thin.grouped_site_ids(capture))]
        lk = lk.sort_values(["slope_bytes_per_iter", "live_bytes_end"], ascending=False)
        for r in lk.to_dict("records"):
            leaking.append(site_brief(r, capture, unit))
        leaking = sorted(leaking + thin.findings(capture), key=lambda d: -d.slope_bytes_per_iter)
    top_sites = []
    if len(s):
        for r in s.sort_values(weight_col, ascending=False).head(top).to_dict("records"):
            top_sites.append(site_brief(r, capture, unit))
    totals = capture.totals or {}
    tri = capture.triage
    judged = tri is not None and bool(tri.judged_slices)
    cut = capture.truncated
    return CaptureSummary(
        format=capture.format,
        has_timeline=judged,
        path=capture.path,
        unit=unit,
        weight=weight_col,
        peak_total_bytes=int(s["peak_bytes"].fillna(0).sum()) if has_peak and len(s) else None,
        peak_heap_bytes=_peak_heap(totals),
        live_end_total_bytes=int(s["live_bytes_end"].fillna(0).sum()) if len(s) else 0,
        categories={c: by_cat[c] for c in order},
        peak_by_category={c: (by_cat[c].peak_bytes if has_peak else by_cat[c].live_bytes_end) for c in order},
        growth_by_category={c: by_cat[c].slope_bytes_per_iter for c in order},
        verdicts={str(k): int(v) for k, v in s["verdict"].value_counts().items()} if len(s) else {},
        leaking_sites=tuple(leaking),
        top_sites=tuple(top_sites),
        judged_steps=tri.judged_steps if judged else None,
        iterations=tri.iterations if tri is not None else None,
        truncated=(cut.summary or None) if cut is not None else None,
    )


def too_short(summ: CaptureSummary) -> bool:
    """A capture that cannot see a site grow or level off: its timeline judged fewer than
    MIN_STEPS_FOR_GROWTH iteration boundaries, or it was cut before the run completed one."""
    if summ.truncated and summ.iterations == 0:
        return True
    return (summ.has_timeline and summ.unit == TimelineUnit.ITERATION
            and (summ.judged_steps or 0) < MIN_STEPS_FOR_GROWTH)


def _short_text(short: list[CaptureSummary]) -> str:
    """'the heaptrack capture stops before the run completed an iteration (...)': what each short
    capture saw, and what would settle it."""
    parts = []
    for summ in short:
        if summ.iterations == 0 or not summ.judged_steps:
            seen = "stops before the run completed an iteration"
        else:
            seen = f"sees only {summ.judged_steps} iteration boundar{'y' if summ.judged_steps == 1 else 'ies'}"
        cut = f" ({summ.truncated.split(': ', 1)[-1]})" if summ.truncated else ""
        parts.append(f"the {summ.format} capture {seen}{cut}")
    return (f"{'; '.join(parts)}: too short to see any site grow or level off; a run that completes at least "
            f"{MIN_STEPS_FOR_GROWTH} iterations under the profiler (run it again and let it finish) would settle it")


def _str(x):
    return x if isinstance(x, str) else None


def site_brief(r: dict, capture, unit: TimelineUnit) -> SiteBrief:
    """A row of a triaged capture's sites table as the run verdict and the gate list it."""
    return SiteBrief(
        site=r["site"],
        function=_str(r["function"]),
        module=_str(r["module"]),
        category=r["category"],
        verdict=r["verdict"],
        slope_bytes_per_iter=_f(r["slope_bytes_per_iter"]),
        live_bytes_end=int(_f(r["live_bytes_end"])),
        peak_bytes=int(_f(r["peak_bytes"])) if r["peak_bytes"] == r["peak_bytes"] else None,
        leak_kind=r["leak_kind"],
        evidence=r["evidence"],
        backend=capture.format,
        unit=unit,
        slope_low_bytes_per_iter=_float_or_none(r.get("slope_low_bytes_per_iter")),
        live_bytes_probe=_probe_bytes(r.get("live_bytes_probe")),
        probe_collected=bool(r["probe_collected"]) if r.get("probe_collected") in (True, False) else None,
        probe_freed_bytes=_probe_bytes(r.get("probe_freed_bytes")),
    )


def _float_or_none(x) -> float | None:
    """A float column's value, None where the row has none (NaN or absent)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def _probe_bytes(x) -> int | None:
    v = _float_or_none(x)
    return None if v is None else int(v)


def _name(site: SiteBrief) -> str:
    return site.name


def _pct(part: float, whole: float) -> str:
    return fmt_pct(part, whole, missing="n/a")


def rss_rate(series: SeriesAnalysis) -> float:
    """The RSS growth rate the verdict rests on, MB per iteration: the envelope's trough rate for a
    sawtooth (a straight line through teeth only says where the run stopped within a tooth), the
    growth phase's Theil-Sen slope when there is one, else the stable-phase OLS slope."""
    late = series.late_phase
    if late is not None and (late.basis == "envelope" or late.name == "growth"):
        if late.theil_sen_mb_per_iter is not None:
            return _f(late.theil_sen_mb_per_iter)
    return _f(series.slope_mb_per_iter)


def _rss_growing(series: SeriesAnalysis | None) -> bool:
    if series is None:
        return False
    if series.verdict == "leak":
        return True
    if series.late_phase is not None and series.late_phase.basis == "envelope":
        return False  # the envelope test already judged the trend: troughs do not rise
    ci = series.slope_ci_mb or []
    return bool(len(ci) == 2 and ci[0] is not None and _f(ci[0]) > 0)


_rss_slope = rss_rate


def run_verdict(series: SeriesAnalysis | None, captures: list, *, probe_state: dict | None = None) -> RunVerdict:
    """The run's verdict from the series (analyze_series' result, or None) and the triaged captures.
    `probe_state`: meta.json's backend.probe_state (whether the Valgrind hooks took the tool's state
    after the collection probe, and why not), None when no run directory records it."""
    summaries = [capture_summary(c) for c in captures]
    evidence: list[str] = []
    leaking: dict[str, SiteBrief] = {}
    scale_of: dict[str, tuple] = {}
    for summ in summaries:
        for site in summ.leaking_sites:
            key = site.site
            if key not in leaking or site.slope_bytes_per_iter > leaking[key].slope_bytes_per_iter:
                leaking[key] = site
                scale_of[key] = _summary_scale(summ)
    ranked = sorted(leaking.values(), key=lambda d: (-d.slope_bytes_per_iter, -d.live_bytes_end))
    minor_slices: set[str] = set()
    for summ in summaries:
        minor_slices |= minor_slice_sites(summ.leaking_sites, _summary_scale(summ))
    material = {d.site: is_material(d) and d.site not in minor_slices for d in ranked}
    leaking_sites = [d for d in ranked if material[d.site]]
    minor_sites = [d for d in ranked if not material[d.site]]
    collected, freed_mb = probe_collected(series, leaking_sites)
    if collected:
        leaking_sites = [d for d in leaking_sites if d not in collected]
    by_state = bool(collected) and all(d.probe_collected for d in collected)

    primary = next((s for s in summaries if s.peak_total_bytes), summaries[0] if summaries else None)
    peak_by_category = dict(primary.peak_by_category) if primary else {}
    growth_by_category = dict(primary.growth_by_category) if primary else {}

    for summ in summaries:
        evidence.append(_capture_sentence(summ))
        if summ.peak_total_bytes:
            evidence.append(_peak_sentence(summ))

    doubtful = [d for d in minor_sites if unsettled(d)]
    per_iter = [d for d in minor_sites if d.unit == TimelineUnit.ITERATION and d not in doubtful]
    per_slice = [d for d in minor_sites if d.unit != TimelineUnit.ITERATION]
    if doubtful:
        evidence.append(_doubtful_sentence(doubtful))
    if per_iter:
        evidence.append(
            f"minor growth, not counted as a leak: {len(per_iter)} site(s) grow less than "
            f"{fmt_bytes(MIN_MATERIAL_BYTES_PER_ITER)}/iteration (under 1 MiB per 1000 iterations): "
            + ", ".join(f"{_name(d)} {fmt_bytes(d.slope_bytes_per_iter)}/{d.unit}" for d in per_iter[:MAX_NAMED]))
    if per_slice:
        evidence.append(
            f"minor growth, not counted as a leak: {len(per_slice)} site(s) grow per time slice by little: "
            f"{_slice_growth(per_slice, scale_of)}")

    rss_growing = _rss_growing(series)
    site_growth_mb = sum(d.slope_bytes_per_iter for d in leaking_sites if d.unit == TimelineUnit.ITERATION) / MB
    if series is not None:
        ci = series.slope_ci_mb
        evidence.append(
            f"RSS series: verdict {series.verdict}, slope {_rss_slope(series):+.3g} MB/iteration"
            + (f" (95% CI [{_f(ci[0]):+.3g}, {_f(ci[1]):+.3g}])" if ci and None not in ci else ""))

    outside = None
    if rss_growing:
        rss_slope = _rss_slope(series)
        if captures and site_growth_mb < EXPLAINED_SHARE * max(rss_slope, 0.0):
            outside = max(rss_slope - site_growth_mb, 0.0)
            evidence.append(_outside_sentence(series, rss_slope, site_growth_mb, outside))
        elif captures and rss_slope > 0:
            cats = sorted({d.category for d in leaking_sites})
            evidence.append(
                f"the leaking sites ({', '.join(cats)}) add {site_growth_mb:.3g} MB/iteration, "
                f"{min(site_growth_mb / rss_slope, 9.99):.0%} of the RSS slope {rss_slope:+.3g} MB/iteration: "
                f"the growth is theirs")

    short = [summ for summ in summaries if too_short(summ)]
    timeline = any(summ.has_timeline for summ in summaries if summ not in short)
    unknown = sum(int(summ.verdicts.get("unknown") or 0) for summ in summaries)
    cap_basis = SITE_TIMELINE if timeline else CAPTURE_RECORDS
    named = None
    if leaking_sites:
        verdict, basis = "leak", cap_basis
        basis_sentence = (f"{basis}: {len(leaking_sites)} site(s) whose live bytes keep growing ("
                          + ", ".join(f"{_name(d)} {fmt_bytes(d.slope_bytes_per_iter)}/{d.unit}"
                                      if d.slope_bytes_per_iter else _name(d) for d in leaking_sites[:MAX_NAMED])
                          + "): a leak, whatever RSS does")
    elif collected and by_state:
        # the capture's state after the probe decided it, whatever the RSS shape alone says
        verdict, basis = "plateau", PROBE_BASIS
        basis_sentence = f"{basis}: {_state_sentence(collected, series, freed_mb)}"
    elif collected:
        # the heap floor (probe included) decided it, whatever the RSS shape alone says
        floor = series.heap_floor
        verdict, basis = "plateau", (floor.basis if floor is not None and floor.basis else "collection probe")
        grew = sum(d.slope_bytes_per_iter for d in collected) / MB
        basis_sentence = (
            f"{basis}: over the iteration boundaries the capture sees {len(collected)} site(s) grow ("
            + ", ".join(f"{_name(d)} {fmt_bytes(d.slope_bytes_per_iter)}/{d.unit}" for d in collected[:MAX_NAMED])
            + f", {grew:.3g} MB/iteration in all), but after the loop the collection probe's full gc.collect() "
            f"gave back {freed_mb:.2f} MB of heap in use and the heap is back at its floor: that growth was "
            f"garbage awaiting Python's cyclic collector, not a leak ({floor.sentence if floor is not None else series.basis_sentence})")
    elif doubtful:
        verdict, basis = "inconclusive", cap_basis
        basis_sentence = f"{basis}: {_doubtful_sentence(doubtful)}"
        evidence.remove(_doubtful_sentence(doubtful))      # it leads the evidence as the basis
    elif per_slice:
        # steady growth too small to call a leak over this run, too steady to call a plateau: a
        # slice of time has no work to rate it by
        verdict, basis = "inconclusive", cap_basis
        basis_sentence = (f"{basis}: {len(per_slice)} site(s) keep growing slice after slice, but by little "
                          f"({_slice_growth(per_slice, scale_of)}): a table still filling or a small leak; "
                          "iteration records (memprof_marks) would rate it per iteration, a longer run would "
                          "show whether it stops")
    elif short and len(short) == len(summaries) and series is None:
        # a capture cut inside the first iterations (or a one-iteration run) shows no growth because
        # it had no time to: that is not a plateau
        verdict = "inconclusive"
        basis = SITE_TIMELINE if any(s.has_timeline for s in short) else CAPTURE_RECORDS
        basis_sentence = f"{basis}: {_short_text(short)}"
    elif summaries and (timeline or series is None or unknown):
        # a capture without a timeline (memcheck's records at exit) cannot see growth during the run:
        # its "nothing leaks at exit" outweighs the series only where there is no series
        basis = cap_basis
        sv = series.verdict if series is not None else None
        if unknown:
            # a site whose growth the capture cannot judge (no iteration count) leaves the run undecided
            verdict = "inconclusive"
            basis_sentence = (f"{basis}: no site is seen to keep growing, but the growth of {unknown} site(s) "
                              f"cannot be judged from this capture (no iteration count); "
                              f"`--scale A,B` would settle it")
        elif series is None or sv == "plateau":
            verdict = "plateau"
            basis_sentence = f"{basis}: no allocation site's live bytes keep growing"
            if series:
                basis_sentence += f"; the series agrees ({series.evidence_basis or 'rss shape'}: " \
                                  f"{series.basis_sentence or sv})"
        else:
            named = name_growth(series)
            verdict = named.verdict
            basis_sentence = (f"{basis}: no allocation site's live bytes keep growing, so the RSS series' "
                              f"{sv} ({_rss_slope(series):+.3g} MB/iteration) is not a leak: {named.sentence}")
    elif series is not None:
        verdict = series.verdict or "inconclusive"
        basis = series.evidence_basis or "rss shape"
        basis_sentence = series.basis_sentence or f"series verdict {verdict}"
    else:
        verdict, basis, basis_sentence = "inconclusive", None, "nothing to judge"
    evidence.insert(0, basis_sentence)
    explained = _explained(verdict, series, leaking_sites, summaries, site_growth_mb, outside)
    if doubtful and not leaking_sites and not collected:
        explained = (f"Undecided: {len(doubtful)} site(s) grow near {fmt_bytes(MIN_MATERIAL_BYTES_PER_ITER)}"
                     f"/iteration ({', '.join(_name(d) for d in doubtful[:MAX_NAMED])}), too unevenly to tell "
                     "whether above or below it; run more iterations.")
    elif per_slice and not leaking_sites and not collected:
        explained = (f"Undecided: {len(per_slice)} site(s) grow steadily but by little "
                     f"({', '.join(_name(d) for d in per_slice[:MAX_NAMED])}); record iterations or run longer "
                     "to tell a table still filling from a leak.")
    if short and not leaking_sites and not collected:
        if verdict == "inconclusive" and series is None:
            explained = f"Inconclusive: {_short_text(short)}."
        else:
            evidence.append(_short_text(short))
    if collected and leaking_sites:
        evidence.append(f"not counted as a leak: {_state_sentence(collected, series, freed_mb)}")
    elif collected:
        explained = (f"No leak: the {len(collected)} site(s) that grew over the iteration boundaries "
                     f"({', '.join(_name(d) for d in collected[:MAX_NAMED])}) held garbage that the collection "
                     f"probe's gc.collect() freed ("
                     + (f"{freed_mb:.2f} MB of their live bytes in the capture's state after it" if by_state
                        else f"{freed_mb:.2f} MB of heap in use") + ").")
    if named:
        explained = (f"No allocation site leaks, yet RSS grows: {outside:.3g} MB/iteration sits outside any live "
                     f"site: {named.sentence}." if outside else f"No allocation site leaks: {named.sentence}.")
    gc_info = series.gc if series is not None else None
    kept = [d for d in leaking_sites if d.probe_collected is False]
    if leaking_sites and len(kept) == len(leaking_sites):
        # the capture saw them through the probe's full collection: the GC caveat is answered
        evidence.append(f"{len(kept)} leaking site(s) keep their bytes through the collection probe's full "
                        f"gc.collect() (the capture's state after it: "
                        + ", ".join(f"{_name(d)} {fmt_bytes(_f(d.live_bytes_probe))}" for d in kept[:MAX_NAMED])
                        + "): not garbage awaiting Python's collector")
    elif leaking_sites and gc_info is not None and not gc_info.full_collections:
        missing = _no_probe_state(captures, probe_state)
        if missing:
            evidence.append(missing)
        evidence.append(gc_info.caveat)
        explained += " Caveat: " + gc_info.caveat + "." + (f" {missing[0].upper()}{missing[1:]}." if missing else "")
    return RunVerdict(
        verdict=verdict,
        evidence_basis=basis,
        basis_sentence=basis_sentence,
        growth_named=named,
        collected_by_probe=tuple(collected),
        evidence=tuple(evidence),
        peak_by_category=peak_by_category,
        growth_by_category=growth_by_category,
        growth_unit=f"bytes per {primary.unit}" if primary else "bytes per iteration",
        leaking_sites=tuple(leaking_sites),
        minor_growth_sites=tuple(minor_sites),
        site_growth_mb_per_iter=site_growth_mb,
        growth_outside_sites_mb_per_iter=outside,
        explained=explained,
        captures=tuple(summaries),
    )


def probe_collected(series: SeriesAnalysis | None, leaking: list[SiteBrief]) -> tuple[list[SiteBrief], float]:
    """The leaking sites whose growth the collection probe gave back: a capture cut at iteration
    boundaries sees garbage awaiting Python's collector grow like a leak (a run shorter than the
    collector's period); the probe's full gc.collect() after the loop is the reclaim the run lacked.
    First the capture's own state after the probe's gc.collect() (triage._mark_probe, the Valgrind
    tools): each site whose growth it gave back, the others stay leaks. Else all of them when the
    series' heap floor, probe included, says plateau and what they grew since the last floor is what
    the probe freed (0.5 to 1.5 times the heap in use it gave back: a small leak beside a large free
    is not excused); else none. Returns (sites, MB freed)."""
    by_state = [d for d in leaking if d.probe_collected]
    if by_state:
        # the capture's own state right after the probe (massif, memcheck under Valgrind, where
        # mallinfo2 sees no heap): per site, what the collection gave back
        return by_state, sum(_f(d.probe_freed_bytes) for d in by_state) / MB
    floor = series.heap_floor if series is not None else None
    probe = series.probe if series is not None else None
    if (floor is None or probe is None or floor.verdict != "plateau" or probe.heap_after_gc_mb is None
            or probe.heap_last_mb is None):
        return [], 0.0
    sites = [d for d in leaking if d.unit == TimelineUnit.ITERATION and d.slope_bytes_per_iter]
    if not sites or len(sites) != len(leaking):
        return [], 0.0
    freed = float(probe.heap_last_mb) - float(probe.heap_after_gc_mb)
    reclaims = [f.iteration for f in floor.floors if f.source == "reclaim"]
    first = series.iterations.first or 1
    since = reclaims[-1] if reclaims else first
    span = max(int(probe.after_iteration) - int(since), 1)
    grew = sum(d.slope_bytes_per_iter for d in sites) / MB * span
    if freed <= 0 or not (0.5 * freed <= grew <= 1.5 * freed):
        return [], freed
    return sites, freed


PROBE_BASIS = "collection probe"
# the captures that can hold a state after the probe (the Valgrind tools, taken through vgdb)
PROBE_STATE_FORMATS = ("massif", "memcheck-timeline")


def _state_sentence(collected: list[SiteBrief], series: SeriesAnalysis | None, freed_mb: float) -> str:
    """Why the sites the capture's state after the probe cleared are not leaks."""
    grew = sum(d.slope_bytes_per_iter for d in collected) / MB
    after = series.probe.after_iteration if series is not None and series.probe is not None else None
    fmts = ", ".join(sorted({str(d.backend) for d in collected}))
    return (f"over the iteration boundaries the capture sees {len(collected)} site(s) grow ("
            + ", ".join(f"{_name(d)} {fmt_bytes(d.slope_bytes_per_iter)}/{d.unit}" for d in collected[:MAX_NAMED])
            + f", {grew:.3g} MB/iteration in all), but in the {fmts} capture's state right after the collection "
            f"probe's full gc.collect()" + (f" (after iteration {after})" if after is not None else "")
            + " they hold " + ", ".join(f"{fmt_bytes(_f(d.live_bytes_probe))}" for d in collected[:MAX_NAMED])
            + f" ({freed_mb:.2f} MB less than at the last boundary): that growth was garbage awaiting Python's "
            "cyclic collector, not a leak")


def _no_probe_state(captures: list, probe_state: dict | None = None) -> str | None:
    """The sentence saying a Valgrind capture lacks the state after the collection probe, and why
    (from meta.json's backend.probe_state, `probe_state`), or None."""
    lacking = sorted({c.format for c in captures if c.format in PROBE_STATE_FORMATS and c.probe is None})
    if not lacking:
        return None
    return (f"the {', '.join(lacking)} capture holds no state after the collection probe "
            f"({_why_no_probe_state(probe_state)}), so it cannot tell garbage the collector frees from a leak; "
            "the verdict rests on the iteration boundaries alone")


def _why_no_probe_state(probe_state: dict | None) -> str:
    if not isinstance(probe_state, dict):
        return ("nothing records whether vgdb took one: a capture analysed without its run directory, or a run "
                "made before memprof recorded it in meta.json")
    if probe_state.get("taken"):
        return (f"vgdb took it ({probe_state.get('file') or probe_state.get('how') or 'the probe state'}) but it "
                "is not readable beside this capture")
    how = f" ({probe_state['how']})" if probe_state.get("how") else ""
    return f"vgdb did not take it{how}: {probe_state.get('why') or 'no reason recorded'}"


# what the RSS decomposition's largest growing part is, and whether it can be live memory
_PARTS = {
    "heap_free_retained_mb": ("allocator retention: memory the program freed and glibc keeps for reuse "
                              "(malloc_trim would return it)", "plateau"),
    "file_mb": ("file-backed pages: mapped files (models, libraries) that the kernel can drop", "plateau"),
    "heap_in_use_mb": ("heap in use that no site holds live: objects awaiting Python's cyclic garbage collector",
                       None),
    "other_anon_mb": ("anonymous memory outside the malloc heap (mmap'd buffers, thread stacks), which a heap "
                      "profiler may not attribute", "inconclusive"),
    "unexplained_mb": ("memory outside the parts the records break RSS into", "inconclusive"),
}


def name_growth(series: SeriesAnalysis) -> GrowthNamed:
    """The growth no site holds, named from the series' decomposition,
    collection probe and GC counters; never a leak (no site grows)."""
    settle = ("a longer run (past several collections), `memprof run --collect-garbage`, or a run that records "
              "the collection probe would settle it")
    probe, floor, dg = series.probe, series.heap_floor, series.decomposition_growth
    part = dg.largest if dg is not None else None
    if floor is not None and floor.verdict == "plateau":
        return GrowthNamed(verdict="plateau", part=part,
                           sentence=f"the heap returns to its floor ({floor.sentence})")
    if not part:
        return GrowthNamed(verdict="inconclusive", part=None,
                           sentence=("the records carry no RSS decomposition (heap in use, allocator retention, "
                                     "file pages) to say what grew; " + settle))
    text, v = _PARTS.get(part, _PARTS["unexplained_mb"])
    gc_info = series.gc
    if part == "heap_in_use_mb":
        if probe is not None and probe.heap_after_gc_mb is not None:
            v = "inconclusive"
            text = ("heap in use that survived the collection probe's full gc.collect(), yet no site holds it "
                    "live (the capture and mallinfo2 disagree)")
        elif gc_info is not None and not gc_info.full_collections:
            v = "inconclusive"
            text += "; no full collection ran, so that is what it most likely is"
        else:
            v = "inconclusive"
    sentence = f"the growth is {text}" + (f" ({dg.sentence})" if dg is not None and dg.sentence else "")
    if v != "plateau":
        sentence += "; " + settle
    return GrowthNamed(verdict=v, part=part, sentence=sentence)


def _capture_sentence(summ: CaptureSummary) -> str:
    counts = summ.verdicts
    total = sum(counts.values())
    parts = ", ".join(f"{counts[v]} {v}" for v in sorted(counts, key=lambda v: -SEVERITY.get(v, 0)))
    head = f"{summ.format}: {total} sites ({parts})" if total else f"{summ.format}: no allocation sites"
    lk = summ.leaking_sites
    if not lk:
        return head + "; no site's live bytes keep growing."
    named = "; ".join(
        f"{_name(d)} [{d.category}] "
        + (f"{fmt_bytes(d.slope_bytes_per_iter)}/{d.unit}" if d.slope_bytes_per_iter else
           f"{fmt_bytes(d.live_bytes_end)} {d.leak_kind or 'live'} at exit")
        for d in lk[:MAX_NAMED])
    more = f" and {len(lk) - MAX_NAMED} more" if len(lk) > MAX_NAMED else ""
    return f"{head}; leaking: {named}{more}."


def _peak_sentence(summ: CaptureSummary) -> str:
    peak = summ.peak_total_bytes
    cats = [(c, b) for c, b in summ.peak_by_category.items() if b]
    parts = ", ".join(f"{c} {fmt_bytes(b)} ({_pct(b, peak)})" for c, b in cats[:6])
    tops = [d for d in summ.top_sites if d.peak_bytes][:3]
    top = "; largest sites: " + ", ".join(f"{_name(d)} {fmt_bytes(d.peak_bytes)} [{d.verdict}]" for d in tops) \
        if tops else ""
    return f"{summ.format} heap peak {fmt_bytes(peak)}: {parts}{top}."


def _outside_sentence(series: SeriesAnalysis, rss_slope: float, site_mb: float, outside: float) -> str:
    dg = series.decomposition_growth
    s = (f"RSS grows {rss_slope:+.3g} MB/iteration but the live allocation sites grow only "
         f"{site_mb:.3g} MB/iteration: {outside:.3g} MB/iteration sits OUTSIDE any live site")
    if dg is not None and dg.sentence:
        return f"{s}; {dg.sentence}"
    return (s + " (allocator retention of freed memory, file-backed pages, memory not seen by the heap "
            "profiler such as mmap, or objects waiting for Python's cyclic GC; record the RSS "
            "decomposition to tell which).")


def _explained(verdict: str, series, leaking: list, summaries: list, site_mb: float, outside) -> str:
    if leaking:
        names = ", ".join(_name(d) for d in leaking[:MAX_NAMED])
        cats = sorted({d.category for d in leaking})
        rate = f" adding {site_mb:.3g} MB/iteration" if site_mb else ""
        tail = ""
        if outside:
            tail = f"; RSS grows {outside:.3g} MB/iteration more outside any live site"
        return (f"Leak: {len(leaking)} leaking site(s){rate}: {names} "
                f"(categories: {', '.join(cats)}){tail}.")
    if outside:
        return (f"No allocation site leaks, yet RSS grows: {outside:.3g} MB/iteration sits outside any live "
                f"site (allocator retention, file-backed pages, or objects awaiting Python's GC).")
    if summaries:
        primary = next((s for s in summaries if s.peak_total_bytes), summaries[0])
        cats = list(primary.peak_by_category.items())
        top = ", ".join(f"{c} {fmt_bytes(b)}" for c, b in cats[:3] if b)
        pools = sum(s.verdicts.get("pool", 0) for s in summaries)
        return (f"No site keeps growing ({pools} pool site(s) plateau); the peak is held by {top}."
                if top else "No site keeps growing.")
    if series is not None:
        return f"Series verdict {verdict}; no capture to name sites."
    return "Nothing to judge."
