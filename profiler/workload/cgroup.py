"""The container's view of memory: the memory cgroup a process runs in, v1 or v2.

A container runtime (or systemd, or a job sandbox) accounts and limits memory per
cgroup, not per process, and counts what RSS does not: page cache of files the
process read or mapped (a model file counts once it is read, and stays counted
after it is unmapped until the kernel reclaims it), kernel memory (page tables,
slab, socket buffers) and every other process in the group. An OOM kill follows
the cgroup's figure, so the records carry it beside RSS and the report explains
the gap.

Where the cgroup is found: /proc/PID/cgroup names a path per hierarchy (v1: the
line whose controllers include `memory`; v2: the `0::` line); /proc/PID/mountinfo
says where that hierarchy is mounted and which part of it the mount shows (inside
a cgroup namespace the mount root is the container's own group). Every path is
read under `root` so that tests can point it at a copied hierarchy.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

UNLIMITED = 1 << 62   # v1 writes 9223372036854771712 (LONG_MAX rounded to a page) for "no limit"
V2_KERNEL_PARTS = ("kernel_stack", "pagetables", "percpu", "sock", "vmalloc", "slab")   # kernels before 5.18


@dataclass(frozen=True)
class MemoryCgroup:
    version: int        # 1 or 2
    path: str           # the cgroup's own path, as /proc/PID/cgroup names it
    directory: Path     # where its files are


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return None


def _int(path: Path) -> int | None:
    text = _read(path)
    if text is None:
        return None
    text = text.strip()
    if text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _stat(path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in (_read(path) or "").splitlines():
        key, _, val = line.partition(" ")
        try:
            out[key] = int(val)
        except ValueError:
            continue
    return out


def _mounts(text: str) -> list[tuple[str, str, str, str]]:
    """(mount root, mount point, fstype, super options) of each cgroup mount in mountinfo."""
    out = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        f, r = left.split(), right.split()
        if len(f) >= 5 and r and r[0] in ("cgroup", "cgroup2"):
            out.append((f[3], f[4], r[0], r[2] if len(r) > 2 else ""))
    return out


def _under(root: Path, mount_point: str, mount_root: str, path: str) -> list[Path]:
    """Candidate directories of cgroup `path` in a hierarchy mounted at mount_point."""
    rel = path
    if mount_root != "/" and (path == mount_root or path.startswith(mount_root.rstrip("/") + "/")):
        rel = path[len(mount_root.rstrip("/")):]
    base = root / mount_point.lstrip("/")
    cands = [base / rel.lstrip("/")]
    if rel != "/":
        cands.append(base)   # a cgroup namespace shows "/" in mountinfo but the host path in /proc
    return cands


def locate(pid: int | str = "self", root: str | Path = "/") -> MemoryCgroup | None:
    """The memory cgroup of `pid`, or None when it runs in none that can be read."""
    root = Path(root)
    cg = _read(root / "proc" / str(pid) / "cgroup")
    if cg is None:
        return None
    v1_path = v2_path = None
    for line in cg.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hier, controllers, path = parts
        if "memory" in controllers.split(","):
            v1_path = path
        elif hier == "0" and controllers == "":
            v2_path = path
    mounts = _mounts(_read(root / "proc" / str(pid) / "mountinfo") or "")
    if v1_path is not None:
        points = [(mr, mp) for mr, mp, fs, opts in mounts if fs == "cgroup" and "memory" in opts.split(",")]
        points = points or [("/", "/sys/fs/cgroup/memory")]
        for mr, mp in points:
            for d in _under(root, mp, mr, v1_path):
                if (d / "memory.usage_in_bytes").is_file():
                    return MemoryCgroup(1, v1_path, d)
    if v2_path is not None:
        points = [(mr, mp) for mr, mp, fs, _ in mounts if fs == "cgroup2"] or [("/", "/sys/fs/cgroup")]
        for mr, mp in points:
            for d in _under(root, mp, mr, v2_path):
                if (d / "memory.current").is_file():   # absent at the root and without the memory controller
                    return MemoryCgroup(2, v2_path, d)
    return None


def read(cg: MemoryCgroup) -> dict:
    """The cgroup's memory in bytes: usage, anon, file (page cache, mapped model files included),
    file_mapped, shmem, kernel, swap, limit (None: unlimited) and procs (processes in it)."""
    d = cg.directory
    if cg.version == 1:
        st = _stat(d / "memory.stat")

        def g(key):
            return st.get(f"total_{key}", st.get(key))   # total_*: this group and its descendants, like usage

        limit = _int(d / "memory.limit_in_bytes")
        usage = _int(d / "memory.usage_in_bytes")
        out = {"usage": usage, "anon": g("rss"), "file": g("cache"), "file_mapped": g("mapped_file"),
               "shmem": g("shmem"), "kernel": _int(d / "memory.kmem.usage_in_bytes"),
               "swap": g("swap"),
               "limit": None if limit is None or limit >= UNLIMITED else limit}
    else:
        st = _stat(d / "memory.stat")
        kernel = st.get("kernel")
        if kernel is None and any(k in st for k in V2_KERNEL_PARTS):
            kernel = sum(st.get(k, 0) for k in V2_KERNEL_PARTS)
        limit = _int(d / "memory.max")
        out = {"usage": _int(d / "memory.current"), "anon": st.get("anon"), "file": st.get("file"),
               "file_mapped": st.get("file_mapped"), "shmem": st.get("shmem"), "kernel": kernel,
               "swap": _int(d / "memory.swap.current"), "limit": limit}
    procs = _read(d / "cgroup.procs")
    out["procs"] = len(procs.split()) if procs is not None else None
    return out


FIELDS = ("usage", "anon", "file", "file_mapped", "shmem", "kernel", "swap", "limit", "procs")
_located: dict = {}


def record_fields(pid: int | str = "self", root: str | Path = "/") -> dict:
    """`cgroup_*` fields for an iteration record ({} outside a memory cgroup). The location is
    looked up once per process: a process does not change cgroup during a run."""
    key = (str(pid), str(root))
    if key not in _located:
        _located[key] = locate(pid, root)
    cg = _located[key]
    if cg is None:
        return {}
    values = read(cg)
    if values.get("usage") is None:
        return {}
    return {"cgroup_version": cg.version, **{f"cgroup_{k}": values.get(k) for k in FIELDS}}
