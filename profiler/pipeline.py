"""The analysis pipeline: whatever the user points at, produce one AnalysisResult.

A path is a run directory (iteration records plus the raw captures a backend
left in capture/), a bare capture made elsewhere (recognised by content), or a
plain memory series (CSV/JSONL). Each is read by its parser, triaged, analysed,
and joined into the result that `analyze --json`, the report and `check`
consume. With save=True the result is written back into the run directory
(analysis.json, sites.csv) so the report stage can be rerun alone.
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from profiler import jsonout, rundir
from profiler.results.analysis import SCHEMA, AnalysisResult, RunCut, Source, Truncation
from profiler.results.codec import Record
from profiler.results.series import SeriesAnalysis
from profiler.results.sites import CaptureResult, SiteVerdict
from profiler.errors import BadCapture, BadInput, BadSeries
from profiler.sniff import looks_binary as _looks_binary

TOP_SITES_IN_JSON = 200
STACK_FRAMES_IN_JSON = 24   # innermost frames kept per site in the JSON (sites.csv keeps whole stacks)


def analyze(path: str | Path, *, rules: list[Path] | tuple = (), block: int = 10, save: bool = True) -> AnalysisResult:
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


def _analyze_run(run_dir: Path, *, rules, block: int, save: bool) -> AnalysisResult:
    meta = rundir.read_meta(run_dir)
    # every file a backend left is parsed (a log is not a capture); an unreadable one is an error,
    # never silently dropped
    captures = [p for p in rundir.find_captures(run_dir) if p.suffix != ".log"
                and not p.name.endswith(rundir.PROBE_STATE_SUFFIX)]   # a capture's probe state: read with it
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


def _records_count(df, series_path) -> int | None:
    """Iterations a run's records hold: 0 when the records file is there and holds none (the run
    stopped inside its first iteration), None without a records file."""
    if series_path is None or not (Path(series_path) / rundir.ITERATIONS).is_file():
        return None
    if df is None or "iteration" not in df.columns:
        return 0
    return int(df["iteration"].dropna().nunique())


def torn_tail(records: Path) -> bool:
    """Whether the records file ends in a partial line (the writer was killed mid-record): the
    readers skip it; the result says so."""
    import json

    try:
        with open(records, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(size - 65536, 0))
            tail = fh.read()
    except OSError:
        return False
    last = next((ln for ln in reversed(tail.splitlines()) if ln.strip()), b"")
    if not last:
        return False
    try:
        return not isinstance(json.loads(last), dict)
    except ValueError:
        return True


def _torn_warning(df, records: Path) -> str:
    last = None
    if df is not None and "iteration" in df.columns and df["iteration"].notna().any():
        last = int(df["iteration"].dropna().max())
    where = f"after iteration {last}" if last is not None else "before any complete iteration"
    return (f"{records} ends in a partial record {where} (the run stopped while writing it); "
            "the analysis covers the complete records")


def _run_dir_iterations(path) -> int | None:
    """A capture inside a run directory (RUN_DIR/capture/FILE) given alone: the run's iteration
    records count its iterations. Memcheck has no clock, so this is the only way its block counts
    learn the iteration count."""
    p = Path(path)
    records = p.parent.parent / rundir.ITERATIONS
    if p.parent.name != rundir.CAPTURE_DIR or not records.is_file():
        return None
    try:
        its = {r.get("iteration") for r in rundir.iter_records(records, allow_torn_tail=True)}
    except (OSError, BadSeries, TypeError, ValueError, AttributeError):
        return None
    its.discard(None)
    return len(its) or None


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
                     *, rules, block: int) -> AnalysisResult:
    from profiler import analysis, parsers, triage

    df = series = None
    if source["kind"] == "series":
        df = analysis.load_series(series_path)
    elif series_path is not None:
        df = _run_records(series_path)
        if df is not None and "rss" in df.columns and df["rss"].notna().any():
            df = analysis.load_series(series_path)  # validated: iteration markers of a foreign workload have no rss
    if df is not None and "rss" in df.columns and df["rss"].notna().any():
        series = SeriesAnalysis.from_json(analysis.analyze_series(df, block=block))
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
            n_iter = len(boundaries) if boundaries else (_records_count(df, series_path) if source["kind"] == "run"
                                                         else _run_dir_iterations(p))
            captures.append(triage.triage_capture(cap, rule_set, iterations=n_iter))
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
    records = series_path / rundir.ITERATIONS if series_path is not None and series_path.is_dir() else None
    if records is not None and records.is_file() and torn_tail(records):
        warnings.insert(0, _torn_warning(df, records))
    # a capture cut off while written is analysed up to the cut; the result says where that is
    truncated = [Truncation(path=c.path, reason=c.truncated.reason, details=dict(c.truncated.details),
                            summary=c.truncated.summary) for c in captures if c.truncated is not None]
    warnings += [f"{t.path}: {t.summary}" for t in truncated]
    # whether the Valgrind hooks took the tool's state after the collection probe (meta.json), and why not
    probe_state = ((meta or {}).get("backend") or {}).get("probe_state")
    verdict = triage.run_verdict(series, captures, probe_state=probe_state)
    run_verdict = series.verdict if series else "inconclusive"
    basis = series.evidence_basis if series else None
    if series is None or captures:
        # capture evidence (call stacks over time) outranks an RSS series on its own
        run_verdict, basis = verdict.verdict, verdict.evidence_basis
    results = tuple(capture_result(c) for c in captures)
    return AnalysisResult(
        source=Source.from_json(source),
        meta=dict(meta or {}),
        series=series,
        captures=results,
        verdict=run_verdict,
        evidence_basis=basis,
        cut=RunCut.from_json(meta["cut"]) if isinstance((meta or {}).get("cut"), dict) else None,
        # the series' headline figures, copied to the top (analyze --json users read them there)
        slope_mb_per_iter=series.slope_mb_per_iter if series else None,
        slope_ci_mb=series.slope_ci_mb if series else None,
        phases=series.phases if series else None,
        blocks=series.blocks if series else None,
        per_model=series.per_model if series else None,
        recommendation=_budget(series, run_verdict, basis) if series else None,
        truncated=tuple(truncated) or None,
        warnings=tuple(warnings) or None,
        triage=verdict,
        totals=results[0].totals if results else None,
        sites=results[0].sites if results else None,
        parsed=tuple(captures),
    )


def _budget(series: SeriesAnalysis, verdict: str, basis: str | None):
    """The series' memory budget, said in the run verdict's terms. The series words its budget after
    its own verdict; when the captures decided another one (a site timeline over a short RSS
    series), "not enough evidence" beside VERDICT: PLATEAU contradicts it: the figures stay the
    series', the sentence says whose verdict is whose and how firm the budget is."""
    from dataclasses import replace

    rec = series.recommendation
    if rec is None or verdict == series.verdict:
        return rec
    head, _, loaded = rec.sentence.partition(" The budget covers the loaded peak:")
    ram = f"{rec.ram_mb / 1024:g} GB" if rec.ram_mb >= 1024 else f"{rec.ram_mb:g} MB"
    figures = f"at most {rec.max_expected_mb:g} MB, alert above {rec.alert_mb:g} MB, {ram} of RAM"
    unit = "samples" if series.time_based is not None else "iterations"
    if verdict == "leak":
        sentence = (f"The verdict is leak ({basis or 'capture evidence'}), though the RSS series alone is "
                    f"{series.verdict}: its budget ({figures}) holds only until the leaking sites' growth shows "
                    "in RSS; find the leak.")
    elif series.verdict == "inconclusive":
        sentence = (f"The verdict is {verdict} ({basis or 'capture evidence'}); the RSS series alone is too short "
                    f"to say so itself, so the budget is provisional: {figures}. Run more {unit} to firm it up.")
    else:
        sentence = (f"The verdict is {verdict} ({basis or 'capture evidence'}), though the RSS series alone "
                    f"says {series.verdict}; its budget: {figures}.")
    if loaded:
        sentence += " The budget covers the loaded peak:" + loaded
    return replace(rec, sentence=sentence)


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


