"""Report renderers: report.md, report.json, report.html and plots/*.png from one AnalysisResult.

`render(result, out_dir)` writes every file and returns their paths; the
content is built once (document.py) and rendered per format, so the markdown
and the HTML cannot drift apart. `console.summary(result)` is the short text
commands print. Both read an `AnalysisResult` (profiler/results) and compute
nothing: a result rebuilt from a saved analysis.json renders the same.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from profiler import jsonout
from profiler.results.analysis import AnalysisResult

__all__ = ["render"]


def render(result: AnalysisResult, out_dir: Path) -> list[Path]:
    """Write report.md, report.json, report.html and the plots for `result` into out_dir."""
    from profiler.report import document, htmlpage, markdown, plots

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    images: dict[str, str] = {}
    series = result.series
    if series is not None:
        plot_dir = out_dir / "plots"
        steps = document.steps_of(result, series)
        p = plots.memory_plot(series, plot_dir / "memory.png", steps)
        if p:
            images["memory"] = "plots/memory.png"
            written.append(p)
        p = plots.decomposition_plot(series, plot_dir / "decomposition.png", steps)
        if p:
            images["decomposition"] = "plots/decomposition.png"
            written.append(p)

    blocks = document.build(result, images)
    md = out_dir / "report.md"
    md.write_text(markdown.render(blocks), encoding="utf-8")
    js = out_dir / "report.json"
    # the top-level `sites`/`totals` are `analyze --json`'s copies of captures[0]'s: written once here
    twin = replace(result, sites=None, totals=None) if result.captures else result
    js.write_text(jsonout.dumps(twin.to_json(), kind="analysis") + "\n", encoding="utf-8")
    page = out_dir / "report.html"
    page.write_text(htmlpage.render(blocks, out_dir, verdict=result.verdict), encoding="utf-8")
    return [md, js, page] + written
