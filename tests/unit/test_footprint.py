"""The loaded peak and the container view beside the verdict, and the budget that covers the peak."""
from __future__ import annotations

import pandas as pd
import pytest

from profiler.analysis import analyze_series, footprint, verdict
from profiler.results.series import GapParts

MB = 2**20


def _frame(n=30, level=150.0, peak=2000.0, cgroup=True):
    rows = []
    for i in range(1, n + 1):
        m = "1.7b" if i % 2 == 0 else "0.6b"
        r = {"iteration": i, "model": m, "rss": level * MB,
             "rss_anon": 100 * MB, "rss_file": 50 * MB,
             "rss_after_load": ((peak - 100) if m == "1.7b" else 700) * MB,
             "rss_peak": (peak if m == "1.7b" else 800) * MB - (0 if i == 20 else MB), "peak_method": "vmhwm"}
        if cgroup:
            r.update(cgroup_version=1, cgroup_usage=(level + 1900) * MB, cgroup_anon=120 * MB,
                     cgroup_file=1800 * MB, cgroup_file_mapped=1700 * MB, cgroup_kernel=30 * MB,
                     cgroup_limit=None, cgroup_procs=3)
        rows.append(r)
    return pd.DataFrame(rows)


def test_loaded_summary():
    out = footprint.loaded(_frame())
    assert out.peak_mb == 2000.0 and out.peak_iteration == 20 and out.peak_model == "1.7b"
    assert out.after_load_max_mb == 1900.0 and out.method == "vmhwm"
    assert len(out.points) == 30 and out.points[19].rss_peak_mb == 2000.0
    assert footprint.loaded(_frame().drop(columns=["rss_peak"])) is None


def test_budget_covers_the_loaded_peak_not_the_after_unload_level():
    s = analyze_series(_frame())
    assert s.verdict == "plateau"           # decided on what stays after unload (~150 MB)
    rec = s.recommendation
    # max(2000 loaded peak, 150 after unload + 1850 the largest headroom) x 1.05 = 2100; alert 2310 -> 2400;
    # RAM the next power of two >= 3600
    assert (rec.max_expected_mb, rec.alert_mb, rec.ram_mb) == (2100.0, 2400.0, 4096)
    assert rec.basis == "loaded peak" and "covers the loaded peak: 2000 MB" in rec.sentence
    assert s.per_model["1.7b"].rss_peak_max_mb == 2000.0
    assert s.per_model["0.6b"].rss_after_load_mean_mb == 700.0


def test_budget_without_a_loaded_peak_is_the_after_unload_one():
    rec = verdict.recommend(verdict="plateau", peak_mb=160, mean_mb=150, std_mb=1, slope=0, current_mb=150)
    assert rec.basis == "after unload" and rec.max_expected_mb == 170.0


def test_container_gap_split():
    c = footprint.container(_frame())
    # usage 2050 MB vs RSS 150 at the last record: page cache beyond RSS's file pages 1750, kernel 30, other anon 20
    assert (c.usage_mb, c.rss_mb) == (2050.0, 150.0)
    assert c.gap_parts == GapParts(page_cache_beyond_rss_mb=1750.0, kernel_mb=30.0, other_anon_mb=20.0)
    assert c.gap_mb == pytest.approx(1900.0)
    assert "page cache" in c.sentence and "the other 2 process(es)" in c.sentence
    assert footprint.container(_frame(cgroup=False)) is None


def test_a_time_sampled_series_is_worded_per_hour():
    # a watch: 40 samples every 0.5 s of a process growing 1 MB per sample (2 MB/s = 7200 MB/hour)
    df = pd.DataFrame({"iteration": range(1, 41), "sample_s": [0.5 * i for i in range(40)],
                       "rss": [(100 + i + (0.05 if i % 2 else 0)) * MB for i in range(40)], "strategy": "watch"})
    s = analyze_series(df)
    assert s.verdict == "leak"
    tb = s.time_based
    assert tb.seconds_per_sample == 0.5 and tb.slope_mb_per_hour == pytest.approx(7200, rel=0.01)
    assert not any("MB/iter" in e for e in s.evidence)
    assert "MB/hour" in s.evidence[0] and "time-based series: one sample every 0.5 s" in s.evidence[1]
    rec = s.recommendation
    assert "MB/hour" in rec.sentence and "samples" in rec.sentence and "to the alert threshold" in rec.sentence
    assert rec.hours_to_alert == pytest.approx(rec.iterations_to_alert * 0.5 / 3600, abs=1e-3)
