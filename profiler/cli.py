"""The `memprof` command: a Click group whose subcommands load lazily.

Each subcommand lives in its own small module under profiler/commands and is
imported only when invoked, so `memprof --help` never pays for pandas,
matplotlib or the profilers' libraries. Every MemprofError is turned into one
line on stderr and its exit code here, and nowhere else.
"""
from __future__ import annotations

import importlib
import os
import sys
import traceback

import click

from profiler import __version__
from profiler.errors import ExitCode, MemprofError

# name -> (module under profiler.commands, one-line help shown by --help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("run", "Run the model-switch loop and record every iteration."),
    "memray": ("profile_memray", "Run the loop (or a command) under memray."),
    "valgrind": ("profile_valgrind", "Run the loop (or a command) under Valgrind massif or memcheck."),
    "heaptrack": ("profile_heaptrack", "Run the loop (or a command) under heaptrack."),
    "serve": ("serve", "Drive llama-cpp-python's model-switching server (plain or profiled) and measure it."),
    "watch": ("watch", "Sample a running process's memory over time (alerts, Prometheus metrics)."),
    "analyze": ("analyze", "Analyse a run directory, a capture or a memory series."),
    "report": ("report", "Render the markdown/JSON/PNG/HTML report of a run."),
    "check": ("check", "Exit 1 when something leaks (for CI)."),
    "compare": ("compare", "Compare two runs or captures site by site."),
    "models": ("models", "List model aliases and what each resolves to."),
    "suppressions": ("suppressions", "Write Valgrind suppressions for what a run found."),
}


# Commands that only read what runs left (no workload, profiler or server is started): their linear
# algebra is on a few hundred points, so OpenBLAS's worker threads only cost start-up. They are
# capped at one before numpy loads; commands that launch a program leave the environment alone,
# since the program inherits it and its own BLAS threads are part of what is measured.
OFFLINE_COMMANDS = frozenset({"analyze", "report", "check", "compare"})
BLAS_THREADS = ("OPENBLAS_NUM_THREADS",)


def _one_blas_thread() -> None:
    for var in BLAS_THREADS:
        os.environ.setdefault(var, "1")


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        if name in OFFLINE_COMMANDS and "numpy" not in sys.modules:
            _one_blas_thread()
        module = importlib.import_module(f"profiler.commands.{COMMANDS[name][0]}")
        return module.command

    def format_commands(self, ctx, formatter):
        rows = [(name, help_) for name, (_, help_) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="memprof")
def group():
    """Is the memory growth of a model-switching process a leak, or GGML and
    allocator pools that plateau after a warmup?"""


def main(argv: list[str] | None = None) -> None:
    try:
        rv = group.main(args=argv, prog_name="memprof", standalone_mode=False)
    except MemprofError as exc:
        click.echo(f"memprof: error: {exc.one_line()}", err=True)
        sys.exit(int(exc.exit_code))
    except click.exceptions.Abort:
        click.echo("memprof: interrupted", err=True)
        sys.exit(int(ExitCode.INTERRUPTED))
    except click.UsageError as exc:
        # bad options are bad input too: one line, like every other error, with where to look
        where = exc.ctx.command_path if exc.ctx else "memprof"
        msg = " ".join(exc.format_message().split())
        click.echo(f"memprof: error: {msg} (see '{where} --help')", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("memprof: interrupted", err=True)
        sys.exit(int(ExitCode.INTERRUPTED))
    except Exception as exc:  # a bug, not the user's input: one line, the traceback on request
        if os.environ.get("MEMPROF_DEBUG"):
            raise
        where = traceback.extract_tb(exc.__traceback__)[-1]
        click.echo(f"memprof: internal error: {type(exc).__name__}: {exc} (at {os.path.basename(where.filename)}:"
                   f"{where.lineno}; rerun with MEMPROF_DEBUG=1 for the traceback and report it)", err=True)
        sys.exit(int(ExitCode.INTERNAL))
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
