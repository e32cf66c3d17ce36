"""The site list in --json and the report may be capped for size, but keeps the sites that hold
the peak and the end, and says it is capped (real capture: planted.massif.out, Valgrind 3.19)."""
from __future__ import annotations

from pathlib import Path

from profiler import pipeline
from profiler.parsers import load_capture

DATA = Path(__file__).resolve().parents[1] / "data" / "massif"


def test_cap_keeps_peak_and_end_sites(monkeypatch):
    cap = load_capture(DATA / "planted.massif.out")
    assert len(cap.sites) > 3
    # scratch_work holds 128 KiB at the peak and nothing at the end
    assert (cap.sites.set_index("function").loc["scratch_work", ["live_bytes_end", "peak_bytes"]] == [0, 131072]).all()
    monkeypatch.setattr(pipeline, "TOP_SITES_IN_JSON", 2)
    out = pipeline.capture_result(cap)
    names = [r.function for r in out.sites]
    end_top = cap.sites.sort_values("live_bytes_end", ascending=False).head(2)["function"].tolist()
    peak_top = cap.sites.sort_values("peak_bytes", ascending=False).head(2)["function"].tolist()
    assert set(names) == set(end_top) | set(peak_top)
    assert out.sites_capped is True and "largest at the peak" in out.sites_note
    assert out.n_sites == len(cap.sites)


def test_uncapped_list_says_so():
    out = pipeline.capture_result(load_capture(DATA / "planted.massif.out"))
    assert out.sites_capped is False and out.sites_note is None


def test_report_lists_the_peak_sites():
    """The sites that hold the peak are in the report's allocation-site section (ranked by peak)."""
    from profiler.report import triage_section

    result = pipeline.analyze(DATA / "planted.massif.out", save=False)
    blocks = triage_section.blocks(result)
    table = next(x for x in blocks if x[0] == "table" and x[1][:2] == ["category", "site"])
    shown = " ".join(str(row[1]) for row in table[2])
    peak_top = sorted(result.captures[0].sites, key=lambda r: -r.peak_bytes)[:3]
    assert all(r.function in shown for r in peak_top)
