"""How long a Valgrind run of the switch loop will take, said before it starts.

Valgrind runs the loop one to three hundred times slower than natively, so a
default-sized run of a real model can take hours. The estimate is a small
cost model, calibrated by measurement on the development machine (x86-64,
2 cores, AVX2 build, OMP_WAIT_POLICY=PASSIVE) and documented below; it is a
rough figure (expect within 2x on a similar machine) meant to catch "this
will take all night", not to schedule. Once the run starts, the progress bar
extrapolates from the iterations actually finished.

    total = startup + iterations * (per_iteration + per_gb * model_gb * tokens)

startup: the interpreter, imports and llama_cpp's library load under the tool;
per_iteration: loading a model, creating and freeing a context (the fixed part
of an iteration, dominated by allocations, not arithmetic); per_gb: compute
time per token per GB of model weights (the matrix products touch every
weight once per token), with `tokens` = prompt tokens + max_tokens.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Costs:
    startup_s: float
    per_iteration_s: float
    per_gb_token_s: float


# Measured on the development machine; see the module docstring and the report
# of the backends work for the runs behind each figure.
COSTS = {
    "plain": Costs(startup_s=1.0, per_iteration_s=0.05, per_gb_token_s=0.05),
    "massif": Costs(startup_s=10.0, per_iteration_s=3.0, per_gb_token_s=15.0),
    "memcheck": Costs(startup_s=25.0, per_iteration_s=8.0, per_gb_token_s=40.0),
}
CONFIRM_ABOVE_S = 600.0
# a prompt is tokenised at roughly one token per 4 characters (real vocabularies);
# the synthetic twins' small vocabularies split finer, so err on the long side
CHARS_PER_TOKEN = 3.0


@dataclass(frozen=True)
class Estimate:
    tool: str
    seconds: float
    iterations: int
    tokens: int
    model_gb: float


def _model_gb(loop, iteration: int) -> float:
    path = Path(loop.model_for(iteration)["path"])
    try:
        return path.stat().st_size / 1e9
    except OSError:
        return 0.0


def estimate_run(tool: str, loop) -> Estimate | None:
    """The estimated wall time of `loop` (a LoopConfig) under `tool`, or None for an unknown tool."""
    costs = COSTS.get(tool)
    if costs is None:
        return None
    tokens = int(len(loop.prompt) / CHARS_PER_TOKEN) + 1 + int(loop.max_tokens)
    n = int(loop.iterations)
    sizes = [_model_gb(loop, i) for i in range(1, n + 1)]
    seconds = costs.startup_s + sum(costs.per_iteration_s + costs.per_gb_token_s * gb * tokens for gb in sizes)
    return Estimate(tool, seconds, n, tokens, max(sizes) if sizes else 0.0)


def _fmt(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def describe(est: Estimate) -> str:
    return (f"{est.tool} run of {est.iterations} iteration(s), ~{est.tokens} tokens each: "
            f"estimated {_fmt(est.seconds)} (rough, within ~2x)")


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

        return click.confirm(f"This will take about {_fmt(est.seconds)}. Continue?", default=False,
                             err=True)
    return bool(confirm(f"This will take about {_fmt(est.seconds)}. Continue?"))
