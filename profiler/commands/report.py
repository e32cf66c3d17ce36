"""`memprof report PATH`: render report.md, report.json, report.html and plots."""
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
    """Analyse PATH (as `memprof analyze` does) and write the report files."""
    from profiler import pipeline
    from profiler.errors import UsageProblem
    from profiler.report import render

    p = Path(path)
    result = pipeline.analyze(p, rules=rules, block=block, save=p.is_dir())
    target = Path(out_dir) if out_dir else (p if p.is_dir() else p.parent / f"{p.name}.report")
    try:
        target.mkdir(parents=True, exist_ok=True)
        written = render(pipeline.public(result), target)
    except OSError as exc:
        # an unwritable or impossible target is the user's choice, not a bug: one line, exit 2
        raise UsageProblem(f"cannot write the report into {target}: {exc.strerror or exc}",
                           hint="choose another directory with -o") from None
    for w in written:
        click.echo(str(w))
    if result.get("truncated"):
        from profiler.errors import CaptureTruncated

        t = result["truncated"][0]
        raise CaptureTruncated(f"{t['path']}: {t['summary']} (the report covers it up to the cut)")
