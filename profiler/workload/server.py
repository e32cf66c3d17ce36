"""The switch experiment against a real server: llama-cpp-python's OpenAI-compatible server.

`llama_cpp.server` (the `server` extra: FastAPI, uvicorn) serves several models
from one config file and, when a request names another model, closes the one it
holds and loads the next (llama_cpp/server/model.py, LlamaProxy): the seed's
model-switching server. memprof starts it (plain or wrapped by a backend's argv)
on 127.0.0.1 at a free port, or drives one already running, and sends
completions alternating the models, streaming each to time the first token.

Each request is one iteration record, written and fsynced as soon as it is
measured: the server process is read from outside after the response
(/proc/PID/smaps_rollup, threads, the memory cgroup), its RSS high-water mark
since the previous request (VmHWM reset through /proc/PID/clear_refs, a sampling
thread where refused) and its RSS at the first streamed token (the model loaded).
Times are on the server's own process clock (seconds since it started, from
/proc/PID/stat) and the epoch, so a capture's timeline is cut at the requests.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from profiler import clock, rundir
from profiler.errors import Interrupted, ToolMissing, UsageProblem, WorkloadFailed
from profiler.workload import measure, runner

SERVER_CONFIG = "server.json"
SERVER_LOG = rundir.CHILD_LOG
MAX_CONSECUTIVE_FAILURES = 3


# ---------------------------------------------------------------- the server process


def free_port() -> int:
    """A port nothing listens on now (the kernel's choice on 127.0.0.1)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(run_dir: Path, models: list[dict], *, port: int, n_ctx: int, threads: int) -> Path:
    """The server's multi-model config (JSON, ConfigFileSettings): one entry per alias."""
    cfg = {"host": "127.0.0.1", "port": int(port), "models": [
        {"model": m["path"], "model_alias": m["alias"], "n_ctx": int(n_ctx), "n_threads": int(threads),
         "n_threads_batch": int(threads), "verbose": False} for m in models]}
    path = Path(run_dir) / SERVER_CONFIG
    rundir.write_json(path, cfg)
    return path


def server_argv(config_path: Path) -> list[str]:
    return [sys.executable, "-m", "llama_cpp.server", "--config_file", str(Path(config_path).resolve())]


def check_server_installed() -> None:
    import importlib.util

    missing = [m for m in ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "pydantic_settings",
                           "starlette_context") if importlib.util.find_spec(m) is None]
    if missing:
        raise ToolMissing(f"llama-cpp-python's server is not installed ({', '.join(missing)} missing)",
                          hint="pip install 'llama-cpp-python[server]==0.3.36'")


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            ppid = int(clock.stat_fields(d)[1])
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    return kids


def server_pid(root_pid: int) -> int:
    """The process that runs the server under `root_pid`: itself (plain, memray, Valgrind run the
    program in the process they start) or, under heaptrack's launcher script, the descendant
    that runs llama_cpp.server (the deepest such one; the shell and heaptrack_interpret are not)."""
    kids = _children()
    best, best_depth = root_pid, -1
    stack = [(root_pid, 0)]
    while stack:
        pid, depth = stack.pop()
        argv = runner.cmdline(pid)
        exe = os.path.basename(argv[0]) if argv else ""
        if "llama_cpp.server" in argv and not exe.endswith(("sh", "bash", "heaptrack")) and depth > best_depth:
            best, best_depth = pid, depth
        stack.extend((k, depth + 1) for k in kids.get(pid, []))
    return best


def log_tail(path: Path, lines: int = 3) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16384))
            text = f.read().decode(errors="replace")
    except OSError:
        return "no log"
    keep = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith(("INFO:", "=="))]
    return " | ".join(keep[-lines:])[:600] or "no output"


