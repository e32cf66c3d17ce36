"""What a server needs while it serves, and what the container counts: the figures beside the verdict.

The verdict is decided on RSS after unload (what stays). A server is sized by
what it holds while a model is loaded and generating: `rss_peak` (the RSS
high-water mark of each iteration) and `rss_after_load`. `loaded()` summarises
them for the budget, the plot and the per-model table.

A container runtime kills by the memory cgroup's figure, not RSS. `container()`
puts the two side by side and splits the gap: page cache (files read or mapped,
the model files among them, counted by the cgroup even after they are unmapped
until the kernel reclaims them) minus the file pages RSS already counts, kernel
memory, and anonymous memory of other processes in the group.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from profiler.stats import MB, rnd
from profiler.fmt import fmt_duration
from profiler.results.series import Container, GapParts, Loaded, LoadedPoint, SeriesAnalysis, TimeBased


def _col(df, name):
    if name not in df.columns:
        return None
    v = df[name].astype(float).to_numpy()
    return v if np.isfinite(v).any() else None


def loaded(df) -> Loaded | None:
    """{peak_mb, peak_iteration, peak_model, after_load_max_mb, headroom_mb, points[...]} or None
    when the records carry no per-iteration peak (older runs, watch samples, foreign series)."""
    peak = _col(df, "rss_peak")
    if peak is None:
        return None
    rss = df["rss"].astype(float).to_numpy()
    after = _col(df, "rss_after_load")
    it = df["iteration"].to_numpy()
    models = df["model"].tolist() if "model" in df.columns else [None] * len(df)
    k = int(np.nanargmax(peak))
    over = peak - rss
    over = over[np.isfinite(over)]
    points = []
    for i in range(len(df)):
        p = {"iteration": int(it[i]), "rss_peak_mb": rnd(peak[i] / MB) if np.isfinite(peak[i]) else None}
        if after is not None:
            p["rss_after_load_mb"] = rnd(after[i] / MB) if np.isfinite(after[i]) else None
        points.append(LoadedPoint(**p))
    method = None
    if "peak_method" in df.columns:
        methods = sorted({str(m) for m in df["peak_method"].dropna()})
        method = ", ".join(methods) or None
    m = models[k]
    return Loaded(
        peak_mb=rnd(peak[k] / MB),
        peak_iteration=int(it[k]),
        peak_model=None if m is None or m != m else str(m),
        after_load_max_mb=rnd(np.nanmax(after) / MB) if after is not None else None,
        # what a loaded model adds on top of what stays after unload (median over iterations)
        headroom_mb=rnd(float(np.median(over)) / MB) if over.size else None,
        # the largest model's: what the budget and a leak's projection add on top of the after-unload level
        headroom_max_mb=rnd(float(np.max(over)) / MB) if over.size else None,
        method=method,
        points=tuple(points),
    )


CONTAINER_PARTS = ("usage", "anon", "file", "file_mapped", "kernel", "limit", "procs")


def container(df) -> Container | None:
    """The memory cgroup beside RSS at the last record, with the gap split into its parts
    and the cgroup's growth over the run; None when the records carry no cgroup figures."""
    usage = _col(df, "cgroup_usage")
    if usage is None:
        return None
    last = df.iloc[-1]

    def mb(key):
        v = last.get(key)
        try:
            v = float(v)
        except (TypeError, ValueError):
            return None
        return rnd(v / MB) if np.isfinite(v) else None

    out = {"version": int(last.get("cgroup_version")) if last.get("cgroup_version") == last.get("cgroup_version")
           else None, "iteration": int(last["iteration"])}
    for k in CONTAINER_PARTS:
        out[f"{k}_mb" if k != "procs" else k] = mb(f"cgroup_{k}") if k != "procs" else (
            int(last["cgroup_procs"]) if "cgroup_procs" in df.columns and last["cgroup_procs"] == last["cgroup_procs"]
            else None)
    out["rss_mb"] = mb("rss")
    out["rss_anon_mb"] = mb("rss_anon")
    out["rss_file_mb"] = mb("rss_file")
    if out["usage_mb"] is None or out["rss_mb"] is None:
        return None
    gap = out["usage_mb"] - out["rss_mb"]
    parts = {}
    if out["file_mb"] is not None and out["rss_file_mb"] is not None:
        parts["page_cache_beyond_rss_mb"] = rnd(out["file_mb"] - out["rss_file_mb"])
    if out["kernel_mb"] is not None:
        parts["kernel_mb"] = out["kernel_mb"]
    if out["anon_mb"] is not None and out["rss_anon_mb"] is not None:
        parts["other_anon_mb"] = rnd(out["anon_mb"] - out["rss_anon_mb"])
    out["gap_mb"] = rnd(gap)
    out["gap_parts"] = GapParts(**parts)
    growth = (usage[np.isfinite(usage)][-1] - usage[np.isfinite(usage)][0]) / MB
    rss = df["rss"].astype(float).to_numpy()
    out["usage_growth_mb"] = rnd(growth)
    out["rss_growth_mb"] = rnd((rss[-1] - rss[0]) / MB)
    out["sentence"] = ""
    c = Container(**out)
    return replace(c, sentence=_sentence(c))


