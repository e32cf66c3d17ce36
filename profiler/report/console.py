"""The short plain-text summary `memprof analyze` and friends print: verdict first, then the
figures it rests on, then what to do. Plain text (no colour, no markup) so it pipes and logs cleanly."""
from __future__ import annotations
from profiler.report.names import short_site

TOP = 5


def _b(x) -> str:
    from profiler.fmt import fmt_bytes

    return fmt_bytes(x)


def summary(result: dict) -> str:
    s = result.get("series") or {}
    verdict = str(result.get("verdict") or s.get("verdict") or "inconclusive")
    src = result.get("source") or {}
    lines = [f"VERDICT: {verdict.upper()}  ({src.get('kind', '?')}: {src.get('path', '')})"]
    for t in result.get("truncated") or []:
        lines.append(f"  TRUNCATED: {t.get('summary')}; everything after the cut is missing")
    triage = result.get("triage") or {}
    if isinstance(triage, dict) and triage.get("explained") and result.get("captures"):
        lines.append(f"  {triage['explained']}")
    if s:
        ev = s.get("evidence") or []
        if ev:
            lines.append(f"  {ev[0]}")
        ci = s.get("slope_ci_mb") or [None, None]
        tt = s.get("trend_test") or {}
        tb = s.get("time_based")
        if tb and tb.get("slope_mb_per_hour") is not None:
            tci = tb.get("slope_ci_mb_per_hour") or [None, None]
            lines.append(f"slope (stable phase): {tb['slope_mb_per_hour']:+g} MB/hour, 95% CI [{_g(tci[0])}, "
                         f"{_g(tci[1])}] (one sample every {tb['seconds_per_sample']:g} s); Mann-Kendall p={tt.get('p')}")
        elif s.get("slope_mb_per_iter") is not None:
            lines.append(f"slope (stable phase): {s['slope_mb_per_iter']:+g} MB/iter, 95% CI "
                         f"[{_g(ci[0])}, {_g(ci[1])}]; Theil-Sen {_g(s.get('theil_sen_mb_per_iter'))}; "
                         f"Mann-Kendall p={tt.get('p')}")
        phases = ", ".join(f"{p['name']} {p['first']}-{p['last']} (~{p['mean_mb']:,.0f} MB{_saw(p)})"
                           for p in s.get("phases") or [])
        lines.append(f"phases ({s.get('n')} {'samples' if tb else 'iterations'}): {phases}")
        g = s.get("decomposition_growth")
        if g:
            lines.append(g["sentence"])
    rec = s.get("recommendation") or result.get("recommendation") or {}
    if rec.get("sentence"):
        lines.append(f"recommendation: {rec['sentence']}")
    for cap in result.get("captures") or []:
        totals = cap.get("totals") or {}
        tot = ", ".join(f"{k}={_b(v) if 'bytes' in str(k) else v}" for k, v in totals.items())
        lines.append(f"capture {cap.get('format', '?')}: {cap.get('path', '')}" + (f"  [{tot}]" if tot else ""))
        for caveat in (cap.get("meta") or {}).get("caveats") or []:
            lines.append(f"  note: {_oneline(caveat)}" if len(caveat) <= 100 else f"  note: {caveat}")
        if cap.get("sites_note"):
            lines.append(f"  note: {cap['sites_note']}")
        sites = sorted(cap.get("sites") or [], key=lambda r: -(r.get("live_bytes_end") or 0))[:TOP]
        for r in sites:
            lines.append(f"  {_b(r.get('live_bytes_end')):>11}  {r.get('verdict') or '-':<10} "
                         f"{r.get('category') or '-':<13} {_oneline(short_site(r.get('site') or r.get('function') or '?'))}")
    return "\n".join(lines)


def _saw(p: dict) -> str:
    """", sawtooth, reclaims at 31 [gc]" for a phase with reclaims."""
    its = p.get("reclaims")
    if p.get("shape") != "sawtooth" or its is None:
        return ""
    gc = set(p.get("gc_reclaims") or [])
    shown = ", ".join(f"{i} [gc]" if i in gc else str(i) for i in its[:6]) + (", ..." if len(its) > 6 else "")
    return f", sawtooth, reclaims at {shown}"


def _g(x) -> str:
    return "n/a" if x is None else f"{x:+g}"


def _oneline(text) -> str:
    text = str(text).replace("\n", " ").replace("\r", " ")
    return text if len(text) <= 100 else text[:97] + "..."
