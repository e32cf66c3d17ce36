"""render() on results built by the real analysis from the known-answer series."""
import base64
import json
import re
import struct
from pathlib import Path

import pytest

from profiler.analysis import analyze_series, load_series
from profiler.report import console, render
from profiler.results.analysis import AnalysisResult
from profiler.results.series import SeriesAnalysis
from testkit import result_from_series

DATA = Path(__file__).resolve().parent.parent / "data" / "series"
EVIL = "<script>alert(1)</script>"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _site(i, live, name=None):
    return {"site_id": i, "site": name or f"site_{i} (lib.c:{i})", "function": f"f{i}", "module": "libx.so",
            "live_bytes_end": live, "peak_bytes": 2 * live, "alloc_count": 3 * i, "leak_kind": None,
            "category": "unknown", "verdict": "transient", "slope_bytes_per_iter": 0.0, "stack": [f"f{i}"]}


def _result(name="seed_like.jsonl", nan_slope=False):
    series = analyze_series(load_series(DATA / name))
    meta = {"command": ["memprof", "run", "--iterations", "50"], "versions": {"memprof": "0.1.0", "python": "3.11"},
            "machine": {"arch": "x86_64", "cores": 2, "cpu_flags": ["avx2", "fma"]}, "exit_status": "ok"}
    res = result_from_series(series, {"kind": "series", "path": str(DATA / name)}, meta)
    sites = [_site(1, 5000, EVIL)] + [_site(i, 1000 * i) for i in range(2, 8)]
    if nan_slope:
        sites[0]["slope_bytes_per_iter"] = float("nan")   # as another layer might leave it
    res["captures"] = [{"format": "heaptrack", "path": "capture/heaptrack.x.zst", "n_sites": 7,
                        "totals": {"calls": 1234, "peak_heap_bytes": 3 << 20, "leaked_bytes": 4096}, "sites": sites}]
    return AnalysisResult.from_json(res)


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    res = _result()
    return res, out, render(res, out)


def test_files_exist_and_pngs_are_valid(rendered):
    _, out, written = rendered
    names = {p.relative_to(out).as_posix() for p in written}
    assert names == {"report.md", "report.json", "report.html", "plots/memory.png", "plots/decomposition.png"}
    for p in written:
        assert p.stat().st_size > 0
    assert _png_size(out / "plots/memory.png") == (1000, 500)
    assert _png_size(out / "plots/decomposition.png") == (1000, 450)
    import matplotlib.image

    assert matplotlib.image.imread(out / "plots/memory.png").shape[:2] == (500, 1000)


def test_markdown_has_verdict_phases_and_blocks(rendered):
    res, out, _ = rendered
    md = (out / "report.md").read_text()
    assert "**VERDICT: PLATEAU" in md
    assert "| Phase | Iterations | n | Mean | Behaviour |" in md
    warm = next(p for p in res.series.phases if p.name == "warmup")
    assert f"| Warmup | 1-{warm.last} | {warm.last} |" in md
    assert "| 1 | 1-10 | 2,980 MB | 738 MB | 4,219 MB |  |" in md
    assert "| 5 | 41-50 | 3,894 MB |" in md and "| -37 MB |" in md
    for heading in ("## Executive summary", "## Phases", "## Memory by 10-iteration blocks", "## Stable phase statistics",
                    "## Regression on the stable phase", "## Per-model analysis", "## RSS decomposition",
                    "## Captures", "## Recommendations", "## How this was measured"):
        assert heading in md
    assert md.index("## Executive summary") < md.index("## Phases") < md.index("## Recommendations")
    assert "Mann-Kendall" in md and "95% CI" in md
    assert "| Recommended RAM | 8,192 MB |" in md
    assert "memprof run --iterations 50" in md
    assert "![RSS per iteration" in md and "(plots/memory.png)" in md
    # a raw tag outside a code span would be live HTML in a markdown viewer
    assert EVIL not in re.sub(r"`[^`\n]*`", "", md)


def test_json_is_the_result(rendered):
    res, out, _ = rendered
    saved = json.loads((out / "report.json").read_text())
    assert saved == json.loads(json.dumps(res.to_json())) and saved["schema"] == "memprof.analysis/1"
    assert AnalysisResult.from_json(saved) == res


def test_html_is_self_contained_and_escapes_site_names(rendered):
    _, out, _ = rendered
    page = (out / "report.html").read_text()
    assert EVIL not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in page.lower()
    imgs = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(imgs) == 2
    assert base64.b64decode(imgs[0])[:8] == PNG_MAGIC
    assert not re.search(r'(src|href)="(?!data:)', page)
    assert "VERDICT: PLATEAU" in page


