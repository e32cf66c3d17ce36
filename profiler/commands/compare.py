"""`memprof compare A B`: two runs or captures side by side, site by site."""

import click

from profiler import jsonout
from profiler.commands._common import rules_option


@click.command("compare")
@click.argument("a", type=click.Path())
@click.argument("b", type=click.Path())
@rules_option
@click.option("--top", default=20, show_default=True, type=click.IntRange(1, 100000),
              help="Sites shown per capture (largest change first).")
@click.option("--json", "as_json", is_flag=True, help="Print the whole comparison as one JSON object.")
def command(a, b, rules, top, as_json):
    """Per-site and per-category deltas (live at end, peak, slope) and verdict changes from A to B."""
    from profiler.commands.check import analyze_for_check
    from profiler.triage import diff

    cmp = diff.compare_results(analyze_for_check(a, rules), analyze_for_check(b, rules))
    if as_json:
        click.echo(jsonout.dumps(cmp, kind="compare"))
    else:
        click.echo(diff.to_text(cmp, top=top))
