"""The run verdict (plateau | leak | inconclusive) from the series alone, and the memory budget.

Verdict rules, applied to the late phase (the growth phase when one was found,
else the whole stable phase after warmup and settling):

- inconclusive: fewer than 8 iterations after warmup and settling; or the
  evidence conflicts: some test points up (Mann-Kendall p < 0.05, or the
  Theil-Sen or OLS 95% interval above 0) with a relevant slope, but the leak
  rule below is not met: more iterations are needed.
- leak: Mann-Kendall p < 0.01 with z > 0, AND the Theil-Sen 95% interval lies
  above 0, AND the slope matters in practice: projected over 1000 iterations
  it adds at least 10% of the stable mean (a 4 GB process growing 0.4 MB per
  iteration). All three, because one outlier or one pool expansion can fool
  any single test, and a "significant" 1 kB/iteration drift harms nobody.
- the leak rule met, but growth has stopped: the last third of the late phase
  (at least 8 iterations) rises significantly slower than the whole phase
  (its Theil-Sen interval ends below the phase's slope) and no longer rises by
  Mann-Kendall (p >= 0.05): inconclusive. RSS is a near-monotone series (glibc
  rarely gives pages back), so a rise that has flattened out is a plateau being
  reached as often as a leak pausing; only more iterations tell.
- plateau: otherwise (no significant rise, a falling level, or a rise too small
  to matter, which the evidence then says).

With reclaims (a sawtooth, reclaims.py) the rules above are not applied to the
raw series, whose trend follows the teeth; the envelope decides instead:

- leak: the troughs rise (each tooth runs higher than the one before at the same
  age, beyond noise, relevant by the 10%-per-1000 rule, consistently): the
  reclaims give back the teeth but something stays behind.
- inconclusive: the teeth do not run higher at the same age, but the floors the reclaims
  return to (the low of each tooth after a reclaim; three or more of them) climb from
  the first to the last beyond the noise of two readings (3 x sqrt(2) x the envelope's sigma), relevantly, with none
  falling that much: teeth of very different lengths can hide a floor that steps up.
- inconclusive: the troughs rise, but on ONE pair of teeth (one reclaim; two with the cold
  first tooth left out; or three with a short last tooth left out too) by less than 10% of
  the level: the noise is measured within the teeth, and a whole tooth's level moves from
  one reclaim to the next by up to ~9% of the level in real served runs with no leak; one
  pair cannot tell that from a leak.
- inconclusive: with 6 or more teeth, the troughs climb (Mann-Kendall) but the 95% interval of
  their rate spans the relevance bar (10% of the level per 1000 iterations): a slow drift that
  a bar on the point estimate alone would call a leak at one run length and a plateau at the
  next (a real 1500-request served run did so).
- inconclusive: the last tooth is overdue (already 1.5x longer than any
  finished tooth and above every earlier peak: it may never be reclaimed), or the
  troughs hold while the peaks rise (the teeth get taller).
- inconclusive: the troughs rise by the few-teeth test, but most of the rise is one tooth's
  offset and the others add up to no more than their noise: one step, not a climb (a real
  served run: +6.1, -1.1 and +0.04 MB).
- inconclusive: the troughs rise by the few-teeth test (2-5 teeth, modelled noise) but a
  floor the reclaims return to falls back below the one before by more than the noise of
  two readings: the modelled noise misses how much a tooth's level scatters (real served
  runs: the floors wander +-4 MB from reclaim to reclaim), and a leak leaves more behind at
  every reclaim.
- inconclusive: ONE reclaim after which the troughs rise, compared over fewer than 8
  ages (the first tooth, or the one after, is short): the tooth before it is the run's
  first, which starts cold, and one reclaim leaves one floor with no earlier one to rise
  above. Over 8 or more ages a tooth running higher by 10% of the level or more is a leak
  (less is the one-pair case above).
- inconclusive: ONE reclaim with fewer than 8 records after it (a fall near the end of
  the run): the tooth after it cannot be compared with the one before over enough ages,
  and one reclaim has no earlier floor to hold its own against; the sentence says how many
  more iterations would bring the next reclaim (another tooth as long as the first).
- plateau: otherwise, even after ONE reclaim. Why one is enough for a plateau: the
  reclaim shows the growth before it was reclaimable, and the tooth after it is compared
  with the first one at the same age over all the iterations it has, so a large leak
  under the reclaim shows as a tooth running well above its predecessor (a small one is
  inconclusive, above). What one reclaim cannot show is how long teeth get, so the
  evidence says how long the tooth was and the budget is taken from the highest peak.

Budget (the seed's "max expected / alert / RAM"), in MB:
    max_expected = nice(max(peak RSS seen, stable mean + 3 sigma) x 1.05)
    alert        = nice(max_expected x 1.10)
    ram          = the next power of two >= alert x 1.5 (room for the OS and page cache)
where nice() rounds up to two significant figures. For a sawtooth the base is
the highest peak alone: the mean and sigma of a sawtooth describe the teeth, not noise. The seed's run (peak 4219,
plateau 3878 +- 97 MB) gives 4500 / 5000 / 8192 MB: its 4.5 GB, 5 GB and 8 GB.
For a leak the budget only holds until the leak reaches it, so the
recommendation says after how many more iterations that happens.

Where the records carry the loaded peak (`rss_peak`, footprint.loaded), the base
is max(the highest loaded peak, the after-unload base + the most a loaded model
adds on top of what stays after its unload): a server must hold its model, its compute buffers and its KV cache,
not only what stays after an unload (the seed's 4.5 GB was the loaded footprint).
"""
from __future__ import annotations

