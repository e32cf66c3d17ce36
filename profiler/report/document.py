"""The report's content as a list of neutral blocks, rendered to markdown and to HTML.

Building the content once keeps report.md and report.html saying the same thing,
and leaves escaping to one place per output format: every block holds plain
strings taken from the data, never markup, so a site named `<script>` stays text.

Blocks: ("h", level, text) | ("p", text) | ("strong", text) | ("ul", [text])
        | ("table", [header], [[cell]]) | ("img", relative_path, alt)
A text or a cell is a plain string, or a list of spans for names that must stay
literal: a plain string, ("code", text), ("b", text) or ("br", markdown separator)
(a line break in HTML). Every section, the allocation-site section included, is blocks.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass

from profiler.constants import MB  # noqa: F401
from profiler.fmt import fmt_bytes, fmt_mb, fmt_signed  # noqa: F401  (console and others import them from here)
from profiler.fmt import fmt_num as _num
from profiler.results.analysis import AnalysisResult
from profiler.results.series import Envelope, EnvelopeTest, Phase, Reclaim, Recommendation, SeriesAnalysis
from profiler.results.sites import CaptureResult
from profiler.stats import sig


def code(text) -> tuple:
    """A code span: a name from a capture, shown literally ("?" when missing)."""
    return ("code", str(text if text is not None else "?"))


def series_of(result: AnalysisResult) -> SeriesAnalysis | None:
    """The result's series analysis (None without one)."""
    return result.series


@dataclass(frozen=True)
class Steps:
    """How the series sections word one step of the series: an iteration of a load/unload loop, a
    sample of `memprof watch` (its slopes per hour), a request of `memprof serve` (RSS after the
    response, the model still loaded). The statistics are per step; only the words and, for a
    watch, the slopes' unit change."""
    one: str = "iteration"
    many: str = "iterations"
    per: str = " MB/iter"
    scale: float = 1.0                  # a per-step slope times this is the slope in `per`
    level: str = "RSS after unload"     # what the series measures at each step
    projection: str = ""                # the 1000-step projection, when the note must be reworded

    def slope(self, x):
        return None if x is None else sig(x * self.scale, 4)

    def signed(self, x) -> str:
        return fmt_signed(self.slope(x), self.per)


ITERATIONS = Steps()


def steps_of(result: AnalysisResult | None, s: SeriesAnalysis | None) -> Steps:
    """The words for the series `s` of `result`: a watch by its per-hour figures, a served run by
    the run's meta (without a result, a watch is still recognised)."""
    if s and s.time_based and s.time_based.seconds_per_sample:
        dt = s.time_based.seconds_per_sample
        return Steps("sample", "samples", " MB/hour", 3600.0 / dt, "RSS at each sample",
                     f"stable-phase OLS line evaluated 1000 samples ({1000 * dt / 3600:.3g} hours) after the last one")
    if result is not None and result.meta.get("workload") == "server":
        return Steps("request", "requests", " MB/request", 1.0, "RSS after each request",
                     "stable-phase OLS line evaluated 1000 requests after the last one")
    return ITERATIONS


def phase_behaviour(p: Phase, steps: Steps = ITERATIONS) -> str:
    if p.name == "warmup":
        return f"{p.start_mb:,.0f} → {p.end_mb:,.0f} MB ({p.end_mb - p.start_mb:+,.0f} MB)"
    if p.name == "settling":
        return f"approaching the plateau, mean {p.mean_mb:,.0f} MB"
    if p.shape == "sawtooth" and p.reclaims is not None:
        return sawtooth_behaviour(p, steps)
    if p.name == "growth":
        return f"rising {p.start_mb:,.0f} → {p.end_mb:,.0f} MB ({p.end_mb - p.start_mb:+,.0f} MB)"
    if p.name == "rising":
        return (f"mean {p.mean_mb:,.0f} MB, {p.start_mb:,.0f} → {p.end_mb:,.0f} MB: a trend test points up, "
                "but not all of the leak rule's (see the verdict)")
    return f"stable ~{p.mean_mb:,.0f} MB (±{p.std_mb or 0:,.0f} MB)"