class ServerProcess:
    """A server started by memprof: in its own session (a terminal's Ctrl-C reaches memprof only,
    which then stops the server itself), output to RUN_DIR/child.log. It goes down with memprof
    however memprof ends (SIGKILL included): the loop runner's parent-death signal on the child
    and its watchdog on the server's process group (a launcher script's grandchild included)."""

    def __init__(self, argv: list[str], env: dict, log_path: Path):
        self.argv, self.env, self.log_path = argv, env, log_path
        self.proc: subprocess.Popen | None = None
        self.pid: int | None = None
        self.dog = None

    def start(self) -> None:
        env = dict(os.environ)
        env.update({k: str(v) for k, v in self.env.items()})
        env.setdefault("PYTHONUNBUFFERED", "1")
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # idle OpenMP workers spin otherwise (see the loop)
        with open(self.log_path, "ab") as log:
            try:
                self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log,
                                             stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                             preexec_fn=runner._die_with_parent)
            except OSError as exc:
                raise ToolMissing(f"cannot run {self.argv[0]}: {exc.strerror or exc}") from None
        self.dog = runner._start_watchdog(self.proc.pid)

    def exited(self) -> int | None:
        return self.proc.poll() if self.proc else None

    def wait_ready(self, client: "Client", timeout: float) -> None:
        """Until the server answers GET /v1/models; a server that exits or never answers is one line."""
        deadline = time.monotonic() + timeout
        while True:
            rc = self.exited()
            if rc is not None:
                raise WorkloadFailed(f"the server exited with status {rc} before it answered: "
                                     f"{log_tail(self.log_path)} (log: {self.log_path})")
            try:
                client.models()
                break
            except OSError:         # not listening yet, or an answer that is not the models list
                pass
            if time.monotonic() > deadline:
                self.pid = server_pid(self.proc.pid)   # SIGINT must reach the server, not a launcher script
                self.stop()
                raise WorkloadFailed(f"the server did not answer within {timeout:.0f} s: "
                                     f"{log_tail(self.log_path)} (log: {self.log_path}; --start-timeout)")
            time.sleep(0.2)
        self.pid = server_pid(self.proc.pid)

    def stop(self, grace: float = 60.0) -> int | None:
        """SIGINT to the server (uvicorn shuts down and the process exits, so a profiler wrapping
        it writes its capture), then SIGTERM and SIGKILL to its process group if it lingers.
        A Ctrl-C or SIGTERM meanwhile (KeyboardInterrupt) hurries it to the next step."""
        if self.proc is None:
            return None
        try:
            return self._stop(grace)
        finally:
            if self.proc.poll() is not None:
                runner._stop_watchdog(self.dog)   # else memprof's exit leaves the watchdog to kill the group
                self.dog = None

    def _stop(self, grace: float) -> int | None:
        steps = ((self.pid or self.proc.pid, signal.SIGINT, False, grace), (self.proc.pid, signal.SIGTERM, True, 10.0),
                 (self.proc.pid, signal.SIGKILL, True, 10.0))
        for pid, sig, group, wait in steps:
            if self.proc.poll() is not None:
                break
            try:
                os.killpg(pid, sig) if group else os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.proc.wait(timeout=wait)
            except (subprocess.TimeoutExpired, KeyboardInterrupt):
                continue
        return self.proc.poll()


# ---------------------------------------------------------------- the client