import math

from dataclasses import dataclass

from profiler.analysis.reclaims import MIN_LAST_TOOTH
from profiler.results.series import Envelope, Loaded, Recommendation
from profiler.stats import LineFit, MannKendall, TheilSen, rnd, sig

from profiler.constants import TREND_P  # noqa: F401  (shared with phases and reclaims)

MIN_STABLE = 8
WEAK_P = 0.05
NOISE_SIGMAS = 3.0
MIN_FLOORS = 3
# from one reclaim to the next, a tooth's level moved by up to ~9% of the level with no leak
# (real served runs of the twins, tests/data/series/serve_600 and serve_1500)
ONE_PAIR_SCATTER = 0.10
RELEVANT_FRACTION_PER_1000 = 0.10


def nice_ceil(x: float) -> float:
    if not x or x <= 0 or not math.isfinite(x):
        return 0.0
    step = 10.0 ** (math.floor(math.log10(x)) - 1)
    return float(math.ceil(round(x / step, 9)) * step)


def next_pow2(x: float) -> int:
    if x <= 1:
        return 1
    return int(2 ** math.ceil(math.log2(x)))


def _p(p) -> str:
    if p is None or not math.isfinite(p):
        return "n/a"
    return f"{p:.2g}" if p >= 1e-4 else f"{p:.1e}"


def _signed(x, digits=3) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{sig(x, digits):+g}"


@dataclass(frozen=True)
class Recent:
    """The last third of the late phase (at least 8 points): has the growth stopped?"""
    n: int
    first: int          # its first iteration
    mk: MannKendall
    ts: TheilSen


