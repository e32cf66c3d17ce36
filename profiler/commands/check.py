"""`memprof check RUN_DIR|CAPTURE`: exit 1 when something leaks, for CI."""

import click

from profiler import jsonout
from profiler.commands._common import rules_option


def analyze_for_check(path, rules):
    """The analysis `check` and `compare` judge: the pipeline's, without writing into the run."""
    from profiler import pipeline

    return pipeline.analyze(path, rules=rules, save=False)


def _finite(ctx, param, value):
    """nan would compare false with every slope and pass everything silently."""
    import math

    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a finite number")
    return value


@click.command("check")
@click.argument("path", type=click.Path())
@click.option("--max-slope", type=float, default=None, metavar="MB_PER_ITER", callback=_finite,
              help="Fail when the RSS series' stable-phase slope exceeds this many MB per iteration.")
@click.option("--allow", "allow", multiple=True, metavar="PATTERN",
              help="Glob on a site, function or module whose leak is accepted (repeatable).")
@click.option("--min-growth", type=click.FloatRange(min=0), default=1024, show_default=True, metavar="BYTES",
              help="A leaking site growing less than this many bytes per iteration is minor: listed, not "
                   "failing. Without iteration records, sites growing per time slice are minor when together "
                   "they add under 1 MiB and under 5% of the peak heap; 0 makes nothing minor.")
@rules_option
@click.option("--json", "as_json", is_flag=True, help="Print the findings as one JSON object.")
def command(path, max_slope, allow, min_growth, rules, as_json):
    """Exit 1 when a site (not --allow'ed) leaks or the RSS slope exceeds --max-slope; 0 otherwise.
    A series without a capture (no sites to name) fails on its RSS verdict `leak`,
    unless --max-slope is given: then the slope alone decides.
    Leaking sites are printed one per line: site, [category], growth, backend."""
    from profiler.errors import ExitCode
    from profiler.triage import gate

    result = analyze_for_check(path, rules)
    found = gate.check_result(result, max_slope=max_slope, allow=allow, min_growth=min_growth)
    if as_json:
        click.echo(jsonout.dumps(found, kind="check"))
    else:
        for d in found["leaking_sites"]:
            click.echo(gate.site_line(d))
        for reason in found["reasons"]:
            if not reason.startswith("site leaks: "):
                click.echo(reason)
        for d in found["minor_sites"]:
            if d.get("unit") == "slice":
                bar = "grows by little per time slice"
            elif d.get("slope_low_bytes_per_iter") is not None and d["slope_bytes_per_iter"] >= min_growth:
                bar = "its rate's 95% interval reaches under --min-growth"
            else:
                bar = "under --min-growth"
            click.echo(f"minor ({bar}): {gate.site_line(d)}", err=True)
        for d in found["collected_by_probe"]:
            click.echo(f"garbage the collection probe freed, not a leak: {gate.site_line(d)}", err=True)
        if not found["failed"]:
            n = sum(c["sites"] for c in found["captures"])
            extra = f", {len(found['allowed_sites'])} allowed" if found["allowed_sites"] else ""
            extra += f", {len(found['minor_sites'])} minor" if found["minor_sites"] else ""
            if found["captures"]:
                what = "no material leak" if found["minor_sites"] else "no leak"
                click.echo(f"ok: {what} ({n} sites checked{extra})", err=True)
            elif max_slope is not None:
                click.echo(f"ok: the RSS slope is within --max-slope {max_slope:g} MB/iteration "
                           f"(series verdict {found['verdict']})", err=True)
            else:
                click.echo(f"ok: no leak (RSS series verdict {found['verdict']})", err=True)
    if found["failed"]:
        return int(ExitCode.LEAK_FOUND)
    if result.truncated:
        # a capture cut off passes nothing: what it holds is clean up to the cut, the rest is unknown
        from profiler.errors import CaptureTruncated

        t = result.truncated[0]
        raise CaptureTruncated(f"{t.path}: {t.summary} (checked only up to the cut)")
    return int(ExitCode.OK)
