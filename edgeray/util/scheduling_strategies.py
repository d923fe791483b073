"""Scheduling strategy objects, as Ray spells them; they travel to the node as plain dicts."""

from __future__ import annotations

from typing import Any


class NodeAffinitySchedulingStrategy:
    """Run on the node ``node_id`` (hex, from ``get_runtime_context().get_node_id()``).

    ``soft=False``: fail with ``TaskUnschedulableError``/``ActorUnschedulableError`` when that node
    is dead or cannot fit the request; ``soft=True``: run elsewhere then."""

    def __init__(self, node_id: str, soft: bool, _spill_on_unavailable: bool = False, _fail_on_unavailable: bool = False) -> None:
        if not isinstance(node_id, str):
            raise TypeError(f"node_id must be a hex string, got {type(node_id).__name__}")
        self.node_id = node_id
        self.soft = bool(soft)
        self._spill_on_unavailable = _spill_on_unavailable
        self._fail_on_unavailable = _fail_on_unavailable

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "NODE_AFFINITY", "node_id": self.node_id, "soft": self.soft,
                "spill_on_unavailable": self._spill_on_unavailable, "fail_on_unavailable": self._fail_on_unavailable}

    def __repr__(self) -> str:
        return f"NodeAffinitySchedulingStrategy(node_id={self.node_id!r}, soft={self.soft})"


class PlacementGroupSchedulingStrategy:
    """Run inside a placement group's reserved bundles: bundle ``placement_group_bundle_index``
    (-1: any that fits); ``placement_group_capture_child_tasks``: tasks and actors this one
    creates run in the group too unless they choose a strategy. ``placement_group=None``
    means "not in any group" (to escape a capturing parent)."""

    def __init__(self, placement_group: Any, placement_group_bundle_index: int = -1,
                 placement_group_capture_child_tasks: bool | None = None) -> None:
        self.placement_group = placement_group
        self.placement_group_bundle_index = placement_group_bundle_index
        self.placement_group_capture_child_tasks = placement_group_capture_child_tasks

    def to_dict(self) -> dict[str, Any]:
        pg = self.placement_group
        pg_id = getattr(pg, "id", None) if pg is not None else None
        if pg is not None and pg_id is None:
            raise TypeError(f"placement_group must be a PlacementGroup or None, got {type(pg).__name__}")
        index = self.placement_group_bundle_index
        if not isinstance(index, int) or index < -1:
            raise ValueError(f"placement_group_bundle_index must be an int >= -1, got {index!r}")
        if pg is not None and index >= getattr(pg, "bundle_count", index + 1):
            raise ValueError(f"placement_group_bundle_index {index} is out of range: the group has "
                             f"{pg.bundle_count} bundles")
        return {"kind": "PLACEMENT_GROUP", "pg_id": bytes(pg_id) if pg_id is not None else None,
                "ready_id": getattr(pg, "_ready_id", None), "bundle_index": index,
                "capture_child_tasks": bool(self.placement_group_capture_child_tasks)}


class PluginSchedulingStrategy:
    """A strategy a plugin provides (``edgeray_scheduling_strategies``), by name, with
    parameters it reads from ``SchedulingRequest.params`` (edgeray's; Ray has no such hook).
    A bare name works too: ``scheduling_strategy="BINPACK"``."""

    def __init__(self, name: str, **params: Any) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError("PluginSchedulingStrategy needs the strategy's name")
        self.name = name
        self.params = params

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "NAMED", "name": self.name, "params": dict(self.params)}

    def __repr__(self) -> str:
        return f"PluginSchedulingStrategy({self.name!r}, {self.params!r})"


__all__ = ["NodeAffinitySchedulingStrategy", "PlacementGroupSchedulingStrategy", "PluginSchedulingStrategy"]
