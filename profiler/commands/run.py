"""`memprof run`: the model-switch loop, plainly (no profiler), one record per iteration."""
import click

from profiler.commands._loop import loop_options


@click.command("run")
@loop_options()
def command(**opts):
    """Load, generate with and unload models in turn, measuring the process after every
    unload (RSS split into anonymous and file-backed, glibc heap in use and retained,
    threads, time to first token, output drift). Writes RUN_DIR/iterations.jsonl and
    meta.json; then `memprof report RUN_DIR`."""
    from profiler.commands._loop import loop_config_from_options, loop_run_dir
    from profiler.workload.runner import prepare_loop, require_llama_cpp, run_workload

    config = loop_config_from_options(opts)
    require_llama_cpp()
    run_dir = loop_run_dir(opts, "run")
    argv = prepare_loop(run_dir, config)
    names = " / ".join(m["alias"] for m in config.models)
    click.echo(f"memprof: {config.iterations} iterations of {names} ({config.strategy}, "
               f"{config.max_tokens} tokens) -> {run_dir}", err=True)
    result = run_workload(run_dir, argv, expected_iterations=config.iterations, label="run")
    click.echo(f"{result.iterations} iterations in {result.elapsed_s:.1f} s: {run_dir}")
    from profiler import pipeline
    from profiler.report import console

    click.echo(console.summary(pipeline.analyze(run_dir, save=True)))
    click.echo(f"next: memprof report {run_dir}")
