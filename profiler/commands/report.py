"""`memprof report PATH`: render report.md, report.json, report.html and plots.

A run directory whose analysis.json is newer than everything it was made from is rendered from
that file (AnalysisResult.from_json): the report stage runs alone and shows what the analysis
found. --rules or --block, or anything newer in the run, analyse again first. A saved
analysis.json (or report.json) given as PATH is rendered as it is."""
from pathlib import Path

import click

from profiler.commands._common import block_option, rules_option


@click.command("report")
@click.argument("path", type=click.Path())
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False),
              help="Where to write the report (default: the run directory, or PATH.report/ beside a capture or series).")
@rules_option
@block_option
def command(path, out_dir, rules, block):
    """Write the report files for PATH: a run directory (its saved analysis when up to date, else
    analysed as `memprof analyze` does), a capture, a memory series, or a saved analysis.json."""
    from profiler import pipeline
    from profiler.errors import UsageProblem
    from profiler.report import render

    p = Path(path)
    result = pipeline.saved_result(p, rules=rules, block=block)
    if result is None:
        result = pipeline.analyze(p, rules=rules, block=block, save=p.is_dir())
    if out_dir:
        target = Path(out_dir)
    elif p.is_dir():
        target = p
    elif pipeline.is_saved_analysis(p):
        target = p.parent
    else:
        target = p.parent / f"{p.name}.report"
    try:
        target.mkdir(parents=True, exist_ok=True)
        written = render(result, target)
    except OSError as exc:
        # an unwritable or impossible target is the user's choice, not a bug: one line, exit 2
        raise UsageProblem(f"cannot write the report into {target}: {exc.strerror or exc}",
                           hint="choose another directory with -o") from None
    for w in written:
        click.echo(str(w))
    if result.truncated:
        from profiler.errors import CaptureTruncated

        t = result.truncated[0]
        raise CaptureTruncated(f"{t.path}: {t.summary} (the report covers it up to the cut)")
