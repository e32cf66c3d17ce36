"""`memprof heaptrack [loop options] [-- CMD ...]`."""
import click

from profiler.commands._loop import loop_options


@click.command("heaptrack", context_settings={"allow_interspersed_args": False})
@loop_options()
@click.argument("cmd", nargs=-1, type=click.UNPROCESSED, metavar="[-- CMD ...]")
def command(cmd, **loop_opts):
    """Run the switch loop (or CMD, after --) under heaptrack: every malloc/free with its
    stack (heaptrack does not see mmap, so mapped model files are not counted). The
    capture stays in RUN_DIR/capture/ beside iterations.jsonl; then it is parsed and
    summarised."""
    from profiler.commands._loop import profile_command

    profile_command("heaptrack", cmd, loop_opts)
