"""The built-in scheduling strategies' decisions on constructed cluster views."""

from __future__ import annotations

import collections
import random

import pytest
from edgeray_builtins.scheduling import (
    DefaultStrategy,
    LocalityStrategy,
    NodeAffinityStrategy,
    PlacementGroupStrategy,
    SpreadStrategy,
)

from edgeray.plugins import ClusterView, NodeView, SchedulingRequest


def node(node_id: str, cpus: float = 4, used: float = 0, alive: bool = True, **extra: float) -> NodeView:
    total = {"CPU": float(cpus), **extra}
    available = {"CPU": float(cpus) - used, **extra}
    return NodeView(node_id, alive, total, available)


def cluster(*nodes: NodeView, local: str = "a") -> ClusterView:
    return ClusterView(tuple(nodes), local)


def task(cpus: float = 1, **kw) -> SchedulingRequest:
    return SchedulingRequest({"CPU": cpus} if cpus else {}, **kw)


def rng() -> random.Random:
    return random.Random(1234)


# DEFAULT -----------------------------------------------------------------------------------


def test_default_prefers_local_below_half() -> None:
    view = cluster(node("a", 4, used=1), node("b", 4), node("c", 4))
    s = DefaultStrategy(rng=rng())
    for _ in range(20):
        assert s.decide(task(), view).node_id == "a"  # 25% used < 50%


def test_default_spills_to_least_loaded_at_or_above_half() -> None:
    view = cluster(node("a", 4, used=2), node("b", 4, used=3), node("c", 4, used=0))
    s = DefaultStrategy(rng=rng())
    # a is at 50% (not below the threshold); c scores 0, a 0.5, b 0.75; top-k = 1 of 3 nodes -> c
    assert {s.decide(task(), view).node_id for _ in range(20)} == {"c"}


def test_default_top_k_random_among_ties() -> None:
    nodes = [node("a", 4, used=3)] + [node(f"n{i}", 4) for i in range(5)]
    s = DefaultStrategy(rng=rng())
    chosen = collections.Counter(s.decide(task(), cluster(*nodes)).node_id for _ in range(300))
    assert "a" not in chosen
    assert set(chosen) == {f"n{i}" for i in range(5)}  # all idle nodes tie at score 0


def test_default_retry_vs_infeasible() -> None:
    s = DefaultStrategy(rng=rng())
    busy = cluster(node("a", 2, used=2), node("b", 2, used=2))
    d = s.decide(task(), busy)
    assert d.is_retry and "CPU: 1" in d.reason
    d = s.decide(task(8), busy)
    assert d.is_infeasible and not d.fatal
    # a dead node that could hold it does not make it feasible
    d = s.decide(task(8), cluster(node("a", 2), node("big", 16, alive=False)))
    assert d.is_infeasible
    d = s.decide(SchedulingRequest({"GPU": 1}), cluster(node("a")))
    assert d.is_infeasible


def test_default_local_dead_or_full_goes_elsewhere() -> None:
    s = DefaultStrategy(rng=rng())
    assert s.decide(task(), cluster(node("a", alive=False), node("b"))).node_id == "b"
    assert s.decide(task(), cluster(node("a", 2, used=2), node("b"))).node_id == "b"


def test_default_avoids_gpu_nodes_for_cpu_work() -> None:
    s = DefaultStrategy(rng=rng())
    view = cluster(node("a", 4, GPU=1), node("b", 4))
    assert {s.decide(task(), view).node_id for _ in range(20)} == {"b"}
    assert s.decide(SchedulingRequest({"CPU": 1, "GPU": 1}), view).node_id == "a"
    # only GPU nodes: they are used
    assert s.decide(task(), cluster(node("a", 4, GPU=1))).node_id == "a"


def test_default_task_prefers_node_with_its_arguments() -> None:
    s = DefaultStrategy(rng=rng())
    view = cluster(node("a"), node("b"), node("c"))
    req = task(arg_bytes_by_node={"b": 10_000_000, "c": 10})
    assert s.decide(req, view).node_id == "b"
    req = task(arg_bytes_by_node={"zz": 10_000_000})  # unknown node: the local one
    assert s.decide(req, view).node_id == "a"


def test_zero_resource_actor_random_alive_node() -> None:
    view = cluster(node("a"), node("b"), node("c"), node("d", alive=False))
    req = SchedulingRequest({}, kind="actor")
    for s in (DefaultStrategy(rng=rng()), SpreadStrategy(rng=rng()), LocalityStrategy(rng=rng())):
        chosen = {s.decide(req, view).node_id for _ in range(200)}
        assert chosen == {"a", "b", "c"}
    soft = SchedulingRequest({}, kind="actor", strategy="NODE_AFFINITY", params={"node_id": "a", "soft": True})
    s = NodeAffinityStrategy(rng=rng())
    assert {s.decide(soft, view).node_id for _ in range(200)} == {"a", "b", "c"}
    hard = SchedulingRequest({}, kind="actor", strategy="NODE_AFFINITY", params={"node_id": "b", "soft": False})
    assert {s.decide(hard, view).node_id for _ in range(50)} == {"b"}


# SPREAD ------------------------------------------------------------------------------------


def test_spread_three_nodes_three_distinct() -> None:
    view = cluster(node("a"), node("b"), node("c"))
    s = SpreadStrategy()
    chosen = [s.decide(task(), view).node_id for _ in range(3)]
    assert sorted(chosen) == ["a", "b", "c"]
    chosen += [s.decide(task(), view).node_id for _ in range(3)]
    assert chosen[3:] == chosen[:3]  # round robin