def parse_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, base path) of a server address, or UsageProblem: checked before anything
    is created. HOST:PORT alone means http; a scheme other than http/https, no host or a port that
    is not a number is refused."""
    bad = UsageProblem(f"--url {url}: give an http://HOST:PORT address")
    text = url.strip()
    if "://" not in text:
        host, sep, port = text.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise bad
        text = f"http://{text}"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise bad
    try:
        port = parts.port
    except ValueError:
        raise bad from None
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), parts.path.rstrip("/")


class Client:
    """An OpenAI-compatible client on the standard library (http.client): the completions
    endpoint, streamed (server-sent events) so the first token is timed where it arrives."""

    def __init__(self, url: str, timeout: float = 600.0):
        self.scheme, self.host, self.port, self.base = parse_url(url)
        self.timeout = timeout

    def _conn(self, timeout=None):
        import http.client

        cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        return cls(self.host, self.port, timeout=timeout or self.timeout)

    def models(self) -> list[str]:
        """The model ids of GET /v1/models; OSError for anything that is not that list (refused,
        an HTTP error, a broken response, a body that is not the JSON list)."""
        import http.client

        conn = self._conn(timeout=5)
        try:
            conn.request("GET", f"{self.base}/v1/models")
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200:
                raise OSError(f"GET /v1/models: HTTP {resp.status}")
            try:
                data = json.loads(body).get("data", [])
                return [m.get("id") for m in data if isinstance(m, dict)]
            except (ValueError, AttributeError, TypeError):
                raise OSError(f"GET /v1/models: HTTP 200 but not a JSON models list: {body[:80]!r}") from None
        except http.client.HTTPException as exc:
            raise OSError(f"GET /v1/models: {type(exc).__name__}: {exc}") from None
        finally:
            conn.close()

    def complete(self, model: str, prompt: str, max_tokens: int, on_first=None) -> dict:
        """One streamed completion: {ok, http_status, ttft_s, gen_s, request_s, chunks[texts], error}."""
        import http.client

        body = json.dumps({"model": model, "prompt": prompt, "max_tokens": int(max_tokens), "stream": True,
                           "temperature": 0.0, "top_k": 1, "top_p": 1.0, "repeat_penalty": 1.0, "seed": 1234})
        out = {"ok": False, "http_status": None, "ttft_s": None, "gen_s": None, "chunks": [], "error": None}
        t0 = time.perf_counter()
        first = None
        conn = self._conn()
        try:
            conn.request("POST", f"{self.base}/v1/completions", body=body,
                         headers={"Content-Type": "application/json", "Accept": "text/event-stream"})
            resp = conn.getresponse()
            out["http_status"] = resp.status
            if resp.status != 200:
                text = resp.read(2000).decode(errors="replace")
                out["error"] = f"HTTP {resp.status}: {' '.join(text.split())[:300]}"
                return out
            while True:
                line = resp.readline()
                if not line:
                    break
                line = line.strip()
                if not line.startswith(b"data:"):
                    continue           # blank separators, ": ping" comments
                data = line[5:].strip()
                if data == b"[DONE]":
                    break
                try:
                    event = json.loads(data)
                except ValueError:
                    continue
                if "error" in event:
                    out["error"] = str(event["error"])[:300]
                    return out
                choice = (event.get("choices") or [{}])[0]
                text = choice.get("text") or ""
                if choice.get("finish_reason"):
                    # the closing chunk: the finish reason and any text held back (an incomplete
                    # UTF-8 sequence, a possible stop string), not a new token
                    if text and out["chunks"]:
                        out["chunks"][-1] += text
                    if not text or out["chunks"]:
                        continue
                if first is None:
                    first = time.perf_counter()
                    out["ttft_s"] = first - t0
                    if on_first:
                        on_first()
                out["chunks"].append(text)
            out["ok"] = out["error"] is None
            if not out["chunks"] and out["ok"]:
                out["ok"], out["error"] = False, "the stream ended without a token"
        except (OSError, ValueError, http.client.HTTPException) as exc:
            out["error"] = f"{type(exc).__name__}: {exc}"[:300]
        finally:
            conn.close()
            end = time.perf_counter()
            out["request_s"] = end - t0
            if first is not None:
                out["gen_s"] = end - first   # from the first token: a switch's model load is in ttft_s
        return out


# ---------------------------------------------------------------- the driver


@dataclass
class DriveResult:
    requests: int = 0
    failed: int = 0
    stopped_because: str | None = None
    tokens_min: int | None = None    # the measured n_tokens of the answered requests (a server may
    tokens_max: int | None = None    # return more or fewer than max_tokens asked)


def _size(path: Path | None) -> int:
    try:
        return os.path.getsize(path) if path is not None else 0
    except OSError:
        return 0


def _settle(path: Path, since: int, timeout: float = 3.0) -> None:
    """Wait (briefly) for the server to log why a stream failed: its access line comes first, the
    exception's last line (`ValueError: ...`) can follow a moment later."""
    import re

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _size(path) > since and re.search(r"(Error|Exception)\b", log_tail(path, 1)):
            return
        time.sleep(0.1)