def sawtooth_behaviour(p: Phase, steps: Steps = ITERATIONS) -> str:
    """A sawtooth phase: between which levels, reclaimed where, how long a tooth is."""
    its = p.reclaims or ()
    gc = set(p.gc_reclaims or ())
    where = ", ".join(f"{i} (gc)" if i in gc else str(i) for i in its[:8]) + (", ..." if len(its) > 8 else "")
    n = len(its)
    head = "sawtooth with climbing troughs" if p.name == "growth" else "sawtooth"
    text = f"{head} {p.trough_mb or 0:,.0f} → {p.peak_mb or 0:,.0f} MB, {n} reclaim{'s' if n != 1 else ''} at {where}"
    if p.tooth_length:
        text += f", a tooth lasts ~{p.tooth_length:g} {steps.many}"
    return text


def build(result: AnalysisResult, images: dict[str, str]) -> list[tuple]:
    """The blocks of the whole report. `images` maps plot name -> path relative to the report."""
    from profiler.report import triage_section

    s = result.series
    steps = steps_of(result, s)
    verdict = result.verdict or "inconclusive"
    doc: list[tuple] = [("h", 1, f"Memory analysis: {result.source.path}".rstrip(": "))]
    if result.cut is not None:
        doc.append(("p", [("b", result.cut.line()), "; the figures below cover the run up to the cut."]))

    # executive summary ------------------------------------------------------
    doc.append(("h", 2, "Executive summary"))
    doc.append(("strong", f"VERDICT: {verdict.upper()}: {_verdict_gloss(verdict, s, steps)}"))
    for t in result.truncated or ():
        doc.append(("p", f"Truncated capture {t.path}: {t.summary}; the analysis stops at the cut."))
    for w in result.warnings or ():
        if not any(w == f"{t.path}: {t.summary}" for t in result.truncated or ()):
            doc.append(("p", f"Warning: {w}"))
    # the series' evidence here; the capture evidence is listed in the triage section
    evidence = list(result.series.evidence) if result.series is not None else []
    if result.explanation:
        evidence.insert(0, result.explanation)
    if evidence:
        doc.append(("ul", evidence))
    rec = result.recommendation or (result.series.recommendation if result.series is not None else None)
    if rec is not None and rec.sentence:
        doc.append(("p", rec.sentence))

    if s is not None:
        _series_sections(doc, s, images, steps)

    doc.extend(triage_section.blocks(result))

    # the capture totals; the sites are the triage section's (it has something to say for every capture)
    _captures_section(doc, result.captures)

    _recommendations_section(doc, rec, steps)

    _measured_section(doc, result)
    return doc


def _verdict_gloss(verdict: str, s: SeriesAnalysis | None, steps: Steps = ITERATIONS) -> str:
    if verdict == "plateau" and s and s.envelope:
        return "memory grows and is reclaimed (a sawtooth); the reclaims leave nothing behind"
    if verdict == "plateau":
        return "memory plateaus after warmup; no unbounded growth" if s else "no allocation site keeps growing"
    if verdict == "leak":
        if s and s.verdict == "leak":
            slope = s.late_phase.theil_sen_mb_per_iter
            if slope is not None and s.envelope:
                return f"the troughs between reclaims keep climbing ({slope:+g} MB/{steps.one})"
            if s.time_based and s.time_based.late_slope_mb_per_hour is not None:
                return f"memory keeps growing ({s.time_based.late_slope_mb_per_hour:+,.1f} MB/hour)"
            if slope is not None:
                return f"memory keeps growing ({slope:+g} MB/{steps.one})"
        return "allocation sites keep growing (see the allocation sites)"
    return "not enough evidence either way"