def capture_result(capture) -> CaptureResult:
    """A triaged capture as the JSON holds it: totals, meta and its largest sites (`_kept_sites`)."""
    import math

    sites, capped = _kept_sites(capture.sites, TOP_SITES_IN_JSON)
    rows = []
    for rec in sites.to_dict("records"):
        stack = rec.pop("stack", ()) or ()
        rec = {k: (None if isinstance(v, float) and math.isnan(v) else _plain(v)) for k, v in rec.items()}
        rec["stack"] = tuple(f.label() if hasattr(f, "label") else str(f) for f in stack[:STACK_FRAMES_IN_JSON])
        rec["stack_depth"] = len(stack)
        rows.append(_site_verdict(rec))
    return CaptureResult(
        format=capture.format,
        path=capture.path,
        totals={k: _plain(v) for k, v in capture.totals.items()},
        # JSON data, as a saved analysis.json gives it back (the typed notes, triage and truncated, too)
        meta={k: (v.to_json() if isinstance(v, Record) else _plain(v)) for k, v in (capture.meta or {}).items()},
        n_sites=int(len(capture.sites)),
        sites=tuple(rows),
        sites_capped=capped,
        sites_note=(f"{len(rows)} of {len(capture.sites)} sites: the {TOP_SITES_IN_JSON} largest by live bytes "
                    f"at the end and the {TOP_SITES_IN_JSON} largest at the peak (sites.csv has all)"
                    if capped else None),
    )


