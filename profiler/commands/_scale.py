"""`--scale A,B`, shared by the profiler commands: run `-- CMD` twice with {n} = A, then B."""
from __future__ import annotations

import click


def scale_option(f):
    return click.option(
        "--scale", metavar="A,B", default=None,
        help="Run the command after -- twice, with {n} in its arguments replaced by A and then B, "
             "and judge per site what grows with the work (bytes per unit of n; no timeline needed). "
             "Both runs are kept in RUN_DIR/scale-A/ and scale-B/.")(f)


def run_scaled(backend_name: str, scale: str, cmd, loop_opts: dict, options=None,
               assume_yes: bool = False) -> None:
    from profiler import scaled
    from profiler.commands._loop import refuse_loop_options_with_command
    from profiler.errors import UsageProblem

    if not cmd:
        raise UsageProblem("--scale runs a command twice: give it after -- with {n} where the size goes",
                           hint="e.g. memprof heaptrack --scale 5,10 -- ./server --requests {n}")
    refuse_loop_options_with_command(loop_opts)
    scaled.profile_scaled(backend_name, command=list(cmd), scale=scale, options=options,
                          out=loop_opts.get("out"), assume_yes=assume_yes, echo_out=click.echo)