def decide(*, n_stable: int, mk: MannKendall, ts: TheilSen, ols: LineFit, mean_mb: float, late_name: str,
           recent: Recent | None = None) -> tuple[str, str]:
    """(verdict, the sentence that says why). `recent`: the last third of the late phase, when
    it is long enough to have one."""
    if n_stable < MIN_STABLE:
        return "inconclusive", (f"only {n_stable} iteration(s) after warmup and settling "
                                f"(at least {MIN_STABLE} are needed): run more iterations")
    p, z = mk.p, mk.z
    lo, hi = ts.ci
    slope = ts.slope
    per_1000 = slope * 1000.0
    relevant = mean_mb > 0 and per_1000 >= RELEVANT_FRACTION_PER_1000 * mean_mb
    rising = p < TREND_P and z > 0
    if rising and lo > 0:
        if relevant and recent and _stopped(recent, slope):
            rts = recent.ts
            return "inconclusive", (
                f"the {late_name} phase rose {_signed(slope)} MB/iter, but the last {recent.n} iterations "
                f"(from {recent.first}) rise only {_signed(rts.slope)} MB/iter, 95% CI "
                f"[{_signed(rts.ci[0])}, {_signed(rts.ci[1])}], Mann-Kendall p={_p(recent.mk.p)}: "
                "the growth has slowed or stopped; run more iterations to tell a leak from a late plateau")
        if relevant:
            return "leak", (f"the {late_name} phase rises {_signed(slope)} MB/iter "
                            f"(+{per_1000 / mean_mb:.0%} of its level per 1000 iterations), "
                            "significant by Mann-Kendall and Theil-Sen: a leak")
        return "plateau", (f"the {late_name} phase has a statistically significant but negligible rise "
                           f"({_signed(per_1000)} MB per 1000 iterations, under "
                           f"{RELEVANT_FRACTION_PER_1000:.0%} of its {mean_mb:.0f} MB level)")
    ols_lo = ols.ci[0]
    signals = []
    if p < WEAK_P and z > 0:
        signals.append(f"Mann-Kendall p={_p(p)}")
    if lo > 0:
        signals.append(f"Theil-Sen 95% CI [{_signed(lo)}, {_signed(hi)}] MB/iter")
    if ols_lo is not None and math.isfinite(ols_lo) and ols_lo > 0:
        signals.append(f"OLS 95% CI [{_signed(ols_lo)}, {_signed(ols.ci[1])}] MB/iter")
    if signals and relevant:
        return "inconclusive", (f"the tests disagree about a rise in the {late_name} phase ("
                                + "; ".join(signals) + " point up, but not all of Mann-Kendall p < "
                                f"{TREND_P} and a Theil-Sen interval above 0): run more iterations")
    if p < TREND_P and z < 0:
        return "plateau", f"the {late_name} phase falls (Mann-Kendall z={z:.2f}, p={_p(p)}): memory is being returned"
    if signals:
        # Mann-Kendall and OLS notice a few steps up (allocator retention grows in steps); the robust
        # Theil-Sen slope, which decides relevance, says the level does not keep rising
        return "plateau", (f"a small rise in the {late_name} phase (" + "; ".join(signals) + ") is not a "
                           f"sustained trend: the robust Theil-Sen slope is {_signed(slope)} MB/iter "
                           f"({_signed(per_1000)} MB per 1000 iterations, under {RELEVANT_FRACTION_PER_1000:.0%} "
                           f"of its {mean_mb:.0f} MB level): a few steps, not a slope")
    return "plateau", f"no significant trend in the {late_name} phase (Mann-Kendall p={_p(p)})"


