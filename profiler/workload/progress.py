"""A progress bar that follows iterations.jsonl while the child runs.

The child may run under Valgrind or heaptrack, so the bar cannot ask it anything:
the append-only iterations file is the one channel every wrapper leaves intact.
Shown only on a terminal; in CI or a pipe the run stays quiet.
"""
from __future__ import annotations

import sys
import threading
from pathlib import Path

from profiler import rundir
from profiler.constants import MB
from profiler.fmt import fmt_mb


class IterationFollower:
    """Polls `path` in a thread and advances a tqdm bar by one per finished record."""

    def __init__(self, path: Path, total: int | None, label: str = "run", *,
                 enabled: bool | None = None, interval: float = 0.25):
        self.path = Path(path)
        self.total = total
        self.label = label
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._tail = rundir.RecordTail(self.path)
        self.count = 0

    def __enter__(self):
        if self.enabled:
            self._thread = threading.Thread(target=self._run, name="memprof-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=2)

    def _run(self) -> None:
        from tqdm import tqdm

        bar = tqdm(total=self.total, desc=self.label, unit="it", file=sys.stderr, dynamic_ncols=True)
        try:
            while True:
                stopping = self._stop.wait(self.interval)
                for rec in self._tail.new():
                    self.count += 1
                    post = {}
                    if rec.get("model"):
                        post["model"] = rec["model"]
                    if isinstance(rec.get("rss"), (int, float)):
                        post["rss"] = fmt_mb(rec["rss"] / MB)
                    bar.set_postfix(post, refresh=False)
                    bar.update(1)
                if stopping:
                    break
        finally:
            bar.close()
