"""`--scale A,B`: run a command at two sizes of work and judge per site what grows with it.

The command's `{n}` is replaced by A, then by B; each run is a whole run directory of its own
(RUN_DIR/scale-A/, RUN_DIR/scale-B/, captures and records kept), analysed as usual. The parent
RUN_DIR holds meta.json (which runs, which sizes) and analysis.json: both runs side by side and
the differential verdict per site from triage.scale, which needs no timeline (memcheck and massif
get per-site growth verdicts too) and no iteration records.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from profiler import rundir
from profiler.errors import UsageProblem
from profiler.results.analysis import AnalysisResult, ScaleRun, Source

PLACEHOLDER = "{n}"


def parse(text: str) -> tuple[int, int]:
    """'A,B' -> (A, B): two whole numbers, 0 <= A < B."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        a, b = (int(p) for p in parts)
    except ValueError:
        raise UsageProblem(f"--scale {text}: give two whole numbers, A,B (e.g. --scale 5,10)") from None
    if a < 0 or b <= a:
        raise UsageProblem(f"--scale {text}: needs 0 <= A < B (the second run does more work)")
    return a, b


def substitute(command: list[str], n: int) -> list[str]:
    """The command with every `{n}` replaced by n; a command without one is refused."""
    if not any(PLACEHOLDER in str(x) for x in command):
        raise UsageProblem("--scale needs {n} in the command's arguments, where the size of the work goes",
                           hint="e.g. memprof valgrind --tool memcheck --scale 5,10 -- ./server --requests {n}")
    return [str(x).replace(PLACEHOLDER, str(n)) for x in command]


def sub_dir(run_dir: Path, n: int) -> Path:
    return Path(run_dir) / f"scale-{n}"


def profile_scaled(backend_name: str, *, command: list[str] | None, scale: str, options=None,
                   out: str | None = None, assume_yes: bool = False,
                   echo_out: Callable[[str], None] = print) -> Path:
    """Run the command at both sizes under the backend (`options`: its ToolOptions, None: the
    defaults), analyse both, print them side by side."""
    from profiler import session

    if not command:
        raise UsageProblem("--scale runs a command twice: give it after -- with {n} where the size goes")
    a, b = parse(scale)
    argv_a, argv_b = substitute(command, a), substitute(command, b)
    run_dir = rundir.new_run_dir(out, f"{backend_name}-scale")
    rundir.update_meta(run_dir, label=f"{backend_name}-scale",
                       scale={"a": a, "b": b, "backend": backend_name, "command": list(command),
                              "runs": {str(a): sub_dir(run_dir, a).name, str(b): sub_dir(run_dir, b).name}})
    for n, argv in ((a, argv_a), (b, argv_b)):
        session.profile(backend_name, command=argv, options=options, out=str(sub_dir(run_dir, n)),
                        assume_yes=assume_yes)
    result = analyze(run_dir, save=True)
    echo_out(describe(result))
    return run_dir


def is_scaled(run_dir: Path) -> bool:
    return bool(rundir.read_meta(run_dir).get("scale")) if rundir.is_run_dir(run_dir) else False


def analyze(run_dir: Path, *, rules=(), block: int = 10, save: bool = True) -> AnalysisResult:
    """Both runs' analyses and the differential verdict; with save, analysis.json in each."""
    from profiler import pipeline
    from profiler.triage import scale as differential

    run_dir = Path(run_dir)
    meta = rundir.read_meta(run_dir)
    sc = meta["scale"]
    a, b = int(sc["a"]), int(sc["b"])
    runs = {}
    for n in (a, b):
        sub = run_dir / sc["runs"][str(n)]
        runs[n] = pipeline.analyze(sub, rules=rules, block=block, save=save)
    diff = differential.judge(list(runs[a].parsed), list(runs[b].parsed), a, b)
    result = AnalysisResult(
        source=Source(kind="scale", path=str(run_dir)),
        meta=meta,
        verdict=diff["verdict"],
        explained=diff["explained"],
        scale=diff,
        runs=tuple(ScaleRun(n=n, run_dir=str(run_dir / sc["runs"][str(n)]), verdict=runs[n].verdict,
                            explained=runs[n].triage.explained if runs[n].triage else None,
                            totals=runs[n].totals) for n in (a, b)),
        scale_results=runs,
    )
    if save:
        rundir.write_json(run_dir / rundir.ANALYSIS, pipeline.public(result))
    return result


def describe(result: AnalysisResult) -> str:
    """The console view: the two runs side by side, then the verdict per site."""
    from profiler.fmt import fmt_bytes, fmt_signed_bytes

    d = result.scale
    a, b = d["a"], d["b"]
    lines = [f"VERDICT {str(result.verdict).upper()} (--scale {a},{b}: per site, bytes at exit per unit of n)",
             result.explained, ""]
    for r in result.runs:
        lines.append(f"  n={r.n}: {r.run_dir}: verdict {r.verdict}")
    lines.append("")
    head = ["site", "kind", f"n={a}", f"n={b}", "per n", "verdict"]
    rows = [[str(s["site"]), s["leak_kind"] or "",
             fmt_bytes(s["live_a"]) if s["live_a"] is not None else "-",
             fmt_bytes(s["live_b"]) if s["live_b"] is not None else "-",
             fmt_signed_bytes(s["bytes_per_n"]),
             s["verdict"]] for s in d["sites"][:30]]
    widths = [max(len(x) for x in col) for col in zip(head, *rows)] if rows else [len(h) for h in head]
    widths[0] = min(widths[0], 70)
    for r in [head] + rows:
        lines.append("  " + "  ".join(str(x)[:widths[i]].ljust(widths[i]) for i, x in enumerate(r)).rstrip())
    if len(d["sites"]) > 30:
        lines.append(f"  ... and {len(d['sites']) - 30} more sites (analysis.json)")
    return "\n".join(lines)
