"""`memprof watch PID`: sample a running process's memory over time (no restart)."""
import click


@click.command("watch")
@click.argument("pid", type=click.IntRange(1))
@click.option("--interval", type=click.FloatRange(0.05), default=1.0, show_default=True,
              help="Seconds between samples.")
@click.option("--duration", type=click.FloatRange(0.1), default=None,
              help="Seconds to watch [default: until Ctrl-C or the process exits].")
@click.option("--alert-mb", type=click.FloatRange(0, min_open=True), default=None,
              help="Print an alert and exit 7 when RSS goes above this many MB.")
@click.option("--alert-slope", type=float, default=None, metavar="MB_PER_HOUR",
              help="Print an alert and exit 7 when RSS rises faster than this (the lower end of its 95% interval).")
@click.option("--metrics-port", type=click.IntRange(1, 65535), default=None,
              help="Serve the figures in Prometheus text format on 127.0.0.1:PORT/metrics.")
@click.option("--memray", "use_memray", is_flag=True,
              help="Attach memray (through gdb) to the process for allocation stacks; Python processes only.")
@click.option("--out", "-o", type=click.Path(file_okay=False), default=None,
              help="Run directory [default: runs/watch-<timestamp>].")
def command(pid, interval, duration, alert_mb, alert_slope, metrics_port, use_memray, out):
    """Sample RSS, USS, PSS, anonymous, file-backed and swap memory (and the memory cgroup)
    of process PID every --interval seconds, writing each sample as it comes; a live status
    line on a terminal. Then the same analysis and report as a run, worded per hour."""
    from profiler import pipeline, watching
    from profiler.report import console

    outcome = watching.watch(pid, interval=interval, duration=duration, alert_mb=alert_mb, alert_slope=alert_slope,
                             metrics_port=metrics_port, use_memray=use_memray, out=out,
                             echo=lambda m: click.echo(m, err=True))
    run_dir, alert = outcome.run_dir, outcome.alert
    click.echo(f"{outcome.samples} samples ({outcome.ended_because}): {run_dir}")
    if outcome.samples:
        try:
            click.echo(console.summary(pipeline.analyze(run_dir, save=True)))
        except Exception as exc:  # an alert must still exit with its code, even if the analysis cannot run
            if alert is None:
                raise
            click.echo(f"(analysis failed: {exc})", err=True)
    click.echo(f"next: memprof report {run_dir}")
    if alert is not None:
        raise alert
    if outcome.detach_failed is not None:
        raise outcome.detach_failed