def decide_envelope(env: Envelope, *, n_stable: int, late_name: str = "stable") -> tuple[str, str]:
    """(verdict, the sentence that says why) for a series with reclaims, from reclaims.envelope()."""
    if n_stable < MIN_STABLE:
        return "inconclusive", (f"only {n_stable} iteration(s) after warmup and settling "
                                f"(at least {MIN_STABLE} are needed): run more iterations")
    k = len(env.reclaims)
    tr, pk = env.troughs, env.peaks
    tol = tr.noise_mb
    against = f"noise ±{tol:.2f} MB" if tol is not None else f"Mann-Kendall p={_p(tr.p)} on the tooth levels"
    level = env.level_mb or 0.0
    where = _iters(env.reclaims)
    rate = tr.mb_per_iter
    per_1000 = f"{rate * 1000 / level:+.0%} of the {level:.0f} MB level per 1000 iterations" \
        if rate is not None and level > 0 else "n/a per 1000 iterations"
    if k == 1:
        ages = env.teeth[-1].offset_ages or 0
        over = f" (median over {ages} iterations)" if ages else ""
        troughs = (f"the tooth after it runs {tr.total_mb:+.2f} MB above the first at the same age{over}, "
                   f"{_signed(rate)} MB/iter or {per_1000} if every tooth did so ({against})")
    else:
        troughs = (f"the teeth after the reclaims run {tr.total_mb:+.2f} MB in all above the tooth before at "
                   f"the same age ({_signed(rate)} MB/iter, {per_1000}; {against})")
    if k == 1 and env.teeth[-1].n < MIN_STABLE:
        return "inconclusive", _one_late_reclaim(env)
    if k == 1 and tr.rises and (env.teeth[-1].offset_ages or 0) < MIN_STABLE:
        return "inconclusive", (f"sawtooth with one reclaim, at iteration {env.reclaims[0]}: {troughs}; but that "
                                f"compares fewer than {MIN_STABLE} ages with the run's first tooth "
                                f"({env.teeth[0].n} iterations), which starts cold (warmup), and one reclaim "
                                "leaves one floor, with no earlier one to rise above: the evidence is weak; "
                                f"{_settle(env)}")
    if tr.rises and tr.n == 1 and tr.total_mb is not None and tr.total_mb < ONE_PAIR_SCATTER * level:
        return "inconclusive", _one_pair(env, troughs)
    fell = _floor_falls(env) if tr.rises and tr.test == "noise" else None
    if fell:
        return "inconclusive", (f"sawtooth with {k} reclaims (at {where}): {troughs}, but the floors the reclaims "
                                f"return to do not climb ({fell}): with few teeth the noise is modelled, not measured, and a "
                                "leak leaves more behind at every reclaim: the evidence conflicts; run at least "
                                f"{env.reclaims[-1] - env.reclaims[0] + env.teeth[-1].n} more iterations to see "
                                "whether the floor keeps up with the teeth")
    if tr.beyond_noise and tr.consistent and not tr.relevance_settled and level > 0:
        return "inconclusive", _drift_unsettled(env, troughs)
    if tr.rises:
        return "leak", (f"sawtooth with {k} reclaim(s) (at {where}) whose troughs climb: {troughs}, "
                        f"{tr.positive} of {tr.n} higher: the reclaims give back the teeth but not the rest: a leak")
    if tr.beyond_noise and tr.relevant and not tr.consistent:
        if tr.largest_mb is not None and tr.total_mb is not None and tr.positive >= (tr.n if tr.n <= 2 else tr.n / 2):
            return "inconclusive", (f"sawtooth with {k} reclaims (at {where}): {troughs}, but {tr.largest_mb:+.2f} MB "
                                    f"of it is one tooth's, and "
                                    + (f"the other {tr.n - 1} add" if tr.n > 2 else "the other adds")
                                    + f" {tr.total_mb - tr.largest_mb:+.2f} MB, within the noise: one step, not a "
                                    f"climb; run at least {max(env.teeth[-1].n, MIN_STABLE)} more iterations "
                                    "(another tooth as long as the last) to see whether the next one runs higher too")
        return "inconclusive", (f"sawtooth with {k} reclaims (at {where}): the troughs moved but not in every "
                                f"tooth ({troughs}, {tr.positive} of {tr.n} higher): run more iterations")
    climb = _floors_climb(env)
    if climb:
        return "inconclusive", (f"sawtooth with {k} reclaims (at {where}): the teeth do not run higher at the same "
                                f"age ({troughs}), but the floor each reclaim returns to climbs: {climb}: the "
                                f"evidence conflicts; run at least {env.reclaims[-1] - env.reclaims[0]} more "
                                "iterations (as many as from the first reclaim to the last) to see whether the "
                                "floor keeps climbing or holds")
    last = env.teeth[-1]
    if env.overdue:
        return "inconclusive", (f"sawtooth with {k} reclaim(s) (at {where}), but the last tooth has run "
                                f"{last.n} iterations without one (longer than any before) and stands at "
                                f"{last.peak_mb:.1f} MB, above every earlier peak: it may never be reclaimed; "
                                "run more iterations")
    if pk and pk.rises:
        return "inconclusive", (f"sawtooth with {k} reclaims (at {where}): the troughs hold ({troughs}) but the "
                                f"peaks climb {pk.total_mb:+.1f} MB ({_signed(pk.mb_per_iter)} MB/iter): the "
                                "teeth grow taller; run more iterations")
    if k == 1:
        t0 = env.teeth[0]
        return "plateau", (f"sawtooth, not a leak: RSS rose {_signed(t0.slope_mb_per_iter)} MB/iter to "
                           f"{t0.peak_mb:.1f} MB and one reclaim at iteration {env.reclaims[0]} brought it back "
                           f"to {last.low_mb:.1f} MB; {troughs}, so the troughs do not rise: the growth is "
                           "reclaimed, not leaked")
    peaks = ("the peaks do not rise either (" + f"{pk.total_mb:+.1f} MB over {pk.n + 1} finished teeth)"
             if pk else "only one finished tooth, so no peaks to compare")
    return "plateau", (f"sawtooth, not a leak: {k} reclaims (at {where}); {troughs}, so the troughs do not rise; "
                       f"{peaks}: memory grows and is reclaimed")


