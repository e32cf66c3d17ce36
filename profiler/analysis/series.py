"""Load a per-iteration memory series from a run directory, a bare JSONL file or a CSV file.

The kind of input is recognised by content, never by file name: a directory is a
run directory (its iterations.jsonl is read leniently, because a killed run may
leave half a line at the end), a file whose first non-blank byte is `{` is JSON
lines (read strictly: a torn line in a file someone hands us is an error, with
its line number), anything else that decodes as text is CSV. Every problem is
one `BadSeries` line, because a traceback tells a user nothing about their file.

Records (or CSV rows) with a `probe` field are the end-of-loop collection probe
(workload/child.py), not iterations: they are taken out of the frame and kept,
as plain dicts, in `df.attrs["probes"]`; every statistic sees iterations only.
"""
from __future__ import annotations

from pathlib import Path

from profiler.errors import BadSeries
from profiler.rundir import ITERATIONS, iter_records

REQUIRED = ("iteration", "rss")
# the iteration record's numeric fields (the shared contract): a value that is not a finite number
# would otherwise reach the statistics and fail there, far from the record that caused it
NUMERIC_FIELDS = ("t_start", "t_end", "wall_start", "wall_end", "load_s", "ttft_s", "gen_s", "unload_s",
                  "n_tokens", "tokens_per_s", "token_error_rate", "uss", "pss", "rss_anon", "rss_file", "swap",
                  "heap_in_use", "heap_free_retained", "heap_mmap", "threads", "gc_collections", "gc_collected")
MIN_PLAUSIBLE_RSS = 64 * 1024   # bytes; a series whose largest rss is below this is in kB or MB
from profiler.sniff import looks_binary as _looks_binary  # noqa: E402  (shared with the pipeline)


def _records_from_jsonl(path: Path, *, lenient: bool) -> list[dict]:
    try:
        return list(iter_records(path, allow_torn_tail=lenient, probes=True))
    except UnicodeDecodeError as exc:
        raise BadSeries(f"{path}: not UTF-8 text at byte {exc.start}") from None


def _frame_from_csv(path: Path):
    import pandas as pd

    try:
        df = pd.read_csv(path, encoding="utf-8-sig", skipinitialspace=True)   # a spreadsheet's BOM, "a, b"
        df.columns = [str(c).strip() for c in df.columns]
        return df
    except pd.errors.EmptyDataError:
        raise BadSeries(f"{path}: empty series (no rows)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BadSeries(f"{path}: not a readable CSV series ({first})") from None


def _numeric(raw, col: str, src):
    """`raw` as numbers; a value that is there but is not a number is an error naming its record."""
    import pandas as pd

    num = pd.to_numeric(raw, errors="coerce")
    bad = num.isna() & raw.notna()
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        raise BadSeries(f"{src}: non-numeric {col} {str(raw.iloc[i])[:40]!r} in record {i + 1}")
    return num


def _read(path: Path):
    """A DataFrame of whatever the source holds, before validation."""
    import pandas as pd

    if path.is_dir():
        jsonl = path / ITERATIONS
        if not jsonl.exists():
            raise BadSeries(f"{path}: run directory has no {ITERATIONS}")
        return pd.DataFrame(_records_from_jsonl(jsonl, lenient=True)), jsonl
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError as exc:
        raise BadSeries(f"{path}: cannot read ({exc.strerror})") from None
    if not head.strip():
        raise BadSeries(f"{path}: empty series (no rows)")
    if _looks_binary(head):
        raise BadSeries(f"{path}: binary file, not a series (expected iterations.jsonl or CSV)")
    if head.lstrip().startswith(b"{"):
        try:
            return pd.DataFrame(_records_from_jsonl(path, lenient=False)), path
        except UnicodeDecodeError:
            raise BadSeries(f"{path}: binary file, not a series (expected iterations.jsonl or CSV)") from None
    return _frame_from_csv(path), path


def load_series(path) -> "pandas.DataFrame":  # noqa: F821
    """The iteration series at `path` as a DataFrame sorted by iteration.

    Required columns: `iteration` and `rss` (bytes). Every other field of the
    iteration records (model, rss_anon, heap_in_use, load_s, ...) is kept.
    Rows whose rss is missing (external workloads may omit it) are dropped;
    rss that is present but not a number is an error.
    """
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise BadSeries(f"{path}: no such file or directory")
    df, src = _read(path)
    df, probes = _split_probes(df)
    if df.empty:
        raise BadSeries(f"{src}: empty series (no iteration records)")
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise BadSeries(f"{src}: series lacks column(s) {', '.join(missing)} "
                        f"(has: {', '.join(map(str, df.columns[:12]))})")
    for col in REQUIRED:
        df[col] = _numeric(df[col], col, src)
    df = df[df["rss"].notna() & df["iteration"].notna()].copy()
    if df.empty:
        raise BadSeries(f"{src}: empty series (no record has both iteration and rss)")
    for col in (*REQUIRED, *(c for c in NUMERIC_FIELDS if c in df.columns)):
        if col not in REQUIRED:
            df[col] = _numeric(df[col], col, src)
        inf = df[col].abs() == float("inf")
        if inf.any():
            i = int(inf.to_numpy().nonzero()[0][0])
            raise BadSeries(f"{src}: infinite {col} in record {i + 1} (a number too large or 'inf')")
    if (df["rss"] < 0).any():
        raise BadSeries(f"{src}: negative rss value")
    if df["rss"].max() < MIN_PLAUSIBLE_RSS:
        raise BadSeries(f"{src}: rss must be in bytes, but the largest value is {df['rss'].max():g} "
                        f"(no process is smaller than {MIN_PLAUSIBLE_RSS // 1024} KiB: kB or MB given?)")
    df = df.sort_values("iteration", kind="stable").reset_index(drop=True)
    df["iteration"] = df["iteration"].astype("int64")
    dup = df["iteration"].duplicated()
    if dup.any():
        # one value per iteration is what every statistic assumes; two runs appended into one file is the usual cause
        raise BadSeries(f"{src}: iteration {int(df['iteration'][dup].iloc[0])} appears more than once "
                        f"({int(dup.sum())} repeated record(s): two runs in one file, or fractional iteration numbers?)")
    for col in df.columns:
        if col not in ("model", "model_path", "strategy", "output_digest", "status") and df[col].dtype == object:
            conv = pd.to_numeric(df[col], errors="coerce")
            if conv.notna().sum() == df[col].notna().sum():
                df[col] = conv
    df.attrs["probes"] = probes
    return df


def _split_probes(df):
    """(the iteration rows, the probe records as dicts with numeric fields as floats)."""
    import pandas as pd

    if "probe" not in df.columns:
        return df, []
    flag = df["probe"].notna() & (df["probe"].astype(str).str.strip() != "")
    rows = df[flag]
    probes = []
    for rec in rows.to_dict("records"):
        out = {}
        for k, v in rec.items():
            if v is None or (isinstance(v, float) and v != v):
                continue
            if k in NUMERIC_FIELDS or k in ("rss", "after_iteration", "gc_full_collections", "probe_collected"):
                v = pd.to_numeric(v, errors="coerce")
                if v != v:
                    continue
                v = float(v)
            out[k] = v
        if "rss" in out:
            probes.append(out)
    rest = df[~flag].drop(columns=["probe"]).reset_index(drop=True)
    for col in ("after_iteration", "t_probe", "wall_probe", "probe_collected", "probe_released"):
        if col in rest.columns and rest[col].isna().all():
            rest = rest.drop(columns=[col])
    return rest, probes
