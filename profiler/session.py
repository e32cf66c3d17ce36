"""A session: one profiled run end to end (workload, backend, parse, analyse, summarise).

Above every layer: the commands build the loop (a LoopConfig) or take a command, and the
tool's options (backends/options.py); the backends only build the command line and the
environment and say which files they wrote. This module does the rest, in one order for
every tool: check the tool (exit 4 before anything is created), check the command,
create the run directory, write the loop configuration, run the Valgrind preflight and
time estimate, wrap the child argv, run it through the workload runner (which keeps
iterations.jsonl, child.log and meta.json even on a crash), record the backend, its
options and its capture files in meta.json, turn a Valgrind decoder failure into its
fix, keep the capture of a crashed run, and analyse and summarise what was kept. `memprof run`
comes through here too, under no tool (backends/plain.py), so a plain run is stopped, cut and
summarised the same way.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from profiler import rundir
from profiler.backends.options import ToolOptions
from profiler.errors import Interrupted, UsageProblem, WorkloadFailed


@dataclass
class Outcome:
    run_dir: Path
    backend: str
    captures: list[Path] = field(default_factory=list)
    returncode: int | None = None
    iterations: int = 0
    elapsed_s: float | None = None
    failure: WorkloadFailed | None = None
    cut: dict | None = None     # the run was interrupted or timed out: runner's "cut" record


def profile(
    backend_name: str | None,
    *,
    loop=None,
    command: list[str] | None = None,
    options: ToolOptions | None = None,
    out: str | None = None,
    assume_yes: bool = False,
    echo: Callable[[str], None] | None = None,
    confirm: Callable[[str], bool] | None = None,
    timeout: float | None = None,
    on_run_dir: Callable[[Path], None] | None = None,
) -> Outcome:
    """Run the switch loop (`loop`, a LoopConfig) or `command` (argv) under the named backend,
    with `options` (that tool's ToolOptions; None: its defaults); `backend_name` None: under no
    tool (`memprof run`: the records only). `on_run_dir` is told the run directory once it exists.

    Raises ToolMissing, UsageProblem, Unsupported (a build Valgrind cannot run) or
    WorkloadFailed (after the capture and records are saved; `.outcome` holds them)."""
    from profiler import backends
    from profiler.backends.valgrind import ValgrindBackend

    echo = echo or (lambda msg: print(msg, file=sys.stderr))
    if backend_name is None:
        from profiler.backends.plain import Plain

        backend = Plain()
    else:
        backend = backends.get(backend_name)
    plain = backend_name is None
    backend_name = backend.name
    options = backend.options(options)
    if (loop is None) == (command is None):
        raise UsageProblem("profile either the switch loop or a command, not both")
    if command is not None:
        command = [str(a) for a in command]
        if not command:
            raise UsageProblem("no command after --")
    backend.check_available()
    if loop is not None:
        from profiler.workload.runner import require_llama_cpp

        require_llama_cpp()
    shim_env: dict[str, str] = {}
    shim_notes: list[str] = []
    if command is not None:
        if not plain:
            # a `#!` shim or wrapper would be traced instead of the program: resolve it, or refuse
            from profiler.workload import interpreter

            given = command
            command, shim_env, shim_notes = interpreter.resolve_command(command, tool=backend_name)
            for note in shim_notes:
                echo(f"memprof: {note}")
        backend.check_command(command)
    options.check()

    valgrind = isinstance(backend, ValgrindBackend)
    preflight = est = None
    if valgrind and loop is not None:
        from profiler.backends import valgrind_preflight

        preflight = valgrind_preflight.check_llama_build()

    if valgrind:
        from profiler.backends import estimate

        est = estimate.estimate_run(backend_name, loop) if loop is not None else None
        if est is not None:
            echo(f"memprof: {estimate.describe(est)}")
            if not estimate.may_proceed(est, assume_yes=assume_yes, confirm=confirm):
                raise UsageProblem("cancelled: run fewer iterations or --max-tokens 1, or pass --yes")

    from profiler.workload import runner

    run_dir = rundir.new_run_dir(out, backend_name)
    if on_run_dir is not None:
        on_run_dir(run_dir)
    if loop is not None:
        child_argv = runner.prepare_loop(run_dir, loop)
        expected = int(loop.iterations)
    else:
        child_argv = command
        expected = None
    wrapped = backend.wrap(child_argv, run_dir, options)
    wrapped.env.update(shim_env)
    if command is not None:
        # `import memprof_marks` in any interpreter the command runs (profiler/workload/pythonpath)
        from profiler.workload import pythonpath

        user = wrapped.env.get("PYTHONPATH") or os.environ.get("PYTHONPATH")
        wrapped.env["PYTHONPATH"] = os.pathsep.join(p for p in (pythonpath.DIR, user) if p)
    backend_meta = {
        "name": backend_name,
        "tool_version": backend.tool_version(),
        "argv": wrapped.argv,
        "env": wrapped.env,
        "options": options.to_meta(),
        "workload": "loop" if loop is not None else "command",
    }
    if shim_notes:
        backend_meta["command_given"] = given
        backend_meta["command_resolved"] = shim_notes
    if preflight is not None:
        backend_meta["preflight"] = {k: preflight[k] for k in ("libraries", "avx512_in_library")}
    if est is not None:
        backend_meta["estimated_s"] = round(est.seconds, 1)
    outcome = Outcome(run_dir=run_dir, backend=backend_name)
    hooks = backend.stop_hooks(run_dir, options)
    if plain:
        backend_meta = None                             # no tool: meta.json holds the runner's fields only
    else:
        rundir.update_meta(run_dir, backend=backend_meta)   # what runs is on disk even if memprof is killed
    try:
        result = runner.run_workload(run_dir, wrapped.argv, env=wrapped.env, expected_iterations=expected,
                                     label=backend_name, hooks=hooks, timeout=timeout)
        outcome.returncode = result.returncode
        outcome.iterations = result.iterations
        outcome.elapsed_s = result.elapsed_s
    except (WorkloadFailed, Interrupted) as exc:
        if getattr(exc, "cut", None) is not None:
            outcome.cut = exc.cut
            _record(backend, backend_meta, outcome, hooks)
            raise _cut_error(exc, outcome) from None
        outcome.failure = exc
    _record(backend, backend_meta, outcome, hooks)

    if outcome.failure is not None:
        if valgrind:
            from profiler.backends import valgrind_preflight

            valgrind_preflight.check_logs(backend.log_paths(run_dir), llama=loop is not None)
        why = outcome.failure.one_line() + backend.exit_note(rundir.read_meta(run_dir).get("returncode"))
        exc = WorkloadFailed(f"{why}; kept {_kept(outcome)} in {run_dir}")
        exc.outcome = outcome
        raise exc
    return outcome


def _kept(outcome: Outcome) -> str:
    """What a cut or crashed run left, in words: the capture files, the records."""
    caps = [p.name for p in outcome.captures if p.is_file() and p.stat().st_size]
    n = _record_count(outcome.run_dir)
    recs = f"{n} iteration record(s)" if n else "no iteration record"
    if caps:
        return f"{', '.join(caps)} and {recs}"
    from profiler.backends.plain import Plain

    return recs if outcome.backend == Plain.name else f"no capture, {recs}"     # a plain run makes none


def _record_count(run_dir: Path) -> int:
    from profiler.workload.runner import count_records

    return count_records(Path(run_dir) / rundir.ITERATIONS)


def _cut_error(exc, outcome: Outcome):
    """The one line a cut run ends with: why it stopped, what was kept, what to do with it.
    `memprof analyze` is suggested only when something analysable was kept."""
    cut = outcome.cut
    saved = f" (saved through vgdb: {', '.join(cut['saved'])})" if cut.get("saved") else ""
    head = "timed out" if cut["reason"] == "timeout" else "interrupted"
    msg = f"{head} after {cut.get('after_s')} s and {cut.get('iterations', 0)} iteration(s); " \
          f"kept {_kept(outcome)}{saved} in {outcome.run_dir}"
    if outcome.captures or _record_count(outcome.run_dir):
        msg += f"; analyse with: memprof analyze {outcome.run_dir}"
    new = type(exc)(msg)
    new.cut = cut
    new.outcome = outcome
    return new


def _record(backend, backend_meta: dict | None, outcome: Outcome, hooks=None) -> None:
    outcome.captures = backend.capture_paths(outcome.run_dir)
    if backend_meta is None:
        return
    backend_meta["captures"] = [str(p.relative_to(outcome.run_dir)) for p in outcome.captures]
    monitors = getattr(backend, "monitor_paths", None)
    if monitors is not None:
        backend_meta["monitor_checks"] = [str(p.relative_to(outcome.run_dir)) for p in monitors(outcome.run_dir)]
    probe = getattr(hooks, "probe_meta", None)
    if probe is not None:
        backend_meta["probe_state"] = probe()      # the tool's state after the collection probe: taken, or why not
    took = getattr(hooks, "check_s", None)
    if took:
        backend_meta["leak_check_s"] = {"n": len(took), "total": round(sum(took), 3),
                                        "max": round(max(took), 3)}
    rundir.update_meta(outcome.run_dir, backend=backend_meta)


def cut_line(cut: dict) -> str:
    """The line a report of a cut run starts with."""
    from profiler.results.analysis import RunCut

    return RunCut.from_json(cut).line()


def summarize(run_dir: Path) -> str:
    """The console summary of a finished (or crashed) run.

    THE single call site where a fresh run is analysed: it runs the whole
    pipeline (parsers, triage, analysis) and saves analysis.json."""
    from profiler import pipeline
    from profiler.report import console

    return console.summary(pipeline.analyze(run_dir, save=True))


def profile_and_summarize(backend_name: str | None, *, echo_out: Callable[[str], None], **kwargs) -> Outcome:
    """`profile`, then print the summary of the run; a crashed run is summarised from what it
    left (when the capture is readable) before its WorkloadFailed is raised."""
    from profiler.errors import MemprofError

    try:
        outcome = profile(backend_name, **kwargs)
    except (WorkloadFailed, Interrupted) as exc:
        outcome = getattr(exc, "outcome", None)
        if outcome is not None and (outcome.captures or _record_count(outcome.run_dir)):
            what = "cut" if outcome.cut else "crashed"
            try:
                echo_out(summarize(outcome.run_dir))      # a cut run's summary leads with its RUN CUT line
            except MemprofError as why:
                if outcome.cut:
                    echo_out(cut_line(outcome.cut))
                echo_out(f"(the {what} run's capture could not be analysed: {why.one_line()})")
        raise
    echo_out(summarize(outcome.run_dir))
    return outcome
