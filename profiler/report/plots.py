"""The report's PNG plots, drawn with matplotlib's Agg backend (no display, no GUI toolkit).

matplotlib is imported inside the functions: importing it costs ~0.3 s, which the
CLI must not pay unless a report is being drawn.
"""
from __future__ import annotations

from pathlib import Path

from profiler.results.series import SeriesAnalysis

PHASE_COLOURS = {"warmup": "#f4a261", "settling": "#e9c46a", "plateau": "#8ecae6", "rising": "#f6bd60",
                 "growth": "#e76f51"}
MARKERS = "os^DvP*Xh<>"
MAX_LABELLED_RECLAIMS = 12     # beyond this, only the reclaims where the GC ran are labelled


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def reclaim_marks(series: SeriesAnalysis) -> list[tuple[int, str]]:
    """(iteration, label) of each reclaim the plot marks: "gc" when Python's GC ran there."""
    return [(e.iteration, "gc" if e.gc_ran else "reclaim") for e in series.reclaims]


def _steps(series: SeriesAnalysis, steps):
    from profiler.report.document import steps_of

    return steps if steps is not None else steps_of(None, series)


def _save(fig, ax, path: Path, **legend) -> Path:
    """Grid, legend and layout every plot shares, then the PNG at `path`."""
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, **legend)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def memory_plot(series: SeriesAnalysis, path: Path, steps=None) -> Path | None:
    """RSS per iteration: phases shaded, a marker per model, block means, the stable-phase fit
    (or, for a sawtooth, the teeth's peaks and a vertical line at each reclaim), and, when the
    records carry them, the loaded peak and RSS after load above the after-unload line.
    `steps` (document.Steps) words the axis for a watch's samples or a server's requests; a watch
    is recognised from the series itself."""
    steps = _steps(series, steps)
    pts = series.points
    if not pts:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 5), dpi=100)
    try:
        for p in series.phases:
            ax.axvspan(p.first - 0.5, p.last + 0.5, color=PHASE_COLOURS.get(p.name, "#ddd"), alpha=0.25,
                       lw=0, label=f"{p.name}{' (sawtooth)' if p.shape == 'sawtooth' else ''} {p.first}-{p.last}")
        xs = [q.iteration for q in pts]
        ys = [q.rss_mb for q in pts]
        ax.plot(xs, ys, color="#555", lw=1, zorder=2, label=steps.level)
        loaded = series.loaded.points if series.loaded else ()
        if loaded:
            lp = [q for q in loaded if q.rss_peak_mb is not None]
            ax.plot([q.iteration for q in lp], [q.rss_peak_mb for q in lp], color="#c1121f", lw=1.2,
                    marker=".", ms=4, zorder=3, label="peak while loaded (VmHWM)")
            la = [q for q in loaded if q.rss_after_load_mb is not None]
            if la:
                ax.plot([q.iteration for q in la], [q.rss_after_load_mb for q in la], color="#f77f00",
                        lw=0.8, ls="--", zorder=3, label="RSS after load")
        models = list(dict.fromkeys(q.model for q in pts))
        for k, m in enumerate(models):
            sel = [q for q in pts if q.model == m]
            ax.scatter([q.iteration for q in sel], [q.rss_mb for q in sel], s=18, zorder=3,
                       marker=MARKERS[k % len(MARKERS)], label=f"model {m}" if m is not None else "RSS")
        for i, b in enumerate(series.blocks):
            ax.hlines(b.mean_mb, b.first - 0.5, b.last + 0.5, colors="#2a9d8f", lw=2, zorder=4,
                      label="block mean" if i == 0 else None)
        marks = reclaim_marks(series)
        any_gc = any(label == "gc" for _, label in marks)
        for i, (it, label) in enumerate(marks):
            ax.axvline(it - 0.5, color="#6a4c93", lw=1.2, ls=":", zorder=4,
                       label=("reclaim (gc: Python's GC ran)" if any_gc else "reclaim") if i == 0 else None)
            if label == "gc" or len(marks) <= MAX_LABELLED_RECLAIMS:
                ax.annotate(label, (it - 0.5, 1.0), xycoords=("data", "axes fraction"), xytext=(2, -12),
                            textcoords="offset points", fontsize=8, color="#6a4c93")
        teeth = series.envelope.teeth if series.envelope else ()
        if teeth:
            ax.scatter([t.peak_iteration for t in teeth], [t.peak_mb for t in teeth], marker="v", s=40,
                       color="#6a4c93", zorder=5, label="tooth peak")
        fit = series.fit
        if not marks and fit.first is not None and fit.slope_mb_per_iter is not None:
            x0, x1 = fit.first, fit.last
            f = lambda x: fit.intercept_mb + fit.slope_mb_per_iter * x  # noqa: E731
            ax.plot([x0, x1], [f(x0), f(x1)], color="#d62828", lw=2, ls="--", zorder=5,
                    label=f"stable fit {steps.slope(fit.slope_mb_per_iter):+.3g}{steps.per}")
        ax.set_xlabel(steps.one)
        ax.set_ylabel("RSS (MB)" if loaded else f"{steps.level} (MB)")
        ax.set_title(f"RSS per {steps.one}: verdict {series.verdict}"
                     + ((" (decided after unload; the budget covers the peak)" if steps.level == "RSS after unload"
                         else " (the budget covers the peak)") if loaded else ""))
        return _save(fig, ax, path, loc="lower right", ncol=2)
    finally:
        plt.close(fig)


def decomposition_plot(series: SeriesAnalysis, path: Path, steps=None) -> Path | None:
    """Stacked areas of RSS parts per iteration, with total RSS as a line on top."""
    steps = _steps(series, steps)
    rows = series.decomposition
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=100)
    try:
        xs = [r.iteration for r in rows]
        parts = [("file_mb", "file-backed", "#adb5bd"), ("heap_in_use_mb", "heap in use", "#457b9d"),
                 ("heap_free_retained_mb", "free, retained by glibc", "#f4a261"),
                 ("other_anon_mb", "other anonymous", "#90be6d")]
        ax.stackplot(xs, *[[getattr(r, k) or 0.0 for r in rows] for k, _, _ in parts],
                     labels=[lab for _, lab, _ in parts], colors=[c for _, _, c in parts], alpha=0.85)
        ax.plot(xs, [r.rss_mb for r in rows], color="black", lw=1.2, label="RSS")
        for i, (it, label) in enumerate(reclaim_marks(series)):
            ax.axvline(it - 0.5, color="#6a4c93", lw=1.2, ls=":", label=f"reclaim ({label})" if i == 0 else None)
        ax.set_xlabel(steps.one)
        ax.set_ylabel("MB")
        ax.set_title(f"RSS decomposition after each {steps.one}")
        return _save(fig, ax, path, loc="upper left")
    finally:
        plt.close(fig)
