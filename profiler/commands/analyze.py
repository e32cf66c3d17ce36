"""`memprof analyze PATH`: recompute the analysis of a run, a capture or a memory series."""

import click

from profiler import jsonout
from profiler.commands._common import block_option, rules_option


@click.command("analyze")
@click.argument("path", type=click.Path())
@rules_option
@block_option
@click.option("--json", "as_json", is_flag=True, help="Print the whole result as one JSON object.")
def command(path, rules, block, as_json):
    """Analyse PATH: a run directory, a capture made elsewhere (massif.out, memcheck XML,
    heaptrack .zst/.gz, memray .bin; recognised by content) or a CSV/JSONL memory series
    (columns iteration and rss in bytes, optional model)."""
    from profiler import pipeline
    from profiler.report import console

    result = pipeline.analyze(path, rules=rules, block=block, save=True)
    if as_json:
        click.echo(jsonout.dumps(pipeline.public(result)))
    else:
        click.echo(console.summary(result))
    if result.truncated:
        from profiler.errors import CaptureTruncated

        t = result.truncated[0]
        raise CaptureTruncated(f"{t.path}: {t.summary} (the result above covers it up to the cut)")
