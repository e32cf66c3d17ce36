"""Write what `memprof analyze` makes of every committed input (tests/data): the JSON, the
report's markdown and the console summary, one file each, into OUT_DIR; an input memprof
refuses gets its one-line error. Run it on two checkouts and diff the directories to see what a
change does to every result (the typed results were checked this way: no byte changed).

    PYTHONPATH=CHECKOUT python scripts/result_snapshot.py OUT_DIR
"""
from __future__ import annotations

import glob
import sys
from pathlib import Path

from profiler import jsonout, pipeline
from profiler.errors import MemprofError
from profiler.report import console, document, markdown

PATTERNS = ["heaptrack/*.zst", "heaptrack/*.gz", "massif/*.out", "massif/*.massif", "memcheck/*.xml",
            "memray/*.bin", "corpus/*", "series/*.csv", "series/*.jsonl", "series/killed_run", "triage/*",
            "valgrind/*"]


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    data = Path(__file__).resolve().parents[1] / "tests" / "data"
    for pattern in PATTERNS:
        for path in sorted(glob.glob(str(data / pattern))):
            name = Path(path).relative_to(data).as_posix().replace("/", "_")
            try:
                result = pipeline.analyze(path, save=False)
            except MemprofError as exc:
                (out / f"{name}.err").write_text(exc.one_line() + "\n")
                continue
            (out / f"{name}.json").write_text(jsonout.dumps(pipeline.public(result)) + "\n")
            (out / f"{name}.md").write_text(markdown.render(document.build(result, {})))
            (out / f"{name}.txt").write_text(console.summary(result) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
