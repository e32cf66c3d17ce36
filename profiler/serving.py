"""`memprof serve`, end to end: a real model-switching server, plain or under a profiler.

The order is the profiled run's (session.py): check the tools before
anything is created, make the run directory, write the server's config, wrap
its argv with the backend's, start it, wait until it answers, drive the
requests (workload/server.py), stop it cleanly (so the profiler writes its
capture), record meta.json; then the same pipeline as every run. A server that
is already running (`--url`, `--pid`) is driven and measured the same way, and
left running.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from profiler import rundir
from profiler.errors import Interrupted, UsageProblem, WorkloadFailed


@dataclass
class ServeOutcome:
    run_dir: Path
    requests: int
    failed: int
    stopped_because: str | None
    server_exit: int | None
    tokens_min: int | None = None
    tokens_max: int | None = None


class _TermAsCtrlC:
    """SIGTERM (a supervisor, `kill`) ends a serve as Ctrl-C does: the records so far are kept and the
    server is stopped, rather than memprof dying and leaving the server to its watchdog."""

    def __enter__(self):
        import signal
        import threading

        self.old = None
        if threading.current_thread() is threading.main_thread():
            self.old = signal.signal(signal.SIGTERM, signal.default_int_handler)
        return self

    def __exit__(self, *exc):
        import signal

        if self.old is not None:
            signal.signal(signal.SIGTERM, self.old)


def serve(*, models: list[dict] | None, requests: int, prompt: str, max_tokens: int, n_ctx: int, threads: int,
          backend_name: str | None = None, backend_options=None, url: str | None = None,
          pid: int | None = None, out: str | None = None, start_timeout: float = 120.0,
          echo: Callable[[str], None] | None = None) -> ServeOutcome:
    """Run the switch experiment; `models` ([{alias, path}]) for a server memprof starts, or the aliases
    of an external one (`url` + `pid`, models may then be None: the server's own list is used)."""
    import os
    import time

    from profiler.workload import runner, server

    echo = echo or (lambda msg: print(msg, file=sys.stderr))
    external = url is not None
    if external:
        server.parse_url(url)          # a bad address is a usage error before any run directory exists
    if external and backend_name:
        raise UsageProblem("--backend profiles a server memprof starts; a running server cannot be wrapped",
                           hint="drop --url/--pid, or attach a profiler to it yourself")
    if external and pid is None:
        raise UsageProblem("--url needs --pid: the server's process is measured from outside")
    if pid is not None and not external:
        raise UsageProblem("--pid needs --url: the address of that server")
    if external and not os.path.exists(f"/proc/{pid}"):
        raise UsageProblem(f"--pid {pid}: no such process")
    backend = None
    if not external:
        server.check_server_installed()
        if backend_name:
            from profiler import backends

            backend = backends.get(backend_name)
            backend.check_available()
    run_dir = rundir.new_run_dir(out, f"serve-{backend_name}" if backend_name else "serve")
    log_path = run_dir / rundir.CHILD_LOG
    proc = None
    meta: dict = {"label": "serve", "command": list(sys.argv), "cwd": os.getcwd(), "versions": runner.versions(),
                  "machine": runner.machine(), "started": runner._now(), "expected_iterations": requests,
                  "workload": "server"}
    if external:
        client = server.Client(url)
        try:
            names = client.models()
        except (OSError, ValueError) as exc:
            raise WorkloadFailed(f"{url} does not answer GET /v1/models: {exc}") from None
        aliases = [m["alias"] for m in models] if models else names
        if not aliases:
            raise UsageProblem(f"{url} lists no model; name them with --model")
        meta.update(server={"url": url, "pid": pid, "external": True, "models": aliases})
    else:
        port = server.free_port()
        cfg = server.write_config(run_dir, models, port=port, n_ctx=n_ctx, threads=threads)
        argv, env = server.server_argv(cfg), {}
        if backend is not None:
            wrapped = backend.wrap(argv, run_dir, backend_options)   # a ToolOptions, None: the tool's defaults
            argv, env = wrapped.argv, wrapped.env
            meta["backend"] = {"name": backend_name, "tool_version": backend.tool_version(), "argv": argv,
                               "env": env, "workload": "server"}
        url = f"http://127.0.0.1:{port}"
        aliases = [m["alias"] for m in models]
        meta.update(child_argv=argv, env_added=env,
                    server={"url": url, "external": False, "models": aliases, "config": server.SERVER_CONFIG},
                    loop={"models": models, "iterations": requests, "strategy": "server", "prompt": prompt,
                          "max_tokens": max_tokens, "n_ctx": n_ctx, "threads": threads})
        client = server.Client(url)
        proc = server.ServerProcess(argv, env, log_path)
    rundir.update_meta(run_dir, **meta)

    t0 = time.monotonic()
    with _TermAsCtrlC():
        result, interrupted, failure, rc = _run(proc, client, run_dir, pid, aliases, requests=requests,
                                                prompt=prompt, max_tokens=max_tokens, url=url, echo=echo,
                                                backend=backend, backend_name=backend_name,
                                                start_timeout=start_timeout, log_path=log_path)
    n = runner.count_records(run_dir / rundir.ITERATIONS)
    fields = {"finished": runner._now(), "elapsed_s": round(time.monotonic() - t0, 3), "iterations": n,
              "returncode": rc, "exit_status": "interrupted" if interrupted else
              ("failed" if failure else (result.stopped_because and "stopped") or "ok")}
    if result is not None:
        fields["failed_requests"] = result.failed
        fields["n_tokens_range"] = [result.tokens_min, result.tokens_max]
        if result.stopped_because:
            fields["stopped_because"] = result.stopped_because
    rundir.update_meta(run_dir, **fields)
    if interrupted:
        raise Interrupted(f"interrupted after {n} requests; the server was stopped; analyse with: "
                          f"memprof analyze {run_dir}")
    if failure is not None:
        raise failure
    return ServeOutcome(run_dir, result.requests, result.failed, result.stopped_because, rc,
                        result.tokens_min, result.tokens_max)


def _run(proc, client, run_dir, pid, aliases, *, requests, prompt, max_tokens, url, echo, backend, backend_name,
         start_timeout, log_path):
    """Start (if ours), drive, stop: (result, interrupted, failure, server exit status)."""
    from profiler.workload import runner, server

    result = None
    interrupted = False
    failure: WorkloadFailed | None = None
    rc = None
    try:
        if proc is not None:
            echo(f"memprof: starting llama_cpp.server ({' / '.join(aliases)}"
                 f"{', under ' + backend_name if backend_name else ''}) on {url} -> {run_dir}")
            proc.start()
            proc.wait_ready(client, start_timeout)
            pid = proc.pid
            rundir.update_meta(run_dir, server={**rundir.read_meta(run_dir)["server"], "pid": pid,
                                                "pid_argv": runner.cmdline(pid)})
        echo(f"memprof: {requests} requests alternating {' / '.join(aliases)}, up to {max_tokens} tokens "
             f"requested each (the server decides; the records hold the measured n_tokens)")
        result = server.drive(run_dir / rundir.ITERATIONS, client, pid, aliases, requests=requests, prompt=prompt,
                              max_tokens=max_tokens, alive=(lambda: proc.exited() is None) if proc else None,
                              echo=echo, server_log=log_path if proc is not None else None)
    except Interrupted:
        interrupted = True
    except KeyboardInterrupt:
        interrupted = True
    except WorkloadFailed as exc:
        failure = exc
    finally:
        if proc is not None:
            rc = proc.stop()
            if backend is not None:
                caps = backend.capture_paths(run_dir)
                backend_meta = rundir.read_meta(run_dir).get("backend") or {}
                backend_meta["captures"] = [str(p.relative_to(run_dir)) for p in caps]
                rundir.update_meta(run_dir, backend=backend_meta)
    return result, interrupted, failure, rc