def _sentence(c: Container) -> str:
    head = (f"The memory cgroup (v{c.version}) counts {c.usage_mb:,.1f} MB at iteration {c.iteration}, "
            f"RSS {c.rss_mb:,.1f} MB: {abs(c.gap_mb):,.1f} MB {'more' if c.gap_mb >= 0 else 'less'}")
    why = []
    p = c.gap_parts
    if p.page_cache_beyond_rss_mb is not None:
        why.append(f"page cache beyond the file pages RSS maps {p.page_cache_beyond_rss_mb:+,.1f} MB (files read or "
                   "mapped, model files included, stay charged to the cgroup after unmapping until reclaimed; "
                   "pages another cgroup brought in first stay charged there, so a model file cached before the "
                   "run can count in RSS and not here)")
    if p.kernel_mb is not None:
        why.append(f"kernel memory {p.kernel_mb:,.1f} MB (page tables, slab, sockets)")
    if p.other_anon_mb is not None:
        procs = c.procs
        who = f"the other {procs - 1} process(es) in the group" if procs and procs > 1 else "no other process"
        why.append(f"anonymous memory beyond this process's {p.other_anon_mb:+,.1f} MB ({who})")
    text = head + (": " + "; ".join(why) if why else "")
    text += (f". Over the run the cgroup grew {c.usage_growth_mb:+,.1f} MB and RSS {c.rss_growth_mb:+,.1f} MB")
    if c.limit_mb:
        text += f"; the cgroup's limit is {c.limit_mb:,.0f} MB (an OOM kill follows the cgroup's figure)"
    return text + "."



