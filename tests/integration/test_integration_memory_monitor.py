"""The node's memory monitor (Ray's OOM prevention), for real: the node runs with a threshold a
little above this machine's memory use now (``_system_config``), and a task that allocates and
touches memory (numpy) is killed once use passes it; the machine itself is never exhausted."""

from __future__ import annotations

import os
from typing import Any

import pytest
from waiting import wait_for

from edgeray.raylet._memory import read_memory

np = pytest.importorskip("numpy")

MARGIN = 768 << 20  # the threshold is this far above what is in use now (room for others on the machine)
FLOOR = 2 << 30  # the hog stops (and returns) before the machine has less than this available


def _threshold() -> float:
    snap = read_memory()
    if snap is None:
        pytest.skip("no /proc/meminfo here")
    if snap.total - snap.used < FLOOR + 2 * MARGIN:
        pytest.skip("not enough free memory on this machine for the test")
    return (snap.used + MARGIN) / snap.total


def _grower() -> Any:
    """A function (pickled by value, for the workers) that allocates 32 MiB at a time, touching
    every page, until the memory monitor kills its process; it returns the bytes held if the
    machine got near ``FLOOR`` first (a failure)."""

    def grow_until_killed() -> int:
        import time

        import numpy

        from edgeray.raylet._memory import read_memory

        held, total = [], 0
        while True:
            snap = read_memory()
            if snap is None or snap.total - snap.used < FLOOR:
                return total
            held.append(numpy.ones(32 << 20, dtype=numpy.uint8))  # (ones: every page written)
            total += 32 << 20
            time.sleep(0.02)  # (lets the monitor sample between steps: not synchronisation)

    return grow_until_killed


def _hog(ray: Any, marker: str | None = None) -> Any:
    """A task that grows until killed; with ``marker``, only its first attempt allocates."""
    grow_until_killed = _grower()

    def hog() -> int:
        if marker is not None:
            if os.path.exists(marker):
                return -1
            open(marker, "w").close()
        return grow_until_killed()

    return ray.remote(hog)


# a plain task goes to a worker the node lends its caller (a lease); SPREAD sends it via the node
@pytest.mark.parametrize("options", [{}, {"scheduling_strategy": "SPREAD"}], ids=["leased", "via-node"])
def test_a_task_without_retries_fails_with_out_of_memory_error(ray_init: Any, options: dict[str, Any]) -> None:
    threshold = _threshold()
    ray = ray_init(num_cpus=2, _system_config={"memory_usage_threshold": threshold, "memory_monitor_refresh_ms": 50})
    import edgeray.exceptions as rex
    from edgeray.client import current_client

    leases = current_client().leases
    if not options:  # a probe first, until a pool worker is lent to this driver (so the hog's is)
        probe = ray.remote(lambda: 1)
        sent = leases.sent
        wait_for(lambda: ray.get(probe.remote()) == 1 and leases.sent > sent, what="a task on a leased worker")
    sent = leases.sent
    with pytest.raises(rex.OutOfMemoryError) as info:
        ray.get(_hog(ray).options(max_retries=0, **options).remote())
    assert leases.sent == sent + (0 if options else 1)  # (the path the test means)
    msg = str(info.value)
    assert "memory usage threshold of" in msg and f"{threshold}" in msg
    assert "Memory on the node" in msg and "GB /" in msg
    assert isinstance(info.value, rex.RayError)
    # the node keeps serving
    assert ray.get(ray.remote(lambda: 41 + 1).remote()) == 42


def test_a_task_with_retries_left_runs_again(ray_init: Any, tmp_path: Any) -> None:
    threshold = _threshold()
    ray = ray_init(num_cpus=2, _system_config={"memory_usage_threshold": threshold, "memory_monitor_refresh_ms": 50})
    marker = str(tmp_path / "first-attempt")
    assert ray.get(_hog(ray, marker).options(max_retries=1).remote()) == -1
    assert os.path.exists(marker)


def test_an_actor_without_restarts_dies_of_out_of_memory(ray_init: Any) -> None:
    threshold = _threshold()
    ray = ray_init(num_cpus=2, _system_config={"memory_usage_threshold": threshold, "memory_monitor_refresh_ms": 50})
    import edgeray.exceptions as rex

    grow_until_killed = _grower()

    @ray.remote
    class Hog:
        def grow(self) -> int:
            return grow_until_killed()

    with pytest.raises(rex.RayActorError) as info:
        ray.get(Hog.remote().grow.remote())
    assert "running low on memory" in str(info.value)


def test_refresh_ms_zero_disables_the_monitor(ray_init: Any) -> None:
    snap = read_memory()
    if snap is None:
        pytest.skip("no /proc/meminfo here")
    # a threshold below what is in use already: an enabled monitor kills every task it sees
    ray = ray_init(num_cpus=1, _system_config={"memory_usage_threshold": max(0.001, snap.fraction / 2),
                                               "memory_monitor_refresh_ms": 0})

    def busy() -> int:
        import time

        end = time.monotonic() + 0.5
        n = 0
        while time.monotonic() < end:
            n += 1
        return 7

    assert ray.get(ray.remote(busy).options(max_retries=0).remote()) == 7
