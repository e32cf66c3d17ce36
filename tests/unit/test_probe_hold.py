"""The loop's wait at the collection probe (workload/child.hold_for_parent): none unless asked,
released by the file the Valgrind hooks touch, bounded, and cut short by a stop request."""
from __future__ import annotations

import threading
import time

from profiler.backends.vgdb import probe_env, release_probe
from profiler import rundir
from profiler.workload.child import hold_for_parent


class _Stop:
    requested = True


def test_no_path_no_wait():
    assert hold_for_parent(None) is None and hold_for_parent("") is None


def test_released_by_the_hooks_file(tmp_path):
    path = probe_env(tmp_path)[rundir.PROBE_HOLD_ENV]
    threading.Timer(0.3, release_probe, args=(tmp_path,)).start()
    waited = hold_for_parent(path, max_s=20)
    assert 0.25 <= waited < 10 and (tmp_path / rundir.PROBE_RELEASE).is_file()


def test_bounded_and_stopped(tmp_path):
    t = time.monotonic()
    assert hold_for_parent(str(tmp_path / "never"), max_s=0.3) >= 0.3
    assert hold_for_parent(str(tmp_path / "never"), max_s=30, stop=_Stop()) < 1
    assert time.monotonic() - t < 5