def drive(out: Path, client: Client, pid: int, models: list[str], *, requests: int, prompt: str,
          max_tokens: int, alive=None, echo=None, server_log: Path | None = None) -> DriveResult:
    """Send `requests` completions alternating `models`, one record each in `out`.

    A failed request is recorded (status "failed", its error); the run stops after
    MAX_CONSECUTIVE_FAILURES in a row or when the server is gone (`alive()` false or
    /proc/PID absent), and says why. Ctrl-C raises Interrupted after the records so far."""
    from profiler.workload.child import digest, token_error_rate

    echo = echo or (lambda msg: print(msg, file=sys.stderr))
    start_boot = clock.process_start_boottime(pid)
    res = DriveResult()
    reference: dict[str, list[str]] = {}
    peak = measure.PeakTracker(pid)
    consecutive = 0
    with rundir.IterationWriter(out) as writer:
        try:
            for i in range(1, requests + 1):
                if not os.path.exists(f"/proc/{pid}") or (alive is not None and not alive()):
                    res.stopped_because = f"the server (pid {pid}) is gone"
                    break
                model = models[(i - 1) % len(models)]
                peak.start()
                wall_start = time.time()
                t_start = time.clock_gettime(time.CLOCK_BOOTTIME) - start_boot
                loaded: dict = {}
                log_size = _size(server_log)
                r = client.complete(model, prompt, max_tokens,
                                    on_first=lambda: loaded.setdefault("rss", measure.rss_now(pid)))
                try:
                    mem = measure.outside(pid)
                    rss_peak = peak.peak()
                except OSError:
                    res.stopped_because = f"the server (pid {pid}) died during request {i}: {r.get('error') or 'no error'}"
                    break
                t_end = time.clock_gettime(time.CLOCK_BOOTTIME) - start_boot
                wall_end = time.time()
                chunks = r["chunks"]
                ref = reference.setdefault(model, chunks) if r["ok"] else None
                gen = r.get("gen_s") or 0.0
                record = {
                    "iteration": i, "model": model, "strategy": "server",
                    "t_start": round(t_start, 6), "t_end": round(t_end, 6),
                    "wall_start": round(wall_start, 6), "wall_end": round(wall_end, 6),
                    "request_s": round(r["request_s"], 6),
                    "ttft_s": None if r["ttft_s"] is None else round(r["ttft_s"], 6),
                    "gen_s": round(gen, 6) if r["ok"] else None, "n_tokens": len(chunks),
                    "tokens_per_s": round(len(chunks) / gen, 3) if r["ok"] and gen > 0 else None,
                    "output_digest": digest(chunks) if r["ok"] else None,
                    "token_error_rate": round(token_error_rate(chunks, ref), 6) if ref is not None else None,
                    **mem, "rss_after_load": loaded.get("rss"), "rss_peak": rss_peak,
                    "peak_method": peak.method, "http_status": r["http_status"],
                    "status": "ok" if r["ok"] else "failed",
                }
                if not r["ok"]:
                    if server_log is not None and r["http_status"] == 200:
                        # the server failed inside the stream (an exception after the 200 OK): its log says why
                        _settle(server_log, log_size)
                        r["error"] = f"{r['error']}; the server's log ends: {log_tail(server_log, 1)}"
                    record["error"] = r["error"]
                writer.write(record)
                res.requests += 1
                if r["ok"]:
                    consecutive = 0
                    n_tok = len(chunks)
                    res.tokens_min = n_tok if res.tokens_min is None else min(res.tokens_min, n_tok)
                    res.tokens_max = n_tok if res.tokens_max is None else max(res.tokens_max, n_tok)
                else:
                    res.failed += 1
                    consecutive += 1
                    echo(f"memprof: request {i} ({model}) failed: {r['error']}")
                    if consecutive >= MAX_CONSECUTIVE_FAILURES:
                        res.stopped_because = f"{consecutive} requests in a row failed (last: {r['error']})"
                        break
        except KeyboardInterrupt:
            raise Interrupted(f"interrupted after {res.requests} requests") from None
        finally:
            peak.stop()
    return res
