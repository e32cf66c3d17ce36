"""Helpers the tests share: the CLI run in-process as a user sees it (and, where a test needs a real
process, as a child), iteration boundaries read from the marker files committed beside each capture,
a result around a series for the report tests, and the one rule for a missing tool (skip on a
laptop, fail under CI=true)."""
from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

DATA = Path(__file__).parent / "data"


class Done(NamedTuple):
    returncode: int
    stdout: str
    stderr: str


def memprof(*args) -> Done:
    """The CLI's own entry point in this process: exit code, stdout and stderr as a user sees them."""
    from profiler.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return Done(code, out.getvalue(), err.getvalue())


def boundaries(path: Path) -> list[tuple[int, float, float]]:
    """(iteration, t_end, wall_end) per record of an iterations.jsonl, as the pipeline passes them."""
    recs = [json.loads(x) for x in Path(path).read_text().splitlines() if x.strip()]
    return [(r["iteration"], r["t_end"], r["wall_end"]) for r in recs]


_LEAK_SUMMARY_RE = re.compile(r"^==\d+==\s+(definitely lost|indirectly lost|possibly lost|still reachable|suppressed):"
                              r" ([\d,]+) bytes in ([\d,]+) blocks", re.M)
LEAK_KEYS = {"definitely lost": "definitely_lost", "indirectly lost": "indirectly_lost",
             "possibly lost": "possibly_lost", "still reachable": "still_reachable"}


def leak_summary(log: Path) -> dict[str, tuple[int, int]]:
    """Valgrind's text LEAK SUMMARY: kind -> (bytes, blocks), thousands separators removed."""
    found = {k: (int(b.replace(",", "")), int(n.replace(",", "")))
             for k, b, n in _LEAK_SUMMARY_RE.findall(Path(log).read_text())}
    assert len(found) == 5, f"no complete LEAK SUMMARY in {log}"
    return found


# the series' headline figures the pipeline's result copies to its top level (`analyze --json`)
SERIES_TOP_LEVEL = ("verdict", "evidence_basis", "slope_mb_per_iter", "slope_ci_mb", "phases", "blocks", "per_model",
                    "recommendation")


def result_from_series(series, source: dict, meta: dict | None) -> dict:
    """An analysis result's JSON around one series (a SeriesAnalysis, or None when there is only a
    capture), with the top-level copies: what the report tests render, with captures added by hand
    (AnalysisResult.from_json takes it). The pipeline builds its results itself."""
    doc = series.to_json() if series is not None else None
    result = {"source": dict(source), "meta": dict(meta or {}), "series": doc, "captures": []}
    for key in SERIES_TOP_LEVEL:
        result[key] = doc[key] if doc else None
    if not series:
        result["verdict"] = "inconclusive"
    return result


# ---------------------------------------------------------------- tools the set-up installs

# What scripts/install_system.sh and `make setup` install. A test that needs one of them skips on a
# developer's machine that lacks it, and FAILS under CI=true: a CI image without valgrind must not go green.
SETUP_TOOLS = frozenset({"valgrind", "ms_print", "heaptrack", "heaptrack_print", "gcc", "objdump", "nm",
                         "strip"})
SETUP_MODULES = frozenset({"llama_cpp", "memray"})


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def missing(*needs: str) -> list[str]:
    """The programs (on PATH) and Python modules among `needs` that this machine lacks."""
    gone = []
    for name in needs:
        if name in SETUP_MODULES:
            if importlib.util.find_spec(name) is None:
                gone.append(name)
        elif shutil.which(name) is None:
            gone.append(name)
    return gone


def need(*needs: str, module_level: bool = False) -> None:
    """Skip (fail under CI=true) unless every program/module in `needs` is here."""
    gone = missing(*needs)
    if not gone:
        return
    msg = f"{', '.join(gone)} not installed: run scripts/install_system.sh (or `make setup`)"
    if any(n in SETUP_TOOLS or n in SETUP_MODULES for n in gone):
        absent(msg, module_level=module_level)
    pytest.skip(msg, allow_module_level=module_level)


def absent(msg: str, module_level: bool = False) -> None:
    """Something the set-up makes is missing (a tool, a corpus venv): skip, or fail under CI=true."""
    if in_ci():
        pytest.fail(f"CI=true: {msg}", pytrace=False)
    pytest.skip(msg, allow_module_level=module_level)


def needs(*names: str):
    """Marker form of `need`, checked when the test runs (tests/conftest.py): @needs("valgrind")."""
    return pytest.mark.needs(*names)


# ---------------------------------------------------------------- the CLI as a separate process

ROOT = Path(__file__).resolve().parents[1]


def wait_for_records(path: Path, n: int, timeout: float, proc=None, poll: float = 0.05) -> bool:
    """Wait until the records file `path` holds `n` whole lines: True then; False when `timeout`
    passes or `proc` (a Popen) ends first. A run's records are flushed as they happen, so this is
    how a test knows the run is under way before it interrupts it."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= n:
            return True
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(poll)
    return False


def memprof_process(*args, env: dict | None = None, timeout: float = 600, cwd: Path | None = None,
                    popen: bool = False, **kw):
    """`python -m profiler ARGS` in a child process, for what the in-process runner cannot show: signals,
    real tools under the CLI, the interpreter's own exit. Returns CompletedProcess (or Popen with popen=True)."""
    argv = [sys.executable, "-m", "profiler", *map(str, args)]
    full_env = {**os.environ, **(env or {})}
    if popen:
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env,
                                cwd=cwd, **kw)
    return subprocess.run(argv, capture_output=True, text=True, env=full_env, timeout=timeout, cwd=cwd, **kw)
