"""The analysis pipeline: whatever the user points at, produce one result dict.

A path is a run directory (iteration records plus the raw captures a backend
left in capture/), a bare capture made elsewhere (recognised by content), or a
plain memory series (CSV/JSONL). Each is read by its parser, triaged, analysed,
and joined into the result that `analyze --json`, the report and `check`
consume. With save=True the result is written back into the run directory
(analysis.json, sites.csv) so the report stage can be rerun alone.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from profiler import jsonout, rundir
from profiler.errors import BadCapture, BadInput, BadSeries
from profiler.sniff import looks_binary as _looks_binary

PRIVATE_KEYS = ("_captures",)
TOP_SITES_IN_JSON = 200
STACK_FRAMES_IN_JSON = 24   # innermost frames kept per site in the JSON (sites.csv keeps whole stacks)


def analyze(path: str | Path, *, rules: list[Path] | tuple = (), block: int = 10, save: bool = True) -> dict:
    from profiler import parsers

    path = Path(path)
    if not path.exists():
        raise BadInput(f"{path}: no such file or directory")
    if path.is_dir():
        from profiler import scaled

        if scaled.is_scaled(path):      # --scale A,B: two runs and the differential verdict
            return scaled.analyze(path, rules=rules, block=block, save=save)
        if not rundir.is_run_dir(path):
            raise BadInput(f"{path}: not a memprof run directory (no meta.json or iterations.jsonl)")
        return _analyze_run(path, rules=rules, block=block, save=save)
    if parsers.detect(path):
        return _analyze_sources(
            {"kind": "capture", "path": str(path)}, {}, None, [path], rules=rules, block=block
        )
    head = parsers.read_head(path)
    _refuse_known_non_captures(path, head)
    if re.match(rb"\s*==\d+== ", head):
        raise BadCapture(f"{path}: a Valgrind text log, not a capture: memprof reads memcheck's XML "
                         "(valgrind --xml=yes --xml-file=FILE) and massif.out files")
    if _looks_binary(head):
        raise BadCapture(f"{path}: neither a capture memprof knows (massif.out, memcheck XML, heaptrack "
                         ".zst/.gz, memray .bin) nor a CSV/JSONL memory series")
    return _analyze_sources({"kind": "series", "path": str(path)}, {}, path, [], rules=rules, block=block)


def _analyze_run(run_dir: Path, *, rules, block: int, save: bool) -> dict:
    meta = rundir.read_meta(run_dir)
    # every file a backend left is parsed (a log is not a capture); an unreadable one is an error,
    # never silently dropped
    captures = [p for p in rundir.find_captures(run_dir) if p.suffix != ".log"]
    series_path = run_dir if (run_dir / rundir.ITERATIONS).exists() else None
    result = _analyze_sources(
        {"kind": "run", "path": str(run_dir)}, meta, series_path, captures, rules=rules, block=block
    )
    if save:
        try:
            save_result(run_dir, result)
        except OSError as exc:
            # analysis.json and sites.csv are a recomputable cache: a read-only run still gets analysed
            import sys

            print(f"memprof: warning: could not save the analysis into {run_dir}: {exc.strerror or exc}",
                  file=sys.stderr)
    return result


class WrongProcess(BadCapture):
    """The capture is of a launcher (a shell running a shim or wrapper), not of the program."""


def _refuse_wrong_process(cap) -> None:
    """heaptrack records its traced process's command line (`X`): a shell there means the run
    traced a `#!` wrapper, whose allocations say nothing about the program it started."""
    import os

    from profiler.workload.interpreter import SHELLS

    if cap.format != "heaptrack":
        return
    words = str((cap.meta or {}).get("command") or "").split()
    if words and os.path.basename(words[0]) in SHELLS:
        shown = " ".join(words[:3]) + (" ..." if len(words) > 3 else "")
        raise WrongProcess(f"{cap.path}: heaptrack traced the shell `{words[0]}` (command line `{shown}`), not the "
                           "program it starts: no verdict from this capture; profile the program itself "
                           "(memprof heaptrack -- /path/to/python PROGRAM ..., or `CMD -c 'import sys; "
                           "print(sys.executable)'` names the interpreter a Python shim runs)")


_COMPRESSED = ((b"BZh", "bzip2", "bunzip2 -k"), (b"\x1f\x8b", "gzip", "gunzip -k"),
               (b"\x28\xb5\x2f\xfd", "zstd", "unzstd"), (b"\xfd7zXZ\x00", "xz", "unxz -k"))


def _refuse_known_non_captures(path: Path, head: bytes) -> None:
    """A specific line for files users give by mistake: ms_print's report of a massif file, and
    compressed data in which no capture was recognised."""
    from profiler.parsers import massif

    if massif.looks_like_ms_print(head):
        raise BadCapture(f"{path}: this is ms_print output, give the massif.out file "
                         "(the file ms_print read) instead")
    for magic, name, tool in _COMPRESSED:
        if head.startswith(magic) and not (name == "bzip2" and head[3:4] not in b"123456789"):
            raise BadCapture(f"{path}: {name}-compressed data in which memprof recognises no capture; "
                             f"decompress it (`{tool} {path.name}`) and give memprof the result")


def _run_records(run_dir: Path):
    import pandas as pd

    recs = list(rundir.iter_records(run_dir / rundir.ITERATIONS, allow_torn_tail=True))
    return pd.DataFrame(recs) if recs else None


def _boundaries(df, src="iterations.jsonl") -> list[tuple[int, float, float]] | None:
    if df is None or "t_end" not in df.columns:
        return None
    rows = df.dropna(subset=["t_end"])
    wall = rows["wall_end"] if "wall_end" in rows.columns else [float("nan")] * len(rows)
    out = []
    for i, t, w in zip(rows["iteration"], rows["t_end"], wall):
        try:
            out.append((int(i), float(t), float(w if w is not None else "nan")))
        except (TypeError, ValueError):
            raise BadSeries(f"{src}: iteration, t_end and wall_end must be numbers "
                            f"(got {i!r}, {t!r}, {w!r})") from None
    return out


def _analyze_sources(source: dict, meta: dict, series_path: Path | None, capture_paths: list[Path],
                     *, rules, block: int) -> dict:
    from profiler import analysis, parsers, triage

    df = series = None
    if source["kind"] == "series":
        df = analysis.load_series(series_path)
    elif series_path is not None:
        df = _run_records(series_path)
        if df is not None and "rss" in df.columns and df["rss"].notna().any():
            df = analysis.load_series(series_path)  # validated: iteration markers of a foreign workload have no rss
    if df is not None and "rss" in df.columns and df["rss"].notna().any():
        series = analysis.analyze_series(df, block=block)
    if series is None and not capture_paths:
        raise BadInput(f"{source['path']}: nothing to analyse (no iteration records with rss, no capture)")

    rule_set = triage.load_rules([Path(r) for r in rules])
    boundaries = _boundaries(df, series_path / rundir.ITERATIONS if series_path and series_path.is_dir()
                             else series_path)
    captures, failures = [], []
    for p in capture_paths:
        try:
            cap = parsers.load_capture(p, boundaries=boundaries)
            _refuse_wrong_process(cap)
            captures.append(triage.triage_capture(cap, rule_set, iterations=len(boundaries) if boundaries else None))
        except WrongProcess:
            raise      # no verdict at all: the records may be right, the capture is of another process
        except BadCapture as exc:
            if source["kind"] != "run":
                raise
            failures.append(exc)
    if failures and series is None and not captures:
        raise failures[0]
    # a run whose capture is unreadable (the program died before the tool flushed) keeps its records
    warnings = [exc.one_line() for exc in failures]
    # a capture cut off while written is analysed up to the cut; the result says where that is
    truncated = [{"path": c.path, **c.meta["truncated"]} for c in captures if (c.meta or {}).get("truncated")]
    warnings += [f"{t['path']}: {t['summary']}" for t in truncated]
    result = analysis.result_from_series(series, source, meta)
    if truncated:
        result["truncated"] = truncated
    if warnings:
        result["warnings"] = warnings
    result["captures"] = [capture_to_dict(c) for c in captures]
    verdict = triage.run_verdict(result["series"], captures)   # the series as JSON until triage reads SeriesAnalysis
    result["triage"] = verdict
    if series is None or captures:
        # capture evidence (call stacks over time) outranks an RSS series on its own
        result["verdict"] = verdict.get("verdict", result.get("verdict"))
        result["evidence_basis"] = verdict.get("evidence_basis", result.get("evidence_basis"))
    if captures:
        result["totals"] = result["captures"][0]["totals"]
        result["sites"] = result["captures"][0]["sites"]
    result["_captures"] = captures
    return result


def _kept_sites(sites, cap: int):
    """The sites written to the JSON: all of them up to `cap`; beyond it the `cap` largest by live
    bytes at the end AND the `cap` largest at the peak, so a cap for size never drops the sites that
    hold the end or the peak (a transient pool can hold most of the peak and nothing at the end).
    Returns (rows sorted by live bytes at the end, capped?)."""
    by_end = sites.sort_values(["live_bytes_end", "site_id"], ascending=[False, True], na_position="last")
    if len(sites) <= cap:
        return by_end, False
    keep = set(by_end.head(cap).index)
    if sites["peak_bytes"].notna().any():
        by_peak = sites.sort_values(["peak_bytes", "site_id"], ascending=[False, True], na_position="last")
        keep |= set(by_peak.head(cap).index)
    return by_end[by_end.index.isin(keep)], True


def capture_to_dict(capture) -> dict[str, Any]:
    import math

    sites, capped = _kept_sites(capture.sites, TOP_SITES_IN_JSON)
    rows = []
    for rec in sites.to_dict("records"):
        stack = rec.pop("stack", ()) or ()
        rec["stack"] = [f.label() if hasattr(f, "label") else str(f) for f in stack[:STACK_FRAMES_IN_JSON]]
        rec["stack_depth"] = len(stack)
        rows.append({k: (None if isinstance(v, float) and math.isnan(v) else _plain(v)) for k, v in rec.items()})
    return {
        "format": capture.format,
        "path": capture.path,
        "totals": {k: _plain(v) for k, v in capture.totals.items()},
        "meta": {k: _plain(v) for k, v in (capture.meta or {}).items()},
        "n_sites": int(len(capture.sites)),
        "sites": rows,
        "sites_capped": capped,
        "sites_note": (f"{len(rows)} of {len(capture.sites)} sites: the {TOP_SITES_IN_JSON} largest by live bytes "
                       f"at the end and the {TOP_SITES_IN_JSON} largest at the peak (sites.csv has all)"
                       if capped else None),
    }


_plain = jsonout.plain


def public(result: dict) -> dict:
    """What analysis.json, `analyze --json` and report.json hold: the result without its in-memory
    parts, tagged with its schema (profiler/schema/analysis.schema.json)."""
    return jsonout.tagged({k: v for k, v in result.items() if k not in PRIVATE_KEYS}, "analysis")


def save_result(run_dir: Path, result: dict) -> None:
    rundir.write_json(run_dir / rundir.ANALYSIS, public(result))
    caps = result.get("_captures") or []
    if caps:
        import pandas as pd

        frames = []
        for c in caps:
            s = c.sites.copy()
            s["stack"] = [" <- ".join(f.label() for f in (st or ())) for st in s["stack"]]
            s.insert(0, "capture", Path(c.path).name)
            frames.append(s)
        pd.concat(frames).to_csv(run_dir / rundir.SITES, index=False)
