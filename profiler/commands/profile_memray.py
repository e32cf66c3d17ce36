"""`memprof memray [loop options] [-- PYTHON-CMD ...]`."""
import click

from profiler.commands._loop import loop_options
from profiler.commands._scale import scale_option


@click.command("memray", context_settings={"allow_interspersed_args": False})
@loop_options()
@click.option("--native/--no-native", default=True, show_default=True,
              help="Record C/C++ stacks too (where libllama/libggml allocate).")
@click.option("--trace-python-allocators", is_flag=True, help="Record pymalloc allocations one by one.")
@click.option("--aggregate", is_flag=True,
              help="Write a much smaller file answering only peak and at-exit queries (no timeline).")
@scale_option
@click.option("--follow-fork", is_flag=True, help="Also record processes forked by the command.")
@click.argument("cmd", nargs=-1, type=click.UNPROCESSED, metavar="[-- PYTHON-CMD ...]")
def command(native, trace_python_allocators, aggregate, follow_fork, scale, cmd, **loop_opts):
    """Run the switch loop (or a Python command, after --) under memray. memray sees
    mmap as well as malloc. The capture stays in RUN_DIR/capture/memray.bin beside
    iterations.jsonl; then it is parsed and summarised."""
    from profiler.backends.options import MemrayOptions
    from profiler.commands._loop import profile_command

    options = MemrayOptions(native=native, trace_python_allocators=trace_python_allocators, aggregate=aggregate,
                            follow_fork=follow_fork)
    profile_command("memray", cmd, loop_opts, scale=scale, options=options)
