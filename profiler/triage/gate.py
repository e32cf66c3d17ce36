"""The CI gate behind `memprof check`: which findings fail a build, and which the user allowed.

A site fails when its verdict is `leak` and no --allow pattern names it (a
glob on the site label, the function, or the module's path or file name).
The RSS series fails when its stable-phase slope exceeds --max-slope; a run
with no capture at all (nothing to name sites) fails on the series verdict.
"""
from __future__ import annotations

import fnmatch
import os

from profiler.triage.growth import LEAK, fmt_bytes
from profiler.triage.runverdict import MIN_MATERIAL_BYTES_PER_ITER


def _allowed(site: dict, patterns) -> str | None:
    names = [site.get("site"), site.get("function"), site.get("module")]
    mod = site.get("module")
    if isinstance(mod, str):
        names.append(os.path.basename(mod))
    label = site.get("site")
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


def check_result(result: dict, *, max_slope: float | None = None, allow=(),
                 min_growth: float = MIN_MATERIAL_BYTES_PER_ITER) -> dict:
    """{failed, reasons, leaking_sites, allowed_sites, minor_sites, series_slope_mb_per_iter, ...}; JSON-able.
    A leaking site growing less than `min_growth` bytes per iteration is minor: listed, not failing."""
    from profiler.triage.runverdict import _site_brief, _unit, is_material, rss_rate

    allow = list(allow or ())
    captures = result.get("_captures") or []
    # sites the run verdict showed to hold garbage the collection probe's gc.collect() freed
    collected_names = {d["site"] for d in (result.get("triage") or {}).get("collected_by_probe") or ()}
    leaking, allowed, minor, collected = [], [], [], []
    for cap in captures:
        unit = _unit(cap)
        s = cap.sites
        if not len(s):
            continue
        from profiler.triage import thin   # a thin-growth group is one finding, its sites are not

        grouped = thin.grouped_site_ids(cap)
        briefs = [_site_brief(r, cap, unit) for r in s[(s["verdict"] == LEAK) & ~s["site_id"].isin(grouped)]
                  .to_dict("records")] + thin.findings(cap)
        for brief in briefs:
            pat = _allowed(brief, allow)
            if brief["site"] in collected_names:
                collected.append(brief)
            elif pat:
                allowed.append({**brief, "allowed_by": pat})
            elif not is_material(brief, min_growth):
                minor.append(brief)
            else:
                leaking.append(brief)
    for d in (result.get("scale") or {}).get("sites") or ():   # --scale: grows with the work
        if d["verdict"] != LEAK:
            continue
        brief = {**d, "slope_bytes_per_iter": d["bytes_per_n"], "live_bytes_end": d["live_b"] or 0, "unit": "n"}
        pat = _allowed(brief, allow)
        if pat:
            allowed.append({**brief, "allowed_by": pat})
        elif d["bytes_per_n"] < min_growth:
            minor.append(brief)
        else:
            leaking.append(brief)
    leaking.sort(key=lambda d: (-d["slope_bytes_per_iter"], -d["live_bytes_end"], str(d["site"])))
    series = result.get("series") or None
    slope = rss_rate(series) if series else None
    reasons = []
    for d in leaking:
        reasons.append(f"site leaks: {d['site']}")
    if max_slope is not None and slope is not None and float(slope) > max_slope:
        reasons.append(f"RSS growth {float(slope):+.4g} MB/iteration exceeds --max-slope {max_slope:g}")
    if not captures and series and series.get("verdict") == "leak" and max_slope is None:
        reasons.append("the RSS series verdict is leak (no capture to name sites; set --max-slope to gate on the slope)")
    return {
        "failed": bool(reasons),
        "reasons": reasons,
        "verdict": result.get("verdict"),
        "leaking_sites": leaking,
        "allowed_sites": allowed,
        "minor_sites": minor,
        "collected_by_probe": collected,
        "min_growth_bytes_per_iter": min_growth,
        "series_slope_mb_per_iter": slope,
        "max_slope_mb_per_iter": max_slope,
        "captures": [{"format": c.format, "path": c.path, "sites": int(len(c.sites))} for c in captures],
    }


def site_line(d: dict) -> str:
    """One leaking site per line: what, where, how fast, seen by which tool."""
    rate = (f"{fmt_bytes(d['slope_bytes_per_iter'])}/{d['unit']}" if d.get("slope_bytes_per_iter")
            else f"{fmt_bytes(d['live_bytes_end'])} at exit")
    kind = f" {d['leak_kind']}" if d.get("leak_kind") else ""
    return f"{d['site']}\t[{d['category']}]\t+{rate}\t{d['backend']}{kind}"
