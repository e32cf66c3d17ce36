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


def _verdict_info(result: dict) -> dict | None:
    """The run verdict the analysis saved (the report renders it; it never computes one)."""
    tri = result.get("triage")
    return tri if isinstance(tri, dict) and "verdict" in tri else None


def _summaries(result: dict, info: dict | None) -> list[dict]:
    """Each capture's saved summary (triage/runverdict.py's capture_summary), in capture order. A
    result without one (made by hand, not by the pipeline) gets its sites listed and no category
    table: the report shows what the analysis computed and computes nothing itself."""
    sums = list((info or {}).get("captures") or [])
    return [sums[i] if i < len(sums) else {"format": cap.get("format"), "categories": {}}
            for i, cap in enumerate(result.get("captures") or [])]


def _sites_by_category(cap: dict, weight: str) -> dict[str, list[dict]]:
    rows = sorted(cap.get("sites") or [], key=lambda r: -(_num(r.get(weight)) or _num(r.get("live_bytes_end")) or 0))
    out: dict[str, list[dict]] = {}
    for r in rows:
        out.setdefault(r.get("category") or "unknown", []).append(r)
    return out


def _short_stack(r: dict) -> list[str]:
    """Five frames from the site outward: the allocator and plumbing frames under it say nothing."""
    st = r.get("stack") or []
    if isinstance(st, str):
        st = [s.strip() for s in st.split(" <- ")]
    st = [str(f) for f in st]
    site = str(r.get("site") or "")
    start = st.index(site) if site in st else 0
    return st[start:start + STACK_FRAMES]


# ----------------------------------------------------------------------------- blocks

def _weight(c: dict, weight: str):
    return _num(c.get("peak_bytes")) if weight == "peak_bytes" else _num(c.get("live_bytes_end"))


def blocks(result: dict) -> list[tuple]:
    """The section as document.py blocks; [] without captures."""
    caps = result.get("captures") or []
    if not caps:
        return []
    info = _verdict_info(result)
    summaries = _summaries(result, info)
    out: list[tuple] = [("h", 2, "Allocation sites")]
    for cap, summ in zip(caps, summaries):
        unit = summ.get("unit") or "iteration"
        weight = summ.get("weight") or "peak_bytes"
        has_peak = weight == "peak_bytes"
        peak_total = _num(summ.get("peak_total_bytes"))
        out.append(("h", 3, [str(cap.get("format")), ": ", code(cap.get("path"))]))
        basis = "at the heap peak" if has_peak else "live at the end (this tool records no peak)"
        cats = summ.get("categories") or {}
        if cats:
            out.append(("p", f"Bytes by category {basis}" + (f", total {_bytes(peak_total)}" if peak_total else "")
                        + ":"))
        total = sum(_weight(c, weight) or 0 for c in cats.values())
        rows = []
        for name, c in cats.items():
            w = _weight(c, weight)
            verdicts = ", ".join(f"{n} {v}" for v, n in sorted((c.get("verdicts") or {}).items()))
            rows.append([str(name), _bytes(w), fmt_pct(w or 0, total)]
                        + ([_bytes(c.get("live_bytes_end"))] if has_peak else [])
                        + [_slope(c.get("slope_bytes_per_iter"), unit), str(c.get("sites", "")), verdicts])
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
                rows.append([str(name), [code(short_site(r.get("site")))], [("b", str(r.get("verdict")))]]
                            + ([_bytes(r.get("peak_bytes"))] if has_peak else [])
                            + [_bytes(r.get("live_bytes_end")), _slope(r.get("slope_bytes_per_iter"), unit),
                               str(r.get("evidence") or ""), stack])
        out.append(("table", ["category", "site", "verdict"] + (["peak"] if has_peak else [])
                    + ["live at end", "slope", "evidence", "stack (from the site outward)"], rows))
    if info:
        out.append(("h", 3, "What grew and why"))
        out.append(("p", [("b", f"Verdict: {info.get('verdict')}."), f" {info.get('explained') or ''}".rstrip()]))
        if info.get("evidence"):
            out.append(("ul", [str(e) for e in info["evidence"]]))
        leaking = info.get("leaking_sites") or []
        if leaking:
            out.append(("table", ["leaking site", "category", "growth", "live at end", "seen by", "evidence"], [
                [[code(short_site(d.get("site")))], str(d.get("category") or ""),
                 _slope(d.get("slope_bytes_per_iter"), d.get("unit") or "iteration"),
                 _bytes(d.get("live_bytes_end")), str(d.get("backend") or ""), str(d.get("evidence") or "")]
                for d in leaking]))
    return out


def markdown(result: dict) -> str:
    """The section alone as markdown ("" without captures)."""
    from profiler.report import markdown as md

    b = blocks(result)
    return md.render(b) if b else ""


def html(result: dict) -> str:
    """The section alone as an HTML fragment ("" without captures)."""
    from profiler.report import htmlpage

    b = blocks(result)
    return htmlpage.fragment(b) if b else ""
