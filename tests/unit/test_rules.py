"""Call-stack rules: loading, precedence of the user's --rules, categories of real stacks, bad TOML.

Real stacks come from the committed captures of the planted workload (heaptrack,
massif, memcheck). The GGML call paths no committed capture holds yet are
written out frame by frame as FORMATS.md documents them (names as the tools
print them: demangled C++ with argument lists, shared-object paths).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from profiler.errors import BadInput, ExitCode
from profiler.parsers import load_capture
from profiler.tables import Frame
from profiler.triage import load_rules, triage_capture
from profiler.triage.rules import CATEGORIES, function_names
from testkit import boundaries, memprof_process

DATA = Path(__file__).parent.parent / "data"
HEAPTRACK = DATA / "heaptrack" / "planted.zst"
MASSIF = DATA / "massif" / "planted.massif.out"
MEMCHECK = DATA / "memcheck" / "planted_all.xml"


@pytest.fixture(scope="module")
def heaptrack_cap():
    return load_capture(HEAPTRACK, boundaries=boundaries(DATA / "heaptrack" / "planted.iterations.jsonl"))


def _row(cap, function):
    """The heaviest raw row of a function (a parser keeps one row per distinct stack)."""
    rows = cap.sites[cap.sites["function"] == function]
    assert len(rows) >= 1, (function, cap.sites["function"].tolist())
    return rows.sort_values(["peak_bytes", "live_bytes_end", "site_id"], ascending=[False, False, True]).iloc[0]


def test_builtin_rules_load_with_every_category(rules):
    cats = {r.category for r in rules.rules}
    assert cats == set(CATEGORIES)
    assert rules.sources == ["profiler/rules/ggml.toml", "profiler/rules/python.toml", "profiler/rules/libc.toml"]
    for name in ("malloc", "posix_memalign", "ggml_aligned_malloc", "ggml_backend_buft_alloc_buffer",
                 "ggml_backend_cpu_buffer_type_alloc_buffer", "alloc_tensor_range",
                 "ggml_backend_alloc_ctx_tensors_from_buft", "PyMem_RawMalloc"):
        assert rules.is_plumbing(Frame(name, None)), name
    assert rules.is_plumbing(Frame("operator new(unsigned long)", "/usr/lib/x86_64-linux-gnu/libstdc++.so.6"))
    assert not rules.is_plumbing(Frame("llama_kv_cache::llama_kv_cache(llama_model const&)", "libllama.so"))


def test_function_name_forms():
    assert function_names("llama_kv_cache::llama_kv_cache(llama_model const&, ggml_type, bool)") == (
        "llama_kv_cache::llama_kv_cache(llama_model const&, ggml_type, bool)", "llama_kv_cache::llama_kv_cache")
    assert function_names("llama_model::load_tensors(llama_model_loader&) [clone .cold]")[-1] == \
        "llama_model::load_tensors"
    assert function_names("operator new[](unsigned long)")[-1] == "operator new[]"
    assert function_names("void std::vector<int, std::allocator<int> >::_M_realloc_insert<int>(int&&)")[-1] == \
        "std::vector<int, std::allocator<int> >::_M_realloc_insert<int>"
    assert function_names(None) == ()


# --- real stacks from the committed captures ------------------------------------------

def test_real_heaptrack_stacks(rules, heaptrack_cap):
    # planted's own functions: no rule knows them
    for fn in ("leak_lost", "leak_reachable", "pool_acquire", "init_once", "scratch_work"):
        assert rules.category(_row(heaptrack_cap, fn)["stack"]) == "unknown", fn
    # glibc stdio buffers (fopen/fread inside since_start): libc, by a function rule
    cat, rule, idx = rules.classify(_row(heaptrack_cap, "__fopen_internal")["stack"])
    assert (cat, idx) == ("libc", 0) and rule.source.startswith("profiler/rules/libc.toml:")
    # libstdc++'s emergency exception pool, allocated with no symbol while the loader runs
    # constructors: the loader's call_init frame (a function rule) decides before the module fallback
    unresolved = heaptrack_cap.sites[heaptrack_cap.sites["function"].isna()]
    assert len(unresolved) == 1
    stack = unresolved.iloc[0]["stack"]
    assert stack[0].module.endswith("libstdc++.so.6") and stack[1].function == "call_init"
    cat, rule, idx = rules.classify(stack)
    assert (cat, idx) == ("libc", 1) and rule.source.startswith("profiler/rules/libc.toml:")
    # without that frame, the module fallback claims the unresolved libstdc++ frame itself
    cat, rule, idx = rules.classify(stack[:1])
    assert (cat, idx) == ("libc", 0) and rule.functions == () and rule.innermost


def test_real_massif_and_memcheck_stacks(rules):
    massif = load_capture(MASSIF, boundaries=boundaries(DATA / "massif" / "planted.massif.iterations.jsonl"))
    assert rules.category(_row(massif, "_IO_file_doallocate")["stack"]) == "libc"
    assert rules.category(_row(massif, "leak_lost")["stack"]) == "unknown"
    memcheck = load_capture(MEMCHECK)
    row = _row(memcheck, "leak_lost")
    # memcheck's innermost frame is Valgrind's replacement malloc (vgpreload_memcheck): plumbing
    assert row["stack"][0].function == "malloc" and "vgpreload_memcheck" in row["stack"][0].module
    assert rules.site_index(row["stack"]) == 1
    assert rules.category(row["stack"]) == "unknown"


# --- GGML call paths (FORMATS.md) --------------------------------------------------------

LIBC = "/lib/x86_64-linux-gnu/libc.so.6"
BASE = "/venv/lib/python3.11/site-packages/llama_cpp/lib/libggml-base.so"
CPU = "/venv/lib/python3.11/site-packages/llama_cpp/lib/libggml-cpu.so"
LLAMA = "/venv/lib/python3.11/site-packages/llama_cpp/lib/libllama.so"
PY = "/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0"


def _stack(*frames):
    return tuple(Frame(fn, mod) for fn, mod in frames)


KV = _stack(("posix_memalign", LIBC), ("ggml_aligned_malloc", BASE),
            ("ggml_backend_cpu_buffer_type_alloc_buffer(ggml_backend_buffer_type*, unsigned long)", CPU),
            ("ggml_backend_buft_alloc_buffer", BASE),
            ("llama_kv_cache::llama_kv_cache(llama_model const&, ggml_type, ggml_type, bool, bool, unsigned int)", LLAMA),
            ("llama_model::create_memory(llama_memory_params const&, llama_cparams&) const", LLAMA),
            ("llama_context::llama_context(llama_model const&, llama_context_params)", LLAMA),
            ("llama_init_from_model", LLAMA), ("ffi_call_unix64", "libffi.so.8"),
            ("_PyEval_EvalFrameDefault", PY))
SCHED = _stack(("posix_memalign", LIBC), ("ggml_aligned_malloc", BASE),
               ("ggml_backend_cpu_buffer_type_alloc_buffer(ggml_backend_buffer_type*, unsigned long)", CPU),
               ("ggml_backend_buft_alloc_buffer", BASE), ("ggml_gallocr_reserve_n", BASE),
               ("ggml_backend_sched_reserve", BASE),
               ("llama_context::graph_reserve(unsigned int, unsigned int, unsigned int, llama_memory_context_i const*, bool)", LLAMA),
               ("llama_context::llama_context(llama_model const&, llama_context_params)", LLAMA))
WORK = _stack(("malloc", LIBC), ("ggml_backend_cpu_graph_compute(ggml_backend*, ggml_cgraph*)", CPU),
              ("ggml_backend_sched_graph_compute_async", BASE))
WEIGHTS = _stack(("malloc", LIBC), ("operator new(unsigned long)", "libstdc++.so.6"),
                 ("llama_model_loader::load_all_data(ggml_context*, std::unordered_map<unsigned int, ggml_backend_buffer*>&, "
                  "std::vector<std::unique_ptr<llama_mlock>>*, bool (*)(float, void*), void*)", LLAMA),
                 ("llama_model::load_tensors(llama_model_loader&)", LLAMA), ("llama_model_load_from_file", LLAMA))
REPACK = _stack(("posix_memalign", LIBC), ("ggml_aligned_malloc", BASE),
                ("ggml::cpu::repack::extra_buffer_type::alloc_buffer(ggml_backend_buffer_type*, unsigned long)", CPU),
                ("ggml_backend_buft_alloc_buffer", BASE), ("llama_model::load_tensors(llama_model_loader&)", LLAMA))
VOCAB = _stack(("malloc", LIBC), ("strdup", LIBC), ("llama_vocab::impl::load(llama_model_loader&, LLM_KV const&)", LLAMA))
CPUINIT = _stack(("malloc", LIBC), ("ggml_cpu_init", CPU), ("ggml_backend_cpu_reg", CPU))
TLS = _stack(("calloc", LIBC), ("_dl_allocate_tls", "/lib64/ld-linux-x86-64.so.2"), ("pthread_create@@GLIBC_2.34", LIBC),
             ("ggml_threadpool_new_impl", CPU))
PYLIST = _stack(("malloc", LIBC), ("PyMem_RawMalloc", PY), ("_PyObject_Malloc", PY), ("list_resize", PY),
                ("_PyEval_EvalFrameDefault", PY))
STDLIB = "/root/.pyenv/versions/3.11.7/lib/python3.11"
PYFRAMES = (Frame("_compile", f"{STDLIB}/re/__init__.py", f"{STDLIB}/re/__init__.py", 294),
            Frame("main", "profiler/workload/child.py", "profiler/workload/child.py", 90))
LLAMA_PY = f"{STDLIB}/site-packages/llama_cpp/_internals.py"
LLAMAPYFRAMES = (Frame("__init__", LLAMA_PY, LLAMA_PY, 56), Frame("__init__", f"{STDLIB}/site-packages/llama_cpp/llama.py"),
                 Frame("load_model", "profiler/workload/child.py", "profiler/workload/child.py", 40))
SCRIPT = (Frame("leak_lost", "tests/workloads/planted_driver.py", "tests/workloads/planted_driver.py", 67),
          Frame("run_split", "tests/workloads/planted_driver.py", "tests/workloads/planted_driver.py", 85))
OMP_WORKER = _stack(("malloc", LIBC), ("ggml_compute_forward_mul_mat", CPU), ("ggml_graph_compute_thread", CPU),
                    ("gomp_thread_start", "/lib/x86_64-linux-gnu/libgomp.so.1"), ("start_thread", LIBC))


@pytest.mark.parametrize("stack,category,site", [
    (KV, "kv_cache", "llama_kv_cache::llama_kv_cache"),
    (SCHED, "compute_pool", "ggml_gallocr_reserve_n"),
    (WORK, "compute_pool", "ggml_backend_cpu_graph_compute"),
    (WEIGHTS, "weights", "llama_model_loader::load_all_data"),
    (REPACK, "weights", "ggml::cpu::repack::extra_buffer_type::alloc_buffer"),
    (VOCAB, "init", "llama_vocab::impl::load"),
    (CPUINIT, "init", "ggml_cpu_init"),
    (TLS, "libc", "_dl_allocate_tls"),
    (PYLIST, "python", "list_resize"),
    (PYFRAMES, "python", "_compile"),
    (LLAMAPYFRAMES, "unknown", "__init__"),
    (SCRIPT, "unknown", "leak_lost"),
    (OMP_WORKER, "compute_pool", "ggml_compute_forward_mul_mat"),
])
def test_ggml_call_paths(rules, stack, category, site):
    idx = rules.site_index(stack)
    assert stack[idx].function.startswith(site)
    assert rules.category(stack) == category


def test_interpreter_frames_do_not_claim_native_callees(rules):
    # leak_lost called from Python through ctypes: PyObject_Call/_PyEval are on the path, not the owner
    stack = _stack(("malloc", LIBC), ("leak_lost", "/tmp/libplanted.so"), ("planted_iteration", "/tmp/libplanted.so"),
                   ("ffi_call_unix64", "libffi.so.8"), ("_ctypes_callproc", "_ctypes.cpython-311-x86_64-linux-gnu.so"),
                   ("PyObject_Call", PY), ("_PyEval_EvalFrameDefault", PY))
    assert rules.category(stack) == "unknown"


# --- the user's rules ------------------------------------------------------------------

def test_user_rules_take_precedence(tmp_path, heaptrack_cap):
    f = tmp_path / "mine.toml"
    f.write_text(
        '[plumbing]\nfunctions = ["since_start"]\n\n'
        '[[rule]]\ncategory = "init"\nfunctions = ["__fopen_internal"]\nnote = "ours"\n\n'
        '[[rule]]\ncategory = "kv_cache"\nfunctions = ["planted_iteration"]\n\n'
        '[[rule]]\ncategory = "my_cache"\nfunctions = ["init_once"]\n')
    rules = load_rules([f])
    assert rules.sources[0] == str(f)
    # a user rule beats the shipped libc rule on the same frame
    cat, rule, _ = rules.classify(_row(heaptrack_cap, "__fopen_internal")["stack"])
    assert (cat, rule.source) == ("init", f"{f}:4")
    # and an outer frame matched by a user rule beats "no rule" further in
    assert rules.category(_row(heaptrack_cap, "leak_lost")["stack"]) == "kv_cache"
    assert rules.category(_row(heaptrack_cap, "init_once")["stack"]) == "my_cache"
    # the shipped rules still apply where the user says nothing
    assert load_rules().category(_row(heaptrack_cap, "__fopen_internal")["stack"]) == "libc"
    # the user's plumbing re-names: fopen's site is no longer inside since_start
    t = triage_capture(heaptrack_cap, rules)
    assert set(t.sites["category"]) == {"init", "kv_cache", "my_cache", "libc"}


@pytest.mark.parametrize("text,line,what", [
    ('[[rule]]\ncategory = "kv_cache"\nfunctions = ["a", \n', 3, "not valid TOML"),
    ('[[rule]]\ncategory = kv_cache\n', 2, "not valid TOML"),
    ('\n\n[[rule]]\ncategory = "kv_cache"\nfunction = ["x"]\n', 3, "unknown key(s) function"),
    ('[[rule]]\ncategory = "kv_cache"\nfunctions = ["x"]\n[[rule]]\ncategory = "pool"\n', 4, "neither functions nor modules"),
    ('[[rule]]\ncategory = "two words"\nfunctions = ["x"]\n', 1, "needs a category name"),
    ('[[rule]]\ncategory = "init"\nfunctions = [1]\n', 1, "must be a list of strings"),
])
def test_bad_rules_file_is_one_line_with_file_and_line(tmp_path, text, line, what):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(BadInput) as exc:
        load_rules([f])
    msg = exc.value.one_line()
    assert "\n" not in msg
    assert msg.startswith(str(f))
    assert what in msg
    assert f"line {line}" in msg or f"{f}:{line}:" in msg


def test_missing_rules_file(tmp_path):
    with pytest.raises(BadInput, match="no such rules file"):
        load_rules([tmp_path / "nope.toml"])


def test_cli_bad_rules_exits_bad_input_without_traceback(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text('[[rule]]\ncategory = "kv_cache"\nfunctions = ["llama_kv_cache*"\n')
    proc = memprof_process("check", HEAPTRACK, "--rules", f, timeout=120)
    assert proc.returncode == int(ExitCode.BAD_INPUT)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"memprof: error: {f}: not valid TOML") and "line 3" in lines[0]


# --- real llama.cpp stacks: heaptrack on tests/data/triage/llama_switch.c ----------------------
# (libllama from the installed llama-cpp-python, the tiny Qwen3 twins, 6 load/decode/free
# iterations; scripts/make_fixtures.sh triage)

@pytest.fixture(scope="module")
def llama_sites(rules):
    cap = triage_capture(load_capture(DATA / "triage" / "llama_switch.zst"), rules)
    return cap.sites


def _llama(sites, site_startswith):
    rows = sites[sites["site"].str.startswith(site_startswith)]
    assert len(rows) == 1, (site_startswith, rows["site"].tolist())
    return rows.iloc[0]


@pytest.mark.parametrize("site,category,peak", [
    ("ggml_backend_sched_new (in ", "compute_pool", 21700412),
    ("??? (in /work/main/.venv/lib/python3.11/site-packages/llama_cpp/lib/libggml-base.so.0) <- ggml_backend_sched_reserve",
     "compute_pool", None),
    ("llm_graph_result::reset() (in ", "compute_pool", 844800),
    ("??? (in /work/main/.venv/lib/python3.11/site-packages/llama_cpp/lib/libggml-base.so.0) <- llama_kv_cache::llama_kv_cache(",
     "kv_cache", 524408),
    ("llama_vocab::impl::load(", "init", 1130856),
    ("unicode_cpt_flags_from_cpt(unsigned int) (in ", "init", 2228224),
    ("llama_model_base::load_tensors(llama_model_loader&) (in ", "weights", 14109),
    ("llama_model_create(llm_arch, llama_model_params const&) (in ", "weights", 37096),
])
def test_real_llama_cpp_stacks(llama_sites, site, category, peak):
    row = _llama(llama_sites, site)
    assert row["category"] == category
    if peak is not None:
        assert row["peak_bytes"] == peak


def test_real_llama_cpp_kv_buffer_named_after_the_cache(llama_sites):
    # posix_memalign <- ggml_aligned_malloc <- (static, no symbol) <- ggml_backend_alloc_ctx_tensors_from_buft
    # <- llama_kv_cache::llama_kv_cache: the unresolved frame is named after its first caller that
    # is not plumbing, and the category comes from the KV cache's constructor
    row = _llama(llama_sites, "??? (in /work/main/.venv/lib/python3.11/site-packages/llama_cpp/lib/libggml-base.so.0) "
                              "<- llama_kv_cache::llama_kv_cache(")
    fns = [f.function for f in row["stack"]]
    assert fns[:2] == ["posix_memalign", "ggml_aligned_malloc"] or fns[0] == "ggml_aligned_malloc"
    assert "ggml_backend_alloc_ctx_tensors_from_buft" in fns
    assert not (llama_sites["category"] == "unknown").any()


def test_plumbing_by_source_file(tmp_path, rules):
    # massif on templated.cpp: std::vector's inlined allocate/_M_default_append/resize are skipped
    # by their libstdc++ headers, so the site is the code that resized the vector
    cap = triage_capture(load_capture(DATA / "massif" / "templated.massif.out"), rules)
    sites = cap.sites["site"].tolist()
    assert any(s.startswith("memprof_demo::detail::Cache<std::pair<int, long>, double>::fill(") for s in sites)
    assert not any(s.startswith(("allocate (", "resize (", "_M_")) for s in sites)
    f = tmp_path / "files.toml"
    f.write_text('[plumbing]\nfiles = ["templated.cpp"]\n')
    assert load_rules([f]).is_plumbing(Frame("Buffer", None, "templated.cpp", 21))
    f.write_text('[plumbing]\nfunction = ["x"]\n')
    with pytest.raises(BadInput, match=r"unknown key\(s\) function in \[plumbing\]"):
        load_rules([f])


# --- the per-frame caches decide as a walk over the stack would -------------------------------

def _names_in(*caps) -> set[str]:
    names = {"", "*", "a*b", "[x]", "operator new[]", "libpython3.11.so.1.0", "x/lib/python3.11/y.py"}
    for cap in caps:
        for stack in cap.sites["stack"]:
            for fr in stack:
                names.update(function_names(fr.function))
                for where in (fr.module, fr.file):
                    if where:
                        names.update((where, Path(where).name))
    return names


def test_globs_match_exactly_as_fnmatch(rules, heaptrack_cap):
    import fnmatch
    import re

    from profiler.triage.rules import Globs

    llama = load_capture(DATA / "triage" / "llama_switch.zst")
    names = _names_in(heaptrack_cap, llama, load_capture(DATA / "memray" / "planted_native.bin"))
    patterns = {p for r in rules.rules for p in r.functions + r.modules} | set(rules.plumbing) | \
        set(rules.plumbing_files) | {"*", "**", "a**", "*?", "[ab]*", "*a*b*", "lib*.so*", "*.py"}
    assert len(patterns) > 350 and len(names) > 1000
    for p in sorted(patterns):
        regex = re.compile(fnmatch.translate(p))
        glob = Globs([p])
        wrong = [n for n in names if glob.match(n) != bool(regex.match(n))]
        assert not wrong, (p, wrong[:5])
    # a list matches where any of its patterns does
    many = Globs(sorted(patterns)[:40])
    assert all(many.match(n) == any(Globs([p]).match(n) for p in sorted(patterns)[:40]) for n in names)


class _StandIn:
    """A frame-like object that cannot be hashed (no cache can hold it)."""
    __hash__ = None

    def __init__(self, fr):
        self.function, self.module, self.file = fr.function, fr.module, fr.file


@pytest.mark.parametrize("capture", ["triage/llama_switch.zst", "memray/planted_native.bin",
                                     "massif/llama_switch.massif.out"])
def test_cached_decisions_equal_frame_by_frame_ones(capture, tmp_path):
    # the same stacks decided three ways: through the per-frame caches (cold, then in reverse
    # order with the caches warm), by position for unhashable stand-ins, and as plain
    # (function, module, file) tuples; with the shipped rules and with a user file on top
    user = tmp_path / "mine.toml"
    user.write_text('[plumbing]\nfunctions = ["ggml_gallocr_reserve_n"]\nfiles = ["*.h"]\n\n'
                    '[[rule]]\ncategory = "mine"\nfunctions = ["llama_*"]\nmodules = ["libllama.so*"]\n\n'
                    '[[rule]]\ncategory = "kv_cache"\nmodules = ["libc.so*", "*.py"]\ninnermost = true\n')
    stacks = [tuple(s) for s in load_capture(DATA / capture).sites["stack"]]
    assert len(stacks) > 15
    cats = set()
    for extra in ([], [user]):
        cold = [load_rules(extra).name_and_classify(s) for s in stacks[:1]]
        rules = load_rules(extra)
        cached = [rules.name_and_classify(s) for s in stacks]
        assert cached[:1] == cold
        assert [rules.name_and_classify(s) for s in reversed(stacks)] == cached[::-1]
        fresh = load_rules(extra)
        assert [fresh.name_and_classify([_StandIn(f) for f in s]) for s in stacks] == cached
        plain = load_rules(extra)
        assert [plain.name_and_classify(tuple((f.function, f.module, f.file) for f in s)) for s in stacks] == cached
        cats.update(c for _, c, _, _ in cached)
    assert len(cats) >= 2, cats
