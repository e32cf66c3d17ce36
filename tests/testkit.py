"""Helpers the unit tests share: the CLI run in-process as a user sees it, and iteration boundaries
read from the marker files committed beside each capture."""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import NamedTuple

DATA = Path(__file__).parent / "data"


class Done(NamedTuple):
    returncode: int
    stdout: str
    stderr: str


def memprof(*args) -> Done:
    """The CLI's own entry point in this process: exit code, stdout and stderr as a user sees them."""
    from profiler.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return Done(code, out.getvalue(), err.getvalue())


def boundaries(path: Path) -> list[tuple[int, float, float]]:
    """(iteration, t_end, wall_end) per record of an iterations.jsonl, as the pipeline passes them."""
    recs = [json.loads(x) for x in Path(path).read_text().splitlines() if x.strip()]
    return [(r["iteration"], r["t_end"], r["wall_end"]) for r in recs]
