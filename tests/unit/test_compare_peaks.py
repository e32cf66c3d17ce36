"""`memprof compare` shows the loaded peak (the iterations' RSS high-water mark while a model is
loaded and generating: what the machine must hold) beside the peak after unload. Real runs:
valgrind_quick_massif.jsonl records rss_peak; real_tiny_twins_40.jsonl predates it."""
from __future__ import annotations

import json

import pytest

from testkit import DATA, memprof

SERIES = DATA / "series"
MB = 2.0 ** 20


def test_compare_reports_the_loaded_peak_beside_the_peak_after_unload():
    a, b = SERIES / "real_tiny_twins_40.jsonl", SERIES / "valgrind_quick_massif.jsonl"
    recs = [json.loads(line) for line in b.read_text().splitlines() if line.strip()]
    loaded = max(r["rss_peak"] for r in recs if r.get("rss_peak")) / MB
    after_unload = max(r["rss"] for r in recs) / MB
    p = memprof("compare", a, b, "--json")
    assert p.returncode == 0, p.stderr
    runs = json.loads(p.stdout)["runs"]
    assert runs["b"]["loaded_peak_mb"] == pytest.approx(loaded, abs=0.01)
    assert runs["b"]["peak_mb"] == pytest.approx(after_unload, abs=0.01)
    assert runs["b"]["loaded_peak_mb"] > runs["b"]["peak_mb"]
    assert runs["b"]["loaded_peak_model"] == "tiny-1.7b"
    assert runs["a"]["loaded_peak_mb"] is None
    text = memprof("compare", a, b).stdout
    assert f"loaded peak MB (model loaded and generating): A n/a (not recorded)  B {runs['b']['loaded_peak_mb']:g}" in text
    assert "peak after unload MB: A 81.28  B 265.43" in text
    both = memprof("compare", b, b).stdout
    assert f"B {runs['b']['loaded_peak_mb']:g} (+0.00 MB)" in both
