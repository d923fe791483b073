"""Node failures in a real cluster: a worker node is SIGKILLed while it holds work, objects and
actors, and the rest of the cluster carries on (issue 6 on several nodes)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from waiting import wait_for, wait_for_file

import edgeray as ray
from edgeray.cluster_utils import Cluster
from edgeray.util.scheduling_strategies import NodeAffinitySchedulingStrategy


def _three_nodes(member_resources: dict[str, float] | None = None) -> Iterator[Any]:
    """A head and two members (1 CPU each), this process a driver on the head."""
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        c.add_node(num_cpus=1, resources=member_resources)
        c.add_node(num_cpus=1, resources=member_resources)
        ray.init(address=c.address)
        yield c
    finally:
        if ray.is_initialized():
            ray.shutdown()
        c.shutdown()


@pytest.fixture
def cluster() -> Iterator[Any]:
    yield from _three_nodes()


def soft_on(node: Any) -> NodeAffinitySchedulingStrategy:
    return NodeAffinitySchedulingStrategy(node.node_id, soft=True)


@ray.remote
def slow(x: int) -> tuple[str, int]:
    time.sleep(1.5)
    return ray.get_runtime_context().get_node_id(), x


@ray.remote
def first_attempt_hangs(x: int, started: str) -> tuple[str, int]:
    """The first attempt says it started and sleeps (its node gets killed); a retry returns."""
    if not os.path.exists(started):
        open(started, "w").close()
        time.sleep(120)
    return ray.get_runtime_context().get_node_id(), x


@ray.remote
def make(n: int) -> np.ndarray:
    return np.full(n, 3, dtype=np.uint8)


@ray.remote(max_restarts=1, max_task_retries=-1)
class Where:
    def __init__(self) -> None:
        self.node = ray.get_runtime_context().get_node_id()
        self.calls = 0

    def node_id(self) -> str:
        self.calls += 1
        return self.node


def _wait_dead(node_id: str, timeout: float = 30.0) -> None:
    wait_for(lambda: any(n["NodeID"] == node_id and not n["Alive"] for n in ray.nodes()), timeout,
             f"node {node_id} to be declared dead")


def test_task_on_a_killed_node_is_retried_elsewhere(cluster: Any, tmp_path: Path) -> None:
    victim = cluster.worker_nodes[0]
    started = tmp_path / "started"
    ref = first_attempt_hangs.options(scheduling_strategy=soft_on(victim)).remote(7, str(started))
    wait_for_file(started)  # (running on the victim)
    victim.kill()
    node, x = ray.get(ref, timeout=60)
    assert x == 7 and node != victim.node_id
    _wait_dead(victim.node_id)
    assert ray.cluster_resources()["CPU"] == 2


def test_task_without_retries_fails_with_node_died(cluster: Any, tmp_path: Path) -> None:
    victim = cluster.worker_nodes[0]
    started = tmp_path / "started"
    ref = first_attempt_hangs.options(scheduling_strategy=soft_on(victim), max_retries=0).remote(1, str(started))
    wait_for_file(started)  # (running on the victim)
    victim.kill()
    with pytest.raises(ray.exceptions.NodeDiedError):
        ray.get(ref, timeout=60)


def test_actor_on_a_killed_node_restarts_on_another(cluster: Any) -> None:
    victim = cluster.worker_nodes[1]
    a = Where.options(scheduling_strategy=soft_on(victim)).remote()
    assert ray.get(a.node_id.remote(), timeout=30) == victim.node_id
    victim.kill()
    _wait_dead(victim.node_id)
    moved = ray.get(a.node_id.remote(), timeout=60)  # the constructor ran again, elsewhere
    assert moved != victim.node_id


def test_actor_without_restarts_dies_with_its_node(cluster: Any) -> None:
    victim = cluster.worker_nodes[1]
    a = Where.options(scheduling_strategy=soft_on(victim), max_restarts=0).remote()
    assert ray.get(a.node_id.remote(), timeout=30) == victim.node_id
    victim.kill()
    _wait_dead(victim.node_id)
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(a.node_id.remote(), timeout=60)


def test_object_lost_with_its_node_is_recomputed(cluster: Any) -> None:
    victim = cluster.worker_nodes[0]
    ref = make.options(scheduling_strategy=soft_on(victim)).remote(8 << 20)
    ray.wait([ref], fetch_local=False, timeout=30)
    victim.kill()
    _wait_dead(victim.node_id)
    value = ray.get(ref, timeout=60)
    assert value.shape == (8 << 20,) and int(value[::4096].sum()) == 3 * (8 << 20) // 4096


@ray.remote
def plus_one(a: np.ndarray) -> np.ndarray:
    return a + 1


def test_a_chain_lost_with_its_node_is_recomputed_through_freed_links(cluster: Any) -> None:
    """Only the last ref of a chain is held; its intermediate results (freed once used) and
    its put root stay pinned by the lineage, so the whole chain runs again, in order."""
    victim = cluster.worker_nodes[0]
    on_victim = plus_one.options(scheduling_strategy=soft_on(victim))
    ref = ray.put(np.zeros(1 << 20, dtype=np.int64))
    for _ in range(4):
        ref = on_victim.remote(ref)
    ray.wait([ref], fetch_local=False, timeout=30)
    victim.kill()
    _wait_dead(victim.node_id)
    value = ray.get(ref, timeout=60)
    assert value.shape == (1 << 20,) and int(value[0]) == 4 and int(value[-1]) == 4


def test_object_of_a_non_retryable_task_is_lost_with_a_reason(cluster: Any) -> None:
    victim = cluster.worker_nodes[0]
    ref = make.options(scheduling_strategy=soft_on(victim), max_retries=0).remote(8 << 20)
    ray.wait([ref], fetch_local=False, timeout=30)
    victim.kill()
    _wait_dead(victim.node_id)
    with pytest.raises(ray.exceptions.ObjectLostError, match="died"):
        ray.get(ref, timeout=60)


def test_hard_affinity_to_a_dead_node_is_unschedulable(cluster: Any) -> None:
    victim = cluster.worker_nodes[0]
    victim.kill()
    _wait_dead(victim.node_id)
    hard = NodeAffinitySchedulingStrategy(victim.node_id, soft=False)
    with pytest.raises(ray.exceptions.TaskUnschedulableError):
        ray.get(slow.options(scheduling_strategy=hard).remote(1), timeout=30)


@pytest.fixture
def slot_cluster() -> Iterator[Any]:
    yield from _three_nodes({"slot": 1})


def test_bundle_lost_with_its_node_is_reserved_again_elsewhere(slot_cluster: Any) -> None:
    from edgeray.util.placement_group import placement_group, placement_group_table
    from edgeray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    pg = placement_group([{"slot": 1, "CPU": 1}])
    ray.get(pg.ready(), timeout=30)
    in_pg = PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=0)
    keeper = Where.options(scheduling_strategy=in_pg, num_cpus=1).remote()
    first = ray.get(keeper.node_id.remote(), timeout=30)
    assert placement_group_table(pg)["bundles_to_node_id"][0] == first
    victim = next(n for n in slot_cluster.worker_nodes if n.node_id == first)
    other = next(n for n in slot_cluster.worker_nodes if n is not victim)
    victim.kill()
    _wait_dead(victim.node_id)
    # the actor comes back in the bundle, which now lives on the other node
    assert ray.get(keeper.node_id.remote(), timeout=60) == other.node_id
    table = placement_group_table(pg)
    assert table["state"] == "CREATED" and table["bundles_to_node_id"][0] == other.node_id
    ref = slow.options(scheduling_strategy=in_pg, num_cpus=0).remote(3)
    assert ray.get(ref, timeout=60) == (other.node_id, 3)


PG_DRIVER = """
import sys, time, edgeray as ray
from edgeray.util.placement_group import placement_group
ray.init(address=sys.argv[1])
pg = placement_group([{"slot": 1}, {"slot": 1}], strategy="STRICT_SPREAD")
ray.get(pg.ready(), timeout=30)
print("ready", flush=True)
time.sleep(120)
"""


def test_bundles_of_a_dead_nodes_group_are_released(slot_cluster: Any, tmp_path: Any) -> None:
    import subprocess
    import sys

    owner, other = slot_cluster.worker_nodes
    script = tmp_path / "pg_driver.py"
    script.write_text(PG_DRIVER)
    driver = subprocess.Popen([sys.executable, str(script), owner.address], stdout=subprocess.PIPE, text=True)
    try:
        assert driver.stdout is not None and driver.stdout.readline().strip() == "ready"
        wait_for(lambda: ray.available_resources().get("slot", 0) == 0, what="both bundles reserved")
        owner.kill()
        _wait_dead(owner.node_id)
        wait_for(lambda: ray.available_resources().get("slot", 0) == 1,
                 what="the other node's bundle to be free again")
    finally:
        driver.kill()
        driver.wait()
