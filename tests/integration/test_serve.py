"""`memprof serve` end to end: real llama_cpp.server (uvicorn, FastAPI) on loopback, real HTTP,
the tiny twins; plain, under heaptrack, and driving a server that is already running."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from profiler import rundir
from profiler.errors import WorkloadFailed
from testkit import wait_for_records

pytestmark = pytest.mark.integration
pytest.importorskip("llama_cpp")
if not os.environ.get("CI"):
    pytest.importorskip("uvicorn")
    pytest.importorskip("fastapi")

SERVE_FIELDS = {"iteration", "model", "strategy", "t_start", "t_end", "wall_start", "wall_end", "request_s",
                "ttft_s", "gen_s", "n_tokens", "tokens_per_s", "output_digest", "token_error_rate", "rss", "uss",
                "pss", "rss_anon", "rss_file", "swap", "threads", "rss_after_load", "rss_peak", "peak_method",
                "http_status", "status"}


def _memprof(*args, env=None):
    return subprocess.Popen([sys.executable, "-m", "profiler", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})


def _cache_env(tiny_models):
    return {"MEMPROF_CACHE": str(next(iter(tiny_models.values())).parent)}


def _no_server_left(run: Path):
    pid = rundir.read_meta(run)["server"]["pid"]
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{pid}"), "the server was left running"


def _check_records(run: Path, n: int, models=("tiny-0.6b", "tiny-1.7b")):
    recs = list(rundir.iter_records(run / rundir.ITERATIONS))
    assert [r["iteration"] for r in recs] == list(range(1, n + 1))
    assert [r["model"] for r in recs] == [models[i % 2] for i in range(n)]
    for r in recs:
        assert SERVE_FIELDS <= set(r), SERVE_FIELDS - set(r)
        assert r["status"] == "ok" and r["http_status"] == 200
        assert 1 <= r["n_tokens"] <= 3 and 0 < r["ttft_s"] <= r["request_s"]
        # generation is timed from the first token: a switch's model load is in ttft_s only
        assert 0 < r["gen_s"] < r["request_s"] and abs(r["gen_s"] + r["ttft_s"] - r["request_s"]) < 0.01
        assert r["rss_peak"] >= r["rss_after_load"] > 0 and r["rss_peak"] >= r["rss"]
        assert r["t_start"] < r["t_end"] and r["wall_start"] < r["wall_end"]
    assert all(a["t_end"] <= b["t_start"] for a, b in zip(recs, recs[1:]))
    # greedy: the same model answers the same prompt the same way after a switch
    assert recs[0]["output_digest"] == recs[2]["output_digest"] and recs[0]["token_error_rate"] == 0.0
    return recs


def test_serve_plain_end_to_end(tiny_models, tmp_path):
    run = tmp_path / "run"
    proc = _memprof("serve", "--quick", "--requests", "4", "--max-tokens", "3", "--out", run,
                    env=_cache_env(tiny_models))
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "VERDICT:" in out and out.strip().splitlines()[-1] == f"next: memprof report {run}"
    recs = _check_records(run, 4)
    # what was asked and what came back, not a promise the server does not keep
    assert "up to 3 tokens requested each" in err
    got = sorted({r["n_tokens"] for r in recs})
    got_s = str(got[0]) if len(got) == 1 else f"{got[0]}-{got[-1]}"
    assert f"4 requests; {got_s} tokens per answer (up to 3 requested): {run}" in out
    meta = rundir.read_meta(run)
    assert meta["server"]["url"].startswith("http://127.0.0.1:") and meta["exit_status"] == "ok"
    assert meta["returncode"] == 0                 # stopped cleanly by SIGINT: uvicorn shut down
    cfg = json.loads((run / "server.json").read_text())
    assert cfg["host"] == "127.0.0.1" and [m["model_alias"] for m in cfg["models"]] == ["tiny-0.6b", "tiny-1.7b"]
    _no_server_left(run)
    analysis = json.loads((run / "analysis.json").read_text())
    assert analysis["recommendation"]["basis"] == "loaded peak"


def test_serve_under_heaptrack(tiny_models, tmp_path):
    if not shutil.which("heaptrack"):
        if os.environ.get("CI"):
            pytest.fail("heaptrack is not installed")
        pytest.skip("heaptrack not installed")
    run = tmp_path / "run"
    proc = _memprof("serve", "--quick", "--backend", "heaptrack", "--requests", "4", "--max-tokens", "2",
                    "--out", run, env=_cache_env(tiny_models))
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    _check_records(run, 4)
    meta = rundir.read_meta(run)
    pid = meta["server"]["pid"]
    assert meta["backend"]["captures"] == ["capture/heaptrack.run.zst"]
    # the measured process is the Python server under heaptrack's launcher script, not the shell
    argv = meta["server"]["pid_argv"]
    assert pid > 0 and os.path.basename(argv[0]).startswith("python") and "llama_cpp.server" in argv
    analysis = json.loads((run / "analysis.json").read_text())
    cap = analysis["captures"][0]
    assert cap["format"] == "heaptrack" and cap["totals"]["calls"] > 10_000
    # the requests' boundaries reach the capture's timeline (by the server's process clock)
    assert cap["meta"]["timeline_unit"] == "iteration" and cap["meta"]["markers"]["boundaries"] == 4
    assert cap["meta"]["timeline"].startswith("iteration boundaries")


def test_serve_drives_a_running_server(tiny_models, tmp_path):
    from profiler.workload import server

    models = [{"alias": a, "path": str(p)} for a, p in tiny_models.items()]
    port = server.free_port()
    cfg = server.write_config(tmp_path, models, port=port, n_ctx=256, threads=2)
    srv = server.ServerProcess(server.server_argv(cfg), {}, tmp_path / "server.log")
    srv.start()
    try:
        srv.wait_ready(server.Client(f"http://127.0.0.1:{port}"), 120)
        run = tmp_path / "run"
        proc = _memprof("serve", "--url", f"http://127.0.0.1:{port}", "--pid", srv.pid, "--requests", "4",
                        "--max-tokens", "3", "--out", run)
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        _check_records(run, 4)
        assert srv.exited() is None                # a server memprof did not start is left running
        assert rundir.read_meta(run)["server"] == {"url": f"http://127.0.0.1:{port}", "pid": srv.pid,
                                                   "external": True, "models": ["tiny-0.6b", "tiny-1.7b"]}
    finally:
        assert srv.stop() == 0


def test_server_that_fails_to_start_is_one_line(tmp_path):
    from profiler import serving

    bad = tmp_path / "not-a-model.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(WorkloadFailed, match=r"the server exited with status \d+ before it answered: .+ \(log: "):
        serving.serve(models=[{"alias": "bad", "path": str(bad)}], requests=2, prompt="hi", max_tokens=2,
                      n_ctx=64, threads=1, out=str(tmp_path / "run"), start_timeout=120)
    proc = _memprof("serve", "--url", "http://127.0.0.1:9", "--pid", os.getpid(), "--out", tmp_path / "run2")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 5 and err.count("\n") == 1 and "does not answer GET /v1/models" in err


def test_ctrl_c_stops_the_server_and_keeps_the_records(tiny_models, tmp_path):
    run = tmp_path / "run"
    proc = _memprof("serve", "--quick", "--requests", "100000", "--max-tokens", "2", "--out", run,
                    env=_cache_env(tiny_models))
    recs = run / rundir.ITERATIONS
    wait_for_records(recs, 3, 120)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted after" in err and "the server was stopped" in err
    assert len(list(rundir.iter_records(recs, allow_torn_tail=True))) >= 3
    assert rundir.read_meta(run)["exit_status"] == "interrupted"
    _no_server_left(run)


def test_failed_requests_are_recorded_and_stop_the_run(tiny_models, tmp_path):
    from profiler import serving

    run = tmp_path / "run"
    # a prompt longer than the context: the command refuses it up front (LoopConfig's bound on the
    # prompt's tokens), before any server or run directory exists ...
    args = ["--n-ctx", "32", "--max-tokens", "4", "--prompt", "word " * 300]
    proc = _memprof("serve", "--quick", *args, "--out", run, env=_cache_env(tiny_models))
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 2 and "does not fit in --n-ctx 32 beside the prompt" in err, err
    assert not run.exists()
    # ... so the session below the command is driven with it: llama-cpp-python raises inside the
    # stream, after the 200 OK, and the server's log says why
    models = [{"alias": a, "path": str(p)} for a, p in tiny_models.items()]
    outcome = serving.serve(models=models, requests=12, prompt="word " * 300, max_tokens=4, n_ctx=32, threads=2,
                            out=str(run))
    assert outcome.stopped_because.startswith("3 requests in a row failed") and outcome.requests == 3
    recs = list(rundir.iter_records(run / rundir.ITERATIONS))
    assert [r["status"] for r in recs] == ["failed"] * 3
    assert all("exceed context window" in r["error"] and r["rss"] > 0 for r in recs)
    proc = _memprof("analyze", run)                # what was measured is still analysed
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0 and "VERDICT" in out, err
    _no_server_left(run)


def _server_pids_of(run: Path) -> list[int]:
    """Live processes whose command line names this run's server config."""
    cfg = str((run / "server.json").resolve())
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                argv = open(f"/proc/{d}/cmdline", "rb").read().decode(errors="replace").split("\0")
                stat = open(f"/proc/{d}/stat").read()
            except OSError:
                continue
            if cfg in argv and stat[stat.rindex(")") + 2] != "Z":
                pids.append(int(d))
    return pids


