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
_NONE = 3          # "no rule" in the per-frame tier keys: after every real tier (0 user, 1 function, 2 module)
_CLONE = re.compile(r"\s*\[clone [^\]]*\]$")
_TRAILING_QUALIFIERS = re.compile(r"(\s+const)?(\s*&{1,2})?$")


@dataclass(frozen=True)
class Rule:
    category: str
    functions: tuple[str, ...]
    modules: tuple[str, ...]
    source: str           # "file:line" of the [[rule]] table, for messages and evidence
    note: str = ""
    user: bool = False
    innermost: bool = False
    _fn_re: Globs | None = field(default=None, compare=False, repr=False)
    _mod_re: Globs | None = field(default=None, compare=False, repr=False)

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


class Globs:
    """A list of shell globs (fnmatch's syntax), matched against a whole name.

    Almost every pattern in the rules is a literal, `prefix*`, `*suffix` or `*part*`: those are
    string tests, and only the others go into one regex. Compiling all of them (390 in the
    shipped files) was most of the rules' load time, paid by every command at start-up."""

    __slots__ = ("exact", "prefixes", "suffixes", "parts", "regex")

    def __init__(self, patterns: Iterable[str]):
        exact: set[str] = set()
        prefixes: list[str] = []
        suffixes: list[str] = []
        parts: list[str] = []
        rest: list[str] = []
        for p in patterns:
            core = p.strip("*")
            if any(c in core for c in "*?["):
                rest.append(p)
            elif not p.startswith("*") and not p.endswith("*"):
                exact.add(p)
            elif not p.startswith("*"):
                prefixes.append(core)
            elif not p.endswith("*"):
                suffixes.append(core)
            else:
                parts.append(core)
        self.exact = frozenset(exact)
        self.prefixes = tuple(prefixes)
        self.suffixes = tuple(suffixes)
        self.parts = tuple(parts)
        self.regex = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in rest)) if rest else None

    def match(self, name: str) -> bool:
        return (name in self.exact or (bool(self.prefixes) and name.startswith(self.prefixes))
                or (bool(self.suffixes) and name.endswith(self.suffixes))
                or any(part in name for part in self.parts)
                or (self.regex is not None and self.regex.match(name) is not None))


def _compile(patterns: Iterable[str]) -> Globs | None:
    pats = [p for p in patterns if p]
    if not pats:
        return None
    return Globs(pats)


def function_names(function: str | None) -> tuple[str, ...]:
    """The forms a pattern may match: the name as recorded, without its argument list
    (`llama_kv_cache::llama_kv_cache(llama_model const&, ...)` -> `llama_kv_cache::llama_kv_cache`),
    and without a leading return type (`void std::vector<...>::_M_realloc_insert<...>`)."""
    if not function:
        return ()
    name = function.strip()
    forms = [name]
    bare = _CLONE.sub("", name)
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
    s = _TRAILING_QUALIFIERS.sub("", name)
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


_PLUMBING = _NONE + 1   # the tier key of a frame that does not take part in a decision


class _Lazy(dict):
    """key -> make(key), worked out on the first lookup (dict's __missing__: every later lookup,
    also through map(), stays in C)."""

    def __init__(self, make):
        super().__init__()
        self.make = make

    def __missing__(self, key):
        value = self[key] = self.make(key)
        return value


def _frame_fields(frame) -> tuple:
    """(function, module, file) of a Frame, of a plain (function, module, file) tuple, or of any
    object with those attributes."""
    if isinstance(frame, tuple) and not hasattr(frame, "_fields"):
        return frame[0], frame[1], frame[2]
    return getattr(frame, "function", None), getattr(frame, "module", None), getattr(frame, "file", None)


