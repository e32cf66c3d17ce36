"""SeriesAnalysis is analysis.json's `series`: from_json(to_json) gives the same object and the
same JSON text, for real series committed under tests/data (run directories, JSONL, CSV)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from profiler.analysis import analyze_series, load_series
from profiler.errors import BadSeries
from profiler.jsonout import json_safe
from profiler.results.series import SeriesAnalysis

DATA = Path(__file__).resolve().parent.parent / "data"
SERIES = sorted(p for p in (DATA / "series").iterdir()
                if p.suffix in (".csv", ".jsonl") or (p / "iterations.jsonl").exists())
CORPUS = sorted(p for p in (DATA / "corpus").iterdir() if (p / "iterations.jsonl").exists())


def _loadable(paths):
    out = []
    for p in paths:
        try:
            load_series(p)
        except BadSeries:   # the bad-input fixtures (empty, header only, non-numeric ...) have no analysis
            continue
        out.append(p)
    return out


FIXTURES = _loadable(SERIES) + _loadable(CORPUS)


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_series_round_trips_through_json(path):
    s = analyze_series(load_series(path))
    assert isinstance(s, SeriesAnalysis)
    d = s.to_json()
    assert d == json_safe(d)        # plain JSON already: no numpy scalar, no NaN
    typed = SeriesAnalysis.from_json(json.loads(json.dumps(d)))
    assert typed == s               # what a saved analysis.json gives back is the analysis itself
    # the same text, not only equal values: an int read back as a float would print 3.0 for 3
    assert json.dumps(typed.to_json(), sort_keys=True) == json.dumps(d, sort_keys=True)


def test_the_fixtures_cover_every_optional_part():
    """The round trip above means something only if the fixtures reach every nested type."""
    seen = set()
    for path in FIXTURES:
        d = analyze_series(load_series(path)).to_json()
        seen |= {k for k, v in d.items() if v not in (None, [], {})}
        seen |= {"sawtooth_phase"} if any(p.get("shape") == "sawtooth" for p in d["phases"]) else set()
        seen |= {"leak_budget"} if "iterations_to_alert" in d["recommendation"] else set()
    assert {"heap_floor", "probe", "change_points", "slowing", "sawtooth", "envelope", "reclaims", "gc_events",
            "per_model", "gc", "decomposition", "decomposition_growth", "loaded", "container",
            "sawtooth_phase", "leak_budget"} <= seen


def test_a_real_watch_is_typed_per_hour():
    """`memprof watch` (scripts/make_watch_serve_series.sh watch): 1 MiB allocated every 0.25 s, sampled every
    0.25 s: the per-hour figures and the samples' seconds survive the JSON round trip."""
    s = analyze_series(load_series(DATA / "series" / "watch_growing_60.jsonl"))
    assert s.verdict == "leak" and s.time_based is not None
    tb = s.time_based
    assert tb.seconds_per_sample == pytest.approx(0.25, abs=0.01)
    assert tb.slope_mb_per_hour == pytest.approx(s.slope_mb_per_iter * 3600 / tb.seconds_per_sample, rel=1e-3)
    assert 12_000 < tb.slope_mb_per_hour < 16_000        # 1 MiB per 0.25 s is 14,400 MB/hour
    assert s.phases[0].first_s is not None and s.recommendation.hours_to_alert is not None
    assert s.container is not None
    assert SeriesAnalysis.from_json(json.loads(json.dumps(s.to_json()))) == s
