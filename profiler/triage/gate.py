"""The CI gate behind `memprof check`: which findings fail a build, and which the user allowed.

A site fails when its verdict is `leak` and no --allow pattern names it (a
glob on the site label, the function, or the module's path or file name).
The RSS series fails when its stable-phase slope exceeds --max-slope; a run
with no capture at all (nothing to name sites) fails on the series verdict.
"""
from __future__ import annotations

import fnmatch
import os

from profiler.results.analysis import AnalysisResult
from profiler.results.sites import SiteBrief, TimelineUnit
from profiler.triage.growth import LEAK, fmt_bytes
from profiler.triage.runverdict import MIN_MATERIAL_BYTES_PER_ITER


def _allowed(site: SiteBrief, patterns) -> str | None:
    names = [site.site, site.function, site.module]
    mod = site.module
    if isinstance(mod, str):
        names.append(os.path.basename(mod))
    label = site.site
    if isinstance(label, str) and " <- " in label:
        # an unresolved frame is named after its caller: let the caller's name be allowed too
        caller = label.split(" <- ", 1)[1]
        names.append(caller)
        names.append(caller.split(" (", 1)[0])
    for pat in patterns:
        for n in names:
            if isinstance(n, str) and fnmatch.fnmatchcase(n, pat):
                return pat
    return None


def _scaled_brief(d: dict) -> SiteBrief:
    """A --scale site (triage.scale's row) as a leaking-site brief: its growth is per unit of n."""
    return SiteBrief(site=d["site"], function=d["function"], module=d["module"], category=d["category"],
                     verdict=d["verdict"], slope_bytes_per_iter=d["bytes_per_n"], live_bytes_end=d["live_b"] or 0,
                     leak_kind=d["leak_kind"], evidence=d["evidence"], backend=d["backend"], unit=TimelineUnit.N)


def check_result(result: AnalysisResult, *, max_slope: float | None = None, allow=(),
                 min_growth: float = MIN_MATERIAL_BYTES_PER_ITER) -> dict:
    """{failed, reasons, leaking_sites, allowed_sites, minor_sites, series_slope_mb_per_iter, ...}: the
    `check --json` document. A leaking site growing less than `min_growth` bytes per iteration is
    minor: listed, not failing."""
    from profiler.triage.runverdict import MIN_SLICE_GROWTH_BYTES, MIN_SLICE_GROWTH_SHARE, growth_scale, \
        is_material, judged_unit, minor_slice_sites, rss_rate, site_brief

    allow = list(allow or ())
    captures = result.parsed
    # sites the run verdict showed to hold garbage the collection probe's gc.collect() freed
    collected_names = {d.site for d in result.triage.collected_by_probe} if result.triage else set()
    leaking, allowed, minor, collected = [], [], [], []
    for cap in captures:
        unit = judged_unit(cap)
        s = cap.sites
        if not len(s):
            continue
        from profiler.triage import thin   # a thin-growth group is one finding, its sites are not

        grouped = thin.grouped_site_ids(cap)
        briefs = [site_brief(r, cap, unit) for r in s[(s["verdict"] == LEAK) & ~s["site_id"].isin(grouped)]
                  .to_dict("records")] + thin.findings(cap)
        small = minor_slice_sites(briefs, growth_scale(cap), min_growth)
        for brief in briefs:
            pat = _allowed(brief, allow)
            if brief.site in collected_names:
                collected.append(brief.to_json())
            elif pat:
                allowed.append({**brief.to_json(), "allowed_by": pat})
            elif not is_material(brief, min_growth) or brief.site in small:
                minor.append(brief.to_json())
            else:
                leaking.append(brief.to_json())
    for d in (result.scale["sites"] if result.scale else ()):   # --scale: grows with the work
        if d["verdict"] != LEAK:
            continue
        brief = {**d, "slope_bytes_per_iter": d["bytes_per_n"], "live_bytes_end": d["live_b"] or 0, "unit": "n"}
        pat = _allowed(_scaled_brief(d), allow)
        if pat:
            allowed.append({**brief, "allowed_by": pat})
        elif d["bytes_per_n"] < min_growth:
            minor.append(brief)
        else:
            leaking.append(brief)
    leaking.sort(key=lambda d: (-d["slope_bytes_per_iter"], -d["live_bytes_end"], str(d["site"])))
    series = result.series
    slope = rss_rate(series) if series is not None else None
    reasons = []
    for d in leaking:
        reasons.append(f"site leaks: {d['site']}")
    if max_slope is not None and slope is not None and float(slope) > max_slope:
        reasons.append(f"RSS growth {float(slope):+.4g} MB/iteration exceeds --max-slope {max_slope:g}")
    if not captures and series is not None and series.verdict == "leak" and max_slope is None:
        reasons.append("the RSS series verdict is leak (no capture to name sites; set --max-slope to gate on the slope)")
    return {
        "failed": bool(reasons),
        "reasons": reasons,
        "verdict": result.verdict,
        "leaking_sites": leaking,
        "allowed_sites": allowed,
        "minor_sites": minor,
        "collected_by_probe": collected,
        "min_growth_bytes_per_iter": min_growth,
        # without iteration records: what a capture's per-slice growers must add in all (either bar)
        "min_slice_growth": {"share_of_peak_heap": MIN_SLICE_GROWTH_SHARE, "bytes": MIN_SLICE_GROWTH_BYTES}
        if min_growth > 0 else None,
        "series_slope_mb_per_iter": slope,
        "max_slope_mb_per_iter": max_slope,
        "captures": [{"format": c.format, "path": c.path, "sites": int(len(c.sites))} for c in captures],
    }


def site_line(d: dict) -> str:
    """One leaking site per line: what, where, how fast, seen by which tool (a `check --json` row)."""
    rate = (f"{fmt_bytes(d['slope_bytes_per_iter'])}/{d['unit']}" if d["slope_bytes_per_iter"]
            else f"{fmt_bytes(d['live_bytes_end'])} at exit")
    kind = f" {d['leak_kind']}" if d.get("leak_kind") else ""
    return f"{d['site']}\t[{d['category']}]\t+{rate}\t{d['backend']}{kind}"
