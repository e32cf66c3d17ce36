"""The run directory: every stage writes its result here so any later stage can be rerun alone.

Layout (heaptrack-style staged pipeline: record, then interpret, then analyse):

    RUN_DIR/
      meta.json            command, options, versions, machine, llama build info, backend
      iterations.jsonl     one JSON object per finished iteration, flushed + fsynced as it happens;
                           after the loop, the collection probe's records ({"probe": "gc_collect" |
                           "malloc_trim", ...}, no "iteration"): not iterations, skipped unless asked for
      capture/             the raw profiler output (massif.out.PID, memcheck.xml,
                           heaptrack.*.zst, memray.bin) exactly as the tool wrote it
      child.log            stdout/stderr of the profiled process
      analysis.json        what `memprof analyze` computed (recomputable)
      sites.csv            the allocation-site table of the capture, if any
      report.md / report.json / report.html / plots/*.png
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Iterator

from profiler import jsonout
from profiler.errors import BadSeries, UsageProblem

META = "meta.json"
ITERATIONS = "iterations.jsonl"
CAPTURE_DIR = "capture"
CHILD_LOG = "child.log"
ANALYSIS = "analysis.json"
SITES = "sites.csv"
PLOTS_DIR = "plots"

DEFAULT_RUNS_ROOT = Path("runs")


def new_run_dir(out: str | os.PathLike | None, label: str) -> Path:
    """Create a fresh run directory (runs/<label>-<timestamp> unless `out` is given) and point runs/latest at it."""
    if out:
        path = Path(out)
        if is_run_dir(path) or find_captures(path):
            # appending a second run's records to the first's would mix two runs into one series
            raise UsageProblem(f"{path} already holds a run", hint="choose a new directory with --out")
    else:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = DEFAULT_RUNS_ROOT / f"{label}-{stamp}"
        n = 1
        while path.exists():
            n += 1
            path = DEFAULT_RUNS_ROOT / f"{label}-{stamp}-{n}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        (path / CAPTURE_DIR).mkdir(exist_ok=True)
    except OSError as exc:
        # checked before anything runs: a bad --out is the user's to change, not a memprof bug
        raise UsageProblem(f"cannot create the run directory {path}: {exc.strerror or exc}",
                           hint="choose another directory with --out") from None
    if not out:
        latest = DEFAULT_RUNS_ROOT / "latest"
        try:
            if latest.is_symlink() or latest.exists():
                latest.unlink()
            latest.symlink_to(path.name)
        except OSError:
            pass
    return path


def is_run_dir(path: Path) -> bool:
    return path.is_dir() and ((path / META).exists() or (path / ITERATIONS).exists())


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically (temp file + rename) so a killed process never leaves half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        tmp.write_text(jsonout.dumps(obj) + "\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a failed save leaves neither half a file nor its temp
        raise


def read_meta(run_dir: Path) -> dict:
    p = run_dir / META
    if not p.exists():
        return {}
    try:
        meta = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BadSeries(f"{p}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except UnicodeDecodeError as exc:
        raise BadSeries(f"{p}: not UTF-8 text at byte {exc.start}") from None
    if not isinstance(meta, dict):
        raise BadSeries(f"{p}: not a JSON object")
    return meta


def update_meta(run_dir: Path, **fields: Any) -> dict:
    meta = read_meta(run_dir)
    meta.update(fields)
    write_json(run_dir / META, meta)
    return meta


class IterationWriter:
    """Appends one iteration record per line, flushed and fsynced, so a crash loses nothing finished."""

    def __init__(self, path: Path):
        self._f = open(path, "a", encoding="utf-8")

    def write(self, record: dict) -> None:
        self._f.write(json.dumps(record, default=float) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


PROBE = "probe"
# The collection probe's hold: the loop child, when this env var names a file, waits after its
# gc_collect record (bounded) until that file exists, so the parent can take the tool's state there
PROBE_HOLD_ENV = "MEMPROF_PROBE_HOLD"
PROBE_RELEASE = "probe.release"
# massif's state at the probe (its `detailed_snapshot`), beside massif.out.PID: massif.out.PID.probe
PROBE_STATE_SUFFIX = ".probe"


def is_probe(rec: dict) -> bool:
    """A collection-probe record (measured after the loop, after gc.collect() or malloc_trim(0))."""
    return bool(rec.get(PROBE))


def iter_records(path: Path, *, allow_torn_tail: bool = False, probes: bool = False) -> Iterator[dict]:
    """Yield iteration records. A line that is not a JSON object is an error, except, with
    `allow_torn_tail` (a run directory whose process may have been killed mid-write), the last one.
    The collection probe's records are not iterations: they are yielded only with `probes`."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.readlines()
    except UnicodeDecodeError as exc:
        raise BadSeries(f"{path}: not UTF-8 text at byte {exc.start}") from None
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            if allow_torn_tail and n == len(lines):
                continue
            raise BadSeries(f"{path}:{n}: truncated or corrupt JSON line") from None
        if not isinstance(rec, dict):
            raise BadSeries(f"{path}:{n}: not a JSON object")
        if not probes and is_probe(rec):
            continue
        yield rec


def find_captures(run_dir: Path) -> list[Path]:
    d = run_dir / CAPTURE_DIR
    return sorted(p for p in d.iterdir() if p.is_file()) if d.is_dir() else []


class RecordTail:
    """The complete iteration records appended to a records file since the last look, for whoever
    follows a run while it is written (the progress bar, the Valgrind boundary hooks). A torn last
    line waits for its end; probe records are not iterations and are left out unless `probes`
    (the Valgrind hooks take the tool's state at the collection probe)."""

    def __init__(self, path: Path, *, from_end: bool = False, probes: bool = False):
        self.path = Path(path)
        self.probes = probes
        self.offset = 0
        if from_end:
            try:
                self.offset = self.path.stat().st_size
            except OSError:
                pass
        self.partial = b""

    def new(self) -> list[dict]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return []
        self.offset += len(data)
        *lines, self.partial = (self.partial + data).split(b"\n")
        out = []
        for line in lines:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and (self.probes or not is_probe(rec)):
                out.append(rec)
        return out
