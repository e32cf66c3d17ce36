"""The real switch loop on the tiny twins, under real llama-cpp-python."""
from __future__ import annotations

import json
import os
import signal
import sys
import threading

import pytest

from profiler import rundir
from profiler.errors import WorkloadFailed
from profiler.workload.config import LoopConfig
from profiler.workload.runner import prepare_loop, run_workload
from testkit import memprof_process, needs, wait_for_records

pytestmark = [pytest.mark.integration, needs("llama_cpp")]

RECORD_FIELDS = {
    "iteration", "model", "model_path", "strategy", "t_start", "t_end", "wall_start", "wall_end",
    "load_s", "ttft_s", "gen_s", "unload_s", "n_tokens", "tokens_per_s", "output_digest",
    "token_error_rate", "rss", "uss", "pss", "rss_anon", "rss_file", "swap", "heap_in_use",
    "heap_free_retained", "heap_mmap", "threads", "gc_collections", "gc_full_collections", "gc_collected", "status",
    "rss_after_load", "rss_peak", "peak_method",
}
CGROUP_FIELDS = {"cgroup_version", "cgroup_usage", "cgroup_anon", "cgroup_file", "cgroup_file_mapped",
                 "cgroup_shmem", "cgroup_kernel", "cgroup_swap", "cgroup_limit", "cgroup_procs"}


def _config(tiny_models, **kw) -> LoopConfig:
    models = [{"alias": a, "path": str(p)} for a, p in tiny_models.items()]
    return LoopConfig(**{"models": models, "iterations": 4, "max_tokens": 4, "threads": 2, **kw})


def _memprof(*args, env=None, **kw):
    return memprof_process(*args, env=env, popen=True, **kw)


@pytest.mark.parametrize("strategy", ["reload", "reset"])
def test_loop_records(tiny_models, tmp_path, strategy):
    config = _config(tiny_models, strategy=strategy)
    result = run_workload(tmp_path, prepare_loop(tmp_path, config), expected_iterations=4, progress=False)
    assert (result.returncode, result.iterations) == (0, 4)

    recs = list(rundir.iter_records(tmp_path / rundir.ITERATIONS))
    assert [r["iteration"] for r in recs] == [1, 2, 3, 4]
    assert [r["model"] for r in recs] == ["tiny-0.6b", "tiny-1.7b", "tiny-0.6b", "tiny-1.7b"]
    for r in recs:
        assert set(r) - CGROUP_FIELDS == RECORD_FIELDS
        assert not set(r) & CGROUP_FIELDS or CGROUP_FIELDS <= set(r)
        # the stages of an iteration: the peak covers the loaded model, and what stays after unload
        assert r["peak_method"] in ("vmhwm", "sampled")
        assert r["rss_peak"] >= r["rss_after_load"] and r["rss_peak"] >= r["rss"]
        assert r["rss_after_load"] + 4 * 2**20 >= r["rss"]
        assert r["strategy"] == strategy and r["status"] == "ok"
        assert r["n_tokens"] == 4
        assert r["token_error_rate"] == 0.0           # greedy decoding is deterministic
        assert r["rss"] > 0 and r["rss_anon"] + r["rss_file"] <= r["rss"] + 65536
        assert r["heap_in_use"] > 0 and r["threads"] >= 1
        assert r["t_start"] < r["t_end"] and r["wall_start"] < r["wall_end"]
        assert r["ttft_s"] <= r["gen_s"]
    assert recs[0]["output_digest"] == recs[2]["output_digest"]
    assert recs[1]["output_digest"] == recs[3]["output_digest"]
    assert recs[0]["output_digest"] != recs[1]["output_digest"]
    assert all(a["t_end"] <= b["t_start"] for a, b in zip(recs, recs[1:]))
    # the collection probe after the loop: recorded as such, never read as an iteration
    probes = [r for r in rundir.iter_records(tmp_path / rundir.ITERATIONS, probes=True) if rundir.is_probe(r)]
    assert [(p["probe"], p["after_iteration"]) for p in probes] == [("gc_collect", 4), ("malloc_trim", 4)]
    assert "iteration" not in probes[0] and probes[0]["gc_full_collections"] >= 1
    assert probes[0]["heap_in_use"] <= recs[-1]["heap_in_use"]

    meta = rundir.read_meta(tmp_path)
    assert meta["returncode"] == 0 and meta["iterations"] == 4
    assert "AVX2 = 1" in meta["llama"]["system_info"] or "CPU" in meta["llama"]["system_info"]
    assert meta["loop"]["strategy"] == strategy
    assert meta["machine"]["cores"] >= 1 and meta["versions"]["llama_cpp_python"]


