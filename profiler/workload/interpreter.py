"""Resolve the program a profiler would really trace, before the run.

heaptrack and Valgrind trace the process they start and not its children (heaptrack aborts
on an exec with "child process tracking is not yet supported"; Valgrind runs without
--trace-children). When the command is a `#!` script run by a shell (a pyenv shim, a conda
or project wrapper whose last line is `exec .../python "$@"`, `pyenv exec python`), they
would trace the shell, and a leak-free verdict would describe the shell's start-up.

So before a run: a `#!` script whose interpreter is a Python is run by that interpreter
directly (itself resolved, it may be a shim too); a shell script that runs a Python is asked
which interpreter it ends in (`CMD -c` printing sys.orig_argv, sys.executable and the
environment the wrapper set up) and the command becomes that interpreter with the wrapper's
options and environment; any other shell script is refused with the command to use.
No shell is involved: the probe is an argv, never shell=True.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from profiler.errors import UsageProblem

SHELLS = {"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "fish", "csh", "tcsh"}
_PYTHON_NAME = re.compile(r"^(python|pypy)[0-9.]*(d|m|t)?$")
PROBE_TIMEOUT_S = 30
MAX_DEPTH = 8
# set by a shell or by the probe itself, not by the wrapper
_VOLATILE_ENV = {"_", "SHLVL", "PWD", "OLDPWD", "PS1", "PS2", "PS4", "IFS", "OPTIND", "PPID", "COLUMNS", "LINES"}
_PROBE = ("import json, os, sys; print(json.dumps({'exe': sys.executable, "
          "'orig': getattr(sys, 'orig_argv', None), 'env': dict(os.environ)}))")


def is_python_name(path: str) -> bool:
    return bool(_PYTHON_NAME.match(os.path.basename(path)))


def _locate(prog: str) -> str | None:
    if os.sep in prog:
        return prog if os.path.isfile(prog) else None
    return shutil.which(prog)


def shebang(path: str) -> list[str] | None:
    """The `#!` line of `path` split into words, or None for a binary or a file without one."""
    try:
        with open(path, "rb") as f:
            head = f.read(256)
    except OSError:
        return None
    if not head.startswith(b"#!"):
        return None
    line = head[2:].split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    return line.split() or None


def _script_text(path: str, limit: int = 1 << 16) -> str:
    try:
        with open(path, "rb") as f:
            return f.read(limit).decode("utf-8", "replace")
    except OSError:
        return ""


def _looks_like_python_wrapper(argv0: str, path: str) -> bool:
    """A shell script that ends by running a Python: named like one (a shim), or mentioning one."""
    if is_python_name(argv0):
        return True
    text = _script_text(path)
    return bool(re.search(r"\bpyenv\b|\bpython[0-9.]*\b|\bconda\b", text))


def _probe(argv0: str, env: dict | None = None) -> dict | None:
    """Ask the command which interpreter it ends in; None when it does not run a Python."""
    try:
        proc = subprocess.run([argv0, "-c", _PROBE], capture_output=True, text=True,
                              timeout=PROBE_TIMEOUT_S, env=env, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    for line in reversed(proc.stdout.strip().splitlines()):
        try:
            info = json.loads(line)
        except ValueError:
            continue
        if isinstance(info, dict) and info.get("exe"):
            return info
    return None


def _interpreter_prefix(info: dict) -> list[str]:
    """The interpreter and the options the wrapper gave it (sys.orig_argv up to our -c)."""
    orig = info.get("orig")
    exe = info["exe"]
    if isinstance(orig, list) and "-c" in orig:
        opts = orig[1:orig.index("-c")]
        return [exe] + [str(o) for o in opts]
    return [exe]


def _env_delta(env: dict) -> dict[str, str]:
    return {k: v for k, v in env.items()
            if k not in _VOLATILE_ENV and os.environ.get(k) != v and not k.startswith("BASH_FUNC_")}


def resolve_command(argv: list[str], *, tool: str) -> tuple[list[str], dict[str, str], list[str]]:
    """(argv to run, environment to add, notes) for `argv` under `tool`; UsageProblem when the
    command is a script whose real program cannot be determined."""
    argv = list(argv)
    notes: list[str] = []
    env_add: dict[str, str] = {}
    for _ in range(MAX_DEPTH):
        path = _locate(argv[0])
        if path is None:
            return argv, env_add, notes
        words = shebang(path)
        if words is None:
            if os.path.basename(path) in SHELLS and tool != "memray":
                raise UsageProblem(
                    f"{argv[0]} is a shell: {tool} would trace the shell, not the program it starts; "
                    f"run the program itself: memprof {tool} -- PROGRAM ARGS...")
            return argv, env_add, notes        # a binary (or no #!): the tool traces it
        interp, args = words[0], words[1:]
        if os.path.basename(interp) == "env":
            flags = [a for a in args if a.startswith("-")]
            rest = [a for a in args if not a.startswith("-")]
            if flags and flags != ["-S"] or not rest:
                raise UsageProblem(f"{argv[0]}: its `#!{' '.join(words)}` line cannot be followed; "
                                   f"run its interpreter yourself: memprof {tool} -- INTERPRETER {argv[0]} ...")
            found = shutil.which(rest[0])
            if found is None:
                raise UsageProblem(f"{argv[0]}: its interpreter {rest[0]} (from `#!{' '.join(words)}`) is not on PATH")
            interp, args = found, rest[1:]
        name = os.path.basename(interp)
        if is_python_name(interp):
            if tool == "memray":
                return argv, env_add, notes    # memray starts Python scripts itself (`python -m memray run`)
            # a Python script: run by its interpreter directly (which may itself be a shim)
            notes.append(f"{argv[0]} is a Python script (#!{' '.join(words)}): run as {interp} {path}")
            argv = [interp, *args, path, *argv[1:]]
            continue
        if name in SHELLS:
            if not _looks_like_python_wrapper(argv[0], path):
                raise UsageProblem(
                    f"{argv[0]} is a shell script (#!{' '.join(words)}): {tool} would trace the shell, not the "
                    f"program it starts; run the program itself: memprof {tool} -- PROGRAM ARGS...")
            info = _probe(path)
            if info is None:
                raise UsageProblem(
                    f"{argv[0]} is a shell script (#!{' '.join(words)}) and did not say which Python it runs; "
                    f"{tool} would trace the shell: give the interpreter itself, e.g. "
                    f"memprof {tool} -- \"$({argv[0]} -c 'import sys; print(sys.executable)')\" "
                    + " ".join(argv[1:]))
            exe = info["exe"]
            if not (os.path.isfile(exe) and os.access(exe, os.X_OK)) or shebang(exe) is not None:
                raise UsageProblem(f"{argv[0]} runs {exe}, which is not an executable interpreter; "
                                   f"give the interpreter itself: memprof {tool} -- /path/to/python ...")
            delta = _env_delta(info.get("env") or {})
            env_add.update(delta)
            prefix = _interpreter_prefix(info)
            notes.append(f"{argv[0]} is a shell script (#!{' '.join(words)}) that runs {exe}: profiling "
                         f"{' '.join(prefix)} directly" + (f", with the {len(delta)} environment variable(s) the "
                                                           f"script sets ({', '.join(sorted(delta))})" if delta else ""))
            return [*prefix, *argv[1:]], env_add, notes
        # another interpreter (perl, node, ...): the tool traces that interpreter, which is the program
        return argv, env_add, notes
    raise UsageProblem(f"{argv[0]}: more than {MAX_DEPTH} `#!` interpreters in a chain")
