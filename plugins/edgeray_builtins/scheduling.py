"""Built-in scheduling strategies (a plain edgeray plugin: hook functions and strategy classes).

- ``DEFAULT``: Ray's hybrid policy. The preferred node (the local one; for a task, the node
  holding most of its argument bytes) is taken if it has the resources available and its critical
  resource utilization is below the spread threshold (0.5). Otherwise every alive node that has
  the resources available gets a score (0 below the threshold, else its utilization) and one of
  the top-k lowest is picked at random (k = max(1, int(0.2 * alive nodes)); nodes tied with the
  k-th are included). Requests that need no GPU try nodes without GPUs first (Ray's
  ``scheduler_avoid_gpu_nodes``). Utilization is Ray's: the highest used/total over CPU, memory,
  object_store_memory and the kinds the request asks for, *before* placing the request.
- ``SPREAD``: the least recently chosen of the nodes with the resources available (so N tasks
  land on N distinct nodes when N nodes have room).
- ``NODE_AFFINITY``: ``params = {"node_id": hex, "soft": bool, "spill_on_unavailable": bool,
  "fail_on_unavailable": bool}`` (Ray's NodeAffinitySchedulingStrategy). Target alive and able to
  ever hold the request: run there when available, else wait (retry); with ``soft`` and
  ``spill_on_unavailable`` go DEFAULT instead; with ``fail_on_unavailable`` fail. Target dead,
  unknown or too small: hard → infeasible (fatal: ``TaskUnschedulableError``), soft → DEFAULT.
- ``LOCALITY``: the available node holding the most argument bytes, else DEFAULT.
- ``PLACEMENT_GROUP``: ``params = {"bundle_nodes": [node_id per bundle index], "bundle_index":
  -1 | i}``; only the nodes holding the bundle(s) qualify (the core rewrites the request's
  resources to the group's). The local node first, else a random one with room; retry while the
  bundles are unplaced or their nodes are being replaced.

In every strategy but hard node affinity and placement groups, an actor asking for no resources
goes to a random alive node, as in Ray.

Each ``decide`` is a few microseconds for a small cluster and never raises: bad parameters give
a fatal ``infeasible`` decision with the reason.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from edgeray.plugins import (
    ClusterView,
    Decision,
    NodeView,
    SchedulingRequest,
    Strategy,
    hookimpl,
)

__all__ = [
    "DefaultStrategy",
    "SpreadStrategy",
    "NodeAffinityStrategy",
    "LocalityStrategy",
    "PlacementGroupStrategy",
    "random_alive_node",
]


def random_alive_node(cluster: ClusterView, rng: random.Random) -> Decision:
    """Ray's placement of zero-resource actors: any alive node, at random."""
    alive = [n for n in cluster.nodes if n.alive]
    if not alive:
        return Decision.retry("no alive node")
    return Decision.node(rng.choice(alive).node_id)


def _describe(request: SchedulingRequest) -> str:
    return "{" + ", ".join(f"{k}: {v:g}" for k, v in request.resources.items() if v) + "}"


