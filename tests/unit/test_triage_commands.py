"""`memprof check`, `memprof compare` and the report's site section, on the committed captures.

Run directories are assembled from the fixtures (a capture under capture/ and
the iteration markers written while it was recorded), exactly as a backend
leaves them; the commands run as the user runs them (`python -m profiler ...`).
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from profiler.errors import ExitCode
from testkit import memprof, memprof_process

DATA = Path(__file__).parent.parent / "data"
KiB = 1024


def make_run(root: Path, name: str, capture: Path, iterations: Path) -> Path:
    run = root / name
    (run / "capture").mkdir(parents=True)
    shutil.copy(capture, run / "capture" / capture.name)
    shutil.copy(iterations, run / "iterations.jsonl")
    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return {
        12: make_run(root, "ht12", DATA / "heaptrack" / "planted.zst", DATA / "heaptrack" / "planted.iterations.jsonl"),
        5: make_run(root, "ht5", DATA / "triage" / "planted5.zst", DATA / "triage" / "planted5.iterations.jsonl"),
    }


# --- check -----------------------------------------------------------------------------

def test_check_finds_the_planted_leaks(runs):
    p = memprof("check", runs[12])
    assert p.returncode == int(ExitCode.LEAK_FOUND), p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("leak_lost (") and "[unknown]\t+32.0 KiB/iteration\theaptrack" in lines[0]
    assert lines[1].startswith("leak_reachable (") and "+16.0 KiB/iteration" in lines[1]


def test_check_allow(runs):
    p = memprof("check", runs[12], "--allow", "leak_*")
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout == "" and "no leak (8 sites checked, 2 allowed)" in p.stderr
    p = memprof("check", runs[12], "--allow", "leak_lost", "--json")
    assert p.returncode == int(ExitCode.LEAK_FOUND)
    out = json.loads(p.stdout)
    assert [d["function"] for d in out["leaking_sites"]] == ["leak_reachable"]
    assert [(d["function"], d["allowed_by"]) for d in out["allowed_sites"]] == [("leak_lost", "leak_lost")]
    # a module pattern allows everything a program's own code leaks
    bin_name = Path(out["leaking_sites"][0]["module"]).name
    assert memprof("check", runs[12], "--allow", bin_name).returncode == 0


def test_check_bare_memcheck_capture():
    p = memprof("check", DATA / "memcheck" / "planted_default.xml")
    assert p.returncode == int(ExitCode.LEAK_FOUND)
    (line,) = p.stdout.splitlines()
    assert re.fullmatch(r"leak_lost \(/\S+/tests/workloads/planted\.c:\d+\)\t\[unknown\]\t\+160 KiB at exit\t"
                        r"memcheck definite", line), line


def test_check_series_slope():
    series = DATA / "series" / "slow_leak.csv"
    p = memprof("check", series, "--json")
    assert p.returncode == int(ExitCode.LEAK_FOUND)          # no capture: the series verdict decides
    slope = json.loads(p.stdout)["series_slope_mb_per_iter"]
    assert slope > 0
    p = memprof("check", series, "--max-slope", slope * 2)
    assert p.returncode == 0, p.stdout
    assert p.stderr == f"ok: the RSS slope is within --max-slope {slope * 2:g} MB/iteration (series verdict leak)\n"
    p = memprof("check", series, "--max-slope", slope / 2)
    assert p.returncode == int(ExitCode.LEAK_FOUND)
    assert p.stdout.startswith(f"RSS growth +{slope:.4g} MB/iteration exceeds --max-slope")
    p = memprof("check", DATA / "series" / "plateau_noise.csv")
    assert p.returncode == 0 and p.stderr == "ok: no leak (RSS series verdict plateau)\n"


def test_check_missing_path_is_one_line(tmp_path):
    p = memprof_process("check", tmp_path / "nope")
    assert p.returncode == int(ExitCode.BAD_INPUT)
    assert p.stderr.count("\n") == 1 and p.stderr.startswith("memprof: error: ")


# --- compare ---------------------------------------------------------------------------

def test_compare_shows_the_leak_sites_growth(runs):
    p = memprof("compare", runs[5], runs[12], "--json")
    assert p.returncode == 0, p.stderr
    cmp = json.loads(p.stdout)
    (c,) = cmp["captures"]
    rows = {r["function"]: r for r in c["sites"]}
    # 7 more iterations: 7 x 32 KiB and 7 x 16 KiB more live at the end, same slope
    assert rows["leak_lost"]["live_end_delta"] == 7 * 32 * KiB
    assert rows["leak_reachable"]["live_end_delta"] == 7 * 16 * KiB
    assert (rows["leak_lost"]["slope_a"], rows["leak_lost"]["slope_b"]) == (32 * KiB, 32 * KiB)
    for fn in ("pool_acquire", "init_once", "scratch_work"):
        assert rows[fn]["live_end_delta"] == 0, fn
    assert c["grew"] == [rows["leak_lost"]["site"], rows["leak_reachable"]["site"]]
    assert c["verdict_changes"] == []
    assert c["categories"]["unknown"]["live_end_delta"] == 7 * 48 * KiB
    assert c["categories"]["libc"]["live_end_delta"] == 0
    text = memprof("compare", runs[5], runs[12]).stdout
    assert "leak sites that grew: leak_lost (" in text
    assert "live 160 KiB -> 384 KiB (+224 KiB)" in text


# --- the report's site section -----------------------------------------------------------

def test_report_section_markdown_and_html(runs):
    from profiler import pipeline
    from profiler.report import triage_section
    from profiler.results.analysis import AnalysisResult, Source

    result = pipeline.analyze(runs[12], save=False)
    md = triage_section.markdown(result)
    assert md.startswith("## Allocation sites")
    assert "| unknown | 1.0 MiB | 94% |" in md and "| libc | 71.0 KiB | 6% |" in md
    assert "**Verdict: leak.**" in md and "### What grew and why" in md
    assert "`leak_lost (/work/main/tests/workloads/planted.c:46)` | **leak** |" in md
    # a rerun from analysis.json renders the same section
    again = AnalysisResult.from_json(json.loads(json.dumps(pipeline.public(result), default=str)))
    assert triage_section.markdown(again) == md
    assert triage_section.html(again) == triage_section.html(result)
    bare = AnalysisResult(source=Source(kind="capture", path="x"))
    assert triage_section.markdown(bare) == "" == triage_section.html(bare)


def test_report_section_escapes_names(tmp_path):
    from profiler import pipeline
    from profiler.report import triage_section

    result = pipeline.analyze(DATA / "massif" / "templated.massif.out", save=False)
    page = triage_section.html(result)
    assert "memprof_demo::detail::Cache&lt;std::pair&lt;int, long&gt;, double&gt;::fill(std::pair&lt;int, long&gt; " \
           "const&amp;, unsigned long)" in page
    assert "Cache<" not in page and "const&," not in page
    md = triage_section.markdown(result)
    # in the site tables a long C++ name is shortened for display (report/names.py)
    assert "`memprof_demo::detail::Cache<…>::fill() (templated.cpp:15)`" in md
    # outside code spans (the evidence sentences) a `<` is escaped as in the rest of report.md, never a tag
    assert md.count("Cache<") == md.count("`memprof_demo::detail::Cache<")
    assert "memprof_demo::detail::Cache\\<std::pair\\<int, long>, double>::fill(std::pair\\<int, long> " \
           "const&, unsigned long) 256 KiB [leak]" in md


def test_check_with_user_rules(runs, tmp_path):
    rules = tmp_path / "mine.toml"
    rules.write_text('[[rule]]\ncategory = "kv_cache"\nfunctions = ["leak_*"]\nnote = "pretend"\n')
    p = memprof("check", runs[12], "--rules", rules, "--json")
    assert p.returncode == int(ExitCode.LEAK_FOUND)
    out = json.loads(p.stdout)
    assert [(d["function"], d["category"]) for d in out["leaking_sites"]] == [
        ("leak_lost", "kv_cache"), ("leak_reachable", "kv_cache")]
    bad = tmp_path / "bad.toml"
    bad.write_text("[[rule]\n")
    p = memprof("check", runs[12], "--rules", bad)
    assert p.returncode == int(ExitCode.BAD_INPUT)
    assert p.stderr.startswith(f"memprof: error: {bad}: not valid TOML:") and "line 1" in p.stderr


def test_check_allow_names_an_unresolved_frame_by_its_caller(tmp_path):
    # planted_native.bin: the planted C frames read as unresolved, named "??? <- leak_lost (...py:67)"
    run = make_run(tmp_path, "mr", DATA / "memray" / "planted_native.bin",
                   DATA / "memray" / "planted_native.iterations.jsonl")
    p = memprof("check", run)
    assert p.returncode == int(ExitCode.LEAK_FOUND)
    assert [line.split("\t")[0] for line in p.stdout.splitlines()] == [
        "??? <- leak_lost (tests/workloads/planted_driver.py:67)",
        "??? <- leak_reachable (tests/workloads/planted_driver.py:71)"]
    assert memprof("check", run, "--allow", "leak_*").returncode == 0


def test_check_max_slope_judges_a_sawtooth_by_its_troughs():
    """The demo run rises ~1.8 MB/iteration inside each tooth but the GC gives it back: the gate
    reads the envelope's trough rate, not a straight line through the teeth."""
    series = DATA / "series" / "demo_twins_reload_50.jsonl"
    found = json.loads(memprof("check", series, "--json", "--max-slope", "0.5").stdout)
    assert not found["failed"], found["reasons"]
    assert abs(found["series_slope_mb_per_iter"]) < 0.1