def test_sigkill_keeps_finished_records(tiny_models, tmp_path):
    config = _config(tiny_models, iterations=100000, max_tokens=2)
    argv = prepare_loop(tmp_path, config)
    iterations = tmp_path / rundir.ITERATIONS

    def killer():
        if wait_for_records(iterations, 3, 60):
            pid = json.loads((tmp_path / "child_info.json").read_text())["pid"]
            os.kill(pid, signal.SIGKILL)

    t = threading.Thread(target=killer)
    t.start()
    with pytest.raises(WorkloadFailed, match=r"killed by SIGKILL after \d+ saved iterations"):
        run_workload(tmp_path, argv, progress=False)
    t.join()
    recs = list(rundir.iter_records(iterations, allow_torn_tail=True))
    assert len(recs) >= 3
    assert [r["iteration"] for r in recs] == list(range(1, len(recs) + 1))
    meta = rundir.read_meta(tmp_path)
    assert meta["exit_status"] == "signal SIGKILL" and meta["iterations"] == len(recs)


def test_model_llama_cannot_load_exits_5_with_one_line(tmp_path):
    import gguf

    bad = tmp_path / "alien.gguf"   # a valid GGUF file of an architecture llama.cpp does not know
    w = gguf.GGUFWriter(bad, "alienarch")
    w.add_block_count(1)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.close()
    proc = _memprof("run", "--model", str(bad), "--iterations", "2", "--out", str(tmp_path / "run"))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 5
    lines = [line for line in err.splitlines() if line.startswith("memprof: error:")]
    assert len(lines) == 1 and "Traceback" not in err
    assert "exited with status 1 after 0 saved iterations" in lines[0]
    assert "could not load alien" in lines[0]
    assert "unknown model architecture: 'alienarch'" in lines[0]   # llama.cpp's own reason


def test_ctrl_c_stops_after_the_step_and_keeps_records(tiny_models, tmp_path):
    run = tmp_path / "run"
    cache = next(iter(tiny_models.values())).parent
    proc = _memprof("run", "--quick", "--iterations", "100000", "--max-tokens", "2", "--out", str(run),
                    env={"MEMPROF_CACHE": str(cache)})
    iterations = run / rundir.ITERATIONS
    wait_for_records(iterations, 2, 60)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    n = len(list(rundir.iter_records(iterations)))   # stopped between steps: no torn line
    assert n >= 2
    meta = rundir.read_meta(run)
    assert meta["exit_status"] == "interrupted" and "backend" not in meta
    cut = meta["cut"]
    assert (cut["reason"], cut["how"], cut["iterations"]) == ("interrupted", "after the current step", n)
    # through the session, like the profiler commands: the live summary of what was kept leads with
    # the RUN CUT line, and the error line says where it stopped and what was kept
    lines = out.splitlines()
    assert lines[0] == (f"RUN CUT (INTERRUPTED, stopped after the current step, after {cut['after_s']} s and {n} "
                        "iteration(s)): nothing after it was measured")
    assert lines[1].startswith("VERDICT: ") and lines[1].endswith(f"(run: {run})")
    assert err.strip().splitlines()[-1] == (
        f"memprof: error: interrupted after {cut['after_s']} s and {n} iteration(s); kept {n} iteration "
        f"record(s) in {run}; analyse with: memprof analyze {run}")
    assert (run / rundir.ANALYSIS).is_file()