def _start_and_wait_for_records(tiny_models, run: Path, n: int = 2):
    proc = _memprof("serve", "--quick", "--requests", "100000", "--max-tokens", "2", "--out", run,
                    env=_cache_env(tiny_models))
    if not wait_for_records(run / rundir.ITERATIONS, n, 120, proc):
        assert proc.poll() is None, proc.communicate()
    assert _server_pids_of(run), "no server found"
    return proc


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_the_server_does_not_outlive_memprof(tiny_models, tmp_path, sig):
    run = tmp_path / "run"
    proc = _start_and_wait_for_records(tiny_models, run)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    deadline = time.monotonic() + 20
    while _server_pids_of(run) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = _server_pids_of(run)
    for pid in left:                               # do not leave a model loaded for the next test
        os.kill(pid, signal.SIGKILL)
    assert not left, f"llama_cpp.server outlived memprof ({sig.name})"
    assert len(list(rundir.iter_records(run / rundir.ITERATIONS, allow_torn_tail=True))) >= 2
    if sig == signal.SIGTERM:                      # as Ctrl-C: the records kept, the server stopped, exit 130
        assert proc.returncode == 130, err
        assert "interrupted after" in err and "the server was stopped" in err
        assert rundir.read_meta(run)["exit_status"] == "interrupted"
