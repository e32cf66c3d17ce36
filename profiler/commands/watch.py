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
    import os
    import sys

    from profiler import pipeline, rundir
    from profiler.errors import MemoryAlert, UsageProblem, WorkloadFailed
    from profiler.report import console
    from profiler.workload import runner, watch

    if not os.path.exists(f"/proc/{pid}"):
        raise UsageProblem(f"no process {pid}")
    if use_memray:
        from profiler.backends import memray_attach

        memray_attach.check(pid)
    run_dir = rundir.new_run_dir(out, "watch")
    argv = []
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        pass
    rundir.update_meta(run_dir, label="watch", command=list(sys.argv), child_argv=argv, cwd=os.getcwd(),
                       versions=runner.versions(), machine=runner.machine(), started=runner._now(),
                       watch={"pid": pid, "interval_s": interval, "duration_s": duration, "alert_mb": alert_mb,
                              "alert_slope_mb_per_hour": alert_slope, "metrics_port": metrics_port,
                              "memray": use_memray})
    if use_memray:
        from profiler.backends import memray_attach

        cap = run_dir / rundir.CAPTURE_DIR / "memray.bin"
        memray_attach.attach(pid, cap, duration=duration, log=run_dir / rundir.CHILD_LOG)
        rundir.update_meta(run_dir, backend={"name": "memray", "workload": "attached", "captures": [
            str(cap.relative_to(run_dir))]})
    where = f", metrics on http://127.0.0.1:{metrics_port}/metrics" if metrics_port else ""
    click.echo(f"memprof: watching process {pid} every {interval:g} s"
               f"{f' for {duration:g} s' if duration else ' until Ctrl-C'}{where} -> {run_dir}", err=True)
    alert = None
    detach_failed = None
    try:
        res = watch.watch(pid, run_dir / rundir.ITERATIONS, interval=interval, duration=duration,
                          alert_mb=alert_mb, alert_slope=alert_slope, metrics_port=metrics_port,
                          echo=lambda m: click.echo(m, err=True))
    except MemoryAlert as exc:
        alert, res = exc, exc.result
    finally:
        if use_memray and duration is None and os.path.exists(f"/proc/{pid}"):   # with --duration memray stops itself
            try:
                memray_attach.detach(pid, run_dir / rundir.CHILD_LOG)
            except WorkloadFailed as exc:     # the samples are still recorded and analysed; the exit says so
                detach_failed = exc
                click.echo(f"memprof: {exc.one_line()}", err=True)
    rundir.update_meta(run_dir, finished=runner._now(), iterations=res.samples, exit_status=res.ended_because,
                       alert=str(alert) if alert else None)
    click.echo(f"{res.samples} samples ({res.ended_because}): {run_dir}")
    if res.samples:
        try:
            click.echo(console.summary(pipeline.analyze(run_dir, save=True)))
        except Exception as exc:  # an alert must still exit with its code, even if the analysis cannot run
            if alert is None:
                raise
            click.echo(f"(analysis failed: {exc})", err=True)
    click.echo(f"next: memprof report {run_dir}")
    if alert is not None:
        raise alert
    if detach_failed is not None:
        raise detach_failed
