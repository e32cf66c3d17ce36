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
    from profiler.commands._loop import profile_command

    profile_command("heaptrack", cmd, loop_opts, scale=scale)
