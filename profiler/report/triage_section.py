"""The report's allocation-site section: where the peak sits, which sites grow, and why.

Per capture: the heap peak split by category, the heaviest sites of each
category with their verdict, slope and a short stack, then "what grew and
why" from the run verdict. It reads only the JSON-able result (so a report
rerun from analysis.json looks the same as one made right after the
analysis) and gives document.py blocks, so report.md and report.html come from
the same content; names come from someone else's program, so they are held as
code spans and plain text and escaped by each renderer (the HTML by Jinja2's
autoescaping), never as markup.
"""
from __future__ import annotations

from profiler.fmt import fmt_bytes, fmt_pct, fmt_signed_bytes
from profiler.fmt import num as _num
from profiler.report.document import code
from profiler.report.names import short_site
from profiler.results.analysis import AnalysisResult
from profiler.results.sites import CaptureResult, CaptureSummary, CategoryFigures, SiteVerdict

STACK_FRAMES = 5
SITES_PER_CATEGORY = 3


def _bytes(x) -> str:
    return fmt_bytes(x, missing="-")


def _slope(x, unit: str) -> str:
    v = _num(x)
    if v is None:
        return "-"
    if v == 0:
        return "0"
    return f"{fmt_signed_bytes(v)}/{unit[:4] + '.' if unit == 'iteration' else unit}"


def _summaries(result: AnalysisResult) -> list[CaptureSummary]:
    """Each capture's summary as the analysis saved it (the run verdict's), in capture order. A
    result without one (made by hand, not by the pipeline) gets its sites listed and no category
    table: the report shows what the analysis computed and computes nothing itself."""
    sums = list(result.triage.captures) if result.triage is not None else []
    return [sums[i] if i < len(sums) else CaptureSummary(format=cap.format, path=cap.path)
            for i, cap in enumerate(result.captures)]


def _sites_by_category(cap: CaptureResult, weight: str) -> dict[str, list[SiteVerdict]]:
    def size(r: SiteVerdict) -> float:
        w = _num(r.peak_bytes) if weight == "peak_bytes" else _num(r.live_bytes_end)
        return w or _num(r.live_bytes_end) or 0

    out: dict[str, list[SiteVerdict]] = {}
    for r in sorted(cap.sites, key=lambda r: -size(r)):
        out.setdefault(r.category or "unknown", []).append(r)
    return out


def _short_stack(r: SiteVerdict) -> list[str]:
    """Five frames from the site outward: the allocator and plumbing frames under it say nothing."""
    st = [str(f) for f in r.stack]
    site = str(r.site or "")
    start = st.index(site) if site in st else 0
    return st[start:start + STACK_FRAMES]


# ----------------------------------------------------------------------------- blocks

def _weight(c: CategoryFigures, weight: str):
    return _num(c.peak_bytes) if weight == "peak_bytes" else _num(c.live_bytes_end)


def blocks(result: AnalysisResult) -> list[tuple]:
    """The section as document.py blocks; [] without captures."""
    caps = result.captures
    if not caps:
        return []
    info = result.triage
    out: list[tuple] = [("h", 2, "Allocation sites")]
    for cap, summ in zip(caps, _summaries(result)):
        unit = str(summ.unit)
        weight = summ.weight
        has_peak = summ.has_peak
        peak_total = _num(summ.peak_total_bytes)
        out.append(("h", 3, [str(cap.format), ": ", code(cap.path)]))
        basis = "at the heap peak" if has_peak else "live at the end (this tool records no peak)"
        cats = summ.categories
        if cats:
            out.append(("p", f"Bytes by category {basis}" + (f", total {_bytes(peak_total)}" if peak_total else "")
                        + ":"))
        total = sum(_weight(c, weight) or 0 for c in cats.values())
        rows = []
        for name, c in cats.items():
            w = _weight(c, weight)
            verdicts = ", ".join(f"{n} {v}" for v, n in sorted(c.verdicts.items()))
            rows.append([str(name), _bytes(w), fmt_pct(w or 0, total)]
                        + ([_bytes(c.live_bytes_end)] if has_peak else [])
                        + [_slope(c.slope_bytes_per_iter, unit), str(c.sites), verdicts])
        if rows:
            out.append(("table", ["category", "peak" if has_peak else "live at end", "share"]
                        + (["live at end"] if has_peak else []) + [f"leak growth per {unit}", "sites", "verdicts"],
                        rows))
        out.append(("p", "Heaviest sites per category:"))
        rows = []
        by_cat = _sites_by_category(cap, weight)
        for name in list(cats) + [c for c in by_cat if c not in cats]:
            for r in by_cat.get(name, [])[:SITES_PER_CATEGORY]:
                stack: list = []
                for i, f in enumerate(_short_stack(r)):
                    stack += ([("br", " ← ")] if i else []) + [code(short_site(f))]
                rows.append([str(name), [code(short_site(r.site))], [("b", str(r.verdict))]]
                            + ([_bytes(r.peak_bytes)] if has_peak else [])
                            + [_bytes(r.live_bytes_end), _slope(r.slope_bytes_per_iter, unit),
                               str(r.evidence or ""), stack])
        out.append(("table", ["category", "site", "verdict"] + (["peak"] if has_peak else [])
                    + ["live at end", "slope", "evidence", "stack (from the site outward)"], rows))
    if info is not None:
        out.append(("h", 3, "What grew and why"))
        out.append(("p", [("b", f"Verdict: {info.verdict}."), f" {info.explained or ''}".rstrip()]))
        if info.evidence:
            out.append(("ul", [str(e) for e in info.evidence]))
        if info.leaking_sites:
            out.append(("table", ["leaking site", "category", "growth", "live at end", "seen by", "evidence"], [
                [[code(short_site(d.site))], str(d.category or ""), _slope(d.slope_bytes_per_iter, str(d.unit)),
                 _bytes(d.live_bytes_end), str(d.backend or ""), str(d.evidence or "")]
                for d in info.leaking_sites]))
    return out


def markdown(result: AnalysisResult) -> str:
    """The section alone as markdown ("" without captures)."""
    from profiler.report import markdown as md

    b = blocks(result)
    return md.render(b) if b else ""


def html(result: AnalysisResult) -> str:
    """The section alone as an HTML fragment ("" without captures)."""
    from profiler.report import htmlpage

    b = blocks(result)
    return htmlpage.fragment(b) if b else ""
