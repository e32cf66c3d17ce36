"""The report's allocation-site section: where the peak sits, which sites grow, and why.

Per capture: the heap peak split by category, the heaviest sites of each
category with their verdict, slope and a short stack, then "what grew and
why" from the run verdict. It reads only the JSON-able result (so a report
rerun from analysis.json looks the same as one made right after the
analysis); names come from someone else's program, so the HTML escapes every
one of them and the markdown keeps them inside code spans.
"""
from __future__ import annotations

import html as _html

from profiler.fmt import fmt_bytes
from profiler.fmt import num as _num
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
    return f"{'+' if v > 0 else ''}{_bytes(v)}/{unit[:4] + '.' if unit == 'iteration' else unit}"


def _verdict_info(result: dict) -> dict | None:
    tri = result.get("triage")
    if isinstance(tri, dict) and "verdict" in tri:
        return tri
    caps = result.get("_captures")
    if caps:
        from profiler.triage import run_verdict

        return run_verdict(result.get("series"), caps)
    return None


def _summaries(result: dict, info: dict | None) -> list[dict]:
    caps = result.get("captures") or []
    sums = list((info or {}).get("captures") or [])
    out = []
    for i, cap in enumerate(caps):
        summ = sums[i] if i < len(sums) else None
        if summ is None:
            summ = _summary_from_rows(cap)
        out.append(summ)
    return out


def _summary_from_rows(cap: dict) -> dict:
    """Category totals from the (top) site rows of a saved capture, when no run verdict was saved."""
    rows = cap.get("sites") or []
    has_peak = any(_num(r.get("peak_bytes")) for r in rows)
    cats: dict[str, dict] = {}
    for r in rows:
        c = cats.setdefault(r.get("category") or "unknown",
                            {"peak_bytes": 0, "live_bytes_end": 0, "slope_bytes_per_iter": 0.0, "sites": 0,
                             "verdicts": {}})
        c["peak_bytes"] += _num(r.get("peak_bytes")) or 0
        c["live_bytes_end"] += _num(r.get("live_bytes_end")) or 0
        c["slope_bytes_per_iter"] += _num(r.get("slope_bytes_per_iter")) or 0
        c["sites"] += 1
        v = r.get("verdict") or "?"
        c["verdicts"][v] = c["verdicts"].get(v, 0) + 1
    if not has_peak:
        for c in cats.values():
            c["peak_bytes"] = None
    return {"format": cap.get("format"), "unit": "iteration", "weight": "peak_bytes" if has_peak else "live_bytes_end",
            "peak_total_bytes": sum(c["peak_bytes"] or 0 for c in cats.values()) if has_peak else None,
            "categories": cats}


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


# ----------------------------------------------------------------------------- markdown

def _code(s) -> str:
    text = str(s if s is not None else "?").replace("`", "'").replace("|", "\\|").replace("\n", " ")
    return f"`{text}`"


