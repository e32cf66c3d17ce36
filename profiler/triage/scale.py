"""Differential verdicts: the same command run at two sizes of work, n=A and n=B.

A tool with no timeline (memcheck's loss records at exit, an aggregated capture) cannot see a
site grow, and a run with no iteration records cannot say per what. Two runs can: a site that
holds more at exit when the command does more work grows WITH the work, at
(live_B - live_A) / (B - A) bytes per unit of n; a site that holds the same at both sizes does
not, whatever it holds (set-up kept to the end, or a pool that reached its level in both runs).
Sites are matched by their label (function, file and line).
"""
from __future__ import annotations

import math

from profiler.triage.growth import FLAT_ABS, INIT_ONCE, LEAK, POOL, TRANSIENT, UNKNOWN, fmt_bytes

# a change counts as none within max(FLAT_ABS, REL_TOL x the larger of the two)
REL_TOL = 0.01


def _num(x) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def _key(r: dict):
    """A site's label without directories (two builds still pair). Not its loss kind: memcheck
    gives one stack one site, and the most severe kind among its blocks can differ between the
    two runs (a stale interior pointer makes one block possibly lost in one of them)."""
    from profiler.triage.diff import join_key

    return join_key(r["site"])


def _rows(capture) -> dict:
    out: dict = {}
    for r in capture.sites.to_dict("records"):
        k = _key(r)
        if k in out:      # the same label twice (two stacks naming one frame): add them up
            o = out[k]
            o["live_bytes_end"] = (_num(o["live_bytes_end"]) or 0) + (_num(r["live_bytes_end"]) or 0)
            o["alloc_count"] = (_num(o["alloc_count"]) or 0) + (_num(r["alloc_count"]) or 0)
            o["leak_kind"] = _severest(o["leak_kind"], r["leak_kind"])
        else:
            out[k] = dict(r)
    return out


def _severest(a, b):
    """The more severe of two memcheck loss kinds (None for a tool without kinds)."""
    from profiler.parsers.memcheck import ALL_KINDS

    kinds = [k for k in (a, b) if isinstance(k, str) and k in ALL_KINDS]
    return min(kinds, key=ALL_KINDS.index) if kinds else None


def judge_site(live_a: float, live_b: float, blocks_a, blocks_b, a: int, b: int) -> tuple[str, float, str]:
    """(verdict, bytes per unit of n, evidence) from one site's bytes at exit at n=a and n=b."""
    rate = (live_b - live_a) / (b - a)
    tol = max(FLAT_ABS, REL_TOL * max(abs(live_a), abs(live_b)))
    both = f"{fmt_bytes(live_a)} at n={a}, {fmt_bytes(live_b)} at n={b}"
    ba, bb = _num(blocks_a), _num(blocks_b)
    blocks = (f" ({int(ba)} and {int(bb)} block{'s' if bb != 1 else ''})"
              if ba is not None and bb is not None else "")
    if live_b - live_a > tol:
        return LEAK, rate, f"{both}{blocks}: +{fmt_bytes(rate)} per unit of n, grows with the work"
    if max(live_a, live_b) <= 0:
        return TRANSIENT, 0.0, f"nothing live at exit at n={a} or n={b}: freed"
    if live_a - live_b > tol:
        return POOL, rate, f"{both}{blocks}: less with more work, not growing with it (reused or trimmed)"
    if ba is not None and bb is not None and min(ba, bb) > 1:
        return POOL, 0.0, (f"{both}{blocks}: the same at both sizes in several blocks, a pool that "
                           f"reached its level and does not grow with the work")
    return INIT_ONCE, 0.0, f"{both}{blocks}: the same at both sizes, set-up kept, not growing with the work"


def judge(captures_a: list, captures_b: list, a: int, b: int) -> dict:
    """Per-site differential verdicts for the captures of the two runs (paired by format). JSON-able."""
    from profiler.triage.runverdict import MIN_MATERIAL_BYTES_PER_ITER

    by_fmt_b = {c.format: c for c in captures_b}
    sites, pairs = [], []
    for ca in captures_a:
        cb = by_fmt_b.get(ca.format)
        if cb is None:
            continue
        pairs.append(ca.format)
        ra, rb = _rows(ca), _rows(cb)
        for k in list(ra) + [k for k in rb if k not in ra]:
            x, y = ra.get(k), rb.get(k)
            ref = y or x
            row = {"site": k, "leak_kind": _severest(x["leak_kind"] if x else None, y["leak_kind"] if y else None),
                   "backend": ca.format,
                   "function": ref["function"] if isinstance(ref["function"], str) else None,
                   "module": ref["module"] if isinstance(ref["module"], str) else None,
                   "category": ref["category"],
                   "live_a": int(_num(x["live_bytes_end"]) or 0) if x else None,
                   "live_b": int(_num(y["live_bytes_end"]) or 0) if y else None,
                   "blocks_a": _num(x["alloc_count"]) if x else None,
                   "blocks_b": _num(y["alloc_count"]) if y else None,
                   "verdict_a": x["verdict"] if x else None, "verdict_b": y["verdict"] if y else None}
            if x is None or y is None:
                which = b if x is None else a
                live = row["live_b"] if x is None else row["live_a"]
                verdict, rate = (UNKNOWN, 0.0) if live else (TRANSIENT, 0.0)
                ev = (f"only in the n={which} run ({fmt_bytes(live or 0)} at exit): not matched across the sizes"
                      if live else f"only in the n={which} run, nothing live at exit")
            else:
                verdict, rate, ev = judge_site(row["live_a"], row["live_b"], row["blocks_a"], row["blocks_b"], a, b)
            row.update(verdict=verdict, bytes_per_n=float(rate), evidence=ev)
            sites.append(row)
    sites.sort(key=lambda r: (-(r["bytes_per_n"] if r["verdict"] == LEAK else 0), str(r["site"])))
    leaking = [r for r in sites if r["verdict"] == LEAK and r["bytes_per_n"] >= MIN_MATERIAL_BYTES_PER_ITER]
    minor = [r for r in sites if r["verdict"] == LEAK and r["bytes_per_n"] < MIN_MATERIAL_BYTES_PER_ITER]
    counts: dict = {}
    for r in sites:
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
    verdict = "leak" if leaking else ("plateau" if sites else "inconclusive")
    if leaking:
        explained = (f"Leak with the work: {len(leaking)} site(s) hold more at exit at n={b} than at n={a}: "
                     + ", ".join(f"{r['function'] or r['site']} +{fmt_bytes(r['bytes_per_n'])}/n"
                                 for r in leaking[:5]) + ".")
    elif sites:
        explained = (f"No site grows with the work between n={a} and n={b}"
                     + (f" ({len(minor)} grow less than {fmt_bytes(MIN_MATERIAL_BYTES_PER_ITER)} per unit of n)"
                        if minor else "") + ".")
    else:
        explained = "No capture pair to compare."
    return {"a": a, "b": b, "formats": pairs, "verdict": verdict, "explained": explained, "verdicts": counts,
            "leaking_sites": leaking, "minor_growth_sites": minor, "sites": sites,
            "unit": "n", "min_bytes_per_n": MIN_MATERIAL_BYTES_PER_ITER}
