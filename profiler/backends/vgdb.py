"""Talking to a running Valgrind through its gdbserver (`vgdb --pid=PID COMMAND`).

Valgrind writes massif's file and memcheck's leak records only when the process
exits, so a run that is stopped, killed or timed out would keep nothing. With
`--vgdb=yes` (on in every run memprof starts) the tool answers monitor commands
while the program runs: Valgrind polls for them every few thousand basic blocks,
so they are served even inside one long llama_decode. memprof uses them to save
the tool's data before it stops a run (massif `all_snapshots FILE`, memcheck
`leak_check full reachable any`) and, for memcheck, to take a leak check at every
iteration boundary (`leak_check full reachable changed`: only the loss records
that changed since the previous check, with their deltas), which gives memcheck
a per-site timeline. The text those checks print is read by
profiler.parsers.memcheck_monitor.

At the collection probe (the loop's gc.collect() after its last iteration) the loop waits
(rundir.PROBE_HOLD_ENV) while the hooks take the tool's state there: massif takes no
snapshot of its own between the probe and the process's teardown (its snapshot interval
is hundreds of ms by then), so without this the capture cannot see what the collection
freed. massif: `detailed_snapshot massif.out.PID.probe`; memcheck: `leak_check full
reachable any` appended to the timeline under a header naming the probe. Then the hooks
release the loop (rundir.PROBE_RELEASE), also when vgdb failed. Whether the state was taken,
and why not, goes to meta.json (backend.probe_state), so a capture without it says why.
"""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

from profiler import rundir
from profiler.backends.base import which
from profiler.workload.runner import StopHooks

SAVE_TIMEOUT_S = 60.0
TIMELINE_SUFFIX = ".timeline.txt"
FINAL_SUFFIX = ".leaks.txt"


def monitor(pid: int, words: list[str], timeout: float = SAVE_TIMEOUT_S) -> str | None:
    """The output of one monitor command sent to Valgrind process `pid`, or None when
    vgdb is missing, cannot reach it or runs past `timeout`."""
    return ask(pid, words, timeout)[0]


