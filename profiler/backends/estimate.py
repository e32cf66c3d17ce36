"""How long a Valgrind run of the switch loop will take, said before it starts.

Valgrind runs the loop one to three hundred times slower than natively, so a
default-sized run of a real model can take hours. The estimate is a small
cost model, calibrated by measurement on the development machine (x86-64,
2 cores, AVX2 build, OMP_WAIT_POLICY=PASSIVE) and documented below; it is a
rough figure (expect within 2x on a similar machine) meant to catch "this
will take all night", not to schedule. Once the run starts, the progress bar
extrapolates from the iterations actually finished.

    total = (startup + iterations * (per_iteration
                                     + model_gb * (per_gb_decode * decodes + per_gb_token * tokens))) / share

startup: the interpreter, imports and llama_cpp's library load under the tool;
per_iteration: loading a model, creating and freeing a context (the fixed part
of an iteration, dominated by allocations, not arithmetic); per_gb_decode: one
llama_decode call per GB of weights (every weight is read and dequantised once
per call, whatever the batch), `decodes` = 1 (the prompt, one batch) +
max_tokens - 1 (the last token generated is sampled, never evaluated);
per_gb_token: what each evaluated token adds per GB (`tokens` = prompt tokens +
max_tokens - 1).
The costs are CPU seconds (Valgrind runs the guest's threads one at a time,
so a run uses one core); `share` is the fraction of a core this process can expect
right now (a 0.3 s busy loop, capped by cores / load average), so a shared, loaded
machine is accounted for at the time of asking; a load that rises during the run
is not.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from profiler.fmt import fmt_duration


@dataclass(frozen=True)
class Costs:
    startup_s: float
    per_iteration_s: float
    per_gb_decode_s: float
    per_gb_token_s: float


# CPU seconds, calibrated from the runs in README ("Valgrind run times", scripts/bench_valgrind.py):
# the decode's cost follows the weights it reads far more than the tokens in its batch.
COSTS = {
    "massif": Costs(startup_s=6.0, per_iteration_s=0.3, per_gb_decode_s=12.5, per_gb_token_s=1.0),
    # per_iteration includes the leak check memprof takes at each boundary (~0.7 s on the loop)
    "memcheck": Costs(startup_s=12.0, per_iteration_s=1.0, per_gb_decode_s=22.0, per_gb_token_s=2.5),
}
CONFIRM_ABOVE_S = 600.0
# The synthetic twins' vocabularies split text finely: the 67-character default
# prompt is 40 tokens on the 0.6B twin (50 on the tiny one), about 1.7 characters
# per token; a real Qwen3 vocabulary makes it ~17. Counting as the twins do errs
# long for real models, never short.
CHARS_PER_TOKEN = 1.7


@dataclass(frozen=True)
class Estimate:
    tool: str
    seconds: float
    iterations: int
    tokens: int
    model_gb: float
    share: float = 1.0


def cpu_share(seconds: float = 0.3) -> float:
    """The fraction of one core a busy thread can expect (1.0 on an idle machine): what a
    busy loop got over `seconds`, or less when the load average says more threads want
    the cores than there are (a short probe can land in a quiet moment)."""
    import os
    import time

    w0, c0 = time.perf_counter(), time.thread_time()
    x = 0
    while time.perf_counter() - w0 < seconds:
        x += 1
    wall = time.perf_counter() - w0
    share = (time.thread_time() - c0) / wall if wall > 0 else 1.0
    try:
        cores = len(os.sched_getaffinity(0))
        share = min(share, cores / max(os.getloadavg()[0], 1.0))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        pass
    return min(1.0, max(0.05, share))


def _model_gb(loop, iteration: int) -> float:
    path = Path(loop.model_for(iteration)["path"])
    try:
        return path.stat().st_size / 1e9
    except OSError:
        return 0.0


def estimate_run(tool: str, loop, share: float | None = None) -> Estimate | None:
    """The estimated wall time of `loop` (a LoopConfig) under `tool`, or None for an unknown
    tool; `share` (the fraction of a core this process gets) is measured when not given."""
    costs = COSTS.get(tool)
    if costs is None:
        return None
    import math

    prompt_tokens = max(1, math.ceil(len(loop.prompt) / CHARS_PER_TOKEN))
    tokens = prompt_tokens + int(loop.max_tokens) - 1
    decodes = int(loop.max_tokens)
    n = int(loop.iterations)
    sizes = [_model_gb(loop, i) for i in range(1, n + 1)]
    cpu = costs.startup_s + sum(costs.per_iteration_s
                                + gb * (costs.per_gb_decode_s * decodes + costs.per_gb_token_s * tokens)
                                for gb in sizes)
    share = cpu_share() if share is None else share
    return Estimate(tool, cpu / share, n, tokens, max(sizes) if sizes else 0.0, share)


def describe(est: Estimate) -> str:
    busy = f", this machine busy: {est.share:.0%} of a core free" if est.share < 0.9 else ""
    return (f"{est.tool} run of {est.iterations} iteration(s), ~{est.tokens} token(s) evaluated each: "
            f"estimated {fmt_duration(est.seconds)} (rough, within ~1.5x{busy})")


def may_proceed(est: Estimate, *, assume_yes: bool = False, confirm=None, isatty=None) -> bool:
    """True unless a person at a terminal declines a run estimated above 10 minutes.

    Non-interactive runs (CI, pipes) and --yes always proceed: asking would hang them."""
    if assume_yes or est.seconds <= CONFIRM_ABOVE_S:
        return True
    isatty = isatty if isatty is not None else (sys.stdin.isatty() and sys.stderr.isatty())
    if not isatty:
        return True
    if confirm is None:
        import click

        return click.confirm(f"This will take about {fmt_duration(est.seconds)}. Continue?", default=False,
                             err=True)
    return bool(confirm(f"This will take about {fmt_duration(est.seconds)}. Continue?"))
