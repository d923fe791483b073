"""A task blocked in get/wait lends its CPU: nested tasks never deadlock, even on one CPU."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(120)

RAY_INIT_KWARGS = {"num_cpus": 1}


@pytest.fixture(scope="module")
def ray(ray_module):
    return ray_module


def test_parent_waits_on_four_children_with_one_cpu(ray) -> None:
    @ray.remote
    def child(i):
        return i * 10

    @ray.remote
    def parent():
        import edgeray

        return edgeray.get([child.remote(i) for i in range(4)])

    assert ray.get(parent.remote(), timeout=60) == [0, 10, 20, 30]


def test_nested_wait_releases_the_cpu(ray) -> None:
    @ray.remote
    def child(i):
        return i

    @ray.remote
    def parent():
        import edgeray

        refs = [child.remote(i) for i in range(3)]
        ready, _ = edgeray.wait(refs, num_returns=3, timeout=50)
        return sorted(edgeray.get(ready))

    assert ray.get(parent.remote(), timeout=60) == [0, 1, 2]


def test_recursion_three_levels_deep(ray) -> None:
    @ray.remote
    def depth(n):
        import edgeray

        if n == 0:
            return 0
        return 1 + edgeray.get(depth.remote(n - 1))

    assert ray.get(depth.remote(3), timeout=60) == 3


def test_cpu_is_taken_back_after_the_nested_get(ray) -> None:
    @ray.remote
    def child():
        return 1

    @ray.remote
    def parent():
        import edgeray

        return edgeray.get(child.remote())

    assert ray.get([parent.remote() for _ in range(3)], timeout=60) == [1, 1, 1]
    assert ray.available_resources().get("CPU") == 1