def ask(pid: int, words: list[str], timeout: float = SAVE_TIMEOUT_S) -> tuple[str | None, str | None]:
    """`monitor`, with why it gave nothing: (output, None) or (None, the reason in words)."""
    exe = which("vgdb")
    if not exe:
        return None, "vgdb is not on PATH"
    try:
        out = subprocess.run([exe, f"--pid={int(pid)}", *words], capture_output=True, text=True,
                             timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None, f"vgdb did not answer within {timeout:g} s"
    except OSError as exc:
        return None, f"vgdb could not be run ({exc.strerror or exc})"
    if out.returncode != 0:
        said = (out.stderr or out.stdout or "").strip().splitlines()
        return None, f"vgdb exited with status {out.returncode}" + (f" ({said[-1].strip()})" if said else "")
    return out.stdout, None


PROBE_TIMEOUT_S = 50.0   # below the loop's own bound on the hold (child.PROBE_HOLD_MAX_S)


def release_probe(run_dir: Path) -> None:
    """Let the loop go on after the collection probe (the file it waits for)."""
    try:
        (Path(run_dir) / rundir.PROBE_RELEASE).touch()
    except OSError:
        pass


def probe_env(run_dir: Path) -> dict[str, str]:
    """The environment that makes the loop wait at its collection probe for release_probe."""
    return {rundir.PROBE_HOLD_ENV: str((Path(run_dir) / rundir.PROBE_RELEASE).resolve())}


NO_PROBE = ("the run wrote no collection-probe record (it stopped before the loop's probe, or the command "
            "never calls memprof_marks.collection_probe())")


class _ProbeRecord:
    """What the hooks did at the collection probe, for meta.json's backend.probe_state (the report's
    sentence on a capture without a state after the probe reads it): taken or not, how, and why not."""

    how = ""

    def _init_probe(self) -> None:
        self.probe_state: dict | None = None

    def _probe_done(self, record: dict, taken: bool, t0: float, *, file: str | None = None,
                    why: str | None = None) -> None:
        state = {"taken": bool(taken), "how": self.how, "after_iteration": record.get("after_iteration"),
                 "took_s": round(time.monotonic() - t0, 3)}
        if file:
            state["file"] = file
        if why:
            state["why"] = why
        self.probe_state = state

    def probe_meta(self) -> dict:
        """meta.json's backend.probe_state: the state taken at the probe, or why there is none."""
        return self.probe_state or {"taken": False, "how": self.how, "why": NO_PROBE}


class MassifHooks(_ProbeRecord, StopHooks):
    """Before a hard stop: every snapshot massif holds, written where massif itself
    writes at exit (massif.out.PID). If Valgrind then gets to run massif's exit, its
    own, later file replaces this one; if it is killed first, this one is the capture."""

    grace_s = 20.0
    how = "detailed_snapshot"

    def __init__(self, run_dir: Path):
        self.cap = Path(run_dir) / rundir.CAPTURE_DIR
        self._init_probe()

    def at_probe(self, pid: int, record: dict) -> None:
        """massif's detailed snapshot right after the probe's gc.collect(), beside its own file."""
        if record.get("probe") != "gc_collect":
            return
        t0 = time.monotonic()
        try:
            path = (self.cap / f"massif.out.{pid}{rundir.PROBE_STATE_SUFFIX}").resolve()
            text, why = ask(pid, ["detailed_snapshot", str(path)], timeout=PROBE_TIMEOUT_S)
            wrote = path.is_file() and path.stat().st_size > 0
            if text is not None and not wrote:
                why = "vgdb answered but massif wrote no snapshot file"
            self._probe_done(record, wrote, t0, file=path.name if wrote else None, why=None if wrote else why)
        except OSError as exc:
            self._probe_done(record, False, t0, why=f"the snapshot file could not be read back ({exc.strerror or exc})")
        finally:
            release_probe(self.cap.parent)

    def save(self, pid: int) -> list[str]:
        path = (self.cap / f"massif.out.{pid}").resolve()
        monitor(pid, ["all_snapshots", str(path)])
        return [path.name] if path.is_file() and path.stat().st_size else []


class MemcheckHooks(_ProbeRecord, StopHooks):
    """memcheck: a leak check at every iteration boundary (when `timeline`), appended to
    memcheck.PID.timeline.txt, each preceded by a `# memprof leak check` header line
    naming the iteration; before a hard stop, a full check into memcheck.PID.leaks.txt
    (the XML, written at exit, may never be finished)."""

    grace_s = 30.0   # memcheck runs its exit leak check after the hard-stop signal
    how = "leak_check full reachable any"

    def __init__(self, run_dir: Path, timeline: bool):
        self.cap = Path(run_dir) / rundir.CAPTURE_DIR
        self.timeline = timeline
        self.check_s: list[float] = []
        self._init_probe()

    def at_boundary(self, pid: int, record: dict) -> None:
        if not self.timeline:
            return
        t = time.monotonic()
        text = monitor(pid, ["leak_check", "full", "reachable", "changed"])
        took = time.monotonic() - t
        if text is None:
            return
        self.check_s.append(took)
        path = self.cap / f"memcheck.{pid}{TIMELINE_SUFFIX}"
        header = (f"# memprof leak check: iteration={record.get('iteration')} "
                  f"t_end={record.get('t_end')} wall_end={record.get('wall_end')} took_s={took:.3f}\n")
        with open(path, "a", encoding="utf-8") as f:
            f.write(header + text)
            f.flush()

    def at_probe(self, pid: int, record: dict) -> None:
        """A full leak check (every record: one that the collection freed entirely would not be
        printed by `changed`) right after the probe's gc.collect(), appended to the timeline."""
        if record.get("probe") != "gc_collect":
            return
        t = time.monotonic()
        try:
            if not self.timeline:
                self._probe_done(record, False, t, why="the leak timeline is off (--no-leak-timeline): the leak "
                                                       "check at the probe belongs to it")
                return
            text, why = ask(pid, ["leak_check", "full", "reachable", "any"], timeout=PROBE_TIMEOUT_S)
            took = time.monotonic() - t
            if text is None:
                self._probe_done(record, False, t, why=why)
                return
            header = (f"# memprof leak check: probe=gc_collect after_iteration={record.get('after_iteration')} "
                      f"t_probe={record.get('t_probe')} took_s={took:.3f}\n")
            path = self.cap / f"memcheck.{pid}{TIMELINE_SUFFIX}"
            with open(path, "a", encoding="utf-8") as f:
                f.write(header + text)
                f.flush()
            self._probe_done(record, True, t, file=path.name)
        except OSError as exc:
            self._probe_done(record, False, t, why=f"the leak check could not be written ({exc.strerror or exc})")
        finally:
            release_probe(self.cap.parent)

    def save(self, pid: int) -> list[str]:
        text = monitor(pid, ["leak_check", "full", "reachable", "any"])
        if text is None:
            return []
        path = self.cap / f"memcheck.{pid}{FINAL_SUFFIX}"
        path.write_text("# memprof leak check: final\n" + text, encoding="utf-8")
        return [path.name]
