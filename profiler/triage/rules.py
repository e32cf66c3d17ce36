"""Call-stack rules as data: which frames are plumbing, and which category a stack belongs to.

The rules live in TOML (profiler/rules/*.toml, plus the user's --rules files)
so that a new llama.cpp release or a new runtime needs a data change, not a
code change. A file holds one optional `[plumbing]` table and any number of
`[[rule]]` tables:

    [plumbing]
    functions = ["ggml_aligned_malloc", ...]     # frames skipped when naming a site
    files = ["stl_vector.h", ...]                # ... or by the source file of an inlined frame

    [[rule]]
    category = "kv_cache"
    functions = ["llama_kv_cache*"]              # shell globs on the demangled name
    modules = ["libllama.so*"]                   # shell globs on the object's file name
    note = "why this rule exists"
    innermost = true                             # only at the site frame (default: any depth)

A rule with both lists needs both to match the same frame. Matching walks the
stack innermost outward, skipping plumbing, and stops at the first frame a rule
claims. `innermost` rules claim only the site frame itself: the interpreter
(`PyObject_Call`, `_PyEval_EvalFrameDefault`) and libc's start-up code are on the
path of almost every call, so an outer frame of theirs says nothing about who
allocated. Rules are tried in three tiers: the user's rules (any kind) first, then the shipped
rules that name functions, then the shipped rules that name only modules. The
module-only tier is a fallback because a whole library is a blunt instrument:
`strdup` in libc.so called from `llama_vocab::load` is vocabulary, not libc.
"""
from __future__ import annotations

import fnmatch
import os
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Iterable, Sequence

from profiler.errors import BadInput

CATEGORIES = ("weights", "kv_cache", "compute_pool", "init", "python", "libc", "unknown")
BUILTIN_FILES = ("ggml.toml", "python.toml", "libc.toml")   # order breaks ties on the same frame
_CATEGORY_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class Rule:
    category: str
    functions: tuple[str, ...]
    modules: tuple[str, ...]
    source: str           # "file:line" of the [[rule]] table, for messages and evidence
    note: str = ""
    user: bool = False
    innermost: bool = False
    _fn_re: re.Pattern | None = field(default=None, compare=False, repr=False)
    _mod_re: re.Pattern | None = field(default=None, compare=False, repr=False)

    @property
    def tier(self) -> int:
        if self.user:
            return 0
        return 1 if self.functions else 2

    def matches(self, names: Sequence[str], module: str | None) -> bool:
        if self._fn_re is not None and not any(self._fn_re.match(n) for n in names):
            return False
        if self._mod_re is not None:
            if not module or not (self._mod_re.match(os.path.basename(module)) or self._mod_re.match(module)):
                return False
        return True


def _compile(patterns: Iterable[str]) -> re.Pattern | None:
    pats = [p for p in patterns if p]
    if not pats:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in pats))


def function_names(function: str | None) -> tuple[str, ...]:
    """The forms a pattern may match: the name as recorded, without its argument list
    (`llama_kv_cache::llama_kv_cache(llama_model const&, ...)` -> `llama_kv_cache::llama_kv_cache`),
    and without a leading return type (`void std::vector<...>::_M_realloc_insert<...>`)."""
    if not function:
        return ()
    name = function.strip()
    forms = [name]
    bare = re.sub(r"\s*\[clone [^\]]*\]$", "", name)
    bare = _strip_args(bare)
    if bare != name:
        forms.append(bare)
    # a return type is separated from the qualified name by a space outside any brackets
    depth = 0
    cut = -1
    for i, ch in enumerate(bare):
        if ch in "<(":
            depth += 1
        elif ch in ">)":
            depth -= 1
        elif ch == " " and depth == 0 and not bare[:i].endswith("operator"):
            cut = i
    if cut >= 0 and cut + 1 < len(bare):
        tail = bare[cut + 1:]
        if tail not in forms and not tail.startswith(("const", "&", "*")):
            forms.append(tail)
    return tuple(forms)


def _strip_args(name: str) -> str:
    s = re.sub(r"(\s+const)?(\s*&{1,2})?$", "", name)
    if not s.endswith(")"):
        return name
    depth = 0
    for i in range(len(s) - 1, -1, -1):
        if s[i] == ")":
            depth += 1
        elif s[i] == "(":
            depth -= 1
            if depth == 0:
                head = s[:i]
                # `operator()` keeps its own parentheses
                if head.endswith("operator"):
                    return s[: i + 2] if s[i:i + 2] == "()" else head
                return head.rstrip() or name
    return name


