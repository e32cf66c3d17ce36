"""Check a Valgrind suppression file by having Valgrind read it.

Writing suppressions for a memcheck run's records lives beside the memcheck XML reader
(profiler/parsers/memcheck_suppressions.py); running Valgrind on the result is a backend's job.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from profiler.errors import BadInput


def check_file(path: Path) -> None:
    """Have Valgrind itself read the file (`valgrind --suppressions=F true`); BadInput if it refuses."""
    valgrind = shutil.which("valgrind")
    if not valgrind:
        return
    true = shutil.which("true") or "/bin/true"
    proc = subprocess.run([valgrind, "--tool=memcheck", f"--suppressions={path}", true],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0 or "FATAL" in proc.stderr:
        why = next((ln for ln in proc.stderr.splitlines() if "FATAL" in ln or "location should be" in ln),
                   proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "rejected")
        raise BadInput(f"{path}: Valgrind rejects this suppression file ({why.strip('= 0123456789')})")