def _floors(env: Envelope, least: int) -> tuple[list[float], list[float], float] | None:
    """The floors the reclaims return to (the low of each tooth after one: never the first, cold
    tooth's) when there are `least` or more: as RSS (to show), as judged (to compare: each model's
    level taken out for a series alternating models, the series the noise was measured on), and
    the noise of two readings (3 x sqrt(2) x the envelope's sigma). None with fewer floors."""
    teeth = env.teeth[1:]
    if len(teeth) < least or env.noise_sigma_mb is None:
        return None
    shown = [float(t.low_mb) for t in teeth]
    judged = [float(t.judged_low_mb if t.judged_low_mb is not None else t.low_mb) for t in teeth]
    return shown, judged, NOISE_SIGMAS * math.sqrt(2) * float(env.noise_sigma_mb)


def _listed(shown: list[float], judged: list[float]) -> str:
    """The floors as RSS, and as judged when that differs (a series alternating models)."""
    text = ", ".join(f"{v:.1f}" for v in shown) + " MB"
    if any(abs(a - b) >= 0.05 for a, b in zip(shown, judged)):
        text += " (" + ", ".join(f"{v:.1f}" for v in judged) + " MB with each model's level taken out)"
    return text


def _floors_climb(env: Envelope) -> str | None:
    """The floors, when there are MIN_FLOORS or more (two floors are one step, not a climb) and
    they climb: from the first floor to the last beyond the noise of two readings, by a relevant
    rate (10% of the level per 1000 iterations) and with no floor falling that much below the one
    before. A description of the climb, or None. Why: teeth of very different lengths compared at
    the same age can hide a floor that steps up from reclaim to reclaim."""
    floors = _floors(env, MIN_FLOORS)
    if floors is None:
        return None
    shown, lows, tol = floors
    total = lows[-1] - lows[0]
    span = env.reclaims[-1] - env.reclaims[0]
    level = float(env.level_mb or 0.0)
    rate = total / span if span > 0 else float("nan")
    relevant = level > 0 and math.isfinite(rate) and rate * 1000 >= RELEVANT_FRACTION_PER_1000 * level
    steady = all(b - a >= -tol for a, b in zip(lows[:-1], lows[1:]))
    if not (total > tol and relevant and steady):
        return None
    return (_listed(shown, lows) + f" (+{total:.1f} MB, beyond the noise ±{tol:.2f} MB; "
            f"{_signed(rate)} MB/iter, {rate * 1000 / level:+.0%} of the {level:.0f} MB level per 1000 iterations)")


def _floor_falls(env: Envelope) -> str | None:
    """With two or more reclaims, a floor that falls more than the noise of two readings below
    the one before: the floors, listed, and the fall; else None."""
    floors = _floors(env, 2)
    if floors is None:
        return None
    shown, lows, tol = floors
    drops = [a - b for a, b in zip(lows[:-1], lows[1:])]
    if max(drops) <= tol:
        return None
    return _listed(shown, lows) + f": one falls back {max(drops):.1f} MB, beyond the noise ±{tol:.2f} MB"


def _one_pair(env: Envelope, troughs: str) -> str:
    """Why one pair of teeth running apart settles nothing when the gap is under ONE_PAIR_SCATTER of
    the level: the noise is measured within the teeth, and how far a whole tooth's level moves from
    one reclaim to the next needs more pairs to measure. What settles it: another tooth."""
    tr = env.troughs
    k = len(env.reclaims)
    level = float(env.level_mb or 0.0)
    if env.short_last_tooth_excluded:
        last = env.teeth[-1]
        settle = (f"the last tooth has {last.n} record{'s' if last.n != 1 else ''}, too few to compare: run at "
                  f"least {MIN_LAST_TOOTH - last.n} more iterations to compare it with the one before")
    elif k == 1:
        settle = _settle(env)
    else:
        before = env.teeth[-2].n
        settle = (f"run at least {max(MIN_STABLE, before)} more iterations (another tooth as long as the one "
                  "before) to compare another pair of teeth")
    return (f"sawtooth with {k} reclaim{'s' if k > 1 else ''} (at {_iters(env.reclaims)}): {troughs}; but that "
            f"is one pair of teeth, and the noise is measured within teeth: in real served runs a tooth's level "
            f"moved by up to 9% of the level from one reclaim to the next with no leak, and "
            f"{tr.total_mb:+.2f} MB is {tr.total_mb / level:.1%} of the {level:.0f} MB level (one pair counts "
            f"from {ONE_PAIR_SCATTER:.0%}): the evidence is weak; {settle}")


