"""Two analysed runs (or captures) side by side: per-site and per-category deltas, verdict changes.

Sites are joined by their triaged name (the first non-plumbing frame), which
stays stable across runs of the same build, so "the leak sites grew" reads
directly off the live-bytes delta of two runs with different iteration counts,
while pools and set-up stay put.
"""
from __future__ import annotations

import re

from profiler.fmt import fmt_bytes, fmt_signed_bytes
from profiler.fmt import num as _num
from profiler.results.analysis import AnalysisResult


def _pair_captures(a: list, b: list) -> list[tuple]:
    """Captures of the same format pair up; otherwise the first of each side."""
    pairs, used = [], set()
    for ca in a:
        cb = next((c for j, c in enumerate(b) if j not in used and c.format == ca.format), None)
        if cb is not None:
            used.add(b.index(cb))
            pairs.append((ca, cb))
    if not pairs and a and b:
        pairs.append((a[0], b[0]))
    return pairs


_PATH_IN_LABEL = re.compile(r"(\(in |\(|<- )(?:[^()<>\s]*/)([^/()\s]+)")


def join_key(label: str) -> str:
    """A site label without directories: the same code built in two checkouts (or recorded on two
    machines) names its files by different absolute paths, and must still join."""
    return _PATH_IN_LABEL.sub(r"\1\2", str(label))


def _site_table(cap) -> dict[str, dict]:
    out = {}
    for r in cap.sites.to_dict("records"):
        key = join_key(r["site"])
        prev = out.get(key)
        row = {
            "site": r["site"], "function": r["function"], "category": r["category"],
            "verdict": r["verdict"], "live_bytes_end": _num(r["live_bytes_end"]) or 0.0,
            "peak_bytes": _num(r["peak_bytes"]), "slope_bytes_per_iter": _num(r["slope_bytes_per_iter"]) or 0.0,
            "leak_kind": r["leak_kind"],
        }
        if prev is None:
            out[key] = row
        else:   # memcheck keeps loss kinds apart: add them up for the comparison
            prev["live_bytes_end"] += row["live_bytes_end"]
            prev["slope_bytes_per_iter"] += row["slope_bytes_per_iter"]
            if row["verdict"] == "leak":
                prev["verdict"] = "leak"
    return out


def _delta(x, y):
    if x is None and y is None:
        return None
    return (y or 0.0) - (x or 0.0)


_LINE_IN_LABEL = re.compile(r":\d+\)")


def _pair_by_function(ta: dict, tb: dict) -> None:
    """Sites left unmatched on both sides whose labels differ only by line numbers (the source
    moved between the two builds) are the same site when that is unambiguous on both sides:
    re-key B's under A's key."""
    only_a = [k for k in ta if k not in tb]
    only_b = [k for k in tb if k not in ta]
    loose_a: dict[str, list] = {}
    loose_b: dict[str, list] = {}
    for k in only_a:
        loose_a.setdefault(_LINE_IN_LABEL.sub(")", k), []).append(k)
    for k in only_b:
        loose_b.setdefault(_LINE_IN_LABEL.sub(")", k), []).append(k)
    for loose, ka in loose_a.items():
        kb = loose_b.get(loose)
        if len(ka) == 1 and kb and len(kb) == 1:
            tb[ka[0]] = tb.pop(kb[0])


def compare_captures(ca, cb) -> dict:
    ta, tb = _site_table(ca), _site_table(cb)
    _pair_by_function(ta, tb)
    rows = []
    for key in list(ta) + [k for k in tb if k not in ta]:
        a, b = ta.get(key), tb.get(key)
        ref = a or b
        row = {
            "site": (b or a)["site"],
            "function": ref["function"],
            "category": (b or a)["category"],
            "verdict_a": a["verdict"] if a else None,
            "verdict_b": b["verdict"] if b else None,
            "live_end_a": a["live_bytes_end"] if a else None,
            "live_end_b": b["live_bytes_end"] if b else None,
            "peak_a": a["peak_bytes"] if a else None,
            "peak_b": b["peak_bytes"] if b else None,
            "slope_a": a["slope_bytes_per_iter"] if a else None,
            "slope_b": b["slope_bytes_per_iter"] if b else None,
        }
        row["live_end_delta"] = _delta(row["live_end_a"], row["live_end_b"])
        row["peak_delta"] = _delta(row["peak_a"], row["peak_b"])
        row["slope_delta"] = _delta(row["slope_a"], row["slope_b"])
        row["verdict_changed"] = row["verdict_a"] != row["verdict_b"]
        rows.append(row)
    rows.sort(key=lambda r: (-abs(r["live_end_delta"] or 0.0), -abs(r["peak_delta"] or 0.0), r["site"]))
    cats: dict[str, dict] = {}
    for r in rows:
        c = cats.setdefault(r["category"] or "unknown", {
            "live_end_a": 0.0, "live_end_b": 0.0, "peak_a": 0.0, "peak_b": 0.0, "slope_a": 0.0, "slope_b": 0.0})
        for k in c:
            c[k] += r.get(k) or 0.0
    for c in cats.values():
        c["live_end_delta"] = c["live_end_b"] - c["live_end_a"]
        c["peak_delta"] = c["peak_b"] - c["peak_a"]
        c["slope_delta"] = c["slope_b"] - c["slope_a"]
    changes = [r for r in rows if r["verdict_changed"]]
    return {
        "format_a": ca.format, "format_b": cb.format, "path_a": ca.path, "path_b": cb.path,
        "sites": rows,
        "categories": dict(sorted(cats.items(), key=lambda kv: -abs(kv[1]["live_end_delta"]))),
        "verdict_changes": [{"site": r["site"], "from": r["verdict_a"], "to": r["verdict_b"]} for r in changes],
        "grew": [r["site"] for r in rows if (r["live_end_delta"] or 0) > 0 and
                 "leak" in (r["verdict_a"], r["verdict_b"])],
    }


