"""The switch-loop options shared by `memprof run` and the profiler commands.

Each command may override the defaults (Valgrind runs want fewer iterations and
tokens), so the decorator is a factory: `@loop_options(iterations=4, max_tokens=4)`.
The defaults, the ranges, the --quick and Valgrind policies and the checks are LoopConfig's
(profiler/workload/config.py, LoopConfig.from_options); this module only turns them into
options and says which ones the user gave.
"""
from __future__ import annotations

import click

from profiler.workload import config as _config

QUICK = _config.QUICK
LIMITS = _config.LIMITS
_FIELDS = _config.LoopConfig.defaults()
DEFAULTS = {
    "models": _config.DEFAULT_MODELS,
    "iterations": _FIELDS["iterations"],
    "strategy": _FIELDS["strategy"],
    "prompt": None,          # LoopConfig's default prompt
    "max_tokens": _FIELDS["max_tokens"],
    "n_ctx": _FIELDS["n_ctx"],
    "threads": None,         # all usable cores
}


def loop_options(**default_overrides):
    """Decorator adding --model, --iterations, --strategy, --prompt, --max-tokens, --n-ctx,
    --threads, --out, --quick, --collect-garbage and --model-path; `default_overrides`
    replace DEFAULTS."""
    unknown = set(default_overrides) - set(DEFAULTS) - {"quick"}
    if unknown:
        raise TypeError(f"unknown loop option defaults: {sorted(unknown)}")
    d = {**DEFAULTS, **default_overrides}

    def decorate(f):
        # Click lists options in decorator order, so apply them bottom-up.
        opts = [
            click.option("--model", "-m", "models", multiple=True, default=d["models"], show_default=True,
                         metavar="ALIAS|PATH",
                         help="Model to load, repeatable; the loop alternates between them. "
                              "Aliases: 0.6b, 1.7b, tiny-0.6b, tiny-1.7b."),
            click.option("--iterations", "-n", type=click.IntRange(*LIMITS["iterations"]), default=d["iterations"],
                         show_default=True, help="Load/generate/unload iterations."),
            click.option("--strategy", type=click.Choice(list(_config.STRATEGIES)), default=d["strategy"],
                         show_default=True,
                         help="reload: destroy and recreate the model every iteration; "
                              "reset: keep one instance per model and reset it on a switch."),
            click.option("--prompt", default=d["prompt"], help="Prompt text for each generation."),
            click.option("--max-tokens", type=click.IntRange(*LIMITS["max_tokens"]), default=d["max_tokens"],
                         show_default=True, help="Tokens generated per iteration (greedy)."),
            click.option("--n-ctx", type=click.IntRange(*LIMITS["n_ctx"]), default=d["n_ctx"], show_default=True,
                         help="Context size (sizes the KV cache)."),
            click.option("--threads", type=click.IntRange(*LIMITS["threads"]), default=d["threads"],
                         help="llama.cpp threads [default: all usable cores]."),
            click.option("--out", "-o", type=click.Path(file_okay=False), default=None,
                         help="Run directory [default: runs/<command>-<timestamp>]."),
            click.option("--quick", is_flag=True, default=bool(d.get("quick", False)),
                         help=f"Tiny twins, {QUICK['iterations']} iterations, {QUICK['max_tokens']} tokens (unless "
                              "given): a smoke run in seconds."),
            click.option("--collect-garbage", is_flag=True, default=False,
                         help="Run Python's gc.collect() after each unload, to tell reference-cycle "
                              "garbage (llama-cpp-python's samplers) from native growth."),
            click.option("--model-path", "model_paths", multiple=True, metavar="ALIAS=PATH",
                         help="Use this GGUF file for ALIAS (e.g. 1.7b=/models/Qwen3-1.7B-Q8_0.gguf)."),
        ]
        for opt in reversed(opts):
            f = opt(f)
        return f

    return decorate


def _given(name: str, opts: dict) -> bool:
    """Whether the user set option `name` (not merely its default)."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None and name in ctx.params:
        src = ctx.get_parameter_source(name)
        return src not in (click.core.ParameterSource.DEFAULT, click.core.ParameterSource.DEFAULT_MAP)
    return opts.get(name) not in (None, (), False)


LOOP_ONLY = {"models": "--model", "iterations": "--iterations", "strategy": "--strategy", "prompt": "--prompt",
             "max_tokens": "--max-tokens", "n_ctx": "--n-ctx", "threads": "--threads", "quick": "--quick",
             "collect_garbage": "--collect-garbage", "model_paths": "--model-path"}


def refuse_loop_options_with_command(opts: dict) -> None:
    """A loop option beside `-- CMD` would be silently ignored: say so instead (only --out applies)."""
    given = [flag for name, flag in LOOP_ONLY.items() if _given(name, opts)]
    if given:
        from profiler.errors import UsageProblem

        raise UsageProblem(f"{', '.join(given)}: loop option(s), ignored by a command given after --",
                           hint="drop it, or drop the command to profile the loop")


def loop_config_from_options(opts: dict, *, validate_models: bool = True, valgrind: bool = False):
    """The LoopConfig of the parsed loop options (the command's kwargs): LoopConfig.from_options,
    told which options the user gave."""
    from profiler.workload.config import LoopConfig

    given = [name for name in LOOP_ONLY if _given(name, opts)]
    return LoopConfig.from_options(opts, given=given, valgrind=valgrind, validate_models=validate_models)


def profile_command(backend: str, cmd, loop_opts: dict, *, valgrind: bool = False, scale: str | None = None,
                    **session_kw) -> None:
    """The profiler commands' shared body: `--scale` runs (two runs of `-- CMD`), else refuse loop
    options beside `-- CMD`, build the loop when there is no command (under the Valgrind policy
    with `valgrind`), run the session under `backend` and print its summary. `session_kw` goes
    to the session (options= the tool's ToolOptions, assume_yes=..., timeout=...)."""
    from profiler import session

    if scale:
        from profiler.commands._scale import run_scaled

        return run_scaled(backend, scale, cmd, loop_opts, session_kw.get("options"),
                          assume_yes=session_kw.get("assume_yes", False))
    if cmd:
        refuse_loop_options_with_command(loop_opts)
    loop = None if cmd else loop_config_from_options(loop_opts, valgrind=valgrind)
    session.profile_and_summarize(backend, loop=loop, command=list(cmd) or None, out=loop_opts.get("out"),
                                  echo_out=click.echo, **session_kw)