def _drift_unsettled(env: Envelope, troughs: str) -> str:
    """Why troughs that climb beyond the noise, at a rate whose interval spans the relevance bar,
    settle nothing: the drift may or may not add 10% of the level per 1000 iterations, and a hard
    bar on the point estimate would flip the verdict between leak and plateau from one run length
    to the next. What settles it: as many iterations again as the reclaims have spanned."""
    tr = env.troughs
    level = float(env.level_mb or 0.0)
    lo, hi = tr.ci_mb
    span = env.reclaims[-1] - env.reclaims[0]
    return (f"sawtooth with {len(env.reclaims)} reclaims (at {_iters(env.reclaims)}): the troughs climb "
            f"({troughs}, {tr.positive} of {tr.n} higher), but the rate's 95% interval, {_signed(lo)} to "
            f"{_signed(hi)} MB/iter ({lo * 1000 / level:+.0%} to {hi * 1000 / level:+.0%} of the level per "
            f"1000 iterations), spans the {RELEVANT_FRACTION_PER_1000:.0%} per 1000 iterations counted as a "
            f"leak: a slow drift that may or may not matter; run at least {span} more iterations (as many as "
            "from the first reclaim to the last) to narrow it")


def _one_late_reclaim(env: Envelope) -> str:
    """Why one reclaim with few records after it settles nothing, and what would: the tooth after it
    cannot be compared with the one before over enough ages, and one reclaim has no floor after an
    earlier reclaim to hold its own against."""
    first, last = env.teeth[0], env.teeth[-1]
    return (f"sawtooth with one reclaim, at iteration {env.reclaims[0]}, near the end of the run: RSS rose "
            f"to {first.peak_mb:.1f} MB (iteration {first.peak_iteration}) and fell back to {last.low_mb:.1f} MB; "
            f"only {last.n} iteration{'s' if last.n != 1 else ''} follow{'s' if last.n == 1 else ''} it "
            f"(at least {MIN_STABLE} are needed to compare the tooth after it with the one before at the same "
            f"age) and one reclaim cannot show whether the floor after reclaims rises: the "
            f"evidence is weak either way; {_settle(env)}")


def _settle(env: Envelope) -> str:
    """What settles a one-reclaim run: another tooth as long as the first, ended by a second reclaim."""
    first, last = env.teeth[0].n, env.teeth[-1].n
    if last < first:
        more = max(MIN_STABLE, first) - last
        return (f"run at least {more} more iterations (another tooth as long as the first) to see whether "
                "the floor after the next reclaim rises above this one's")
    return (f"the tooth after it has already run {last} iterations, longer than the {first} before it, so when "
            f"the next reclaim comes is not known: run at least {last} more iterations to see whether one comes "
            "and whether the floor after it rises above this one's")


def _iters(its: list[int], show: int = 6) -> str:
    head = ", ".join(str(i) for i in its[:show])
    return "iteration " + head if len(its) == 1 else "iterations " + head + (", ..." if len(its) > show else "")


def _stopped(recent: Recent, slope: float) -> bool:
    """The recent slope is significantly below the phase's (its interval ends under it)
    and the recent part itself no longer rises significantly (Mann-Kendall p >= 0.05)."""
    hi = recent.ts.ci[1]
    p, z = recent.mk.p, recent.mk.z
    still_rising = p < WEAK_P and z > 0
    return bool(math.isfinite(hi) and hi < slope and not still_rising)