class Rules:
    """An ordered rule set plus the plumbing list; matching results are cached per frame."""

    def __init__(self, rules: list[Rule], plumbing: Iterable[str], sources: list[str],
                 plumbing_files: Iterable[str] = ()):
        self.rules = sorted(rules, key=lambda r: r.tier)      # stable: file order kept within a tier
        self.plumbing = tuple(dict.fromkeys(plumbing))
        self.plumbing_files = tuple(dict.fromkeys(plumbing_files))
        self.sources = sources
        self._plumbing_re = _compile(self.plumbing)
        self._plumbing_file_re = _compile(self.plumbing_files)
        self._tiers = sorted({r.tier for r in self.rules})
        self._frame_cache: dict = {}

    # -- per-frame facts, computed once per distinct frame -------------------------------------
    def _info(self, frame) -> tuple:
        """(is_plumbing, {tier: rule at the site frame}, {tier: rule at any depth}) for one frame.
        Stacks share most of their frames, so each distinct frame is matched once per rule set."""
        try:
            hit = self._frame_cache.get(frame)
        except TypeError:            # an unhashable stand-in for a frame: no caching
            hit = None
            frame = (getattr(frame, "function", None), getattr(frame, "module", None), getattr(frame, "file", None))
        if hit is not None:
            return hit
        fn = getattr(frame, "function", None) if not isinstance(frame, tuple) or hasattr(frame, "_fields") else frame[0]
        module = (getattr(frame, "module", None) if hasattr(frame, "_fields") or not isinstance(frame, tuple)
                  else frame[1])
        file = getattr(frame, "file", None) if hasattr(frame, "_fields") or not isinstance(frame, tuple) else frame[2]
        names = function_names(fn)
        plumb = bool(names) and self._plumbing_re is not None and any(self._plumbing_re.match(n) for n in names)
        if not plumb and file and self._plumbing_file_re is not None:
            # inlined library templates (std::vector's allocate/_M_default_append/resize show up
            # under their short names): recognised by the header they come from
            plumb = bool(self._plumbing_file_re.match(os.path.basename(file)) or self._plumbing_file_re.match(file))
        where = module or file
        at_site: dict[int, Rule] = {}
        anywhere: dict[int, Rule] = {}
        for r in self.rules:
            if r.tier in at_site and (r.innermost or r.tier in anywhere):
                continue
            if r.functions and not names:
                continue
            if r.matches(names, where):
                at_site.setdefault(r.tier, r)
                if not r.innermost:
                    anywhere.setdefault(r.tier, r)
        hit = (plumb, at_site, anywhere)
        try:
            self._frame_cache[frame] = hit
        except TypeError:
            pass
        return hit

    def is_plumbing(self, frame) -> bool:
        return self._info(frame)[0]

    def site_index(self, stack: Sequence) -> int | None:
        """Index of the frame a site is named after: the innermost that is not plumbing.
        A stack made only of plumbing keeps its outermost frame (the best we know)."""
        if not stack:
            return None
        for i, fr in enumerate(stack):
            if not self._info(fr)[0]:
                return i
        return len(stack) - 1

    # -- categories -----------------------------------------------------------------------
    def rule_for_frame(self, frame, tier: int, at_site: bool = True) -> Rule | None:
        info = self._info(frame)
        return (info[1] if at_site else info[2]).get(tier)

    def classify(self, stack: Sequence) -> tuple[str, Rule | None, int | None]:
        """(category, the rule that decided, index of the frame it matched)."""
        return self.name_and_classify(stack)[1:]

    def name_and_classify(self, stack: Sequence) -> tuple[int | None, str, Rule | None, int | None]:
        """(site frame index, category, deciding rule, index of the frame it matched) in one pass."""
        if not stack:
            return None, "unknown", None, None
        cached = self._frame_cache.get
        n = len(stack)
        infos: list = [None] * n        # filled lazily: most stacks are decided by their first frames

        def info(i):
            inf = infos[i]
            if inf is None:
                fr = stack[i]
                try:
                    inf = cached(fr)
                except TypeError:
                    inf = None
                if inf is None:
                    inf = self._info(fr)
                infos[i] = inf
            return inf

        start = next((i for i in range(n) if not info(i)[0]), None)
        if start is not None:
            for tier in self._tiers:
                for i in range(start, n):
                    inf = info(i)
                    if inf[0]:
                        continue
                    r = (inf[1] if i == start else inf[2]).get(tier)
                    if r is not None:
                        return start, r.category, r, i
        site = start if start is not None else n - 1
        # nothing outside the plumbing is recognisable (a truncated stack, or one made only of
        # allocator layers such as PyMem_RawMalloc): let the function rules look at the plumbing
        for tier in self._tiers:
            if tier == 2:
                continue
            for i in range(n):
                inf = info(i)
                if inf[0]:
                    r = inf[1].get(tier)
                    if r is not None:
                        return site, r.category, r, i
        return site, "unknown", None, None

    def category(self, stack: Sequence) -> str:
        return self.classify(stack)[0]

    def describe(self) -> str:
        return ", ".join(self.sources)


def _read_toml(path: Path, label: str) -> tuple[dict, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"{label}: no such rules file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{label}: cannot read rules file ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{label}: not valid TOML: {_toml_message(exc, text)}") from None