class DefaultStrategy:
    """Ray's hybrid policy: pack below the spread threshold, then top-k least loaded."""

    name = "DEFAULT"

    def __init__(
        self,
        *,
        spread_threshold: float = 0.5,
        top_k_fraction: float = 0.2,
        top_k_absolute: int = 1,
        avoid_gpu_nodes: bool = True,
        rng: random.Random | None = None,
    ) -> None:
        self.spread_threshold = spread_threshold
        self.top_k_fraction = top_k_fraction
        self.top_k_absolute = top_k_absolute
        self.avoid_gpu_nodes = avoid_gpu_nodes
        self.rng = rng if rng is not None else random.Random()

    def decide(self, request: SchedulingRequest, cluster: ClusterView) -> Decision:
        if request.kind == "actor" and not request.units:
            return random_alive_node(cluster, self.rng)
        preferred = cluster.local_node_id
        if request.kind == "task" and request.arg_bytes_by_node:
            preferred = _most_bytes_node(request.arg_bytes_by_node, cluster) or preferred
        return self.hybrid(request, cluster, preferred)

    def hybrid(self, request: SchedulingRequest, cluster: ClusterView, preferred: str) -> Decision:
        """The hybrid policy with ``preferred`` in the role of the local node."""
        units = request.units
        if self.avoid_gpu_nodes and "GPU" not in units and cluster.has_gpu_nodes:
            node_id, _ = self._schedule(units, cluster, preferred, non_gpu_only=True)
            if node_id is not None:
                return Decision.node(node_id)
        node_id, feasible = self._schedule(units, cluster, preferred, non_gpu_only=False)
        if node_id is not None:
            return Decision.node(node_id)
        if feasible:
            return Decision.retry(f"no node has {_describe(request)} available now")
        return Decision.infeasible(f"no alive node has {_describe(request)} in total")

    def _schedule(
        self, units: Mapping[str, int], cluster: ClusterView, preferred: str, non_gpu_only: bool
    ) -> tuple[str | None, bool]:
        threshold = self.spread_threshold
        p = cluster.by_id.get(preferred)
        if (
            p is not None
            and p.alive
            and not (non_gpu_only and p.has_gpu)
            and p.fits_available_units(units)
            and p.utilization(units) < threshold
        ):
            return p.node_id, True
        scored: list[tuple[float, NodeView]] = []
        feasible = False
        alive = 0
        for n in cluster.nodes:
            if not n.alive:
                continue
            alive += 1
            if non_gpu_only and n.has_gpu:
                continue
            if not n.fits_total_units(units):
                continue
            feasible = True
            if n.fits_available_units(units):
                u = n.utilization(units)
                scored.append((0.0 if u < threshold else u, n))
        if not scored:
            return None, feasible
        if len(scored) == 1:
            return scored[0][1].node_id, True
        k = max(self.top_k_absolute, int(self.top_k_fraction * alive), 1)
        scored.sort(key=lambda t: t[0])
        cutoff = scored[min(k, len(scored)) - 1][0]
        top = [n for s, n in scored if s <= cutoff]
        return self.rng.choice(top).node_id, True


def _most_bytes_node(arg_bytes_by_node: Mapping[str, int], cluster: ClusterView) -> str | None:
    best, best_bytes = None, 0
    for node_id, nbytes in arg_bytes_by_node.items():
        if nbytes > best_bytes:
            n = cluster.by_id.get(node_id)
            if n is not None and n.alive:
                best, best_bytes = node_id, nbytes
    return best


class SpreadStrategy:
    """Round-robin: the least recently chosen node among those with room."""

    name = "SPREAD"

    def __init__(self, *, rng: random.Random | None = None) -> None:
        self.rng = rng if rng is not None else random.Random()
        self._last: dict[str, int] = {}
        self._tick = 0

    def decide(self, request: SchedulingRequest, cluster: ClusterView) -> Decision:
        units = request.units
        if request.kind == "actor" and not units:
            return random_alive_node(cluster, self.rng)
        last = self._last
        best: NodeView | None = None
        best_t = 0
        feasible = False
        for n in cluster.nodes:
            if not n.alive or not n.fits_total_units(units):
                continue
            feasible = True
            if not n.fits_available_units(units):
                continue
            t = last.get(n.node_id, -1)
            if best is None or t < best_t:
                best, best_t = n, t
        if best is None:
            if feasible:
                return Decision.retry(f"no node has {_describe(request)} available now")
            return Decision.infeasible(f"no alive node has {_describe(request)} in total")
        self._tick += 1
        last[best.node_id] = self._tick
        if len(last) > 2 * len(cluster.nodes) + 16:  # forget nodes that left
            for node_id in [i for i in last if i not in cluster.by_id]:
                del last[node_id]
        return Decision.node(best.node_id)


class NodeAffinityStrategy:
    """Ray's NodeAffinitySchedulingStrategy(node_id, soft)."""

    name = "NODE_AFFINITY"

    def __init__(self, fallback: Strategy | None = None, *, rng: random.Random | None = None) -> None:
        self.rng = rng if rng is not None else random.Random()
        self.fallback = fallback if fallback is not None else DefaultStrategy(rng=self.rng)

    def decide(self, request: SchedulingRequest, cluster: ClusterView) -> Decision:
        params = request.params
        node_id = params.get("node_id")
        soft = params.get("soft", False)
        if not isinstance(node_id, str) or not node_id:
            return Decision.infeasible(
                f"NODE_AFFINITY needs params['node_id'] (a node id string), got {node_id!r}", fatal=True
            )
        if not isinstance(soft, bool):
            return Decision.infeasible(f"NODE_AFFINITY params['soft'] must be a bool, got {soft!r}", fatal=True)
        units = request.units
        if soft and request.kind == "actor" and not units:
            return random_alive_node(cluster, self.rng)
        n = cluster.by_id.get(node_id)
        if n is not None and n.alive and n.fits_total_units(units):
            if n.fits_available_units(units):
                return Decision.node(node_id)
            if soft and params.get("spill_on_unavailable", False):
                return self.fallback.decide(request, cluster)
            if params.get("fail_on_unavailable", False):
                return Decision.infeasible(
                    f"node {node_id} does not have {_describe(request)} available", fatal=True
                )
            return Decision.retry(f"node {node_id} does not have {_describe(request)} available now")
        if soft:
            return self.fallback.decide(request, cluster)
        if n is None:
            why = f"node {node_id} is not in the cluster"
        elif not n.alive:
            why = f"node {node_id} is dead"
        else:
            why = f"node {node_id} can never hold {_describe(request)}"
        return Decision.infeasible(f"hard node affinity: {why}", fatal=True)


