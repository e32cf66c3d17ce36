"""`memprof serve`: the switch experiment against llama-cpp-python's OpenAI-compatible server."""
import click

from profiler.workload.config import DEFAULT_MODELS, LIMITS, LoopConfig
from profiler.workload.config import QUICK as LOOP_QUICK

# a request is the server's iteration: the loop's models and tokens, its own counts
QUICK = {"models": LOOP_QUICK["models"], "requests": 12, "max_tokens": LOOP_QUICK["max_tokens"]}
DEFAULTS = {"models": DEFAULT_MODELS, "requests": 20, "max_tokens": LoopConfig.defaults()["max_tokens"]}


@click.command("serve")
@click.option("--model", "-m", "models", multiple=True, metavar="ALIAS|PATH",
              help="Model to serve, repeatable; requests alternate between them [default: 0.6b, 1.7b]. "
                   "With --url: the model names the server knows [default: its /v1/models list].")
@click.option("--requests", "-n", type=click.IntRange(*LIMITS["iterations"]), default=None,
              help=f"Completions to send [default: {DEFAULTS['requests']}; --quick: {QUICK['requests']}].")
@click.option("--prompt", default=None, help="Prompt of every completion.")
@click.option("--max-tokens", type=click.IntRange(*LIMITS["max_tokens"]), default=None,
              help=f"Tokens asked per completion (the server may answer fewer or more) [default: {DEFAULTS['max_tokens']}; --quick: {QUICK['max_tokens']}].")
@click.option("--n-ctx", type=click.IntRange(*LIMITS["n_ctx"]), default=LoopConfig.defaults()["n_ctx"],
              show_default=True, help="Context size.")
@click.option("--threads", type=click.IntRange(*LIMITS["threads"]), default=None, help="llama.cpp threads [default: all usable cores].")
@click.option("--model-path", "model_paths", multiple=True, metavar="ALIAS=PATH",
              help="Use this GGUF file for ALIAS.")
@click.option("--backend", type=click.Choice(["memray", "heaptrack", "massif", "memcheck"]), default=None,
              help="Run the server under this profiler [default: plain].")
@click.option("--url", default=None, metavar="URL", help="Drive an OpenAI-compatible server already running here...")
@click.option("--pid", type=click.IntRange(1), default=None, help="...whose process is this PID (measured from outside).")
@click.option("--start-timeout", type=click.FloatRange(1), default=None,
              help="Seconds to wait for the server to answer [default: 120; 1800 under Valgrind].")
@click.option("--out", "-o", type=click.Path(file_okay=False), default=None,
              help="Run directory [default: runs/serve-<timestamp>].")
@click.option("--quick", is_flag=True, help="Tiny twins, 12 requests, 8 tokens (unless given): a smoke run in seconds.")
def command(models, requests, prompt, max_tokens, n_ctx, threads, model_paths, backend, url, pid, start_timeout,
            out, quick):
    """Start llama-cpp-python's server (python -m llama_cpp.server) with every model in one
    config on 127.0.0.1 at a free port, plain or under a profiler, and send completions
    alternating the models (the server closes one model and loads the next on a switch).
    Each request is one iteration: the server is measured from outside after it (RSS split,
    the peak since the previous request, threads, the memory cgroup). Then the same analysis,
    verdict and report as `memprof run`; the server is stopped at the end and on Ctrl-C."""
    from profiler import pipeline, serving
    from profiler.commands._loop import loop_config_from_options
    from profiler.report import console
    from profiler.workload.config import DEFAULT_PROMPT

    pick = QUICK if quick else DEFAULTS
    requests = requests or pick["requests"]
    max_tokens = max_tokens or pick["max_tokens"]
    if url is not None:
        resolved = [{"alias": m, "path": ""} for m in models] or None
        threads = threads or 1
    else:
        config = loop_config_from_options({"models": models or pick["models"], "iterations": requests,
                                           "max_tokens": max_tokens, "n_ctx": n_ctx, "threads": threads,
                                           "prompt": prompt, "model_paths": model_paths})
        resolved, threads = config.models, config.threads
        prompt = config.prompt
    if start_timeout is None:
        start_timeout = 1800.0 if backend in ("massif", "memcheck") else 120.0
    outcome = serving.serve(models=resolved, requests=requests, prompt=prompt or DEFAULT_PROMPT,
                            max_tokens=max_tokens, n_ctx=n_ctx, threads=threads, backend_name=backend, url=url,
                            pid=pid, out=out, start_timeout=start_timeout, echo=lambda m: click.echo(m, err=True))
    tail = f", {outcome.failed} failed" if outcome.failed else ""
    if outcome.tokens_max is not None:
        got = (f"{outcome.tokens_min}" if outcome.tokens_min == outcome.tokens_max
               else f"{outcome.tokens_min}-{outcome.tokens_max}")
        tail += f"; {got} tokens per answer (up to {max_tokens} requested)"
    click.echo(f"{outcome.requests} requests{tail}: {outcome.run_dir}")
    click.echo(console.summary(pipeline.analyze(outcome.run_dir, save=True)))
    click.echo(f"next: memprof report {outcome.run_dir}")
    if outcome.stopped_because:
        from profiler.errors import WorkloadFailed

        raise WorkloadFailed(f"stopped after {outcome.requests} requests: {outcome.stopped_because}; "
                             f"the records are kept in {outcome.run_dir}")