def test_spread_skips_full_and_dead_nodes() -> None:
    s = SpreadStrategy()
    view = cluster(node("a", 2, used=2), node("b"), node("c", alive=False))
    assert {s.decide(task(), view).node_id for _ in range(5)} == {"b"}
    assert s.decide(task(), cluster(node("a", 2, used=2))).is_retry
    assert s.decide(task(16), view).is_infeasible


def test_spread_state_survives_changing_views() -> None:
    s = SpreadStrategy()
    assert s.decide(task(), cluster(node("a"))).node_id == "a"
    # b is new (never chosen): it goes first
    assert s.decide(task(), cluster(node("a"), node("b"))).node_id == "b"
    for i in range(100):  # churn: forgotten nodes do not pile up
        s.decide(task(), cluster(node(f"x{i}")))
    assert len(s._last) < 60


# NODE_AFFINITY -----------------------------------------------------------------------------


def affinity(node_id: str, soft: bool = False, cpus: float = 1, **params) -> SchedulingRequest:
    return task(cpus, strategy="NODE_AFFINITY", params={"node_id": node_id, "soft": soft, **params})


def test_hard_affinity() -> None:
    s = NodeAffinityStrategy(rng=rng())
    view = cluster(node("a"), node("b", 2, used=2), node("dead", alive=False))
    assert s.decide(affinity("a"), view).node_id == "a"
    d = s.decide(affinity("b"), view)
    assert d.is_retry  # alive, could hold it, busy now: wait
    d = s.decide(affinity("dead"), view)
    assert d.is_infeasible and d.fatal and "dead" in d.reason
    d = s.decide(affinity("nope"), view)
    assert d.is_infeasible and d.fatal and "not in the cluster" in d.reason
    d = s.decide(affinity("b", cpus=8), view)
    assert d.is_infeasible and d.fatal and "can never hold" in d.reason
    d = s.decide(affinity("b", fail_on_unavailable=True), view)
    assert d.is_infeasible and d.fatal


def test_soft_affinity_falls_back() -> None:
    s = NodeAffinityStrategy(rng=rng())
    view = cluster(node("a"), node("b", 2, used=2), node("dead", alive=False))
    assert s.decide(affinity("dead", soft=True), view).node_id == "a"
    assert s.decide(affinity("nope", soft=True), view).node_id == "a"
    assert s.decide(affinity("b", soft=True, cpus=8), cluster(node("a", 8), node("b", 2))).node_id == "a"
    assert s.decide(affinity("b", soft=True), view).is_retry  # Ray: waits for the node
    assert s.decide(affinity("b", soft=True, spill_on_unavailable=True), view).node_id == "a"


def test_affinity_bad_params() -> None:
    s = NodeAffinityStrategy(rng=rng())
    d = s.decide(task(strategy="NODE_AFFINITY", params={}), cluster(node("a")))
    assert d.is_infeasible and d.fatal and "node_id" in d.reason
    d = s.decide(task(strategy="NODE_AFFINITY", params={"node_id": "a", "soft": "yes"}), cluster(node("a")))
    assert d.is_infeasible and d.fatal


# LOCALITY ----------------------------------------------------------------------------------


def test_locality() -> None:
    s = LocalityStrategy(rng=rng())
    view = cluster(node("a"), node("b"), node("c", 2, used=2))
    assert s.decide(task(arg_bytes_by_node={"a": 10, "b": 50_000_000}), view).node_id == "b"
    # the node with the most bytes is full: the next best available one
    assert s.decide(task(arg_bytes_by_node={"c": 99, "b": 5}), view).node_id == "b"
    # no argument bytes known: DEFAULT (local below threshold)
    assert s.decide(task(), view).node_id == "a"


# PLACEMENT_GROUP ---------------------------------------------------------------------------


def test_placement_group_strategy() -> None:
    s = PlacementGroupStrategy(rng=rng())
    view = cluster(node("a"), node("b"), node("c"), node("d", alive=False))

    def pg(index: int, bundle_nodes: list[str], cpus: float = 1) -> SchedulingRequest:
        return task(cpus, strategy="PLACEMENT_GROUP", params={"bundle_nodes": bundle_nodes, "bundle_index": index})

    assert s.decide(pg(1, ["a", "b"]), view).node_id == "b"
    assert s.decide(pg(-1, ["b", "a"]), view).node_id == "a"  # the local one first
    assert {s.decide(pg(-1, ["b", "c"]), view).node_id for _ in range(50)} == {"b", "c"}
    assert s.decide(pg(0, ["d"]), view).is_retry  # bundle node died: re-placed by the core
    assert s.decide(pg(0, [""]), view).is_retry  # not placed yet
    assert s.decide(pg(0, ["a"], cpus=16), view).is_infeasible
    d = s.decide(pg(5, ["a"]), view)
    assert d.is_infeasible and d.fatal
    d = s.decide(task(strategy="PLACEMENT_GROUP", params={}), view)
    assert d.is_infeasible and d.fatal


# Many decisions --------------------------------------------------------------------------
# (their speed is measured by tools/bench_pure.py, not asserted here: a busy machine broke it)


@pytest.mark.parametrize("cls", [DefaultStrategy, SpreadStrategy, LocalityStrategy])
def test_decide_on_one_node_is_the_same_every_time(cls: type) -> None:
    view = cluster(node("a", 16, memory=1e10, object_store_memory=1e9))
    s = cls()
    req = task()
    first = s.decide(req, view)
    assert first.node_id == "a"
    for _ in range(20_000):
        assert s.decide(req, view) == first
