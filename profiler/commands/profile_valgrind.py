"""`memprof valgrind --tool massif|memcheck [loop options] [-- CMD ...]`."""
import click

from profiler.commands._loop import loop_options
from profiler.commands._scale import scale_option

# Valgrind runs the loop one to three hundred times slower: generate the minimum by default
VALGRIND_LOOP_DEFAULTS = {"iterations": 4, "max_tokens": 2}


@click.command("valgrind", context_settings={"allow_interspersed_args": False})
@click.option("--tool", type=click.Choice(["massif", "memcheck"]), required=True,
              help="massif: heap over time with call trees; memcheck: leak records with stacks.")
@loop_options(**VALGRIND_LOOP_DEFAULTS)
@click.option("--pages-as-heap", is_flag=True, help="massif: count mmap'd pages too (model files).")
@click.option("--threshold", type=click.FloatRange(0, 100), default=None,
              help="massif: % of the heap below which call-tree branches are merged [massif: 1.0].")
@click.option("--suppressions", "suppressions", multiple=True, type=click.Path(dir_okay=False),
              help="memcheck: extra suppression file, repeatable (see `memprof suppressions`).")
@click.option("--no-default-suppressions", is_flag=True,
              help="memcheck: do not use the shipped python.supp / ggml-init.supp.")
@click.option("--gen-suppressions", is_flag=True,
              help="memcheck: have Valgrind write a suppression into the XML for every record.")
@scale_option
@click.option("--yes", "-y", "assume_yes", is_flag=True, help="Do not ask before a long run.")
@click.argument("cmd", nargs=-1, type=click.UNPROCESSED, metavar="[-- CMD ...]")
def command(tool, pages_as_heap, threshold, suppressions, no_default_suppressions, gen_suppressions,
            assume_yes, scale, cmd, **loop_opts):
    """Run the switch loop (or CMD, after --) under Valgrind: massif or memcheck.

    The loop defaults to 4 iterations of 2 tokens here (--quick: the tiny twins);
    the estimated run time is printed first, and a person at a terminal is asked
    before a run estimated above 10 minutes. The capture stays in RUN_DIR/capture/
    beside iterations.jsonl; then it is parsed and summarised."""
    from profiler.backends import session
    from profiler.errors import UsageProblem

    if tool == "massif" and (suppressions or no_default_suppressions or gen_suppressions):
        raise UsageProblem("--suppressions, --no-default-suppressions and --gen-suppressions are memcheck options")
    if tool == "memcheck" and (pages_as_heap or threshold is not None):
        raise UsageProblem("--pages-as-heap and --threshold are massif options")
    options = {"pages_as_heap": pages_as_heap, "threshold": threshold, "suppressions": suppressions,
               "no_default_suppressions": no_default_suppressions, "gen_suppressions": gen_suppressions}
    if scale:
        from profiler.commands._scale import run_scaled

        return run_scaled(tool, scale, cmd, loop_opts, options, assume_yes=assume_yes)
    if cmd:
        from profiler.commands._loop import refuse_loop_options_with_command

        refuse_loop_options_with_command(loop_opts)
    loop = None if cmd else _loop_config(loop_opts)
    session.profile_and_summarize(tool, loop=loop, command=list(cmd) or None, options=options,
                                  out=loop_opts.get("out"), assume_yes=assume_yes, echo_out=click.echo)


def _loop_config(loop_opts):
    from profiler.commands._loop import _given, loop_config_from_options

    config = loop_config_from_options(loop_opts)
    # --quick chooses the tiny twins and its own counts; under Valgrind keep the minimal ones
    if loop_opts.get("quick"):
        for key, value in VALGRIND_LOOP_DEFAULTS.items():
            if not _given(key, loop_opts):
                setattr(config, key, value)
    return config
