"""The installed tools run directly (no CLI): the command lines the backends build, Valgrind
reading the suppressions we write, fresh captures parsed against the tools' own summaries.
They lived in tests/unit; they run real programs, so they are integration tests."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from profiler import backends
from profiler.backends.options import HeaptrackOptions, MassifOptions, MemcheckOptions
from profiler.backends.suppressions import check_file
from profiler.errors import BadInput
from profiler.parsers import load_capture
from profiler.parsers import memcheck_suppressions as sup
from testkit import LEAK_KEYS, ROOT, boundaries, leak_summary, memprof_process, needs

pytestmark = pytest.mark.integration

MEMCHECK = ROOT / "tests" / "data" / "memcheck"
DRIVER = ROOT / "tests" / "workloads" / "planted_driver.py"


# ---------------------------------------------------------------- the backends' command lines


@needs("valgrind")
@pytest.mark.parametrize("name", ["massif", "memcheck"])
def test_valgrind_argv_really_runs(tmp_path, name):
    """Valgrind accepts every option we build (and the shipped suppression files) and writes
    the capture where capture_paths looks for it."""
    b = backends.get(name)
    opts = MassifOptions(pages_as_heap=True) if name == "massif" else MemcheckOptions(gen_suppressions=True)
    w = b.wrap([shutil.which("true")], tmp_path, opts)
    proc = subprocess.run(w.argv, env={**os.environ, **w.env}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    caps = b.capture_paths(tmp_path)
    assert len(caps) == 1 and caps[0].stat().st_size > 0
    logs = b.log_paths(tmp_path)
    assert len(logs) == 1 and "FATAL" not in logs[0].read_text()
    if name == "memcheck":
        assert "<status>\n  <state>FINISHED</state>" in caps[0].read_text()
    else:
        assert caps[0].read_text().startswith("desc: --time-unit=ms --detailed-freq=1 --max-snapshots=200")


@needs("heaptrack")
def test_heaptrack_argv_really_runs(tmp_path):
    b = backends.get("heaptrack")
    w = b.wrap([shutil.which("true")], tmp_path, HeaptrackOptions())
    proc = subprocess.run(w.argv, env={**os.environ, **w.env}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert [p.name for p in b.capture_paths(tmp_path)] in (["heaptrack.run.zst"], ["heaptrack.run.gz"])


# ---------------------------------------------------------------- suppressions read by Valgrind


@needs("valgrind")
def test_written_file_is_accepted_by_valgrind(tmp_path):
    out, n, skipped = sup.write_for_run(MEMCHECK / "errors.xml", tmp_path / "e.supp")
    assert (n, skipped) == (6, 0)
    text = out.read_text()
    assert text.startswith("# Valgrind memcheck suppressions written by `memprof suppressions`")
    assert "REVIEW BEFORE REUSE" in text
    check_file(out)
    broken = tmp_path / "broken.supp"
    broken.write_text("{\n   name\n   Memcheck:Leak\n   nonsense:here\n}\n")
    with pytest.raises(BadInput, match="Valgrind rejects"):
        check_file(broken)


@needs("valgrind")
def test_rerun_with_written_file_suppresses_those_records(tmp_path, planted_bin):
    """Suppressions written from the committed planted capture hide every leak record of a
    fresh memcheck run of the planted program (and Valgrind counts them as suppressed)."""
    out, n, _ = sup.write_for_run(MEMCHECK / "planted_all.xml", tmp_path / "planted.supp")
    base = ["valgrind", "--tool=memcheck", "--leak-check=full", "--show-leak-kinds=all", "--xml=yes"]
    subprocess.run(base + [f"--xml-file={tmp_path}/before.xml", str(planted_bin), "3"], check=True,
                   capture_output=True, timeout=120)
    subprocess.run(base + [f"--xml-file={tmp_path}/after.xml", f"--suppressions={out}", str(planted_bin), "3"],
                   check=True, capture_output=True, timeout=120)
    before = [r.kind for r in sup.read_records(tmp_path / "before.xml")]
    after = [r.kind for r in sup.read_records(tmp_path / "after.xml")]
    assert len(before) >= 3 and all(k.startswith("Leak_") for k in before)
    assert after == []
    assert "memprof:leak_lost:definite" in (tmp_path / "after.xml").read_text()  # listed in <suppcounts>


@needs("valgrind")
def test_suppressions_command_on_a_capture(tmp_path):
    out = tmp_path / "p.supp"
    proc = memprof_process("suppressions", MEMCHECK / "planted_all.xml", "-o", out, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"4 suppression(s) written to {out}; review before reuse"
    proc = memprof_process("suppressions", tmp_path, timeout=120)
    assert proc.returncode == 3 and "no memcheck XML" in proc.stderr


# ---------------------------------------------------------------- fresh captures, parsed


@needs("valgrind")
def test_fresh_valgrind_run_matches_its_leak_summary(tmp_path, planted_bin):
    """The installed Valgrind, on a fresh build: XML totals equal the text run's LEAK SUMMARY."""
    common = ["valgrind", "--tool=memcheck", "--leak-check=full", "--show-leak-kinds=all", "--track-origins=no"]
    subprocess.run(common + ["--xml=yes", f"--xml-file={tmp_path / 'm.xml'}", str(planted_bin), "3"],
                   check=True, timeout=120, capture_output=True)
    subprocess.run(common + [f"--log-file={tmp_path / 'm.log'}", str(planted_bin), "3"],
                   check=True, timeout=120, capture_output=True)
    cap = load_capture(tmp_path / "m.xml")
    summary = leak_summary(tmp_path / "m.log")
    for text, key in LEAK_KEYS.items():
        assert (cap.totals[f"{key}_bytes"], cap.totals[f"{key}_blocks"]) == summary[text], key
    s = cap.sites.set_index("function")
    assert s.loc["leak_lost", "live_bytes_end"] == 3 * 32768 and s.loc["leak_lost", "leak_kind"] == "definite"


def _by_function(cap, fn: str):
    rows = cap.sites[cap.sites.function == fn]
    assert len(rows) == 1, f"{fn}: {len(rows)} sites"
    return rows.iloc[0]


@needs("memray")
def test_fresh_native_memray_capture_resolves_planted_functions(tmp_path, planted_lib):
    """The C iteration writes the markers; native frames name the planted functions exactly."""
    markers = tmp_path / "iterations.jsonl"
    out = tmp_path / "native.bin"
    env = dict(os.environ, MEMPROF_ITERATIONS=str(markers))
    subprocess.run([sys.executable, "-m", "memray", "run", "-q", "--native", "-o", str(out),
                    str(DRIVER), str(planted_lib), "4"], check=True, env=env, cwd=tmp_path, timeout=120)
    bounds = boundaries(markers)
    assert [b[0] for b in bounds] == [1, 2, 3, 4]
    cap = load_capture(out, boundaries=bounds)
    expected = {"init_once": (102400, 1), "pool_acquire": (4 * 65536, 4), "leak_lost": (4 * 32768, 4),
                "leak_reachable": (4 * 16384, 4), "scratch_work": (0, 4)}
    got = {}
    for fn in expected:
        row = _by_function(cap, fn)
        assert row.site.startswith(f"{fn} (") and row.site.endswith(f"planted.c:{row['stack'][0].line})")
        got[fn] = (row.live_bytes_end, row.alloc_count)
    assert got == expected
    sid = _by_function(cap, "leak_lost").site_id
    tl = cap.timeline[cap.timeline.site_id == sid].sort_values("slice")
    assert tl.live_bytes.tolist() == [32768 * i for i in range(1, 5)]