def _recommendations_section(doc: list, rec: Recommendation | None, steps: Steps = ITERATIONS) -> None:
    """The budget table, from the series (call stacks alone give none), worded after the run's
    verdict (the result's recommendation)."""
    doc.append(("h", 2, "Recommendations"))
    if rec is None:
        doc.append(("p", "No memory series: no budget can be derived from call stacks alone."))
        return
    doc.append(("table", ["Item", "Value"], [
        ["Max expected memory", fmt_mb(rec.max_expected_mb)],
        ["Alert threshold", fmt_mb(rec.alert_mb)],
        ["Recommended RAM", fmt_mb(rec.ram_mb)],
        ["Budget covers", "the loaded peak (model loaded and generating)" if rec.basis == "loaded peak"
         else f"{steps.level} (the records carry no loaded peak)"],
    ] + ([[f"{steps.many.capitalize()} until the alert threshold", str(rec.iterations_to_alert)]]
         if rec.iterations_to_alert is not None else [])
      + ([["Hours until the alert threshold", f"{rec.hours_to_alert:g}"]] if rec.hours_to_alert is not None else [])
      + ([[f"{steps.many.capitalize()} until RAM is full", str(rec.iterations_to_ram)]]
         if rec.iterations_to_ram is not None else [])
      + ([["Hours until RAM is full", f"{rec.hours_to_ram:g}"]] if rec.hours_to_ram is not None else [])))
    if rec.sentence:
        doc.append(("p", rec.sentence))
    if rec.rule:
        doc.append(("p", f"Rule: {rec.rule}."))