def time_based(result: SeriesAnalysis, df) -> SeriesAnalysis:
    """Reword a time-sampled series (`memprof watch`: one record per sample, `sample_s` seconds
    since the watch began) per hour: the statistics are computed per sample, and a slope per
    sample means nothing to whoever sizes a server. Returns the analysis with `time_based` and
    the evidence, the recommendation's and the container's sentences in MB per hour and in samples
    (unchanged when the samples carry no usable clock)."""
    import re

    t = df["sample_s"].astype(float).to_numpy()
    t = t[np.isfinite(t)]
    if t.size < 2:
        return result
    dt = float(np.median(np.diff(t)))
    if not dt > 0:
        return result
    per_hour = 3600.0 / dt

    def ph(x):
        return None if x is None else rnd(x * per_hour, 3)

    tb = TimeBased(
        seconds_per_sample=rnd(dt, 4), duration_s=rnd(float(t[-1] - t[0]), 3),
        slope_mb_per_hour=ph(result.slope_mb_per_iter),
        slope_ci_mb_per_hour=tuple(ph(v) for v in result.slope_ci_mb),
        late_slope_mb_per_hour=ph(result.late_phase.theil_sen_mb_per_iter),
    )
    num = re.compile(r"([+-]?\d+(?:\.\d+)?(?:e[+-]?\d+)?) MB/iter(?:ation)?\b")

    ci = re.compile(r"CI \[([+-]?[0-9.e+-]+), ([+-]?[0-9.e+-]+)\]( MB/iter)?")

    def _ci(m) -> str:
        try:
            return f"CI [{_g(float(m.group(1)) * per_hour)}, {_g(float(m.group(2)) * per_hour)}] MB/hour"
        except ValueError:
            return m.group(0)

    def reword(text: str) -> str:
        text = ci.sub(_ci, text)   # every interval in the evidence is a slope's, per sample
        text = num.sub(lambda m: f"{_g(float(m.group(1)) * per_hour)} MB/hour", text)
        text = text.replace("per 1000 iterations", f"per {1000 * dt / 3600:.3g} hours (1000 samples)")
        return _in_steps(text, "sample", "samples")

    evidence = [reword(e) for e in result.evidence]
    slope_h = tb.slope_mb_per_hour
    evidence.insert(1, f"time-based series: one sample every {dt:.3g} s over {t[-1] - t[0]:.0f} s; "
                       f"stable-phase slope {_g(slope_h) if slope_h is not None else 'n/a'} MB/hour")
    rec = result.recommendation
    if rec.sentence:
        rec = replace(rec, sentence=reword(rec.sentence))
    if rec.iterations_to_alert is not None:
        rec = replace(rec, hours_to_alert=rnd(rec.iterations_to_alert * dt / 3600.0, 3))
    if rec.iterations_to_ram is not None:
        rec = replace(rec, hours_to_ram=rnd(rec.iterations_to_ram * dt / 3600.0, 3))
    if rec.hours_to_alert is not None and rec.sentence:
        rec = replace(rec, sentence=rec.sentence + (
            f" At one sample every {dt:.3g} s that is ~{fmt_duration(rec.hours_to_alert * 3600)} to the "
            f"alert threshold and ~{fmt_duration(rec.hours_to_ram * 3600)} to the RAM."))
    phases = tuple(replace(p, first_s=rnd(float(t[min(p.first, t.size) - 1]), 3) if p.first else None)
                   for p in result.phases)
    container = replace(result.container, sentence=reword(result.container.sentence)) if result.container else None
    return replace(result, time_based=tb, evidence=tuple(evidence), basis_sentence=reword(result.basis_sentence),
                   recommendation=rec, phases=phases, container=container)


def _in_steps(text: str, one: str, many: str) -> str:
    """`text` with "iteration(s)" as the series' own step (a watch's sample, a server's request)."""
    import re

    text = re.sub(r"\bMB/iter(?:ation)?\b", f"MB/{one}", text)
    text = re.sub(r"\biterations\b", many, text)
    return re.sub(r"\biteration\b", one, text)


def served(df) -> bool:
    """Whether the records are `memprof serve`'s: one per request (workload/server.py)."""
    return "strategy" in df.columns and bool(len(df)) and bool((df["strategy"] == "server").all())


def per_request(result: SeriesAnalysis) -> SeriesAnalysis:
    """Word a served run (`memprof serve`: one record per request, RSS measured after each response
    while the server still holds the model) per request: the evidence and the recommendation's and
    the container's sentences say requests where a loop says iterations. The figures do not change."""
    rec = replace(result.recommendation, sentence=_in_steps(result.recommendation.sentence, "request", "requests"))
    container = (replace(result.container, sentence=_in_steps(result.container.sentence, "request", "requests"))
                 if result.container else None)
    return replace(result, evidence=tuple(_in_steps(e, "request", "requests") for e in result.evidence),
                   basis_sentence=_in_steps(result.basis_sentence, "request", "requests"),
                   reclaims=tuple(replace(e, sentence=_in_steps(e.sentence, "request", "requests"))
                                  for e in result.reclaims),
                   gc_events=tuple(replace(e, sentence=_in_steps(e.sentence, "request", "requests"))
                                   for e in result.gc_events),
                   recommendation=rec, container=container)


def _g(x: float) -> str:
    return f"{x:+,.0f}" if abs(x) >= 1000 else f"{x:+.3g}"
