"""The memory monitor's pure parts: reading memory use from a /proc and cgroup v2 tree (real
files in a temporary directory), and Ray's group-by-owner choice of the worker to kill."""

from __future__ import annotations

import pathlib

from edgeray.raylet._memory import Candidate, choose_victim, read_memory

MEMINFO = "MemTotal:       1000 kB\nMemFree:         100 kB\nMemAvailable:    400 kB\n"


def _tree(tmp_path: pathlib.Path, cgroup_line: str = "0::/job\n", limit: str | None = None,
          current: str = "0", stat: str = "") -> tuple[str, str]:
    proc, cg = tmp_path / "proc", tmp_path / "cgroup"
    (proc / "self").mkdir(parents=True)
    (proc / "meminfo").write_text(MEMINFO)
    (proc / "self" / "cgroup").write_text(cgroup_line)
    job = cg / "job"
    job.mkdir(parents=True)
    if limit is not None:
        (job / "memory.max").write_text(limit + "\n")
        (job / "memory.current").write_text(current + "\n")
        (job / "memory.stat").write_text(stat)
    return str(proc), str(cg)


def test_machine_memory_from_meminfo(tmp_path: pathlib.Path) -> None:
    snap = read_memory(*_tree(tmp_path))
    assert snap is not None
    assert (snap.used, snap.total, snap.source) == (600 * 1024, 1000 * 1024, "system")
    assert snap.fraction == 0.6


def test_a_cgroup_v2_limit_below_the_machine_is_what_counts(tmp_path: pathlib.Path) -> None:
    snap = read_memory(*_tree(tmp_path, limit=str(200 * 1024), current=str(150 * 1024),
                              stat=f"anon 1\ninactive_file {50 * 1024}\n"))
    assert snap is not None
    assert (snap.used, snap.total, snap.source) == (100 * 1024, 200 * 1024, "cgroup")


def test_an_unlimited_cgroup_leaves_the_machine_figures(tmp_path: pathlib.Path) -> None:
    snap = read_memory(*_tree(tmp_path, limit="max", current="5"))
    assert snap is not None and snap.source == "system"


def test_no_meminfo_no_sample(tmp_path: pathlib.Path) -> None:
    assert read_memory(str(tmp_path / "missing"), str(tmp_path)) is None


def _c(name: str, owner: str, retriable: bool, started: float) -> Candidate:
    return Candidate(name.encode(), owner.encode(), retriable, started)


def test_retriable_work_goes_first_even_if_older() -> None:
    picked = choose_victim([_c("old-retriable", "a", True, 1.0), _c("new-final", "b", False, 9.0)])
    assert picked is not None and picked[0].worker_id == b"old-retriable"


def test_the_largest_owner_group_loses_its_newest_task() -> None:
    cands = [_c("a1", "a", True, 1.0), _c("a2", "a", True, 5.0), _c("b1", "b", True, 8.0)]
    picked = choose_victim(cands)
    assert picked is not None and (picked[0].worker_id, picked[1]) == (b"a2", 2)


def test_between_groups_of_one_size_the_newest_group() -> None:
    cands = [_c("a1", "a", True, 1.0), _c("b1", "b", True, 3.0)]
    picked = choose_victim(cands)
    assert picked is not None and picked[0].worker_id == b"b1"


def test_non_retriable_work_is_one_group_whatever_its_owners() -> None:
    cands = [_c("x", "a", False, 1.0), _c("y", "b", False, 2.0)]
    picked = choose_victim(cands)
    assert picked is not None and (picked[0].worker_id, picked[1]) == (b"y", 2)
    assert choose_victim([]) is None