def _series_sections(doc: list, s: SeriesAnalysis, images: dict, steps: Steps = ITERATIONS) -> None:
    doc.append(("h", 2, "Phases"))
    doc.append(("p", f"{s.n} {steps.many} ({s.iterations.first}-{s.iterations.last}), "
                     f"memory in {s.unit}; phases found from the data (see how this was measured)."))
    doc.append(("table", ["Phase", steps.many.capitalize(), "n", "Mean", "Behaviour"], [
        [p.name.capitalize(), f"{p.first}-{p.last}", str(p.n), fmt_mb(p.mean_mb), phase_behaviour(p, steps)]
        for p in s.phases]))
    if "memory" in images:
        doc.append(("img", images["memory"], f"RSS per {steps.one} with phases, block means and the stable-phase fit"
                    + (" (dotted lines: reclaims)" if s.reclaims else "")))
    _reclaims_section(doc, s, steps)

    doc.append(("h", 2, f"Memory by {s.block_size}-{steps.one} blocks"))
    doc.append(("table", ["Block", steps.many.capitalize(), "Mean", "Min", "Max", "Change vs previous"], [
        [str(b.block), f"{b.first}-{b.last}", fmt_mb(b.mean_mb), fmt_mb(b.min_mb), fmt_mb(b.max_mb),
         "" if b.delta_mb is None else f"{b.delta_mb:+,.0f} MB"]
        for b in s.blocks]))

    st = s.stable
    if st:
        doc.append(("h", 2, f"Stable phase statistics ({steps.many} {st.first}-{st.last})"))
        doc.append(("table", ["Statistic", "Value"], [
            [steps.many.capitalize(), str(st.n)],
            ["Mean", fmt_mb(st.mean_mb, 1)],
            ["Std dev", fmt_mb(st.std_mb, 1)],
            ["Min / max", f"{st.min_mb:,.1f} / {st.max_mb:,.1f} MB"],
            ["Range", fmt_mb(st.range_mb, 1)],
            ["Robust noise (sigma)", fmt_mb(s.noise_sigma_mb, 1)],
        ]))

    doc.append(("h", 2, "Regression on the stable phase"))
    if s.envelope:
        doc.append(("p", "The series has reclaims: these figures fit one line through the teeth and are shown for "
                         "reference; the verdict rests on the envelope (see Reclaim events)."))
    tt = s.trend_test
    ci, tci = s.slope_ci_mb, s.theil_sen_ci_mb
    rows = [
        ["OLS slope", f"{steps.signed(s.slope_mb_per_iter)}, 95% CI "
                      f"[{fmt_signed(steps.slope(ci[0]))}, {fmt_signed(steps.slope(ci[1]))}]"],
        ["Theil-Sen slope", f"{steps.signed(s.theil_sen_mb_per_iter)}, 95% CI "
                            f"[{fmt_signed(steps.slope(tci[0]))}, {fmt_signed(steps.slope(tci[1]))}]"],
        ["Mann-Kendall trend test", f"z = {_num(tt.z)}, p = {tt.p} (n = {tt.n})"],
        ["Projection", f"{fmt_mb(s.extrapolation_1000_mb)} ({steps.projection or s.extrapolation_note})"],
    ]
    late = s.late_phase
    if late.name == "growth" and s.stable and late.first != s.stable.first:
        lci = late.theil_sen_ci_mb
        rows.append([f"Growth phase (from {steps.one} {late.first})",
                     f"Theil-Sen {steps.signed(late.theil_sen_mb_per_iter)}, 95% CI "
                     f"[{fmt_signed(steps.slope(lci[0]))}, {fmt_signed(steps.slope(lci[1]))}], Mann-Kendall p = "
                     f"{late.trend_test.p if late.trend_test else None}"])
    doc.append(("table", ["Test", "Result"], rows))

    pm = s.per_model
    if pm:
        doc.append(("h", 2, "Per-model analysis"))
        models = list(pm)
        metrics = [("iterations", steps.many.capitalize(), lambda v: str(v)),
                   ("net_mb_per_switch", "Avg net MB per switch", lambda v: f"{v:+,.2f} MB"),
                   ("net_mb_per_switch_stable", "Avg net MB per switch (stable phase)", lambda v: f"{v:+,.2f} MB"),
                   ("rss_mean_mb", f"Mean {steps.level}", lambda v: fmt_mb(v)),
                   ("rss_after_load_mean_mb", "Mean RSS after load", lambda v: fmt_mb(v)),
                   ("rss_peak_mean_mb", "Mean peak while serving", lambda v: fmt_mb(v)),
                   ("rss_peak_max_mb", "Highest peak while serving", lambda v: fmt_mb(v)),
                   ("load_s", "Avg load time", lambda v: f"{v:.2f} s"),
                   ("ttft_s", "Avg time to first token", lambda v: f"{v:.2f} s"),
                   ("gen_s", "Avg generation time", lambda v: f"{v:.2f} s"),
                   ("tokens_per_s", "Avg tokens/s", lambda v: f"{v:.1f}"),
                   ("token_error_rate", "Token error rate vs first output", lambda v: f"{v:.1%}")]
        rows = []
        for key, label, f in metrics:
            vals = [getattr(pm[m], key) for m in models]
            if any(v is not None for v in vals):
                rows.append([label] + [("n/a" if v is None else f(v)) for v in vals])
        doc.append(("table", ["Metric"] + models, rows))

    c = s.container
    if c:
        doc.append(("h", 2, "Container view (memory cgroup)"))
        doc.append(("p", c.sentence))
        p = c.gap_parts
        doc.append(("table", ["Figure", "Memory cgroup", "This process (RSS)"], [
            ["Total", fmt_mb(c.usage_mb, 1), fmt_mb(c.rss_mb, 1)],
            ["Anonymous", fmt_mb(c.anon_mb, 1), fmt_mb(c.rss_anon_mb, 1)],
            ["Page cache / file-backed", fmt_mb(c.file_mb, 1), fmt_mb(c.rss_file_mb, 1)],
            ["  of which mapped files", fmt_mb(c.file_mapped_mb, 1), ""],
            ["Kernel", fmt_mb(c.kernel_mb, 1), ""],
            ["Processes", str(c.procs if c.procs is not None else "n/a"), "1"],
            ["Limit", fmt_mb(c.limit_mb) if c.limit_mb else "none", ""],
            ["Gap (cgroup - RSS)", fmt_mb(c.gap_mb, 1), ""],
        ] + [[f"  {label}", _chg(v), ""] for v, label in (
            (p.page_cache_beyond_rss_mb, "page cache beyond RSS's file pages"), (p.kernel_mb, "kernel memory"),
            (p.other_anon_mb, "anonymous memory of other processes"))]))

    g = s.decomposition_growth
    if s.decomposition:
        doc.append(("h", 2, "RSS decomposition"))
        if g:
            doc.append(("p", g.sentence))
            keys = [("rss_mb", "RSS"), ("heap_free_retained_mb", "Allocator retention (heap_free_retained)"),
                    ("heap_in_use_mb", "Heap in use"), ("other_anon_mb", "Other anonymous"),
                    ("file_mb", "File-backed")]
            at = _across_reclaims(s)
            header = ["Part", "Change inside the tooth" if s.envelope else "Change after warmup"]
            header += [f"At the reclaim at {it}" for it, _ in at]
            rows = [[label, f"{g.part(k):+,.1f} MB"] + [_chg(d.get(k)) for _, d in at] for k, label in keys]
            rows.append(["Unexplained", f"{g.unexplained_mb:+,.1f} MB"] + ["" for _ in at])
            doc.append(("table", header, rows))
            if at:
                doc.append(("p", "What grows inside a tooth and what the reclaim gives back, part by part: the "
                                 "part that does both is the memory the reclaim frees."))
        if "decomposition" in images:
            doc.append(("img", images["decomposition"], f"RSS decomposition per {steps.one}"))


