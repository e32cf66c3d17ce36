"""Memory cgroup reading on copied hierarchies: v1 copied from this machine's real
/sys/fs/cgroup/memory, v2 written to the kernel documentation's format (tests/data/cgroup/v2/README.md)."""
from __future__ import annotations

from pathlib import Path

from profiler.workload import cgroup

DATA = Path(__file__).resolve().parents[1] / "data" / "cgroup"
V1_GROUP = "/process_api/fcb8cc080647bbde785c0592d5222b60"


def test_v1_located_through_mountinfo_and_read():
    cg = cgroup.locate("self", DATA / "v1")
    assert cg is not None and cg.version == 1 and cg.path == V1_GROUP
    assert cg.directory == DATA / "v1" / "sys/fs/cgroup/memory" / V1_GROUP.lstrip("/")
    m = cgroup.read(cg)
    # the files' own figures (memory.stat total_rss / total_cache / total_mapped_file, kmem usage)
    assert m["usage"] == 4628480
    assert (m["anon"], m["file"], m["file_mapped"], m["shmem"]) == (1884160, 1257472, 0, 0)
    assert m["kernel"] == 1085440
    assert m["limit"] is None           # 9223372036854771712: no limit
    assert m["procs"] == 5
    assert m["swap"] == 0               # total_swap
    # v1 charges kernel memory to usage too: the three parts add up to it within a few pages
    assert abs(m["usage"] - (m["anon"] + m["file"] + m["kernel"])) < 512 * 1024


def test_v2_located_and_read():
    cg = cgroup.locate("self", DATA / "v2")
    assert cg is not None and cg.version == 2 and cg.path == "/system.slice/llama.service"
    m = cgroup.read(cg)
    assert m["usage"] == 2415919104 == m["anon"] + m["file"] + m["kernel"]
    assert (m["anon"], m["file"], m["file_mapped"], m["kernel"]) == (402653184, 1979711488, 1912602624, 33554432)
    assert m["limit"] == 6442450944 and m["swap"] == 0 and m["procs"] == 2


def test_v2_kernel_summed_from_parts_before_5_18(tmp_path):
    import shutil

    shutil.copytree(DATA / "v2", tmp_path / "v2")
    stat = tmp_path / "v2/sys/fs/cgroup/system.slice/llama.service/memory.stat"
    stat.write_text("".join(l + "\n" for l in stat.read_text().splitlines() if not l.startswith("kernel ")))
    (stat.parent / "memory.max").write_text("max\n")
    m = cgroup.read(cgroup.locate("self", tmp_path / "v2"))
    assert m["kernel"] == 1064960 + 4194304 + 262144 + 0 + 16384 + 28016640
    assert m["limit"] is None


def test_no_memory_cgroup(tmp_path):
    (tmp_path / "proc/self").mkdir(parents=True)
    (tmp_path / "proc/self/cgroup").write_text("0::/\n")
    assert cgroup.locate("self", tmp_path) is None
    assert cgroup.record_fields("self", tmp_path) == {}
    assert cgroup.locate("self", tmp_path / "absent") is None


def test_record_fields_of_this_process():
    fields = cgroup.record_fields()
    if cgroup.locate() is None:
        assert fields == {}
        return
    assert fields["cgroup_version"] in (1, 2)
    assert fields["cgroup_usage"] > 0 and fields["cgroup_procs"] >= 1
