"""Bad input and impossible output places end in ONE `memprof: error:` line and a named exit code.

Found by trying the commands as a new user would; each case once ended in
`memprof: internal error` (exit 70, the code for a memprof bug).
"""
from __future__ import annotations

from pathlib import Path

from profiler.errors import ExitCode
from testkit import memprof

DATA = Path(__file__).parent.parent / "data"


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("memprof: error: "), err
    return lines[0]


def test_report_into_an_impossible_directory_is_a_usage_error(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    code, _, err = memprof("report", DATA / "series" / "plateau_noise.csv", "-o", blocker / "sub")
    assert code == ExitCode.USAGE
    assert str(blocker / "sub") in one_error_line(err)


def test_suppressions_into_an_impossible_file_is_a_usage_error(tmp_path):
    code, _, err = memprof("suppressions", DATA / "memcheck" / "planted_all.xml", "-o", tmp_path / "no" / "x.supp")
    assert code == ExitCode.USAGE
    assert "x.supp" in one_error_line(err)
    assert not (DATA / "memcheck" / "memcheck.supp").exists()


def test_a_run_directory_that_cannot_be_created_is_a_usage_error(tmp_path):
    import pytest

    from profiler import rundir
    from profiler.errors import UsageProblem

    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(UsageProblem, match="cannot create the run directory"):
        rundir.new_run_dir(blocker / "run", "run")
    code, _, err = memprof("run", "--quick", "--iterations", "2", "--out", blocker / "run")
    assert code == ExitCode.USAGE
    assert "--out" in one_error_line(err)


def test_an_infinite_rss_is_bad_series_not_a_crash_in_the_report(tmp_path):
    import pytest

    from profiler.analysis import load_series
    from profiler.errors import BadSeries

    csv = tmp_path / "inf.csv"
    csv.write_text("iteration,rss\n1,inf\n2,100000000\n3,100000000\n")
    with pytest.raises(BadSeries, match="infinite rss in record 1"):
        load_series(csv)
    jsonl = tmp_path / "big.jsonl"  # 1e400 overflows to inf when JSON is read
    jsonl.write_text("".join('{"iteration": %d, "rss": %s}\n' % (i, v)
                             for i, v in ((1, "1e400"), (2, "100000000"), (3, "100000000"))))
    for cmd in ("analyze", "report"):
        code, _, err = memprof(cmd, jsonl, *(("-o", tmp_path / "rep") if cmd == "report" else ()))
        assert code == ExitCode.BAD_INPUT
        assert "infinite rss" in one_error_line(err)


def test_bad_options_are_one_error_line_that_says_where_to_look():
    code, _, err = memprof("run", "--strategy", "foo")
    assert code == ExitCode.USAGE
    line = one_error_line(err)
    assert "'foo' is not one of 'reload', 'reset'" in line and "memprof run --help" in line
    code, _, err = memprof("analyze")
    assert code == ExitCode.USAGE
    assert "Missing argument 'PATH'" in one_error_line(err)
    code, _, err = memprof("no-such-command")
    assert code == ExitCode.USAGE
    assert "no-such-command" in one_error_line(err)


def test_a_run_whose_analysis_cannot_be_saved_is_still_analysed(tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(DATA / "series" / "killed_run", run, ignore=shutil.ignore_patterns("analysis.json"))
    (run / "analysis.json").mkdir()  # the cache cannot be written: the analysis itself must not fail
    code, out, err = memprof("analyze", run)
    assert code == ExitCode.OK, err
    assert "recommendation:" in out
    assert err.strip().startswith("memprof: warning: could not save the analysis into")


def test_a_run_directory_with_a_foreign_meta_or_binary_records_is_bad_input(tmp_path):
    import shutil

    for name, fname, content, message in (
            ("meta", "meta.json", b"[1, 2]\n", "meta.json: not a JSON object"),
            ("binmeta", "meta.json", b"\xff{}", "meta.json: not UTF-8 text at byte 0"),
            ("records", "iterations.jsonl", b"\xff\xfe\x00garbage\n", "iterations.jsonl: not UTF-8 text at byte 0")):
        run = tmp_path / name
        shutil.copytree(DATA / "series" / "killed_run", run, ignore=shutil.ignore_patterns("analysis.json"))
        (run / fname).write_bytes(content)
        code, _, err = memprof("analyze", run)
        assert code == ExitCode.BAD_INPUT, err
        assert message in one_error_line(err)


def test_a_non_numeric_iteration_boundary_is_bad_input(tmp_path):
    import json
    import shutil

    run = tmp_path / "run"
    (run / "capture").mkdir(parents=True)
    shutil.copy(DATA / "heaptrack" / "planted.zst", run / "capture" / "heaptrack.planted.zst")
    recs = [json.loads(ln) for ln in (DATA / "heaptrack" / "planted.iterations.jsonl").read_text().splitlines()]
    recs[1]["t_end"] = "x"
    (run / "iterations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    code, _, err = memprof("analyze", run)
    assert code == ExitCode.BAD_INPUT, err
    assert "iterations.jsonl: iteration, t_end and wall_end must be numbers" in one_error_line(err)


def test_a_non_numeric_or_infinite_record_field_is_bad_series_not_a_crash_in_the_statistics(tmp_path):
    import json

    recs = [json.loads(ln) for ln in (DATA / "series" / "demo_twins_reload_50.jsonl").read_text().splitlines()]
    for field, value, message in (("heap_in_use", "x", "non-numeric heap_in_use 'x' in record 4"),
                                  ("gc_collections", "a", "non-numeric gc_collections 'a' in record 4"),
                                  ("load_s", "x", "non-numeric load_s 'x' in record 4"),
                                  ("rss_anon", "1e400", "infinite rss_anon in record 4")):
        lines = []
        for n, r in enumerate(recs, 1):
            r = dict(r)
            if n == 4:
                r[field] = "@@"
            lines.append(json.dumps(r).replace('"@@"', value if value == "1e400" else json.dumps(value)))
        series = tmp_path / f"{field}.jsonl"
        series.write_text("\n".join(lines) + "\n")
        code, _, err = memprof("analyze", series)
        assert code == ExitCode.BAD_INPUT, err
        assert message in one_error_line(err)


def test_two_runs_appended_into_one_series_are_refused(tmp_path):
    one = (DATA / "series" / "demo_twins_reload_gc_30.jsonl").read_text()
    twice = tmp_path / "twice.jsonl"
    twice.write_text(one + one)
    code, _, err = memprof("analyze", twice)
    assert code == ExitCode.BAD_INPUT, err
    assert "iteration 1 appears more than once (30 repeated record(s)" in one_error_line(err)


def test_a_second_run_into_the_same_out_is_refused_before_it_mixes_two_runs(tmp_path):
    import pytest

    from profiler import rundir
    from profiler.errors import UsageProblem

    first = rundir.new_run_dir(tmp_path / "run", "run")
    assert rundir.new_run_dir(first, "run") == first   # nothing recorded yet: reusable
    (first / rundir.ITERATIONS).write_text('{"iteration": 1, "t_start": 0, "t_end": 1}\n')
    with pytest.raises(UsageProblem, match="already holds a run"):
        rundir.new_run_dir(first, "run")
    code, _, err = memprof("run", "--quick", "--iterations", "2", "--out", first)
    assert code == ExitCode.USAGE
    assert "already holds a run" in one_error_line(err)
    assert (first / rundir.ITERATIONS).read_text().count("\n") == 1


def test_check_refuses_a_max_slope_that_no_slope_can_exceed():
    for value in ("nan", "inf"):
        code, _, err = memprof("check", DATA / "series" / "slow_leak.csv", "--max-slope", value)
        assert code == ExitCode.USAGE
        assert f"{value} is not a finite number" in one_error_line(err)


def test_a_valgrind_text_log_is_named_as_such_not_parsed_as_a_csv():
    code, _, err = memprof("analyze", DATA / "memcheck" / "planted_all.log")
    assert code == ExitCode.BAD_INPUT
    assert "planted_all.log: a Valgrind text log, not a capture" in one_error_line(err)


def test_max_tokens_that_cannot_fit_the_context_is_refused_before_the_loop_starts(tmp_path):
    code, _, err = memprof("run", "--quick", "--iterations", "1", "--n-ctx", "16", "--max-tokens", "64",
                           "--out", tmp_path / "run")
    assert code == ExitCode.USAGE
    assert "--max-tokens 64 does not fit in --n-ctx 16" in one_error_line(err)
    assert not (tmp_path / "run").exists()



def test_empty_prompt_is_a_usage_error_not_the_default_prompt():
    code, _, err = memprof("run", "--quick", "--prompt", " ")
    assert code == ExitCode.USAGE
    assert one_error_line(err) == ("memprof: error: --prompt is empty: give the text to generate from "
                                   "(or leave the option out)")


def test_failed_json_save_leaves_no_temp_file(tmp_path):
    import pytest

    from profiler import rundir

    target = tmp_path / "analysis.json"
    target.mkdir()  # os.replace onto a directory fails after the temp file was written
    with pytest.raises(OSError):
        rundir.write_json(target, {"a": 1})
    assert not (tmp_path / "analysis.json.tmp").exists()