def _toml_message(exc: Exception, text: str) -> str:
    """tomllib's message, always with a line number (it says only "at end of document" for
    an unclosed array or a missing value on the last line)."""
    msg = str(exc).splitlines()[0] if str(exc) else "syntax error"
    if "(at end of document)" in msg:
        last = len(text.rstrip("\n").splitlines()) or 1
        msg = msg.replace("(at end of document)", f"(at end of document, line {last})")
    return msg


def _rule_lines(text: str) -> list[int]:
    return [n for n, line in enumerate(text.splitlines(), 1) if line.strip().startswith("[[rule]]")]


def _str_list(value, where: str, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadInput(f"{where}: '{key}' must be a list of strings")
    return tuple(v.strip() for v in value if v.strip())


def parse_rules(data: dict, text: str, label: str, *, user: bool) -> tuple[list[Rule], dict[str, list[str]]]:
    """Validate one file's tables; every mistake is one line naming the file and line."""
    unknown = set(data) - {"plumbing", "rule"}
    if unknown:
        raise BadInput(f"{label}: unknown table(s) {', '.join(sorted(unknown))} (expected [plumbing] and [[rule]])")
    plumbing_tbl = data.get("plumbing", {})
    if not isinstance(plumbing_tbl, dict):
        raise BadInput(f"{label}: [plumbing] must be a table with 'functions' and/or 'files' lists")
    extra = set(plumbing_tbl) - {"functions", "files", "allocators", "note"}
    if extra:
        raise BadInput(f"{label}: unknown key(s) {', '.join(sorted(extra))} in [plumbing]")
    # `allocators` is the parsers' list (the allocator entry points a raw site is named past,
    # profiler/parsers/allocators.py); triage's own plumbing is `functions` and `files`
    _str_list(plumbing_tbl.get("allocators"), f"{label}: [plumbing]", "allocators")
    plumbing = {"functions": list(_str_list(plumbing_tbl.get("functions"), f"{label}: [plumbing]", "functions")),
                "files": list(_str_list(plumbing_tbl.get("files"), f"{label}: [plumbing]", "files"))}
    raw = data.get("rule", [])
    if not isinstance(raw, list):
        raise BadInput(f"{label}: 'rule' must be an array of tables ([[rule]])")
    lines = _rule_lines(text)
    rules = []
    for n, tbl in enumerate(raw):
        line = lines[n] if n < len(lines) else None
        where = f"{label}:{line}" if line else f"{label}: rule {n + 1}"
        if not isinstance(tbl, dict):
            raise BadInput(f"{where}: [[rule]] must be a table")
        extra = set(tbl) - {"category", "functions", "modules", "note", "innermost"}
        if extra:
            raise BadInput(f"{where}: unknown key(s) {', '.join(sorted(extra))} in [[rule]]")
        cat = tbl.get("category")
        if not isinstance(cat, str) or not _CATEGORY_NAME.match(cat):
            raise BadInput(f"{where}: [[rule]] needs a category name (one of {', '.join(CATEGORIES)} or your own)")
        fns = _str_list(tbl.get("functions"), where, "functions")
        mods = _str_list(tbl.get("modules"), where, "modules")
        if not fns and not mods:
            raise BadInput(f"{where}: [[rule]] for '{cat}' has neither functions nor modules")
        note = tbl.get("note", "")
        innermost = tbl.get("innermost", False)
        if not isinstance(innermost, bool):
            raise BadInput(f"{where}: 'innermost' must be true or false")
        rules.append(Rule(cat, fns, mods, where, str(note), user, innermost, _compile(fns), _compile(mods)))
    return rules, plumbing


def load_rules(extra: Iterable[str | os.PathLike] = ()) -> Rules:
    """The shipped rules plus the user's files; the user's rules are tried first."""
    all_rules: list[Rule] = []
    plumbing: list[str] = []
    plumbing_files: list[str] = []
    sources: list[str] = []
    for p in extra:
        p = Path(p)
        data, text = _read_toml(p, str(p))
        rules, plumb = parse_rules(data, text, str(p), user=True)
        all_rules.extend(rules)
        plumbing.extend(plumb["functions"])
        plumbing_files.extend(plumb["files"])
        sources.append(str(p))
    pkg = resources.files("profiler") / "rules"
    for name in BUILTIN_FILES:
        res = pkg / name
        text = res.read_text(encoding="utf-8")
        label = f"profiler/rules/{name}"
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:   # a packaging defect, still one line
            raise BadInput(f"{label}: not valid TOML: {_toml_message(exc, text)}") from None
        rules, plumb = parse_rules(data, text, label, user=False)
        all_rules.extend(rules)
        plumbing.extend(plumb["functions"])
        plumbing_files.extend(plumb["files"])
        sources.append(label)
    return Rules(all_rules, plumbing, sources, plumbing_files)
