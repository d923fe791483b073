"""Trees of tasks whose parents wait in ``get`` for their children finish, however many of
them wait at once: a blocked worker does not count against the node's worker cap (Ray starts
workers beyond its pool for tasks whose parents are blocked), so the cap never turns into a
deadlock. The node's cap is lowered here so a small tree exceeds it."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(240)


def _small_cap(tmp_path: Path, cap: int) -> str:
    cfg = tmp_path / "node.toml"
    cfg.write_text(f"[node]\nmax_workers = {cap}\n")
    return str(cfg)


def test_binary_tree_of_blocked_tasks_wider_than_the_worker_cap(ray_init, tmp_path: Path) -> None:
    ray = ray_init(num_cpus=1, _config_file=_small_cap(tmp_path, 4))

    @ray.remote
    def tree(depth: int) -> int:
        import edgeray

        if depth == 0:
            return 1
        return sum(edgeray.get([tree.remote(depth - 1), tree.remote(depth - 1)]))

    # 15 tasks, 7 of them blocked in get at once: more than the cap of 4 workers
    assert ray.get(tree.remote(3), timeout=180) == 8


def test_quick_sort_by_tasks_with_two_cpus(ray_init, tmp_path: Path) -> None:
    ray = ray_init(num_cpus=2, _config_file=_small_cap(tmp_path, 3))

    @ray.remote
    def qsort(xs: list[int]) -> list[int]:
        import edgeray

        if len(xs) <= 2:
            return sorted(xs)
        pivot, rest = xs[0], xs[1:]
        low = qsort.remote([x for x in rest if x < pivot])
        high = qsort.remote([x for x in rest if x >= pivot])
        return edgeray.get(low) + [pivot] + edgeray.get(high)

    data = [(i * 7919) % 61 for i in range(40)]
    assert ray.get(qsort.remote(data), timeout=180) == sorted(data)
