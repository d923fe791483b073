"""The ``LABEL_SELECTOR`` scheduling strategy, as an edgeray plugin (hook functions only)."""

from __future__ import annotations

from collections.abc import Mapping

from edgeray.plugins import ClusterView, Decision, NodeView, SchedulingRequest, hookimpl

__all__ = ["LabelSelectorStrategy", "edgeray_scheduling_strategies"]


def _matches(node: NodeView, wanted: Mapping[str, str]) -> bool:
    return all(node.labels.get(k) == v for k, v in wanted.items())


class LabelSelectorStrategy:
    """``params = {"labels": {key: value, ...}}``: only nodes carrying all those labels."""

    name = "LABEL_SELECTOR"

    def decide(self, request: SchedulingRequest, cluster: ClusterView) -> Decision:
        wanted = request.params.get("labels")
        if not isinstance(wanted, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in wanted.items()):
            return Decision.infeasible("LABEL_SELECTOR needs params labels={str: str}", fatal=True)
        nodes = [n for n in cluster.alive_nodes() if _matches(n, wanted)]
        if not nodes:
            return Decision.infeasible(f"no alive node has the labels {dict(wanted)}")
        units = request.units
        ready = [n for n in nodes if n.fits_available_units(units)]
        if ready:
            local = cluster.local
            if local is not None and local in ready:
                return Decision.node(local.node_id)
            best = max(ready, key=lambda n: sum(n.available_units.values()))
            return Decision.node(best.node_id)
        if any(n.fits_total_units(units) for n in nodes):
            return Decision.retry(f"the nodes labelled {dict(wanted)} are busy")
        return Decision.infeasible(f"no node labelled {dict(wanted)} can ever hold {dict(request.resources)}")


@hookimpl
def edgeray_scheduling_strategies() -> dict[str, LabelSelectorStrategy]:
    return {"LABEL_SELECTOR": LabelSelectorStrategy()}
