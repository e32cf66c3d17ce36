"""The report's PNG plots, drawn with matplotlib's Agg backend (no display, no GUI toolkit).

matplotlib is imported inside the functions: importing it costs ~0.3 s, which the
CLI must not pay unless a report is being drawn.
"""
from __future__ import annotations

from pathlib import Path

PHASE_COLOURS = {"warmup": "#f4a261", "settling": "#e9c46a", "plateau": "#8ecae6", "growth": "#e76f51"}
MARKERS = "os^DvP*Xh<>"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def memory_plot(series: dict, path: Path) -> Path | None:
    """RSS per iteration: phases shaded, a marker per model, block means, the stable-phase fit."""
    pts = series.get("points") or []
    if not pts:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 5), dpi=100)
    try:
        for p in series.get("phases") or []:
            ax.axvspan(p["first"] - 0.5, p["last"] + 0.5, color=PHASE_COLOURS.get(p["name"], "#ddd"), alpha=0.25,
                       lw=0, label=f"{p['name']}{' (sawtooth)' if p.get('shape') == 'sawtooth' else ''} {p['first']}-{p['last']}")
        xs = [q["iteration"] for q in pts]
        ys = [q["rss_mb"] for q in pts]
        ax.plot(xs, ys, color="#555", lw=1, zorder=2)
        models = list(dict.fromkeys(q.get("model") for q in pts))
        for k, m in enumerate(models):
            sel = [q for q in pts if q.get("model") == m]
            ax.scatter([q["iteration"] for q in sel], [q["rss_mb"] for q in sel], s=18, zorder=3,
                       marker=MARKERS[k % len(MARKERS)], label=f"model {m}" if m is not None else "RSS")
        for i, b in enumerate(series.get("blocks") or []):
            ax.hlines(b["mean_mb"], b["first"] - 0.5, b["last"] + 0.5, colors="#2a9d8f", lw=2, zorder=4,
                      label="block mean" if i == 0 else None)
        fit = series.get("fit") or {}
        if fit.get("first") is not None and fit.get("slope_mb_per_iter") is not None:
            x0, x1 = fit["first"], fit["last"]
            f = lambda x: fit["intercept_mb"] + fit["slope_mb_per_iter"] * x  # noqa: E731
            ax.plot([x0, x1], [f(x0), f(x1)], color="#d62828", lw=2, ls="--", zorder=5,
                    label=f"stable fit {fit['slope_mb_per_iter']:+.3g} MB/iter")
        ax.set_xlabel("iteration")
        ax.set_ylabel("RSS after unload (MB)")
        ax.set_title(f"RSS per iteration: verdict {series.get('verdict', '?')}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right", ncol=2)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
    return path


def decomposition_plot(series: dict, path: Path) -> Path | None:
    """Stacked areas of RSS parts per iteration, with total RSS as a line on top."""
    rows = series.get("decomposition") or []
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=100)
    try:
        xs = [r["iteration"] for r in rows]
        parts = [("file_mb", "file-backed", "#adb5bd"), ("heap_in_use_mb", "heap in use", "#457b9d"),
                 ("heap_free_retained_mb", "free, retained by glibc", "#f4a261"),
                 ("other_anon_mb", "other anonymous", "#90be6d")]
        ax.stackplot(xs, *[[r[k] or 0.0 for r in rows] for k, _, _ in parts],
                     labels=[lab for _, lab, _ in parts], colors=[c for _, _, c in parts], alpha=0.85)
        ax.plot(xs, [r["rss_mb"] for r in rows], color="black", lw=1.2, label="RSS")
        ax.set_xlabel("iteration")
        ax.set_ylabel("MB")
        ax.set_title("RSS decomposition after each iteration")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
    return path
