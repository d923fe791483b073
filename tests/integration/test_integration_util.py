"""``edgeray.util`` and ``cluster_utils`` as Ray's: ``ActorPool.map`` submits at once, the
``Queue``'s checks and its actor's CPU, ``Cluster`` before and after its head."""

from __future__ import annotations

import pytest
from waiting import wait_for

pytestmark = pytest.mark.timeout(180)


def test_actor_pool_map_submits_before_its_results_are_read(ray) -> None:
    """Ray's ``map`` returns a generator but submits first: work starts without a reader."""
    from edgeray.util import ActorPool

    @ray.remote
    class Doubler:
        def double(self, v):
            return 2 * v

    submitted: list[int] = []

    def fn(actor, v):
        submitted.append(v)
        return actor.double.remote(v)

    pool = ActorPool([Doubler.remote(), Doubler.remote()])
    results = pool.map(fn, range(5))
    assert sorted(submitted) == [0, 1]  # one per idle actor; the rest as they free up
    assert list(results) == [0, 2, 4, 6, 8] and sorted(submitted) == list(range(5))
    submitted.clear()
    unordered = pool.map_unordered(fn, [7, 8])
    assert sorted(submitted) == [7, 8]
    assert sorted(unordered) == [14, 16]


def test_queue_argument_errors_are_rays(ray) -> None:
    from edgeray.util.queue import Queue

    q = Queue()
    try:
        with pytest.raises(TypeError, match="Argument 'num_items' must be an int"):
            q.get_nowait_batch("2")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="'num_items' must be nonnegative"):
            q.get_nowait_batch(-1)
        with pytest.raises(TypeError, match="Argument 'items' must be an Iterable"):
            q.put_nowait_batch(5)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="'timeout' must be a non-negative number"):
            q.put(1, timeout=-1)
    finally:
        q.shutdown()


def test_queue_actor_takes_no_cpu_unless_asked_and_gives_it_back(ray) -> None:
    from edgeray.util.queue import Queue

    total = ray.cluster_resources()["CPU"]
    q = Queue()
    q.put(1)
    assert ray.available_resources()["CPU"] == total  # Ray's Queue actor: num_cpus=0
    q.shutdown()
    big = Queue(actor_options={"num_cpus": 1})
    big.put(1)
    assert ray.available_resources()["CPU"] == total - 1
    big.shutdown()
    wait_for(lambda: ray.available_resources()["CPU"] == total, what="the queue actor's CPU back")


def test_cluster_address_before_a_head_and_add_node_memory(edgeray_home: str) -> None:
    import edgeray
    from edgeray.cluster_utils import Cluster

    with pytest.raises(RuntimeError, match="Cannot connect to uninitialized cluster"):
        Cluster(connect=True)
    cluster = Cluster()
    try:
        assert cluster.address is None  # as Ray's, before add_node()
        cluster.add_node(num_cpus=1, memory=300 * 1024 * 1024)
        assert cluster.address is not None and cluster.address.startswith("ws://")
        edgeray.init(address=cluster.address)
        assert edgeray.cluster_resources()["memory"] == 300 * 1024 * 1024
    finally:
        edgeray.shutdown()
        cluster.shutdown()
