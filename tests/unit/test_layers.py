"""The import direction holds: workload < backends < parsers < triage < analysis < report, with
the session, the pipeline and the commands above them all and a few shared modules below.

Read with ast from the source (nothing is imported), function-level imports included: a lazy
import upward is still an upward dependency.
"""
from __future__ import annotations

import ast
from pathlib import Path

import profiler

PKG = Path(profiler.__file__).parent
LAYERS = ["workload", "backends", "parsers", "triage", "analysis", "report"]
# below every layer: importable from anywhere, importing no layer
BASE = {"errors", "clock", "rundir", "models", "gguf_twin", "symbols", "tables", "fmt", "stats", "constants",
        "sniff", "jsonout", "markers", "results", "__init__"}
# above every layer: orchestration and glue
TOP = {"pipeline", "cli", "__main__", "commands", "session", "scaled", "serving", "watching"}
TOP_RANK = len(LAYERS) + 1

# Upward imports tolerated for now, each owned by another piece of work; the test fails on any other,
# and on one of these once it is gone. (None today.)
KNOWN: set[tuple[str, str]] = set()


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def _rank(mod: str) -> int:
    """-1 base, 0.. the layers in order, TOP_RANK for orchestration."""
    if mod in TOP or mod.split(".")[0] in TOP:
        return TOP_RANK
    head = mod.split(".")[0]
    if head in LAYERS:
        return LAYERS.index(head)
    if head in BASE:
        return -1
    raise AssertionError(f"profiler/{mod.replace('.', '/')}.py is in no layer: add it to LAYERS, BASE or TOP")


def _imports(path: Path, mod: str) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    is_pkg = path.name == "__init__.py"
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = mod.split(".") if is_pkg else mod.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(["profiler", *base, *([node.module] if node.module else [])])
            else:
                prefix = node.module or ""
            # `from profiler.x import y` may name a submodule y: count both
            names = [prefix] + [f"{prefix}.{a.name}" for a in node.names]
        else:
            continue
        for n in names:
            if n == "profiler" or not n.startswith("profiler."):
                continue
            target = n[len("profiler."):]
            if (PKG / (target.replace(".", "/") + ".py")).exists() or (PKG / target.replace(".", "/")).is_dir():
                out.add(target)
    return out


def upward_imports() -> set[tuple[str, str]]:
    found = set()
    for path in sorted(PKG.rglob("*.py")):
        mod = _module_name(path)
        if mod == "__init__":
            continue
        r = _rank(mod)
        for target in _imports(path, mod):
            if _rank(target) > r:       # within a layer both ranks are equal
                found.add((mod, target))
    return found


def test_no_layer_imports_upward():
    found = upward_imports()
    new = sorted(found - KNOWN)
    assert new == [], "upward imports (module -> what it imports): " + ", ".join(f"{a} -> {b}" for a, b in new)
    gone = sorted(KNOWN - found)
    assert gone == [], f"fixed, remove from KNOWN: {gone}"


def test_orchestration_lives_above_the_layers():
    """Nothing in TOP or BASE is a module of a layer: an exemption there would hide a layer's upward
    imports (the session once lived in backends/ and imported the pipeline and the report)."""
    inside = sorted(m for m in TOP | BASE if m.split(".")[0] in LAYERS)
    assert inside == [], f"orchestration or shared modules inside a layer: {inside}"
    assert (PKG / "session.py").is_file() and not (PKG / "backends" / "session.py").exists()
    assert _rank("backends.heaptrack") < _rank("session") and _rank("session") == _rank("pipeline")


def test_the_checker_sees_an_upward_import(tmp_path, monkeypatch):
    """A parser importing the report is caught, in a lazy function-level import too."""
    fake = tmp_path / "parsers" / "fake.py"
    fake.parent.mkdir()
    fake.write_text("def f():\n    from profiler.report import console\n")
    assert "report.console" in _imports(fake, "parsers.fake")
    assert _rank("parsers.fake") < _rank("report.console")
