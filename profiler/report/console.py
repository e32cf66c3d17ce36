"""The short plain-text summary `memprof analyze` and friends print: verdict first, then the
figures it rests on, then what to do. Plain text (no colour, no markup) so it pipes and logs cleanly."""
from __future__ import annotations
from profiler.report.names import short_site
from profiler.results.analysis import AnalysisResult
from profiler.results.series import Phase

TOP = 5


def _b(x) -> str:
    from profiler.fmt import fmt_bytes

    return fmt_bytes(x)


def summary(result: AnalysisResult) -> str:
    s = result.series
    src = result.source
    lines = [result.cut.line()] if result.cut is not None else []
    lines.append(f"VERDICT: {(result.verdict or 'inconclusive').upper()}  ({src.kind}: {src.path})")
    for t in result.truncated or ():
        lines.append(f"  TRUNCATED: {t.summary}; everything after the cut is missing")
    for w in result.warnings or ():
        if not any(w == f"{t.path}: {t.summary}" for t in result.truncated or ()):
            lines.append(f"  warning: {w}")
    if result.explanation and result.captures:
        lines.append(f"  {result.explanation}")
    if s is not None:
        if s.evidence:
            # the series' own view, named as such when the captures decided another verdict
            own = f"the RSS series alone is {s.verdict}: " if s.verdict != result.verdict else ""
            lines.append(f"  {own}{s.evidence[0]}")
        ci = s.slope_ci_mb or (None, None)
        tt = s.trend_test
        tb = s.time_based
        if tb is not None and tb.slope_mb_per_hour is not None:
            tci = tb.slope_ci_mb_per_hour or (None, None)
            lines.append(f"slope (stable phase): {tb.slope_mb_per_hour:+g} MB/hour, 95% CI [{_g(tci[0])}, "
                         f"{_g(tci[1])}] (one sample every {tb.seconds_per_sample:g} s); Mann-Kendall p={tt.p}")
        elif s.slope_mb_per_iter is not None:
            lines.append(f"slope (stable phase): {s.slope_mb_per_iter:+g} MB/iter, 95% CI "
                         f"[{_g(ci[0])}, {_g(ci[1])}]; Theil-Sen {_g(s.theil_sen_mb_per_iter)}; "
                         f"Mann-Kendall p={tt.p}")
        phases = ", ".join(f"{p.name} {p.first}-{p.last} (~{p.mean_mb:,.0f} MB{_saw(p)})" for p in s.phases)
        lines.append(f"phases ({s.n} {'samples' if tb else 'iterations'}): {phases}")
        if s.decomposition_growth is not None:
            lines.append(s.decomposition_growth.sentence)
    rec = result.recommendation or (s.recommendation if s is not None else None)
    if rec is not None and rec.sentence:
        lines.append(f"recommendation: {rec.sentence}")
    for cap in result.captures:
        tot = ", ".join(f"{k}={_b(v) if 'bytes' in str(k) else v}" for k, v in cap.totals.items())
        lines.append(f"capture {cap.format}: {cap.path}" + (f"  [{tot}]" if tot else ""))
        for caveat in cap.caveats:
            lines.append(f"  note: {_oneline(caveat)}" if len(caveat) <= 100 else f"  note: {caveat}")
        if cap.sites_note:
            lines.append(f"  note: {cap.sites_note}")
        for r in sorted(cap.sites, key=lambda r: -(r.live_bytes_end or 0))[:TOP]:
            lines.append(f"  {_b(r.live_bytes_end):>11}  {r.verdict or '-':<10} "
                         f"{r.category or '-':<13} {_oneline(short_site(r.site or r.function or '?'))}")
    return "\n".join(lines)


def _saw(p: Phase) -> str:
    """", sawtooth, reclaims at 31 [gc]" for a phase with reclaims."""
    its = p.reclaims
    if p.shape != "sawtooth" or its is None:
        return ""
    gc = set(p.gc_reclaims or ())
    shown = ", ".join(f"{i} [gc]" if i in gc else str(i) for i in its[:6]) + (", ..." if len(its) > 6 else "")
    return f", sawtooth, reclaims at {shown}"


def _g(x) -> str:
    return "n/a" if x is None else f"{x:+g}"


def _oneline(text) -> str:
    text = str(text).replace("\n", " ").replace("\r", " ")
    return text if len(text) <= 100 else text[:97] + "..."