def _cell(s) -> str:
    """Plain markdown text: pipes would end the table cell, and a C++ name's `<...>` outside a
    code span would be taken for an HTML tag by the renderer (and vanish, or worse)."""
    text = str(s if s is not None else "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(result: dict) -> str:
    caps = result.get("captures") or []
    if not caps:
        return ""
    info = _verdict_info(result)
    summaries = _summaries(result, info)
    out = ["## Allocation sites", ""]
    for cap, summ in zip(caps, summaries):
        unit = summ.get("unit") or "iteration"
        weight = summ.get("weight") or "peak_bytes"
        peak_total = _num(summ.get("peak_total_bytes"))
        out.append(f"### {_cell(cap.get('format'))}: {_code(cap.get('path'))}")
        out.append("")
        basis = "at the heap peak" if weight == "peak_bytes" else "live at the end (this tool records no peak)"
        out.append(f"Bytes by category {basis}" + (f", total {_bytes(peak_total)}" if peak_total else "") + ":")
        out.append("")
        has_peak = weight == "peak_bytes"
        out.append(f"| category | {'peak' if has_peak else 'live at end'} | share |{' live at end |' if has_peak else ''} "
                   f"leak growth per {unit} | sites | verdicts |")
        out.append("|---|---:|---:|" + ("---:|" if has_peak else "") + "---:|---:|---|")
        cats = summ.get("categories") or {}
        total = sum((_num(c.get("peak_bytes")) if weight == "peak_bytes" else _num(c.get("live_bytes_end"))) or 0
                    for c in cats.values())
        for name, c in cats.items():
            w = _num(c.get("peak_bytes")) if weight == "peak_bytes" else _num(c.get("live_bytes_end"))
            share = f"{100 * (w or 0) / total:.0f}%" if total else "-"
            verdicts = ", ".join(f"{n} {v}" for v, n in sorted((c.get("verdicts") or {}).items()))
            live = f" {_bytes(c.get('live_bytes_end'))} |" if has_peak else ""
            out.append(f"| {_cell(name)} | {_bytes(w)} | {share} |{live} "
                       f"{_slope(c.get('slope_bytes_per_iter'), unit)} | {c.get('sites', '')} | {_cell(verdicts)} |")
        out.append("")
        out.append("Heaviest sites per category:")
        out.append("")
        out.append(f"| category | site | verdict | {'peak | ' if has_peak else ''}live at end | slope | evidence "
                   f"| stack (from the site outward) |")
        out.append("|---|---|---|" + ("---:|" if has_peak else "") + "---:|---:|---|---|")
        by_cat = _sites_by_category(cap, weight)
        for name in list(cats) + [c for c in by_cat if c not in cats]:
            for r in by_cat.get(name, [])[:SITES_PER_CATEGORY]:
                stack = " ← ".join(_code(short_site(f)) for f in _short_stack(r))
                peak = f"{_bytes(r.get('peak_bytes'))} | " if has_peak else ""
                out.append(f"| {_cell(name)} | {_code(short_site(r.get('site')))} | **{_cell(r.get('verdict'))}** | "
                           f"{peak}{_bytes(r.get('live_bytes_end'))} | "
                           f"{_slope(r.get('slope_bytes_per_iter'), unit)} | {_cell(r.get('evidence'))} | {stack} |")
        out.append("")
    if info:
        out.append("### What grew and why")
        out.append("")
        out.append(f"**Verdict: {_cell(info.get('verdict'))}.** {_cell(info.get('explained'))}")
        out.append("")
        for e in info.get("evidence") or []:
            out.append(f"- {_cell(e)}")
        leaking = info.get("leaking_sites") or []
        if leaking:
            out.append("")
            out.append("| leaking site | category | growth | live at end | seen by | evidence |")
            out.append("|---|---|---:|---:|---|---|")
            for d in leaking:
                out.append(f"| {_code(short_site(d.get('site')))} | {_cell(d.get('category'))} | "
                           f"{_slope(d.get('slope_bytes_per_iter'), d.get('unit') or 'iteration')} | "
                           f"{_bytes(d.get('live_bytes_end'))} | {_cell(d.get('backend'))} | {_cell(d.get('evidence'))} |")
        out.append("")
    return "\n".join(out)


# ----------------------------------------------------------------------------- html

def _e(s) -> str:
    return _html.escape(str(s if s is not None else ""), quote=True)


def html(result: dict) -> str:
    caps = result.get("captures") or []
    if not caps:
        return ""
    info = _verdict_info(result)
    summaries = _summaries(result, info)
    out = ['<section class="triage">', "<h2>Allocation sites</h2>"]
    for cap, summ in zip(caps, summaries):
        unit = summ.get("unit") or "iteration"
        weight = summ.get("weight") or "peak_bytes"
        wname = "peak" if weight == "peak_bytes" else "live at end"
        out.append(f"<h3>{_e(cap.get('format'))}: <code>{_e(cap.get('path'))}</code></h3>")
        cats = summ.get("categories") or {}
        total = sum((_num(c.get("peak_bytes")) if weight == "peak_bytes" else _num(c.get("live_bytes_end"))) or 0
                    for c in cats.values())
        has_peak = weight == "peak_bytes"
        out.append("<table><thead><tr><th>category</th>"
                   f"<th>{_e(wname)}</th><th>share</th>{'<th>live at end</th>' if has_peak else ''}"
                   f"<th>leak growth per {_e(unit)}</th><th>sites</th><th>verdicts</th></tr></thead><tbody>")
        for name, c in cats.items():
            w = _num(c.get("peak_bytes")) if weight == "peak_bytes" else _num(c.get("live_bytes_end"))
            share = f"{100 * (w or 0) / total:.0f}%" if total else "-"
            verdicts = ", ".join(f"{n} {v}" for v, n in sorted((c.get("verdicts") or {}).items()))
            live = f"<td>{_e(_bytes(c.get('live_bytes_end')))}</td>" if has_peak else ""
            out.append(f"<tr><td>{_e(name)}</td><td>{_e(_bytes(w))}</td><td>{_e(share)}</td>{live}"
                       f"<td>{_e(_slope(c.get('slope_bytes_per_iter'), unit))}</td>"
                       f"<td>{_e(c.get('sites', ''))}</td><td>{_e(verdicts)}</td></tr>")
        out.append("</tbody></table>")
        out.append("<table><thead><tr><th>category</th><th>site</th><th>verdict</th>"
                   f"{'<th>peak</th>' if has_peak else ''}<th>live at end</th><th>slope</th><th>evidence</th>"
                   "<th>stack (from the site outward)</th></tr></thead><tbody>")
        by_cat = _sites_by_category(cap, weight)
        for name in list(cats) + [c for c in by_cat if c not in cats]:
            for r in by_cat.get(name, [])[:SITES_PER_CATEGORY]:
                stack = "<br>".join(f"<code>{_e(short_site(f))}</code>" for f in _short_stack(r))
                out.append(f"<tr class=\"verdict-{_e(r.get('verdict'))}\"><td>{_e(name)}</td>"
                           f"<td><code>{_e(short_site(r.get('site')))}</code></td><td><b>{_e(r.get('verdict'))}</b></td>"
                           + (f"<td>{_e(_bytes(r.get('peak_bytes')))}</td>" if has_peak else "")
                           + f"<td>{_e(_bytes(r.get('live_bytes_end')))}</td>"
                           f"<td>{_e(_slope(r.get('slope_bytes_per_iter'), unit))}</td>"
                           f"<td>{_e(r.get('evidence'))}</td><td>{stack}</td></tr>")
        out.append("</tbody></table>")
    if info:
        out.append("<h3>What grew and why</h3>")
        out.append(f"<p><b>Verdict: {_e(info.get('verdict'))}.</b> {_e(info.get('explained'))}</p>")
        ev = info.get("evidence") or []
        if ev:
            out.append("<ul>" + "".join(f"<li>{_e(x)}</li>" for x in ev) + "</ul>")
        leaking = info.get("leaking_sites") or []
        if leaking:
            out.append("<table><thead><tr><th>leaking site</th><th>category</th><th>growth</th>"
                       "<th>live at end</th><th>seen by</th><th>evidence</th></tr></thead><tbody>")
            for d in leaking:
                out.append(f"<tr><td><code>{_e(short_site(d.get('site')))}</code></td><td>{_e(d.get('category'))}</td>"
                           f"<td>{_e(_slope(d.get('slope_bytes_per_iter'), d.get('unit') or 'iteration'))}</td>"
                           f"<td>{_e(_bytes(d.get('live_bytes_end')))}</td><td>{_e(d.get('backend'))}</td>"
                           f"<td>{_e(d.get('evidence'))}</td></tr>")
            out.append("</tbody></table>")
    out.append("</section>")
    return "\n".join(out)
