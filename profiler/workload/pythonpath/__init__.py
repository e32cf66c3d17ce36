"""The directory memprof puts first on a profiled Python program's PYTHONPATH (`-- CMD` runs), so
`import memprof_marks` works in any interpreter the user runs, without memprof installed there.
Only stdlib-only modules belong here: the program's interpreter may not be memprof's."""

from pathlib import Path

DIR = str(Path(__file__).resolve().parent)