class LocalityStrategy:
    """The available node holding the most argument bytes, else the fallback (DEFAULT)."""

    name = "LOCALITY"

    def __init__(self, fallback: Strategy | None = None, *, rng: random.Random | None = None) -> None:
        self.rng = rng if rng is not None else random.Random()
        self.fallback = fallback if fallback is not None else DefaultStrategy(rng=self.rng)

    def decide(self, request: SchedulingRequest, cluster: ClusterView) -> Decision:
        units = request.units
        if request.kind == "actor" and not units:
            return random_alive_node(cluster, self.rng)
        best: str | None = None
        best_bytes = 0
        for node_id, nbytes in request.arg_bytes_by_node.items():
            if nbytes > best_bytes:
                n = cluster.by_id.get(node_id)
                if n is not None and n.alive and n.fits_available_units(units):
                    best, best_bytes = node_id, nbytes
        if best is not None:
            return Decision.node(best)
        return self.fallback.decide(request, cluster)


class PlacementGroupStrategy:
    """Run on the node(s) holding the placement-group bundle(s) the request uses."""

    name = "PLACEMENT_GROUP"

    def __init__(self, *, rng: random.Random | None = None) -> None:
        self.rng = rng if rng is not None else random.Random()

    def decide(self, request: SchedulingRequest, cluster: ClusterView) -> Decision:
        params = request.params
        bundle_nodes = params.get("bundle_nodes")
        index = params.get("bundle_index", -1)
        if not isinstance(bundle_nodes, list | tuple) or isinstance(index, bool) or not isinstance(index, int):
            return Decision.infeasible(
                "PLACEMENT_GROUP needs params['bundle_nodes'] (a list of node ids) and an int "
                f"params['bundle_index'], got {bundle_nodes!r}, {index!r}",
                fatal=True,
            )
        if index == -1:
            ids = {i for i in bundle_nodes if i}
        elif 0 <= index < len(bundle_nodes):
            ids = {bundle_nodes[index]} if bundle_nodes[index] else set()
        else:
            return Decision.infeasible(
                f"bundle index {index} is out of range for a placement group of "
                f"{len(bundle_nodes)} bundles",
                fatal=True,
            )
        units = request.units
        candidates = [n for i in ids if (n := cluster.by_id.get(i)) is not None and n.alive]
        if not candidates:
            return Decision.retry("the placement group's bundles are not placed on alive nodes yet")
        ready = [n for n in candidates if n.fits_available_units(units)]
        if ready:
            for n in ready:
                if n.node_id == cluster.local_node_id:
                    return Decision.node(n.node_id)
            return Decision.node(ready[0].node_id if len(ready) == 1 else self.rng.choice(ready).node_id)
        if any(n.fits_total_units(units) for n in candidates):
            return Decision.retry(f"the placement group's bundles have no {_describe(request)} free now")
        return Decision.infeasible(
            f"the placement group's bundles can never hold {_describe(request)}"
        )


@hookimpl
def edgeray_scheduling_strategies() -> dict[str, Strategy]:
    rng = random.Random()
    default = DefaultStrategy(rng=rng)
    return {
        "DEFAULT": default,
        "SPREAD": SpreadStrategy(rng=rng),
        "NODE_AFFINITY": NodeAffinityStrategy(default, rng=rng),
        "LOCALITY": LocalityStrategy(default, rng=rng),
        "PLACEMENT_GROUP": PlacementGroupStrategy(rng=rng),
    }