def _run_row(r: AnalysisResult) -> dict:
    """One side of the comparison: its verdict, its RSS slope, its peaks. `peak_mb` is the highest RSS
    after unload; `loaded_peak_mb` the highest RSS while a model was loaded and generating (the
    iterations' high-water mark: what the machine must hold), when the records carry it."""
    s = r.series
    loaded = s.loaded if s is not None else None
    return {"path": r.source.path, "verdict": r.verdict, "slope_mb_per_iter": r.slope_mb_per_iter,
            "peak_mb": s.peak_mb if s is not None else None, "n": s.n if s is not None else None,
            "loaded_peak_mb": loaded.peak_mb if loaded is not None else None,
            "loaded_peak_model": loaded.peak_model if loaded is not None else None}


def compare_results(a: AnalysisResult, b: AnalysisResult) -> dict:
    """Everything `memprof compare` shows: the `compare --json` document."""
    runs = {"a": _run_row(a), "b": _run_row(b)}
    pairs = _pair_captures(list(a.parsed), list(b.parsed))
    return {
        "runs": runs,
        "verdict_changed": runs["a"]["verdict"] != runs["b"]["verdict"],
        "captures": [compare_captures(ca, cb) for ca, cb in pairs],
    }


def _mb(x) -> str:
    return "n/a (not recorded)" if x is None else f"{x:g}"


def _dmb(a: float, b: float) -> str:
    return f"{b - a:+.2f} MB"


def _b(x) -> str:
    return "-" if x is None else fmt_bytes(x)


def _d(x) -> str:
    return "-" if x is None else fmt_signed_bytes(x)


def to_text(cmp: dict, top: int = 20) -> str:
    """A plain-text rendering for the terminal."""
    ra, rb = cmp["runs"]["a"], cmp["runs"]["b"]
    lines = [f"A: {ra['path']}  verdict {ra['verdict']}", f"B: {rb['path']}  verdict {rb['verdict']}"]
    if ra["slope_mb_per_iter"] is not None or rb["slope_mb_per_iter"] is not None:
        lines.append(f"RSS slope MB/iteration: A {ra['slope_mb_per_iter']}  B {rb['slope_mb_per_iter']}; "
                     f"peak after unload MB: A {ra['peak_mb']}  B {rb['peak_mb']}")
    if ra["loaded_peak_mb"] is not None or rb["loaded_peak_mb"] is not None:
        lines.append(f"loaded peak MB (model loaded and generating): A {_mb(ra['loaded_peak_mb'])}  "
                     f"B {_mb(rb['loaded_peak_mb'])}" + (f" ({_dmb(ra['loaded_peak_mb'], rb['loaded_peak_mb'])})"
                                                        if None not in (ra["loaded_peak_mb"], rb["loaded_peak_mb"])
                                                        else ""))
    for c in cmp["captures"]:
        lines.append("")
        lines.append(f"{c['format_a']} vs {c['format_b']}: per category (live at end, peak, slope per iteration)")
        for cat, v in c["categories"].items():
            lines.append(f"  {cat:<13} live {_b(v['live_end_a'])} -> {_b(v['live_end_b'])} ({_d(v['live_end_delta'])})"
                         f"  peak {_b(v['peak_a'])} -> {_b(v['peak_b'])} ({_d(v['peak_delta'])})"
                         f"  slope {_b(v['slope_a'])} -> {_b(v['slope_b'])}")
        lines.append("  sites (largest change first):")
        for r in c["sites"][:top]:
            va, vb = r["verdict_a"] or "absent", r["verdict_b"] or "absent"
            verdict = va if va == vb else f"{va} -> {vb}"
            lines.append(f"  {r['site']}  [{r['category']}]  {verdict}  live {_b(r['live_end_a'])} -> "
                         f"{_b(r['live_end_b'])} ({_d(r['live_end_delta'])})  peak {_d(r['peak_delta'])}  "
                         f"slope {_b(r['slope_a'])} -> {_b(r['slope_b'])}")
        if len(c["sites"]) > top:
            lines.append(f"  ... {len(c['sites']) - top} more (--json shows all)")
        if c["grew"]:
            lines.append("  leak sites that grew: " + ", ".join(c["grew"]))
        if c["verdict_changes"]:
            lines.append("  verdict changes: " + "; ".join(f"{v['site']}: {v['from'] or 'absent'} -> "
                                                         f"{v['to'] or 'absent'}" for v in c["verdict_changes"]))
    return "\n".join(lines)