def test_a_killed_loop_under_memprof_run_is_summarised_from_its_records(tiny_models, tmp_path):
    """The loop killed under `memprof run` (an OOM kill, say): exit 5 with one error line naming the
    signal and what was kept, after the summary of the records it left."""
    run = tmp_path / "run"
    cache = next(iter(tiny_models.values())).parent
    proc = _memprof("run", "--quick", "--iterations", "100000", "--max-tokens", "2", "--out", str(run),
                    env={"MEMPROF_CACHE": str(cache)})
    assert wait_for_records(run / rundir.ITERATIONS, 3, 60, proc)
    os.kill(json.loads((run / "child_info.json").read_text())["pid"], signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 5, err
    n = len(list(rundir.iter_records(run / rundir.ITERATIONS, allow_torn_tail=True)))
    assert n >= 3 and rundir.read_meta(run)["exit_status"] == "signal SIGKILL"
    assert out.splitlines()[0].startswith("VERDICT: ") and f"(run: {run})" in out.splitlines()[0]
    errors = [line for line in err.splitlines() if line.startswith("memprof: error:")]
    assert len(errors) == 1 and "Traceback" not in err
    assert f"killed by SIGKILL after {n} saved iterations" in errors[0]
    assert errors[0].endswith(f"; kept {n} iteration record(s) in {run}")


def test_quick_run_cli(tiny_models, tmp_path):
    run = tmp_path / "run"
    cache = next(iter(tiny_models.values())).parent
    proc = _memprof("run", "--quick", "-n", "2", "--max-tokens", "2", "--out", str(run),
                    env={"MEMPROF_CACHE": str(cache)})
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert out.strip().splitlines()[-1] == f"next: memprof report {run}"
    recs = list(rundir.iter_records(run / rundir.ITERATIONS))
    assert [r["model"] for r in recs] == ["tiny-0.6b", "tiny-1.7b"]
    assert json.loads((run / "loop.json").read_text())["max_tokens"] == 2


def test_failing_command_reports_signal(tmp_path):
    argv = [sys.executable, "-c", "import os, signal; print('about to crash', flush=True); "
                                  "os.kill(os.getpid(), signal.SIGSEGV)"]
    with pytest.raises(WorkloadFailed, match=r"killed by SIGSEGV after 0 saved iterations: about to crash"):
        run_workload(tmp_path, argv, progress=False)


def test_collect_garbage_flattens_the_python_cycle_growth(tiny_models, tmp_path):
    """llama-cpp-python's sampler sits in a reference cycle holding ~12 bytes per vocabulary
    entry; without a collection it piles up (the cyclic gc rarely runs in this loop)."""
    heaps = {}
    for collect in (False, True):
        run = tmp_path / f"gc-{collect}"
        config = _config(tiny_models, iterations=6, max_tokens=2, collect_garbage=collect)
        run_workload(run, prepare_loop(run, config), progress=False)
        recs = list(rundir.iter_records(run / rundir.ITERATIONS))
        heaps[collect] = [r["heap_in_use"] for r in recs]
    vocab_bytes = 12 * (4096 + 8192)            # one sampler per model, per pair of iterations
    assert heaps[False][-1] - heaps[False][1] >= 2 * 0.8 * vocab_bytes
    assert abs(heaps[True][-1] - heaps[True][1]) < 16 * 1024


def test_a_run_directory_is_never_appended_to(tiny_models, tmp_path):
    from profiler.errors import UsageProblem

    (tmp_path / rundir.ITERATIONS).write_text('{"iteration": 1, "rss": 1}\n')
    with pytest.raises(UsageProblem, match="already holds a run"):
        prepare_loop(tmp_path, _config(tiny_models))


def test_the_prompt_bound_holds_for_the_real_tokenizer(tiny_models):
    """LoopConfig refuses a prompt that may not fit in the context by a bound on its tokens (the
    exact count needs the model's tokenizer): the bound is never below what the child's own
    tokenize call gives, for plain, spaced and multi-byte text. In a child process: loading
    libggml-cpu sets KMP_BLOCKTIME in the C environment, which would leak into later tests."""
    import subprocess

    from profiler.workload.config import DEFAULT_PROMPT, prompt_token_bound

    prompts = [DEFAULT_PROMPT, "A", "héllo wörld ✓ 日本語 🙂", "  spaces   and\ttabs\n", "a b c d e f g h"]
    code = ("import json, sys, llama_cpp\n"
            "paths, prompts = json.loads(sys.argv[1])\n"
            "out = []\n"
            "for p in paths:\n"
            "    llm = llama_cpp.Llama(model_path=p, vocab_only=True, verbose=False)\n"
            "    out.append([len(llm.tokenize(t.encode(), add_bos=True, special=False)) for t in prompts])\n"
            "print(json.dumps(out))\n")
    arg = json.dumps([[str(p) for p in tiny_models.values()], prompts])
    done = subprocess.run([sys.executable, "-c", code, arg], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(counts) == 2
    for per_model in counts:
        assert all(0 < n <= prompt_token_bound(p) for n, p in zip(per_model, prompts)), per_model
    assert counts[0][0] == 50 and counts[1][0] == 41        # the figures LoopConfig's docstring cites