def test_html_escapes_model_names_and_meta(tmp_path):
    csv = tmp_path / "s.csv"
    rows = ["iteration,model,rss"] + [f"{i},{'<img src=x onerror=alert(2)>' if i % 2 else 'b&b'},{100 << 20}"
                                      for i in range(1, 21)]
    csv.write_text("\n".join(rows) + "\n")
    res = AnalysisResult.from_json(result_from_series(analyze_series(load_series(csv)),
                                                      {"kind": "series", "path": "<b>p</b>"},
                                                      {"command": ["memprof", "<i>x</i>"]}))
    render(res, tmp_path / "out")
    page = (tmp_path / "out" / "report.html").read_text()
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "<b>p</b>" not in page and "<i>x</i>" not in page
    assert "b&amp;b" in page


def test_leak_report_says_when_the_budget_breaks(tmp_path):
    res = _result("slow_leak.csv")
    written = render(res, tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "**VERDICT: LEAK" in md
    assert "| Iterations until the alert threshold |" in md
    assert {p.name for p in written} == {"report.md", "report.json", "report.html", "memory.png"}


def test_captures_only_result_renders_without_plots(tmp_path):
    res = result_from_series(None, {"kind": "capture", "path": "massif.out.1"}, {})
    res["captures"] = [{"format": "massif", "path": "massif.out.1", "totals": {"peak_heap_bytes": 1 << 20},
                        "sites": [_site(1, 10)]}]
    written = render(AnalysisResult.from_json(res), tmp_path)
    assert {p.name for p in written} == {"report.md", "report.json", "report.html"}
    md = (tmp_path / "report.md").read_text()
    assert "VERDICT: INCONCLUSIVE" in md and "| peak_heap_bytes | 1.0 MiB |" in md


def test_console_summary(rendered):
    res, _, _ = rendered
    text = console.summary(res)
    lines = text.splitlines()
    assert lines[0].startswith("VERDICT: PLATEAU")
    assert "95% CI [" in text and "Mann-Kendall p=" in text
    assert "phases (50 iterations): warmup 1-" in text
    assert "recommendation: Memory plateaus" in text
    assert "capture heaptrack: capture/heaptrack.x.zst  [calls=1234, peak_heap_bytes=3.0 MiB, leaked_bytes=4.0 KiB]" in text
    site_lines = [ln for ln in lines if ln.startswith("  ") and ("site_" in ln or "script" in ln)]
    assert len(site_lines) == 5                          # top 5 of 7 by live bytes
    assert "site_7" in site_lines[0] and "site_4" in site_lines[-1]   # 7k 6k 5k 5k 4k
    assert EVIL in text                                  # plain text: shown as is, not escaped


def test_report_json_is_strict_even_with_nan_from_other_layers(tmp_path):
    res = _result(nan_slope=True)
    assert res.captures[0].sites[0].slope_bytes_per_iter != res.captures[0].sites[0].slope_bytes_per_iter
    render(res, tmp_path)
    text = (tmp_path / "report.json").read_text()
    assert "NaN" not in text
    assert json.loads(text)["captures"][0]["sites"][0]["slope_bytes_per_iter"] is None


def test_sawtooth_report_marks_the_gc_reclaim_and_budgets_the_peak(tmp_path):
    """The real default run: one reclaim at iteration 31 where Python's GC ran."""
    from profiler.report import plots

    recs = [json.loads(line) for line in (DATA / "demo_twins_reload_50.jsonl").read_text().splitlines()]
    res = _result("demo_twins_reload_50.jsonl")
    written = render(res, tmp_path)
    assert {p.name for p in written} == {"report.md", "report.json", "report.html", "memory.png", "decomposition.png"}
    assert _png_size(tmp_path / "plots/memory.png") == (1000, 500)
    assert plots.reclaim_marks(res.series) == [(31, "gc")]
    md = (tmp_path / "report.md").read_text()
    assert "**VERDICT: PLATEAU: memory grows and is reclaimed (a sawtooth)" in md
    assert "| Plateau | 1-50 | 50 | 117 MB | sawtooth 83 → 147 MB, 1 reclaim at 31 (gc), a tooth lasts ~30 iterations |" in md
    assert "## Reclaim events" in md
    before, after = recs[29]["rss"] / (1 << 20), recs[30]["rss"] / (1 << 20)
    assert (f"| 31 | {before:,.1f} → {after:,.1f} MB ({after - before:+,.1f}) | -50.4 MB | -3.5 MB | "
            "1 run(s), 76 objects | Python's cyclic GC (reference cycles) |") in md
    assert "| Max expected memory | 160 MB |" in md        # nice(146.88 x 1.05): the peak, not mean + 3 sigma
    assert "budget for the peak" in md and "Only one reclaim was seen" in md
    assert "verdict rests on the envelope" in md
    assert "| Troughs (tooth vs previous tooth, same age) | +0.46 MB in all over 1 reclaim(s)" in md and "not rising |" in md
    page = (tmp_path / "report.html").read_text()
    assert "Reclaim events" in page and "<script" not in page.lower()
    text = console.summary(res)
    assert "phases (50 iterations): plateau 1-50 (~117 MB, sawtooth, reclaims at 31 [gc])" in text
    assert "recommendation: Memory follows a sawtooth" in text


def test_leak_under_reclaims_report(tmp_path):
    res = _result("sawtooth_leak.csv")
    render(res, tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "**VERDICT: LEAK: the troughs between reclaims keep climbing" in md
    assert "| Growth | 6-125 | 120 |" in md and "sawtooth with climbing troughs" in md
    assert "| 18 | " in md and "unknown (no heap figures)" in md
    assert "Mann-Kendall p = " in md and "; rising |" in md      # 10 teeth: the levels get the trend tests
    assert "| Iterations until the alert threshold |" in md


def test_decomposition_shows_what_the_reclaim_gave_back(tmp_path):
    recs = [json.loads(line) for line in (DATA / "demo_twins_reload_50.jsonl").read_text().splitlines()]
    render(_result("demo_twins_reload_50.jsonl"), tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "| Part | Change inside the tooth | At the reclaim at 31 |" in md
    used = (recs[30]["heap_in_use"] - recs[29]["heap_in_use"]) / (1 << 20)
    heap = [r["heap_in_use"] / (1 << 20) for r in recs]
    inside = sum(heap[25:30]) / 5 - sum(heap[0:5]) / 5        # the tooth 1-30: its last 5 vs its first 5
    assert f"| Heap in use | {inside:+,.1f} MB | {used:+,.1f} MB |" == "| Heap in use | +43.5 MB | -50.4 MB |"
    assert "| Heap in use | +43.5 MB | -50.4 MB |" in md


def test_gc_run_without_a_reclaim_is_listed(tmp_path):
    # the real tiny-twin run: the GC frees heap at iteration 31 but RSS stays (no reclaim)
    res = _result("real_tiny_twins_40.jsonl")
    render(res, tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "## Garbage collector runs" in md and "## Reclaim events" not in md
    assert "- at iteration 31 Python's cyclic GC ran (1 collection, 76 objects collected) and heap in use fell" in md
    assert "but RSS did not fall" in md


def _series_sections(md: str) -> str:
    """The report up to "How this was measured" (which explains the steps of every kind of run)."""
    return md.split("## How this was measured")[0]


def test_a_served_run_is_worded_per_request(tmp_path):
    """`memprof serve --quick --requests 20` (tests/data/series/serve_20): one record per request,
    RSS read after each response while the server holds the model: no iteration, no unload."""
    from profiler import pipeline

    res = pipeline.analyze(DATA / "serve_20", save=False)
    render(res, tmp_path)
    whole = (tmp_path / "report.md").read_text()
    assert "- Memory is the server's RSS after each response" in whole and "1000 more requests would add" in whole
    md = _series_sections(whole)
    assert "20 requests (1-20)" in md and "## Memory by 10-request blocks" in md
    assert "## Stable phase statistics (requests 1-20)" in md and "| Mean RSS after each request |" in md
    assert re.search(r"\| OLS slope \| [+-][0-9.]+ MB/request, 95% CI", md)
    assert "1000 requests after the last one" in md and "more requests" in md
    assert not re.search(r"(?i)iteration|MB/iter\b|unload", md), re.findall(r"(?i).{60}(?:iteration|unload).{20}", md)
    assert res.series.recommendation.basis == "loaded peak"       # the JSON values stay what they were


def test_a_watch_is_worded_in_samples_per_hour(tmp_path):
    """A real `memprof watch` (watch_growing_60.jsonl): samples, slopes per hour, hours to the alert."""
    s = analyze_series(load_series(DATA / "watch_growing_60.jsonl"))
    render(AnalysisResult.from_json(result_from_series(s, {"kind": "series", "path": "watch"}, {})), tmp_path)
    whole = (tmp_path / "report.md").read_text()
    assert "- Memory is the watched process's RSS at each sample" in whole
    md = _series_sections(whole)
    assert "60 samples (1-60)" in md and "## Memory by 10-sample blocks" in md
    ols = s.slope_mb_per_iter * 3600 / s.time_based.seconds_per_sample
    m = re.search(r"\| OLS slope \| \+([0-9.]+) MB/hour", md)
    assert m and float(m.group(1)) == pytest.approx(ols, rel=1e-3)
    assert "| Hours until the alert threshold |" in md and "| Samples until the alert threshold |" in md
    assert s.basis_sentence == s.evidence[0] and "MB/hour" in s.basis_sentence
    assert not re.search(r"(?i)iteration|MB/iter\b|unload", md), re.findall(r"(?i).{60}(?:iteration|unload).{20}", md)