def _reclaims_section(doc: list, s: SeriesAnalysis, steps: Steps = ITERATIONS) -> None:
    """The sawtooth's envelope and what each reclaim gave back, by the records' own figures."""
    events = s.reclaims
    if not events and not s.gc_events:
        return
    doc.append(("h", 2, "Reclaim events" if events else "Garbage collector runs"))
    if events and s.envelope:
        env: Envelope = s.envelope
        tr, pk = env.troughs, env.peaks
        doc.append(("p", "A reclaim is a fall far beyond the step-to-step noise that gives back at least half of "
                         "what the tooth before it grew. With reclaims, the verdict rests on the envelope: whether "
                         "each tooth runs higher than the one before at the same age (the troughs) and whether the "
                         "peaks of finished teeth rise, not on a line through the teeth."))
        rows = [
            ["Troughs (tooth vs previous tooth, same age)",
             f"{_pmb(tr.total_mb)} in all over {tr.n} reclaim(s) "
             f"({steps.signed(tr.mb_per_iter)}); {_against(tr, steps)}; "
             + ("rising" if tr.rises else "not rising")],
            ["Peaks of finished teeth",
             (f"{_pmb(pk.total_mb)} over {pk.n + 1} teeth; {_against(pk, steps)}; "
              + ("rising" if pk.rises else "not rising"))
             if pk else "fewer than two finished teeth: not compared"],
            ["Highest peak", f"{fmt_mb(env.highest_peak_mb, 1)} at {steps.one} {env.highest_peak_iteration}"],
        ]
        if env.overdue:
            rows.append(["Last tooth", "overdue: longer than any finished tooth and above every earlier peak"])
        doc.append(("table", ["Envelope", "Value"], rows))
        doc.append(("table", [steps.one.capitalize(), "RSS", "Heap in use", "Allocator retention", "Python GC",
                              "Given back by"], [
            [str(e.iteration),
             f"{e.before_mb:,.1f} → {e.after_mb:,.1f} MB ({e.rss_change_mb:+,.1f})",
             _chg(e.heap_in_use_change_mb), _chg(e.heap_free_retained_change_mb),
             _gc(e), RECLAIM_KINDS.get(e.kind, str(e.kind))]
            for e in events]))
        doc.append(("ul", [e.sentence for e in events[:3]]))
    if s.gc_events:
        doc.append(("p", ("Other GC runs" if events else "GC runs") + " after which heap in use fell:"))
        doc.append(("ul", [e.sentence for e in s.gc_events[:10]]))