class Rules:
    """An ordered rule set plus the plumbing list; matching results are cached per frame.

    Stacks share most of their frames (a capture of 14,605 stacks of 44-85 frames holds 4,942
    distinct frames), so everything a rule says about a frame is worked out once per distinct
    frame, and a stack is decided from those facts: its first frame that is not plumbing, and
    whether a frame further out has a rule of a better tier, a min() over the frames' cached
    tiers that runs in C rather than a walk per tier in Python."""

    def __init__(self, rules: list[Rule], plumbing: Iterable[str], sources: list[str],
                 plumbing_files: Iterable[str] = ()):
        self.rules = sorted(rules, key=lambda r: r.tier)      # stable: file order kept within a tier
        self.plumbing = tuple(dict.fromkeys(plumbing))
        self.plumbing_files = tuple(dict.fromkeys(plumbing_files))
        self.sources = sources
        self._plumbing_re = _compile(self.plumbing)
        self._plumbing_file_re = _compile(self.plumbing_files)
        self._tiers = sorted({r.tier for r in self.rules})
        self._best_tier = self._tiers[0] if self._tiers else _NONE
        self._order = [(r, r.tier, r.innermost, bool(r.functions), r._fn_re, r._mod_re) for r in self.rules]
        self._no_function_bits = sum(1 << bit for bit, r in enumerate(self.rules) if not r.functions)
        # one test of every rule's function patterns at once: most functions match none of them
        self._any_function = (_compile([p for r in self.rules for p in r.functions])
                              if all(r._fn_re is not None for r in self.rules if r.functions) else None)
        self._mask_cache: dict = {}      # (is plumbing, bit mask of the rules that match) -> facts
        self._key_cache: dict = {}       # (function, module, file) -> facts
        self._fn_cache: dict = {}        # function -> (is plumbing by name, bit mask: function patterns allow)
        self._where_cache: dict = {}     # module or file -> bit mask: module patterns allow
        self._file_cache: dict = {}      # file -> plumbing by its source file
        # frame -> facts, and the two tiers a stack is decided by: a frame's best tier at any depth
        # (_PLUMBING for plumbing), and a plumbing frame's best function rule at the site (the last
        # resort of a stack with nothing else; _PLUMBING for the others)
        self._frame_cache = _Lazy(lambda fr: self._facts(*_frame_fields(fr)))
        self._outer_tier = _Lazy(lambda fr: _PLUMBING if self._frame_cache[fr][0] else self._frame_cache[fr][5])
        self._fallback_tier = _Lazy(lambda fr: self._frame_cache[fr][7] if self._frame_cache[fr][0] else _PLUMBING)

    # -- per-frame facts, computed once per distinct frame -------------------------------------
    def _facts(self, fn, module, file) -> tuple:
        """(is_plumbing, {tier: rule at the site frame}, {tier: rule at any depth},
        best tier at the site, its rule, best tier at any depth, its rule,
        best tier of a non-module rule at the site (for plumbing frames), its rule)."""
        key = (fn, module, file)
        hit = self._key_cache.get(key)
        if hit is not None:
            return hit
        by_fn = self._fn_cache.get(fn)
        if by_fn is None:
            by_fn = self._fn_cache[fn] = self._function_facts(fn)
        plumb, fn_ok = by_fn
        if not plumb and file and self._plumbing_file_re is not None:
            # inlined library templates (std::vector's allocate/_M_default_append/resize show up
            # under their short names): recognised by the header they come from
            plumb = self._file_cache.get(file)
            if plumb is None:
                plumb = self._file_cache[file] = bool(self._plumbing_file_re.match(os.path.basename(file))
                                                      or self._plumbing_file_re.match(file))
        where = module or file
        mod_ok = self._where_cache.get(where)
        if mod_ok is None:
            base = os.path.basename(where) if where else None
            mod_ok = 0
            for bit, (_, _, _, _, _, mre) in enumerate(self._order):
                if mre is None or (where and (mre.match(base) or mre.match(where))):
                    mod_ok |= 1 << bit
            self._where_cache[where] = mod_ok
        both = (plumb, fn_ok & mod_ok)
        hit = self._mask_cache.get(both)
        if hit is None:
            hit = self._mask_cache[both] = self._facts_of_mask(plumb, both[1])
        self._key_cache[key] = hit
        return hit

    def _function_facts(self, fn) -> tuple[bool, int]:
        """(is plumbing by name, bit mask of the rules whose function patterns allow `fn`)."""
        names = function_names(fn)
        plumb = bool(names) and self._plumbing_re is not None and any(self._plumbing_re.match(n) for n in names)
        ok = self._no_function_bits
        if names and (self._any_function is None or any(self._any_function.match(n) for n in names)):
            for bit, (_, _, _, has_fn, fre, _) in enumerate(self._order):
                if has_fn and (fre is None or any(fre.match(n) for n in names)):
                    ok |= 1 << bit
        return plumb, ok

    def _facts_of_mask(self, plumb: bool, mask: int) -> tuple:
        at_site: dict[int, Rule] = {}
        anywhere: dict[int, Rule] = {}
        for bit, (r, tier, innermost, _, _, _) in enumerate(self._order):
            if mask >> bit & 1:
                at_site.setdefault(tier, r)
                if not innermost:
                    anywhere.setdefault(tier, r)
        site_t = min(at_site, default=_NONE)
        any_t = min(anywhere, default=_NONE)
        fb_t = min((t for t in at_site if t != 2), default=_NONE)
        return (plumb, at_site, anywhere, site_t, at_site.get(site_t), any_t, anywhere.get(any_t),
                fb_t, at_site.get(fb_t))

    def _info(self, frame) -> tuple:
        """The facts of one frame (is_plumbing, {tier: rule at the site frame}, {tier: rule at any
        depth}, ...), cached per frame; an unhashable stand-in for a frame is not cached."""
        try:
            return self._frame_cache[frame]
        except TypeError:
            return self._facts(*_frame_fields(frame))

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
        """(site frame index, category, deciding rule, index of the frame it matched) in one pass.

        The site is the first frame that is not plumbing. The rules are tried tier by tier
        (the user's, then function rules, then module-only rules): the site frame by every rule,
        the frames further out by the rules that are not `innermost`; the first frame of the best
        tier that has a match decides."""
        if not stack:
            return None, "unknown", None, None
        try:
            return self._decide(stack, self._frame_cache.__getitem__, self._outer_tier.__getitem__,
                                self._fallback_tier.__getitem__)
        except TypeError:        # unhashable stand-ins for frames: facts frame by frame, by position
            facts = [self._facts(*_frame_fields(fr)) for fr in stack]
            outer = [_PLUMBING if f[0] else f[5] for f in facts]
            fallback = [f[7] if f[0] else _PLUMBING for f in facts]
            return self._decide(range(len(stack)), facts.__getitem__, outer.__getitem__, fallback.__getitem__)

    def _decide(self, keys: Sequence, facts, outer, fallback) -> tuple[int | None, str, Rule | None, int | None]:
        """The decision on one stack, given as the keys the three lookups take (its frames, or
        their positions): facts, the best tier at any depth, the fallback tier."""
        n = len(keys)
        start = None
        for i in range(n):
            f = facts(keys[i])
            if not f[0]:
                start = i
                break
        if start is not None:
            best_t, best_i, best_r = f[3], start, f[4]
            # a frame further out decides only with a better tier than the site frame's own; the
            # frames before the site are plumbing, and the site's tier at any depth is no better
            # than at the site, so the stack's best tier at any depth says whether one does
            if best_t > self._best_tier:
                m = min(map(outer, keys))
                if m < best_t:
                    j = list(map(outer, keys)).index(m, start + 1)
                    best_t, best_i, best_r = m, j, facts(keys[j])[6]
            if best_r is not None:
                return start, best_r.category, best_r, best_i
            site = start
        else:
            site = n - 1
        # nothing outside the plumbing is recognisable (a truncated stack, or one made only of
        # allocator layers such as PyMem_RawMalloc): let the function rules look at the plumbing
        m = min(map(fallback, keys))
        if m < _NONE:
            j = list(map(fallback, keys)).index(m)
            r = facts(keys[j])[8]
            return site, r.category, r, j
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
