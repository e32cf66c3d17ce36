"""Analysis of the per-iteration memory series: phases, blocks, regression, verdict, budget.

`load_series(path)` reads a run directory, JSONL or CSV into a DataFrame;
`analyze_series(df)` turns it into a `SeriesAnalysis` (profiler/results/series.py: all memory
in MB = 2**20 bytes, the MiB of /proc; its to_json() is analysis.json's `series`).
"""
from __future__ import annotations

from dataclasses import replace

from profiler.analysis.series import load_series
from profiler.results.series import (Block, Fit, GcSummary, LatePhase, LateTrend, Point, Reclaim, Sawtooth,
                                     SeriesAnalysis, Span, Stable, TrendTest)

__all__ = ["load_series", "analyze_series"]


def analyze_series(df, block: int = 10) -> SeriesAnalysis:
    """Everything the series says (MB = 2**20 bytes; slopes in MB per iteration): the fields of
    SeriesAnalysis (profiler/results/series.py), which documents each part.

    Method: phases.py (phases), reclaims.py (reclaims, the sawtooth envelope, what each reclaim
    gave back), verdict.py (verdict rules and budget), changepoints.py (level shifts), slowing.py
    (a decelerating rise), heapfloor.py (heap in use after reclaims and after the collection probe).

    Order of evidence: the heap floor (heap in use right after each reclaim, and after the
    collection probe's full gc.collect()) outranks the shape of RSS, which follows garbage
    awaiting collection and memory the allocator keeps. `evidence_basis` names what decided:
    "heap floor after reclaims", "collection probe" or "rss shape"; the RSS verdict is kept
    as `rss_verdict` and quoted in the evidence.
    """
    import numpy as np

    from profiler import stats
    from profiler.analysis import changepoints, decomposition, heapfloor, permodel, phases, reclaims, slowing, verdict
    from profiler.stats import MB, rnd, sig

    if block < 1:
        block = 10
    probes = list(df.attrs.get("probes") or [])    # the collection probe (series.py), not iterations
    df = df.sort_values("iteration", kind="stable").reset_index(drop=True)
    it = df["iteration"].to_numpy(dtype=np.int64)
    y = df["rss"].to_numpy(dtype=float) / MB
    n = int(y.size)
    x = it.astype(float)

    ph = phases.detect(it, y, df["model"].to_numpy(dtype=object) if "model" in df.columns else None)
    table = phases.phase_table(ph, it, y)
    s = ph.settle_end
    late_from = ph.growth_start if ph.growth_start is not None else s
    late_name = "growth" if ph.growth_start is not None else "stable"
    xs, ys = x[s:], y[s:]
    xl, yl = x[late_from:], y[late_from:]

    fit = stats.ols(xs, ys)
    ts = stats.theil_sen(xs, ys)
    mk = stats.mann_kendall(ys)
    late_mk = stats.mann_kendall(yl) if late_from != s else mk
    late_ts = stats.theil_sen(xl, yl) if late_from != s else ts
    late_ols = stats.ols(xl, yl) if late_from != s else fit
    desc = stats.describe(ys) if ys.size else {}
    mean_s = float(ys.mean()) if ys.size else float(y.mean())
    std_s = float(ys.std(ddof=1)) if ys.size > 1 else 0.0

    recent = None
    k = max(8, yl.size // 3)
    if yl.size >= 2 * k:
        recent = verdict.Recent(n=int(k), first=int(it[-k]), mk=stats.mann_kendall(yl[-k:]),
                                ts=stats.theil_sen(xl[-k:], yl[-k:]))
    env = ph.envelope
    if env:
        v, why = verdict.decide_envelope(env, n_stable=int(ys.size), late_name=late_name)
    else:
        v, why = verdict.decide(n_stable=int(ys.size), mk=late_mk, ts=late_ts, ols=late_ols, mean_mb=mean_s,
                                late_name=late_name, recent=recent)
    cp = changepoints.describe(it[s:], ys, mean_s) if ys.size >= 2 * changepoints.MIN_SIZE and not env else None
    slow = None
    if not env and v != "plateau" and ys.size >= verdict.MIN_STABLE:
        if cp and cp.shape == changepoints.STEP_THEN_FLAT:
            v, why = "plateau", changepoints.sentence(cp)
        elif late_name == "growth" or (recent and v == "inconclusive"):
            w = min(ph.warmup_end, late_from)
            slow = slowing.assess(it[w:], y[w:], mean_s)
            if slow:
                v, why = ("plateau" if slow.levelled_off else "inconclusive"), slowing.sentence(slow)
    rss_verdict, rss_why = v, why
    level = float(env.level_mb) if env and env.level_mb else mean_s
    floor = heapfloor.assess(df, probes, level)
    if floor and floor.verdict and n >= verdict.MIN_STABLE:
        v, why, basis = floor.verdict, floor.sentence, floor.basis
        outside = heapfloor.outside_climb(df, env, level) if v == "plateau" and rss_verdict == "leak" else None
        if outside:
            # the heap holds, but what RSS keeps outside the malloc heap climbs: the heap floor cannot see it
            v, why = "inconclusive", f"{why}; but {outside}"
    else:
        basis = RSS_SHAPE

    extrap = None
    if np.isfinite(fit.slope):
        extrap = fit.intercept + fit.slope * (x[-1] + 1000)
    current = (late_ts.intercept + late_ts.slope * x[-1]) if np.isfinite(late_ts.slope) else y[-1]

    evidence = [why]
    if basis != RSS_SHAPE:
        evidence.append(("RSS shape, outranked by the heap floor: " if rss_verdict != v else "RSS shape agrees: ")
                        + f"{rss_verdict}: {rss_why}")
    elif floor:
        evidence.append(floor.sentence)
    if cp and cp.steps and slow is None and not why.startswith("level shift"):
        evidence.append(changepoints.sentence(cp))
    evidence.append(_stable_sentence(table, it, y, s))
    events = reclaims.attribute(df, list(ph.sawtooth.positions), it) if env else []
    if env:
        gc_its = tuple(e.iteration for e in events if e.gc_ran)
        table = [replace(row, gc_reclaims=gc_its) if row.reclaims is not None else row for row in table]
        evidence.extend(_reclaim_sentences(events))
        evidence.append(_envelope_sentence(env))
    evidence.append(
        ("raw series across the teeth (not the verdict's basis): " if env else "") +
        f"stable-phase slope {_pm(fit.slope)} MB/iter (OLS), 95% CI [{_pm(fit.ci[0])}, {_pm(fit.ci[1])}]; "
        f"Theil-Sen {_pm(ts.slope)} MB/iter, 95% CI [{_pm(ts.ci[0])}, {_pm(ts.ci[1])}]; "
        f"Mann-Kendall z={_f(mk.z)}, p={verdict._p(mk.p)}: "
        + ("rising" if mk.p < verdict.TREND_P and mk.z > 0 else
           "falling" if mk.p < verdict.TREND_P and mk.z < 0 else "no trend"))
    if late_from != s:
        evidence.append(
            f"growth phase from iteration {int(it[late_from])}: Theil-Sen {_pm(late_ts.slope)} MB/iter, "
            f"95% CI [{_pm(late_ts.ci[0])}, {_pm(late_ts.ci[1])}], Mann-Kendall p={verdict._p(late_mk.p)}")
    if extrap is not None and mean_s > 0 and not env:
        evidence.append(
            f"at the stable-phase slope, 1000 more iterations would add {_pm(fit.slope * 1000)} MB "
            f"({fit.slope * 1000 / mean_s:+.1%} of the stable mean {mean_s:.0f} MB)")

    if env:
        late = LatePhase(name=late_name, first=int(it[late_from]) if yl.size else None, basis="envelope",
                         theil_sen_mb_per_iter=env.troughs.mb_per_iter, theil_sen_ci_mb=(None, None), trend_test=None)
    else:
        late = LatePhase(name=late_name, first=int(it[late_from]) if yl.size else None, basis="series",
                         theil_sen_mb_per_iter=sig(late_ts.slope),
                         theil_sen_ci_mb=(sig(late_ts.ci[0]), sig(late_ts.ci[1])),
                         trend_test=LateTrend(name="mann-kendall", z=rnd(late_mk.z, 3), p=sig(late_mk.p, 3)))
    gc_events = reclaims.gc_events(df, it, {e.iteration for e in events})
    evidence.extend(e.sentence for e in gc_events[:3])
    if v == "leak" and basis == RSS_SHAPE and not env and "heap_in_use" not in df.columns:
        from profiler.analysis.footprint import served as _served

        evidence.append(_no_reclaim_caveat(n, _served(df)))
    gc = _gc_summary(df)
    if v != "plateau" and gc and not gc.full_collections and not (floor and floor.probe):
        evidence.append(gc.caveat)
    rows, growth = [], None
    if decomposition.available(df):
        rows = decomposition.rows(df)
        if env:
            # window means across a reclaim would mix teeth: measure the growth inside the longest finished tooth
            done = [t for t in env.teeth if t.complete] or list(env.teeth)
            tooth = max(done, key=lambda t: t.n)
            growth = decomposition.growth(rows, tooth.first, until_iteration=tooth.last,
                                          label=f"within the tooth of iterations {tooth.first}-{tooth.last}")
        else:
            growth = decomposition.growth(rows, int(it[min(ph.warmup_end, n - 1)]))
        if growth:
            evidence.append(growth.sentence)
    if env:
        slope_rec = env.troughs.mb_per_iter or 0.0
        current = max(t.peak_mb for t in env.teeth[-2:])
    else:
        slope_rec = float(late_ts.slope) if np.isfinite(late_ts.slope) else 0.0
    from profiler.analysis import footprint

    loaded = footprint.loaded(df)
    container = footprint.container(df)
    if container:
        evidence.append(container.sentence)
    served = footprint.served(df)
    recommendation = verdict.recommend(
        verdict=v, peak_mb=float(y.max()), mean_mb=mean_s, std_mb=std_s,
        slope=slope_rec, current_mb=float(current), envelope=env, loaded=loaded,
        unit="request" if served else "iteration")

    result = SeriesAnalysis(
        n=n,
        metric="rss",
        unit="MB (2^20 bytes)",
        iterations=Span(int(it[0]), int(it[-1])),
        verdict=v,
        evidence_basis=basis,
        basis_sentence=why,
        rss_verdict=rss_verdict,
        evidence=tuple(evidence),
        heap_floor=floor,
        probe=floor.probe if floor else None,
        change_points=cp,
        slowing=slow,
        phases=tuple(table),
        blocks=tuple(Block(**b) for b in stats.blocks(it, y, block)),
        block_size=int(block),
        stable=(Stable(first=int(it[s]), last=int(it[-1]), n=int(ys.size), **desc) if ys.size else None),
        noise_sigma_mb=rnd(ph.sigma),
        slope_mb_per_iter=sig(fit.slope),
        slope_ci_mb=(sig(fit.ci[0]), sig(fit.ci[1])),
        fit=Fit(intercept_mb=rnd(fit.intercept, 4), slope_mb_per_iter=sig(fit.slope, 6),
                first=int(it[s]) if ys.size else None, last=int(it[-1]), r_std_mb=rnd(fit.resid_std)),
        theil_sen_mb_per_iter=sig(ts.slope),
        theil_sen_ci_mb=(sig(ts.ci[0]), sig(ts.ci[1])),
        trend_test=TrendTest(name="mann-kendall", s=mk.s, z=rnd(mk.z, 3), p=sig(mk.p, 3), n=mk.n),
        late_phase=late,
        extrapolation_1000_mb=rnd(extrap),
        extrapolation_note="stable-phase OLS line evaluated 1000 iterations after the last one",
        sawtooth=_sawtooth(ph.sawtooth, it),
        envelope=env,
        reclaims=tuple(events),
        gc_events=tuple(gc_events),
        peak_mb=rnd(y.max()),
        points=_points(df, it, y),
        per_model=permodel.per_model(df, stable_from=s),
        gc=gc,
        decomposition=tuple(rows),
        decomposition_growth=growth,
        loaded=loaded,
        container=container,
        recommendation=recommendation,
    )
    if "sample_s" in df.columns:   # memprof watch: samples over time, worded per hour
        result = footprint.time_based(result, df)
    elif served:                   # memprof serve: one record per request
        result = footprint.per_request(result)
    return result


SHOWN_RECLAIMS = 3
# evidence_basis values, strongest first (the run verdict adds SITE_TIMELINE above them, triage/runverdict.py)
RSS_SHAPE = "rss shape"


def _gc_summary(df) -> GcSummary | None:
    """Python's garbage-collector activity over the run, when the records carry it. A run in which no
    full collection ran cannot tell a leak from reference cycles waiting for one: say so."""
    if "gc_collections" not in df.columns:
        return None
    col = "gc_full_collections" if "gc_full_collections" in df.columns else "gc_collections"
    full = int(df[col].fillna(0).sum())
    return GcSummary(
        collections=int(df["gc_collections"].fillna(0).sum()),
        full_collections=full,
        collected=int(df["gc_collected"].fillna(0).sum()) if "gc_collected" in df.columns else None,
        counted="generation 2" if col == "gc_full_collections" else "all generations",
        caveat=(f"Python's cyclic garbage collector ran no {'full ' if col == 'gc_full_collections' else ''}"
                f"collection in these {len(df)} iterations: memory held by unreachable reference cycles grows "
                "like a leak until one runs; a longer run, or `memprof run --collect-garbage`, tells the two apart"))


def _no_reclaim_caveat(n: int, served: bool) -> str:
    """Why a leak read from the RSS line alone is the weakest evidence when nothing was ever given back."""
    return (f"no reclaim was seen in these {n} iterations and the records carry no heap figures"
            + (" (the server is measured from outside)" if served else "") + ": memory that Python's collector or the allocator gives back later rises "
            "the same way until it does; a longer run shows whether a reclaim comes and where the floor after "
            "it lies")


def _reclaim_sentences(events: list[Reclaim]) -> list[str]:
    """What each reclaim gave back; a long list is cut (the report's reclaim table has them all)."""
    if events and all(e.kind == "unknown" for e in events):
        falls = [-(e.rss_change_mb or 0.0) for e in events]
        gave = (f"1 reclaim gave back {falls[0]:.1f} MB" if len(falls) == 1 else
                f"{len(events)} reclaims gave back {min(falls):.1f}-{max(falls):.1f} MB each")
        return [f"{gave}; the records carry no heap or GC figures to say what was given back"]
    out = [e.sentence for e in events[:SHOWN_RECLAIMS]]
    rest = events[SHOWN_RECLAIMS:]
    if rest:
        kinds = sorted({e.kind for e in rest})
        out.append(f"{len(rest)} more reclaim(s) (iterations {rest[0].iteration}-{rest[-1].iteration}), "
                   f"of kind {', '.join(kinds)}")
    return out


def _envelope_sentence(env) -> str:
    """How long the teeth are and where the peak is: what a budget must cover."""
    k = len(env.reclaims)
    done = [t for t in env.teeth if t.complete]
    lengths = sorted({t.n for t in done})
    span = f"{lengths[0]}" if len(lengths) == 1 else f"{lengths[0]}-{lengths[-1]}"
    text = (f"envelope: {k} reclaim{'s' if k != 1 else ''}; a finished tooth lasts {span} iterations "
            f"and the highest peak is {env.highest_peak_mb:.1f} MB at iteration {env.highest_peak_iteration}")
    if k == 1:
        text += ("; only one reclaim was seen, so how often reclaims come is not known: "
                 "a budget must cover the peak (a longer tooth would peak higher)")
    return text


def _sawtooth(saw, it) -> Sawtooth | None:
    """phases.py's Trims (positions) in iterations: trim_iterations is the first after each drop."""
    if not saw:
        return None
    return Sawtooth(trims=saw.trims, period=saw.period, mean_trim_mb=saw.mean_trim_mb,
                    trim_iterations=tuple(int(it[p]) for p in saw.positions))


def _points(df, it, y) -> tuple[Point, ...]:
    models = df["model"].tolist() if "model" in df.columns else [None] * len(it)
    return tuple(Point(iteration=int(i), rss_mb=round(float(v), 3),
                       model=str(m) if m is not None and m == m else None)
                 for i, v, m in zip(it, y, models))


def _f(x, nd=2) -> str:
    import math

    return "n/a" if x is None or not math.isfinite(x) else f"{x:.{nd}f}"


def _pm(x) -> str:
    import math

    from profiler.stats import sig

    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{sig(x, 3):+g}"


def _stable_sentence(table, it, y, s) -> str:
    warm = [p for p in table if p.name == "warmup"]
    settle = [p for p in table if p.name == "settling"]
    if s >= len(it):
        return "no stable phase"
    head = f"stable phase: iterations {int(it[s])}-{int(it[-1])} ({len(it) - s} iterations)"
    if warm:
        w = warm[0]
        head += (f", after a warmup in iterations {w.first}-{w.last} "
                 f"({w.start_mb:.0f} → {w.end_mb:.0f} MB)")
    if settle:
        head += f" and settling in {settle[0].first}-{settle[0].last}"
    return head
