"""`memprof run`: the model-switch loop, plainly (no profiler), one record per iteration.

Run through the session like the profiler commands (under no tool), so a run that is
interrupted, times out or whose loop is killed is stopped, recorded and summarised the same way."""
import click

from profiler.commands._loop import loop_options


@click.command("run")
@loop_options()
def command(**opts):
    """Load, generate with and unload models in turn, measuring the process after every
    unload (RSS split into anonymous and file-backed, glibc heap in use and retained,
    threads, time to first token, output drift). Writes RUN_DIR/iterations.jsonl and
    meta.json; then `memprof report RUN_DIR`."""
    from profiler import session
    from profiler.commands._loop import loop_config_from_options

    config = loop_config_from_options(opts)
    names = " / ".join(m["alias"] for m in config.models)

    def announce(run_dir):
        click.echo(f"memprof: {config.iterations} iterations of {names} ({config.strategy}, "
                   f"{config.max_tokens} tokens) -> {run_dir}", err=True)

    outcome = session.profile_and_summarize(None, loop=config, out=opts.get("out"), echo_out=click.echo,
                                            on_run_dir=announce)
    click.echo(f"{outcome.iterations} iterations in {outcome.elapsed_s:.1f} s: {outcome.run_dir}")
    click.echo(f"next: memprof report {outcome.run_dir}")
