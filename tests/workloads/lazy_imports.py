"""A Python program that does not leak but imports lazily: each of its first iterations imports
another standard-library module (C extensions among them: dlopen, type objects, interned strings),
then every iteration builds and drops the same working data. `--leak` also keeps 64 KiB per iteration
(a real leak); `--marks` writes iteration records through memprof_marks.

    python lazy_imports.py N [--marks] [--leak]
"""
import importlib
import sys
import time

LAZY = ["decimal", "sqlite3", "xml.etree.ElementTree", "csv", "unicodedata", "email.parser", "lzma",
        "http.client", "difflib", "statistics"]


def work(i):
    data = {f"key{k}": [k] * 8 for k in range(2000)}
    text = repr(sorted(data.items())[:200])
    return len(text)


def main(argv):
    n = int(argv[1])
    marks = "--marks" in argv
    leak = "--leak" in argv
    if marks:
        import memprof_marks
    kept = []
    for i in range(1, n + 1):
        t0 = time.monotonic()
        if i <= len(LAZY):
            importlib.import_module(LAZY[i - 1])
        work(i)
        if leak:
            kept.append(bytes(65536) + str(i).encode())
        time.sleep(max(0.0, 0.05 - (time.monotonic() - t0)))
        if marks:
            memprof_marks.end_iteration()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
