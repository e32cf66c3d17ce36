"""load_series: run directories, bare JSONL and CSV by content; every bad input is one BadSeries line."""
import json
from pathlib import Path

import pytest

from profiler.analysis import load_series
from profiler.errors import BadSeries

DATA = Path(__file__).resolve().parent.parent / "data" / "series"
MB = 1 << 20


def test_csv_series_loads_sorted_with_model():
    df = load_series(DATA / "plateau_noise.csv")
    assert len(df) == 60
    assert list(df["iteration"][:3]) == [1, 2, 3]
    assert set(df["model"]) == {"0.6b", "1.7b"}
    assert df["rss"].dtype.kind in "if"


def test_bare_jsonl_keeps_every_record_field():
    df = load_series(DATA / "seed_like.jsonl")
    assert len(df) == 50
    first = json.loads((DATA / "seed_like.jsonl").read_text().splitlines()[0])
    assert df.loc[0, "rss"] == first["rss"] == 738 * MB
    for col in ("model", "rss_anon", "rss_file", "heap_in_use", "heap_free_retained", "ttft_s", "token_error_rate"):
        assert col in df.columns


def test_killed_run_dir_skips_the_torn_last_line():
    run = DATA / "killed_run"
    lines = (run / "iterations.jsonl").read_text().splitlines()
    assert len(lines) == 13
    with pytest.raises(json.JSONDecodeError):
        json.loads(lines[-1])
    df = load_series(run)
    assert list(df["iteration"]) == list(range(1, 13))


def test_unsorted_csv_is_sorted(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("rss,iteration\n3000000,3\n1000000,1\n2000000,2\n")
    df = load_series(p)
    assert list(df["iteration"]) == [1, 2, 3]
    assert list(df["rss"]) == [1000000, 2000000, 3000000]


def test_rows_without_rss_are_dropped(tmp_path):
    # external workloads may write iteration markers with no rss in some records
    p = tmp_path / "s.jsonl"
    p.write_text('{"iteration": 1, "rss": 1000000}\n{"iteration": 2}\n{"iteration": 3, "rss": 3000000}\n')
    assert list(load_series(p)["iteration"]) == [1, 3]


def _one_line_error(path) -> str:
    with pytest.raises(BadSeries) as exc:
        load_series(path)
    msg = exc.value.one_line()
    assert "\n" not in str(exc.value)
    return msg


@pytest.mark.parametrize("name, expected", [
    ("empty.csv", "empty series"),
    ("header_only.csv", "empty series"),
    ("missing_rss.csv", "lacks column(s) rss"),
    ("nonnumeric.csv", "non-numeric rss 'lots' in record 2"),
    ("binary.zst", "binary file, not a series"),
    ("truncated.jsonl", "truncated.jsonl:3: truncated or corrupt JSON line"),
    ("no_such_file.csv", "no such file"),
])
def test_bad_inputs_are_one_clear_line(name, expected):
    assert expected in _one_line_error(DATA / name)


def test_run_dir_without_iterations(tmp_path):
    (tmp_path / "meta.json").write_text("{}")
    assert "has no iterations.jsonl" in _one_line_error(tmp_path)


def test_missing_iteration_column(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("step,rss\n1,100\n")
    assert "lacks column(s) iteration" in _one_line_error(p)


def test_jsonl_line_that_is_not_an_object(tmp_path):
    p = tmp_path / "s.jsonl"
    p.write_text('{"iteration": 1, "rss": 5}\n[1, 2]\n')
    assert "s.jsonl:2: not a JSON object" in _one_line_error(p)


def test_elf_binary_is_refused(tmp_path):
    p = tmp_path / "a.out"
    p.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(100))
    assert "binary file" in _one_line_error(p)


def test_csv_from_a_spreadsheet_with_bom_and_spaces(tmp_path):
    p = tmp_path / "s.csv"
    p.write_bytes("\ufeffiteration, rss, model\n1, 1000000, a\n2, 2000000, b\n".encode("utf-8"))
    df = load_series(p)
    assert list(df["rss"]) == [1000000, 2000000] and list(df["model"]) == ["a", "b"]


def test_rss_in_megabytes_is_refused(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("iteration,rss\n1,3900\n2,3950\n")
    assert "rss must be in bytes, but the largest value is 3950" in _one_line_error(p)
