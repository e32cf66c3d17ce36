"""`memprof heaptrack [loop options] [-- CMD ...]`."""
import click

from profiler.commands._loop import loop_options
from profiler.commands._scale import scale_option


@click.command("heaptrack", context_settings={"allow_interspersed_args": False})
@loop_options()
@scale_option
@click.argument("cmd", nargs=-1, type=click.UNPROCESSED, metavar="[-- CMD ...]")
def command(cmd, scale, **loop_opts):
    """Run the switch loop (or CMD, after --) under heaptrack: every malloc/free with its
    stack (heaptrack does not see mmap, so mapped model files are not counted). The
    capture stays in RUN_DIR/capture/ beside iterations.jsonl; then it is parsed and
    summarised."""
    from profiler.backends import session
    from profiler.commands._loop import loop_config_from_options

    if scale:
        from profiler.commands._scale import run_scaled

        return run_scaled("heaptrack", scale, cmd, loop_opts)
    if cmd:
        from profiler.commands._loop import refuse_loop_options_with_command

        refuse_loop_options_with_command(loop_opts)
    loop = None if cmd else loop_config_from_options(loop_opts)
    session.profile_and_summarize("heaptrack", loop=loop, command=list(cmd) or None,
                                  out=loop_opts.get("out"), echo_out=click.echo)
