"""A real 3-node cluster on loopback (``edgeray.cluster_utils.Cluster``): joining, the cluster
view, cross-node scheduling by every strategy, objects moved between nodes, actors on other
nodes, names across nodes. One cluster serves the module; each node is its own process."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from waiting import wait_for

import edgeray as ray
from edgeray.cluster_utils import Cluster
from edgeray.util.scheduling_strategies import NodeAffinitySchedulingStrategy


@pytest.fixture(scope="module")
def cluster(module_home: str) -> Iterator[Any]:
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        c.add_node(num_cpus=1, resources={"special": 1}, labels={"zone": "edge-1"})
        c.add_node(num_cpus=1, object_store_memory=512 << 20)
        ray.init(address=c.address)
        c.wait_for_nodes()
        yield c
    finally:
        if ray.is_initialized():
            ray.shutdown()
        c.shutdown()


def on(node: Any, soft: bool = False) -> NodeAffinitySchedulingStrategy:
    return NodeAffinitySchedulingStrategy(node.node_id, soft=soft)


@ray.remote
def node_of(delay: float = 0.0) -> str:
    time.sleep(delay)
    return ray.get_runtime_context().get_node_id()


@ray.remote
def make(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.uint8)


@ray.remote
def where_and_sum(a: np.ndarray) -> tuple[str, int]:
    return ray.get_runtime_context().get_node_id(), int(a.sum(dtype=np.int64))


@ray.remote
class Counter:
    def __init__(self, start: int = 0) -> None:
        self.n = start

    def inc(self) -> int:
        self.n += 1
        return self.n

    def node(self) -> str:
        return ray.get_runtime_context().get_node_id()


def test_nodes_and_resources_cover_the_cluster(cluster: Any) -> None:
    nodes = ray.nodes()
    assert {n["NodeID"] for n in nodes} == {n.node_id for n in cluster.list_all_nodes()}
    assert all(n["Alive"] for n in nodes)
    assert sum(n["IsHead"] for n in nodes) == 1
    total = ray.cluster_resources()
    assert total["CPU"] == 3 and total["special"] == 1
    labelled = [n for n in nodes if n["Labels"].get("zone") == "edge-1"]
    assert [n["NodeID"] for n in labelled] == [cluster.worker_nodes[0].node_id]
    wait_for(lambda: ray.available_resources().get("CPU") == 3, what="all 3 CPUs available")


def test_spread_puts_three_tasks_on_three_nodes(cluster: Any) -> None:
    refs = [node_of.options(scheduling_strategy="SPREAD").remote(0.3) for _ in range(3)]
    assert set(ray.get(refs, timeout=30)) == {n.node_id for n in cluster.list_all_nodes()}


def test_default_strategy_uses_the_other_nodes_when_busy(cluster: Any) -> None:
    got = ray.get([node_of.remote(0.5) for _ in range(3)], timeout=30)
    assert len(set(got)) == 3


def test_custom_resource_runs_where_it_exists(cluster: Any) -> None:
    special = cluster.worker_nodes[0]
    f = node_of.options(resources={"special": 1})
    assert set(ray.get([f.remote() for _ in range(3)], timeout=30)) == {special.node_id}


def test_hard_node_affinity_runs_there(cluster: Any) -> None:
    for node in cluster.list_all_nodes():
        assert ray.get(node_of.options(scheduling_strategy=on(node)).remote(), timeout=30) == node.node_id


def test_hard_affinity_to_an_unknown_node_is_unschedulable(cluster: Any) -> None:
    bad = NodeAffinitySchedulingStrategy("ab" * 16, soft=False)
    with pytest.raises(ray.exceptions.TaskUnschedulableError):
        ray.get(node_of.options(scheduling_strategy=bad).remote(), timeout=30)
    with pytest.raises(ray.exceptions.ActorUnschedulableError):
        ray.get(Counter.options(scheduling_strategy=bad).remote().inc.remote(), timeout=30)


def test_soft_affinity_to_an_unknown_node_runs_elsewhere(cluster: Any) -> None:
    soft = NodeAffinitySchedulingStrategy("ab" * 16, soft=True)
    assert ray.get(node_of.options(scheduling_strategy=soft).remote(), timeout=30) in {
        n.node_id for n in cluster.list_all_nodes()
    }


def test_consumer_runs_where_its_large_argument_lives(cluster: Any) -> None:
    holder = cluster.worker_nodes[1]
    big = make.options(scheduling_strategy=on(holder)).remote(50 << 20)
    ray.wait([big], fetch_local=False, timeout=30)
    for _ in range(3):
        node, total = ray.get(where_and_sum.remote(big), timeout=30)
        assert node == holder.node_id
    assert total == int(np.arange(50 << 20, dtype=np.uint8).sum(dtype=np.int64))


def test_argument_fetched_across_nodes(cluster: Any) -> None:
    a, b = cluster.worker_nodes
    big = make.options(scheduling_strategy=on(b)).remote(20 << 20)
    node, total = ray.get(where_and_sum.options(scheduling_strategy=on(a)).remote(big), timeout=30)
    assert node == a.node_id
    assert total == int(np.arange(20 << 20, dtype=np.uint8).sum(dtype=np.int64))
    value = ray.get(big, timeout=30)  # and to the driver's node
    assert value.shape == (20 << 20,) and not value.flags.writeable
    assert int(value[-1]) == (20 << 20) - 1 & 0xFF


def test_put_in_the_driver_read_on_another_node(cluster: Any) -> None:
    arr = np.arange(1 << 18, dtype=np.int64)  # 2 MiB: in the store, not inline
    ref = ray.put(arr)
    node, total = ray.get(where_and_sum.options(scheduling_strategy=on(cluster.worker_nodes[1])).remote(ref), timeout=30)
    assert node == cluster.worker_nodes[1].node_id and total == int(arr.sum())


def test_nested_refs_travel_both_ways(cluster: Any) -> None:
    @ray.remote
    def total(refs: list[Any]) -> int:
        return sum(ray.get(refs))

    @ray.remote
    def makes_refs() -> list[Any]:
        return [ray.put(np.ones(300_000)), ray.put(7)]

    refs = [ray.put(i) for i in range(5)]
    assert ray.get(total.options(scheduling_strategy=on(cluster.worker_nodes[0])).remote(refs), timeout=30) == 10
    inner = ray.get(makes_refs.options(scheduling_strategy=on(cluster.worker_nodes[1])).remote(), timeout=30)
    assert ray.get(inner[1], timeout=30) == 7
    assert ray.get(inner[0], timeout=30).sum() == 300_000


def test_task_errors_cross_nodes(cluster: Any) -> None:
    @ray.remote
    def boom() -> None:
        raise KeyError("far away")

    with pytest.raises(KeyError):
        ray.get(boom.options(scheduling_strategy=on(cluster.worker_nodes[0]), max_retries=0).remote(), timeout=30)


def test_actor_on_another_node_keeps_order_and_state(cluster: Any) -> None:
    node = cluster.worker_nodes[1]
    c = Counter.options(scheduling_strategy=on(node)).remote(10)
    assert ray.get(c.node.remote(), timeout=30) == node.node_id
    assert ray.get([c.inc.remote() for _ in range(50)], timeout=30) == list(range(11, 61))

    @ray.remote
    def bump(handle: Any) -> int:
        return ray.get(handle.inc.remote())

    assert ray.get(bump.options(scheduling_strategy=on(cluster.worker_nodes[0])).remote(c), timeout=30) == 61
    ray.kill(c)
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(c.inc.remote(), timeout=30)


def test_named_actor_found_from_every_node(cluster: Any) -> None:
    a = Counter.options(name="shared-counter", scheduling_strategy=on(cluster.worker_nodes[0])).remote()
    ray.get(a.inc.remote(), timeout=30)

    @ray.remote
    def bump_by_name() -> int:
        return ray.get(ray.get_actor("shared-counter").inc.remote())

    got = [ray.get(bump_by_name.options(scheduling_strategy=on(n)).remote(), timeout=30) for n in cluster.list_all_nodes()]
    assert got == [2, 3, 4]
    with pytest.raises(ValueError, match="already taken"):
        Counter.options(name="shared-counter").remote()
    same = Counter.options(name="shared-counter", get_if_exists=True).remote()
    assert ray.get(same.inc.remote(), timeout=30) == 5
    ray.kill(a)


def test_worker_output_reaches_the_driver(cluster: Any, capfd: pytest.CaptureFixture[str]) -> None:
    @ray.remote
    def say() -> int:
        print("hello from far away")
        return 1

    ray.get(say.options(scheduling_strategy=on(cluster.worker_nodes[1])).remote(), timeout=30)
    out: list[str] = []

    def printed() -> bool:
        out.append(capfd.readouterr().out)
        return "hello from far away" in "".join(out)

    wait_for(printed, what="the worker's line on the driver's stdout")


def test_driver_on_a_worker_node(cluster: Any) -> None:
    """A second driver connected to a joined node sees and uses the whole cluster."""
    import subprocess
    import sys

    code = (
        "import edgeray as ray, sys\n"
        f"ray.init(address={cluster.worker_nodes[0].address!r})\n"
        "@ray.remote\n"
        "def f():\n"
        "    import time; time.sleep(0.3)\n"
        "    return ray.get_runtime_context().get_node_id()\n"
        "print(len(ray.nodes()), len(set(ray.get([f.options(scheduling_strategy='SPREAD').remote() for _ in range(3)]))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-2:] == ["3", "3"]


def test_placement_groups_across_nodes(cluster: Any) -> None:
    from edgeray.util.placement_group import (
        placement_group,
        placement_group_table,
        remove_placement_group,
    )
    from edgeray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    spread = placement_group([{"CPU": 0.5}] * 3, strategy="STRICT_SPREAD")
    ray.get(spread.ready(), timeout=30)
    table = placement_group_table(spread)
    assert table["state"] == "CREATED"
    assert set(table["bundles_to_node_id"].values()) == {n.node_id for n in cluster.list_all_nodes()}
    f = node_of.options(num_cpus=0.5)
    got = ray.get([f.options(scheduling_strategy=PlacementGroupSchedulingStrategy(spread, i)).remote() for i in range(3)], timeout=30)
    assert got == [table["bundles_to_node_id"][i] for i in range(3)]

    a = Counter.options(num_cpus=0.5, scheduling_strategy=PlacementGroupSchedulingStrategy(spread, 1)).remote()
    assert ray.get(a.node.remote(), timeout=30) == table["bundles_to_node_id"][1]

    too_many = placement_group([{"CPU": 0.1}] * 4, strategy="STRICT_SPREAD")
    ready, _ = ray.wait([too_many.ready()], timeout=1.0)
    assert ready == [] and placement_group_table(too_many)["state"] == "PENDING"
    remove_placement_group(too_many)

    pack = placement_group([{"CPU": 0.25}] * 2, strategy="STRICT_PACK")
    ray.get(pack.ready(), timeout=30)
    assert len(set(placement_group_table(pack)["bundles_to_node_id"].values())) == 1
    remove_placement_group(pack)

    remove_placement_group(spread)  # kills the actor in it, on its node
    with pytest.raises((ray.exceptions.RayActorError, ray.exceptions.ActorPlacementGroupRemoved)):
        ray.get(a.inc.remote(), timeout=30)
    wait_for(lambda: ray.available_resources().get("CPU") == 3, what="all 3 CPUs available")


@ray.remote(max_retries=0)
def long_sleep() -> str:
    time.sleep(60)
    return "finished"


def task_row(ref: Any, pred: Any) -> dict[str, Any]:
    """The head's ``list tasks`` row of ``ref``'s task (rows of every node) once ``pred(row)``."""
    from edgeray.client._context import current_client

    def row() -> dict[str, Any] | None:
        rows = {r["task_id"]: r for r in current_client().call("list", {"kind": "tasks"})}
        got = rows.get(ref.task_id())
        return got if got is not None and pred(got) else None

    return wait_for(row, what=f"list tasks to show the expected state of {ref.task_id()}")


@pytest.mark.parametrize("force", [False, True])
def test_cancel_reaches_a_task_running_on_another_node(cluster: Any, force: bool) -> None:
    target = cluster.worker_nodes[0]
    ref = long_sleep.options(scheduling_strategy=on(target)).remote()
    task_row(ref, lambda r: r["state"] == "RUNNING")  # running there
    ray.cancel(ref, force=force)
    # (the cancel, not the 60 s sleep running out, ended it: get gives up long before that)
    with pytest.raises((ray.exceptions.TaskCancelledError, ray.exceptions.WorkerCrashedError)):
        ray.get(ref, timeout=30)
    assert ray.get(node_of.options(scheduling_strategy=on(target)).remote(), timeout=30) == target.node_id


def test_cancel_of_a_task_queued_on_another_node_never_runs_it(cluster: Any) -> None:
    target = cluster.worker_nodes[0]
    busy = [long_sleep.options(scheduling_strategy=on(target)).remote() for _ in range(3)]
    queued = node_of.options(scheduling_strategy=on(target)).remote()
    # the target's one CPU is busy, and the node knows of the task that waits for it
    def running() -> bool:
        from edgeray.client._context import current_client

        rows = {r["task_id"]: r for r in current_client().call("list", {"kind": "tasks"})}
        return any(rows.get(r.task_id(), {}).get("state") == "RUNNING" for r in busy)

    wait_for(running, what="one of the busy tasks to run on the target")
    task_row(queued, lambda r: r["state"] != "RUNNING")
    ray.cancel(queued)
    with pytest.raises(ray.exceptions.TaskCancelledError):
        ray.get(queued, timeout=30)
    for r in busy:
        ray.cancel(r, force=True)


def test_list_tasks_covers_every_node(cluster: Any) -> None:
    from edgeray.client._context import current_client

    special = cluster.worker_nodes[0].node_id
    ref = node_of.options(resources={"special": 1}).remote()
    assert ray.get(ref, timeout=60) == special
    # asked of the head, answered with the worker node's rows too
    row = task_row(ref, lambda r: r["state"] == "FINISHED")
    assert row["node_id"] == special and row["worker_pid"]
    here = current_client().call("list", {"kind": "tasks", "local": True})
    assert all(r["node_id"] != special for r in here)  # (only the head's own rows)


def test_generators_env_vars_and_max_calls_on_another_node(cluster: Any) -> None:
    """What the worker applies from the task's spec travels with a forwarded task: a generator's
    refs (values stored on the node that ran it), runtime_env env_vars, max_calls."""
    import os

    node = cluster.list_all_nodes()[2]

    @ray.remote
    def arrays(n: int) -> Any:
        for i in range(n):
            yield np.full(200_000, i, dtype=np.int64)

    @ray.remote(runtime_env={"env_vars": {"EDGERAY_T_REMOTE": "yes"}}, max_calls=1)
    def env_and_pid() -> tuple[str | None, int, str]:
        return os.environ.get("EDGERAY_T_REMOTE"), os.getpid(), ray.get_runtime_context().get_node_id()

    refs = list(arrays.options(scheduling_strategy=on(node)).remote(3))
    assert [int(ray.get(r)[0]) for r in refs] == [0, 1, 2]
    got = [ray.get(env_and_pid.options(scheduling_strategy=on(node)).remote(), timeout=60) for _ in range(2)]
    assert [g[0] for g in got] == ["yes", "yes"] and {g[2] for g in got} == {node.node_id}
    assert got[0][1] != got[1][1]  # a new worker for the second call