RECLAIM_KINDS = {
    "gc": "Python's cyclic GC (reference cycles)",
    "freed": "the program (heap in use fell, no GC run recorded)",
    "allocator": "the allocator (retained free memory returned)",
    "outside": "outside the malloc heap",
    "unknown": "unknown (no heap figures)",
}
DECOMPOSITION_PARTS = ("rss_mb", "heap_free_retained_mb", "heap_in_use_mb", "other_anon_mb", "file_mb")


def _across_reclaims(s: SeriesAnalysis, show: int = 2) -> list[tuple[int, dict]]:
    """(iteration, {part: change}) from the iteration before each of the first reclaims to it."""
    rows = {r.iteration: r for r in s.decomposition}
    out = []
    for e in s.reclaims[:show]:
        it = e.iteration
        before = max((i for i in rows if i < it), default=None)
        if before is None or it not in rows:
            continue
        a, b = rows[before], rows[it]
        d = {k: (None if getattr(a, k) is None or getattr(b, k) is None else getattr(b, k) - getattr(a, k))
             for k in DECOMPOSITION_PARTS}
        # the event's own figures come from the unrounded records: the same numbers as its sentence
        for k, v in (("rss_mb", e.rss_change_mb), ("heap_in_use_mb", e.heap_in_use_change_mb),
                     ("heap_free_retained_mb", e.heap_free_retained_change_mb)):
            if v is not None:
                d[k] = v
        out.append((it, d))
    return out


def _against(t: EnvelopeTest, steps: Steps = ITERATIONS) -> str:
    """What a rise was tested against: modelled noise (few teeth) or the levels' own trend test."""
    if t.noise_mb is not None:
        return f"noise ±{t.noise_mb:,.2f} MB"
    ci = t.ci_mb or (None, None)
    return (f"Mann-Kendall p = {t.p}, Theil-Sen 95% CI [{fmt_signed(steps.slope(ci[0]))}, "
            f"{fmt_signed(steps.slope(ci[1]))}]{steps.per}")


def _pmb(x) -> str:
    return "n/a" if x is None else f"{x:+,.2f} MB"


def _chg(x) -> str:
    return "n/a" if x is None else f"{x:+,.1f} MB"


def _gc(e: Reclaim) -> str:
    if e.gc_collections is None:
        return "n/a"
    if not e.gc_collections:
        return "did not run"
    n = e.gc_collected
    return f"{e.gc_collections} run(s)" + (f", {n} objects" if n is not None else "")


def _captures_section(doc: list, captures: tuple[CaptureResult, ...]) -> None:
    if not captures:
        return
    doc.append(("h", 2, "Captures"))
    for cap in captures:
        doc.append(("h", 3, f"{cap.format}: {cap.path}"))
        if cap.totals:
            doc.append(("table", ["Total", "Value"],
                        [[str(k), fmt_bytes(v) if "bytes" in str(k) else _num(v)] for k, v in cap.totals.items()]))
        for caveat in cap.caveats:
            doc.append(("p", f"Note: {caveat}"))
        # the sites themselves are the allocation-site section's
        if cap.sites_note:
            doc.append(("p", f"Note: {cap.sites_note}"))


