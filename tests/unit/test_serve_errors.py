"""`memprof serve` / `memprof watch` bad input: one line, a named exit, nothing half-made.

The HTTP answers come from a real http.server on 127.0.0.1 (no llama_cpp needed): what is checked
is memprof's client, not a server."""
from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
from collections import deque

import pytest

from profiler.errors import BadInput, ExitCode, MemprofError, ToolMissing, UsageProblem, WorkloadFailed
from profiler.workload import server, watch


def _memprof(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "profiler", *map(str, args)], capture_output=True, text=True,
                          timeout=120, cwd=cwd)


@pytest.mark.parametrize("url", ["http://127.0.0.1:abc", "notaurl", "ftp://127.0.0.1:80", "http://:8000",
                                 "127.0.0.1:x"])
def test_bad_url_is_a_usage_problem(url):
    with pytest.raises(UsageProblem, match="give an http://HOST:PORT address"):
        server.parse_url(url)


@pytest.mark.parametrize("url, want", [("http://127.0.0.1:8000", ("http", "127.0.0.1", 8000, "")),
                                       ("127.0.0.1:8000", ("http", "127.0.0.1", 8000, "")),
                                       ("https://h.example/api/", ("https", "h.example", 443, "/api"))])
def test_good_url(url, want):
    assert server.parse_url(url) == want


@pytest.mark.parametrize("url", ["http://127.0.0.1:abc", "notaurl"])
def test_serve_bad_url_exits_2_before_any_run_dir(tmp_path, url):
    run = tmp_path / "run"
    done = _memprof("serve", "--url", url, "--pid", os.getpid(), "--out", run)
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert done.stderr.count("\n") == 1 and "give an http://HOST:PORT address" in done.stderr
    assert not run.exists()


class _NotJson(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<html>hello</html>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


@pytest.fixture
def not_json_server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotJson)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_models_200_not_json_is_not_ready(not_json_server):
    with pytest.raises(OSError, match="not a JSON models list"):
        server.Client(not_json_server).models()


def test_serve_url_answering_not_json_is_one_line(not_json_server, tmp_path):
    done = _memprof("serve", "--url", not_json_server, "--pid", os.getpid(), "--out", tmp_path / "run")
    assert done.returncode == ExitCode.WORKLOAD_FAILED, done.stderr
    assert done.stderr.count("\n") == 1 and "does not answer GET /v1/models" in done.stderr


def test_gen_s_counts_from_the_first_token():
    # a stream whose first token comes late (a model load): gen_s must not include that wait
    import time

    class Slow(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            time.sleep(0.5)
            for tok in ("a", "b"):
                self.wfile.write(b'data: {"choices": [{"text": "%s", "finish_reason": null}]}\n\n' % tok.encode())
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        r = server.Client(f"http://127.0.0.1:{srv.server_address[1]}").complete("m", "hi", 2)
    finally:
        srv.shutdown()
        srv.server_close()
    assert r["ok"] and r["chunks"] == ["a", "b"]
    assert r["ttft_s"] >= 0.5 and r["gen_s"] < 0.4
    assert abs(r["gen_s"] + r["ttft_s"] - r["request_s"]) < 0.05


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_watch_of_a_missing_process_is_an_error_not_zero_samples(tmp_path):
    pid = _dead_pid()
    with pytest.raises(UsageProblem, match=f"no process {pid}"):
        watch.watch(pid, tmp_path / "iterations.jsonl", duration=0.2, status=False)
    assert not (tmp_path / "iterations.jsonl").exists()


def test_first_sample_errors_are_named():
    exc = watch.first_sample_error(os.getpid(), PermissionError(13, "Permission denied", "/proc/1/smaps_rollup"))
    assert isinstance(exc, UsageProblem) and "permission denied" in exc.one_line()
    exc = watch.first_sample_error(os.getpid(), FileNotFoundError(2, "No such file", "/proc/1/smaps_rollup"))
    assert isinstance(exc, BadInput) and "/proc/1/smaps_rollup" in exc.one_line()


def test_metrics_port_in_use_is_a_usage_problem():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(UsageProblem, match=f"--metrics-port {port}"):
            watch.Metrics(port, os.getpid())


def test_watch_cli_metrics_port_in_use_exits_2(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        done = _memprof("watch", os.getpid(), "--duration", "0.5", "--metrics-port", port, "--out", tmp_path / "r")
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("memprof: error: --metrics-port")
    assert "internal error" not in done.stderr


def test_live_slope_takes_the_bounded_window():
    ts, ys = deque(maxlen=watch.SLOPE_WINDOW), deque(maxlen=watch.SLOPE_WINDOW)
    for i in range(watch.SLOPE_WINDOW + 50):
        ts.append(float(i))
        ys.append(100.0 + i / 3600.0)
    assert len(ts) == watch.SLOPE_WINDOW
    s, lo, hi = watch.live_slope(ts, ys)
    assert s == pytest.approx(1.0)


def test_memray_attach_timeout_is_one_line(tmp_path):
    from profiler.backends import memray_attach

    log = tmp_path / "log"
    with pytest.raises(ToolMissing, match="no answer within"):
        memray_attach.attach(os.getpid(), tmp_path / "cap.bin", duration=1, log=log, timeout=0.001)
    with pytest.raises(WorkloadFailed, match="no answer within"):
        memray_attach.detach(os.getpid(), log, timeout=0.001)
    assert issubclass(ToolMissing, MemprofError)