_SITE_FIELDS = {f.name for f in dataclasses.fields(SiteVerdict)} - {"more"}


def _site_verdict(rec: dict) -> SiteVerdict:
    """One sites row as a SiteVerdict; columns beyond the common table's stay under their names."""
    return SiteVerdict(**{k: v for k, v in rec.items() if k in _SITE_FIELDS},
                       more={k: v for k, v in rec.items() if k not in _SITE_FIELDS})


_plain = jsonout.plain


def public(result: AnalysisResult) -> dict:
    """What analysis.json, `analyze --json` and report.json hold: the result's JSON (without its
    in-memory parts), tagged with its schema (profiler/schema/analysis.schema.json)."""
    return jsonout.tagged(result.to_json(), "analysis")


def save_result(run_dir: Path, result: AnalysisResult) -> None:
    rundir.write_json(run_dir / rundir.ANALYSIS, public(result))
    caps = result.parsed
    if caps:
        import pandas as pd

        frames = []
        for c in caps:
            s = c.sites.copy()
            s["stack"] = [" <- ".join(f.label() for f in (st or ())) for st in s["stack"]]
            s.insert(0, "capture", Path(c.path).name)
            frames.append(s)
        pd.concat(frames).to_csv(run_dir / rundir.SITES, index=False)


def is_saved_analysis(path: Path) -> bool:
    """A file holding a saved analysis (analysis.json, report.json, `analyze --json` output)."""
    import json

    path = Path(path)
    if not path.is_file() or path.suffix != ".json":
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(256)
        return b'"schema"' in head and json.loads(path.read_text(encoding="utf-8")).get("schema") == SCHEMA
    except (OSError, ValueError, AttributeError):
        return False


def load_saved(path: Path) -> AnalysisResult:
    """A saved analysis as the AnalysisResult it was (its in-memory captures excepted)."""
    import json

    try:
        return AnalysisResult.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as exc:
        raise BadInput(f"{path}: not a readable memprof analysis ({exc})") from None


def saved_result(path: Path, *, rules=(), block: int = 10) -> AnalysisResult | None:
    """The analysis saved for PATH when it can stand for a new one: PATH is a saved analysis itself,
    or a run directory whose analysis.json is newer than its meta, records and captures, made by
    this schema with the same block size and without extra rules. Else None (analyse again)."""
    path = Path(path)
    if is_saved_analysis(path):
        return load_saved(path)
    if rules or not path.is_dir() or not rundir.is_run_dir(path):
        return None
    from profiler import scaled

    saved = path / rundir.ANALYSIS
    if scaled.is_scaled(path) or not is_saved_analysis(saved):
        return None
    made = saved.stat().st_mtime
    inputs = [path / rundir.META, path / rundir.ITERATIONS, *rundir.find_captures(path)]
    if any(p.exists() and p.stat().st_mtime > made for p in inputs):
        return None
    try:
        result = load_saved(saved)
    except BadInput:
        return None          # written by another memprof (older keys): analysed again, and saved anew
    if result.series is not None and result.series.block_size != block:
        return None
    return result