def recommend(*, verdict: str, peak_mb: float, mean_mb: float, std_mb: float,
              slope: float, current_mb: float, envelope: Envelope | None = None,
              loaded: Loaded | None = None, unit: str = "iteration") -> Recommendation:
    """The budget. `loaded` (footprint.loaded) is the high-water mark while a model was loaded and
    serving: a server sized below it dies at its first request, so the budget covers it whenever
    the records carry it, while the leak/plateau verdict stays with what is left after unload."""
    tail = "alert = max_expected x 1.10; RAM = next power of two >= alert x 1.5 (MB, rounded up to 2 significant figures)"
    if envelope:
        base = float(envelope.highest_peak_mb)
        what = "highest peak of the sawtooth"
    else:
        base = max(peak_mb, mean_mb + 3 * std_mb)
        what = "max(peak, stable mean + 3 sigma)"
    after_unload_base = base
    headroom = 0.0
    has_peak = bool(loaded and loaded.peak_mb is not None)
    if has_peak:
        headroom = float(loaded.headroom_max_mb or loaded.headroom_mb or 0.0)
        # the after-unload base lifted by what a loaded model adds on top of it, or the highest loaded peak seen
        base = max(float(loaded.peak_mb), after_unload_base + max(headroom, 0.0))
        after = "after each response" if unit == "request" else "after unload"
        what = f"max(loaded peak, {what} {after} + the largest loaded headroom)"
    rule = f"max_expected = {what} x 1.05; " + tail
    max_expected = nice_ceil(base * 1.05)
    alert = nice_ceil(max_expected * 1.10)
    ram = next_pow2(alert * 1.5)
    to = {}
    units = f"{unit}s"
    if verdict == "leak" and slope > 0:
        now = current_mb + max(headroom, 0.0)
        to_alert = max(0.0, (alert - now) / slope)
        to_ram = max(0.0, (ram - now) / slope)
        to = {"iterations_to_alert": int(math.ceil(to_alert)), "iterations_to_ram": int(math.ceil(to_ram))}
        sentence = (f"Memory leaks {_signed(slope)} MB/{unit}: from {now:.0f} MB it crosses the "
                           f"{alert:.0f} MB alert threshold after ~{to_alert:.0f} more {units} and "
                           f"{_gb(ram)} of RAM after ~{to_ram:.0f}: no budget holds; find the leak "
                           f"(or restart the process well before {to_alert:.0f} {units}).")
    elif verdict == "plateau" and envelope:
        k = len(envelope.reclaims)
        low = min(t.low_mb for t in envelope.teeth)
        sentence = (f"Memory follows a sawtooth between ~{low:.0f} and ~{after_unload_base:.0f} MB ({k} reclaim"
                           f"{'s' if k != 1 else ''}): budget for the peak, not the mean: expect at most "
                           f"{max_expected:.0f} MB, alert above {alert:.0f} MB, provision {_gb(ram)} of RAM.")
        if k == 1:
            sentence += (f" Only one reclaim was seen, after a tooth of {envelope.teeth[0].n} {units}: "
                                "a longer tooth peaks higher, so keep the alert.")
    elif verdict == "plateau":
        sentence = (f"Memory plateaus at ~{mean_mb:.0f} MB (±{std_mb:.0f} MB): expect at most "
                           f"{max_expected:.0f} MB, alert above {alert:.0f} MB, provision {_gb(ram)} of RAM.")
    else:
        sentence = (f"Not enough evidence for a verdict; provisional budget: at most {max_expected:.0f} MB, "
                           f"alert above {alert:.0f} MB, {_gb(ram)} of RAM. Run more {units}.")
    if has_peak:
        where = f" at {unit} {loaded.peak_iteration}" + (f" ({loaded.peak_model})" if loaded.peak_model else "")
        # a server keeps the model it served: what decides is RSS after each response, not after an unload
        stays = "the RSS after each response" if unit == "request" else "what stays after unload"
        sentence += (f" The budget covers the loaded peak: {loaded.peak_mb:.0f} MB while a model was loaded "
                     f"and generating{where}, up to {headroom:.0f} MB above {stays} (which decides leak or plateau).")
    return Recommendation(max_expected_mb=rnd(max_expected), alert_mb=rnd(alert), ram_mb=ram, rule=rule,
                          basis="loaded peak" if has_peak else "after unload", sentence=sentence, **to)


def _gb(mb: float) -> str:
    return f"{mb / 1024:g} GB" if mb >= 1024 else f"{mb:g} MB"
