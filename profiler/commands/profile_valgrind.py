"""`memprof valgrind [--tool massif|memcheck] [loop options] [-- CMD ...]`."""
import click

from profiler.commands._loop import loop_options
from profiler.commands._scale import scale_option
from profiler.workload.config import VALGRIND_POLICY

TOOL_HELP = (
    "massif (default): the heap over time with a call tree at every snapshot, so a site that grows "
    "iteration after iteration (a leak) can be told from one that grows and then stays flat (a pool "
    "that plateaus) -- the question memprof answers. memcheck: leak records with full stacks, checked "
    "at every iteration boundary and at exit (definitely/indirectly/possibly lost, still reachable); "
    "about 2-3x slower than massif, and at exit a plateaued pool that is still reachable looks like a "
    "leak that is still reachable, so use it to name lost blocks, not to tell leak from plateau.")


@click.command("valgrind", context_settings={"allow_interspersed_args": False})
@click.option("--tool", type=click.Choice(["massif", "memcheck"]), default="massif", show_default=True,
              help=TOOL_HELP)
@loop_options(**VALGRIND_POLICY)
@click.option("--pages-as-heap", is_flag=True, help="massif: count mmap'd pages too (model files).")
@click.option("--threshold", type=click.FloatRange(0, 100), default=None,
              help="massif: % of the heap below which call-tree branches are merged [massif: 1.0].")
@click.option("--suppressions", "suppressions", multiple=True, type=click.Path(dir_okay=False),
              help="memcheck: extra suppression file, repeatable (see `memprof suppressions`).")
@click.option("--no-default-suppressions", is_flag=True,
              help="memcheck: do not use the shipped python.supp / ggml-init.supp.")
@click.option("--gen-suppressions", is_flag=True,
              help="memcheck: have Valgrind write a suppression into the XML for every record.")
@click.option("--leak-timeline/--no-leak-timeline", default=True, show_default=True,
              help="memcheck: run a leak check (\"increased\" since the last one) through vgdb at every "
                   "iteration boundary, giving each site a per-iteration timeline.")
@click.option("--timeout", type=click.FloatRange(1, None), default=None, metavar="SECONDS",
              help="Stop the run after SECONDS, saving what the tool has first (through vgdb).")
@scale_option
@click.option("--yes", "-y", "assume_yes", is_flag=True, help="Do not ask before a long run.")
@click.argument("cmd", nargs=-1, type=click.UNPROCESSED, metavar="[-- CMD ...]")
def command(tool, pages_as_heap, threshold, suppressions, no_default_suppressions, gen_suppressions,
            leak_timeline, timeout, assume_yes, scale, cmd, **loop_opts):
    """Run the switch loop (or CMD, after --) under Valgrind: massif (default) or memcheck.

    Under Valgrind the loop keeps what costs memory and shrinks what costs
    instructions: each iteration still loads the model, creates its context,
    decodes once and unloads, but the prompt is one or two tokens, one token is
    generated and the context is small (the defaults below). The estimated run
    time is printed first, and a person at a terminal is asked before a run
    estimated above 10 minutes. Ctrl-C once stops after the current step; twice
    (or --timeout) saves the tool's data through vgdb and stops at once. The
    capture stays in RUN_DIR/capture/ beside iterations.jsonl; then it is parsed
    and summarised."""
    from profiler.backends.options import valgrind_options
    from profiler.commands._loop import profile_command

    options = valgrind_options(tool, pages_as_heap=pages_as_heap, threshold=threshold, suppressions=suppressions,
                               no_default_suppressions=no_default_suppressions, gen_suppressions=gen_suppressions,
                               leak_timeline=leak_timeline and not cmd)
    profile_command(tool, cmd, loop_opts, valgrind=True, scale=scale, options=options,
                    assume_yes=assume_yes, timeout=timeout)