def _measured_section(doc: list, result: AnalysisResult) -> None:
    meta = result.meta
    src = result.source
    series = result.series
    doc.append(("h", 2, "How this was measured"))
    rows = [["Source", f"{src.kind}: {src.path}"]]
    if meta.get("command"):
        rows.append(["Command", _argv(meta["command"])])
    if meta.get("child_argv"):
        rows.append(["Profiled process", _argv(meta["child_argv"])])
    for key in ("backend", "label", "started", "finished", "elapsed_s", "exit_status", "iterations", "cwd"):
        if meta.get(key) not in (None, "", {}):
            rows.append([key.replace("_", " ").capitalize(), str(meta[key])])
    for key in ("versions", "machine", "loop", "llama"):
        val = meta.get(key)
        if isinstance(val, dict) and val:
            rows.append([key.capitalize(), "; ".join(f"{k}={_flat(v)}" for k, v in val.items() if v not in (None, ""))])
        elif val:
            rows.append([key.capitalize(), _flat(val)])
    doc.append(("table", ["What", "Value"], rows))
    if series is not None and meta.get("workload") == "server":
        doc.append(("p", "Served run (memprof serve): one iteration is one request; the server is measured from "
                         "outside after each response, while it still holds the model it served (it closes a "
                         "model only when a request names another), and its peak is the high-water mark since "
                         "the previous request."))
    if series is not None and (meta.get("watch") or series.time_based is not None):
        doc.append(("p", "Watched process (memprof watch): one iteration is one sample; slopes are given per hour."))
    if series is not None:
        steps = steps_of(result, series)
        doc.append(("ul", [
            _what_memory_is(steps),
            "Phases come from the data: warmup ends where the level first stays within 3 robust sigmas of the "
            "Theil-Sen line of what follows; settling lasts while the level is still on the warmup's side of "
            "that line; a growth phase is a suffix with a significant rise (hinge fit, F-test); a stretch that is "
            "not growth but whose own trend test points up is rising, never a flat plateau.",
            "Verdict: leak when the late phase rises by Mann-Kendall (p < 0.01) and the Theil-Sen 95% interval "
            f"is above 0 and 1000 more {steps.many} would add at least 10% of the level; plateau when there is no "
            f"significant rise; inconclusive with fewer than 8 stable {steps.many} or conflicting tests.",
            "Reclaims (falls beyond 5 robust sigmas of the step-to-step noise and 2% of the level that give back at "
            "least half of the tooth before them; one is enough) make the series a sawtooth: then the verdict is "
            "leak when each tooth runs higher than the one before at the same age (beyond 3 standard errors, "
            "relevant by the same 10% rule), inconclusive when the peaks climb or the last tooth is overdue, "
            "else plateau; the budget is taken from the highest peak. Each reclaim is attributed from the "
            "records: Python's GC counters, heap in use and the allocator's retained free memory.",
        ]))


def _what_memory_is(steps: Steps) -> str:
    """What the series measures at each step, in the report's how-it-was-measured list."""
    if steps.one == "sample":
        return ("Memory is the watched process's RSS at each sample, read from /proc; MB means 2^20 bytes; the "
                "statistics are per sample and the slopes are shown per hour.")
    if steps.one == "request":
        return ("Memory is the server's RSS after each response, read from /proc while it still holds the model it "
                "served; MB means 2^20 bytes. The loaded peak (the budget's base) is its RSS high-water mark since "
                "the previous request: VmHWM reset through /proc/PID/clear_refs.")
    return ("Memory is RSS after each iteration's unload, read from /proc; MB means 2^20 bytes. The loaded peak "
            "(the budget's base, when recorded) is the iteration's RSS high-water mark: VmHWM reset through "
            "/proc/PID/clear_refs at the iteration's start and read at its end (a sampling thread where the "
            "kernel refuses).")


def _argv(v) -> str:
    if isinstance(v, (list, tuple)):
        return shlex.join(str(a) for a in v)
    return str(v)


def _flat(v) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{k}={_flat(x)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return " ".join(str(x) for x in v)
    text = str(v)
    return text if len(text) <= 300 else text[:297] + "..."
