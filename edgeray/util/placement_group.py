"""``edgeray.util.placement_group``: Ray's placement-group API.

A placement group reserves bundles of resources together (all or none) under a strategy
(PACK, SPREAD, STRICT_PACK, STRICT_SPREAD); tasks and actors then run inside its bundles with
``PlacementGroupSchedulingStrategy``. ``ready()`` is an ObjectRef usable with ``get``/``wait``
that resolves to the group once it is created.
"""

from __future__ import annotations

from typing import Any

from .. import api
from ..api._init import auto_client
from ..client import CoreClient, ObjectRef, current_client, try_current_client

__all__ = [
    "PlacementGroup",
    "PlacementGroupID",
    "get_current_placement_group",
    "get_placement_group",
    "placement_group",
    "placement_group_table",
    "remove_placement_group",
]


class PlacementGroupID(bytes):
    """The 16-byte id of a placement group (``hex()`` as Ray's)."""

    def binary(self) -> bytes:
        return bytes(self)

    def __repr__(self) -> str:
        return f"PlacementGroupID({self.hex()})"


class PlacementGroup:
    """A handle on a placement group; pickles into tasks and actors."""

    def __init__(self, pg_id: bytes, bundles: list[dict[str, float]], ready_id: bytes, strategy: str = "PACK") -> None:
        self.id = PlacementGroupID(pg_id)
        self._bundles = [dict(b) for b in bundles]
        self._ready_id = ready_id
        self._strategy = strategy
        self._keep: ObjectRef | None = None  # the creator's reference to the ready object

    @property
    def bundle_specs(self) -> list[dict[str, float]]:
        return [dict(b) for b in self._bundles]

    @property
    def bundle_count(self) -> int:
        return len(self._bundles)

    def ready(self) -> ObjectRef:
        """An ObjectRef that resolves to this group once all its bundles are reserved."""
        return ObjectRef(self._ready_id, auto_client())

    def wait(self, timeout_seconds: float | None = 30) -> bool:
        """True once the group is created, False if ``timeout_seconds`` ran out first."""
        ready, _ = api.wait([self.ready()], timeout=timeout_seconds)
        return bool(ready)

    def __reduce__(self) -> tuple[Any, ...]:
        return (PlacementGroup, (bytes(self.id), self._bundles, self._ready_id, self._strategy))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PlacementGroup) and other.id == self.id

    def __hash__(self) -> int:
        return hash(bytes(self.id))

    def __repr__(self) -> str:
        return f"PlacementGroup(id={self.id.hex()}, strategy={self._strategy}, bundles={self._bundles})"


def placement_group(
    bundles: list[dict[str, float]],
    strategy: str = "PACK",
    name: str = "",
    lifetime: str | None = None,
    _max_cpu_fraction_per_node: float | None = None,
    _soft_target_node_id: str | None = None,
) -> PlacementGroup:
    """Reserve ``bundles`` (a list of resource dicts) together; returns at once, see ``ready()``."""
    if not isinstance(bundles, list) or not bundles:
        raise ValueError("The placement group `bundles` argument must be a non-empty list of dicts.")
    for b in bundles:
        if not isinstance(b, dict) or not all(isinstance(k, str) for k in b) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in b.values()
        ):
            raise ValueError(
                "Bundles must be a non-empty list of resource dictionaries. For example: "
                f"`[{{\"CPU\": 1.0}}, {{\"GPU\": 1.0}}]`. Got {bundles}."
            )
        if "bundle" in b:  # Ray's, checked by its core worker
            raise ValueError("bundle is a system reserved resource, which is not allowed to be used in placement group.")
    if not isinstance(name, str):
        raise TypeError(f"The placement group `name` must be a string, got {type(name).__name__}.")
    if lifetime not in (None, "detached"):
        raise ValueError(f"Placement group `lifetime` must be None or 'detached', not {lifetime!r}.")
    client = auto_client()
    pg_id, ready_id = client.new_id(), client.new_id() + b"\x00\x00\x00\x01"
    pg = PlacementGroup(pg_id, [{k: float(v) for k, v in b.items()} for b in bundles], ready_id, strategy)
    value = client.serialize(pg)[0].to_bytes()
    created = client.call("create_placement_group", {
        "pg_id": pg_id, "ready_id": ready_id, "ready_value": value, "bundles": pg._bundles,
        "strategy": strategy, "name": name, "lifetime": lifetime,
    })
    pg._keep = client.owned_ref(ready_id)  # the node counts the creator as holding it
    if created.get("state") == "CREATED":  # reserved at once: ready() needs no round trip
        client.cache_payload({"id": ready_id, "data": value, "loc": None, "err": False, "refs": []})
    return pg


def remove_placement_group(placement_group: PlacementGroup) -> None:
    """Release the group's bundles; tasks and actors running in it are killed."""
    if not isinstance(placement_group, PlacementGroup):
        raise TypeError(f"remove_placement_group expects a PlacementGroup, got {type(placement_group).__name__}")
    auto_client().call("remove_placement_group", {"pg_id": bytes(placement_group.id)})


def get_placement_group(placement_group_name: str) -> PlacementGroup:
    """The live placement group named ``placement_group_name`` (``ValueError`` if none)."""
    found = auto_client().call("get_placement_group", {"name": placement_group_name})
    if not found:
        raise ValueError(f"Failed to look up placement group with name: {placement_group_name}")
    bundles = [found["bundles"][i] for i in sorted(found["bundles"])]
    return PlacementGroup(found["pg_id"], bundles, found["ready_id"], found["strategy"])


def placement_group_table(placement_group: PlacementGroup | None = None) -> dict[str, Any]:
    """One group's state (bundles, strategy, state...), or every group's by id."""
    pg_id = bytes(placement_group.id) if placement_group is not None else None
    return auto_client().call("placement_group_table", {"pg_id": pg_id})  # type: ignore[no-any-return]


def get_current_placement_group() -> PlacementGroup | None:
    """The group the current task or actor runs in (None in a driver or outside any group)."""
    client: CoreClient | None = try_current_client()
    strategy = getattr(client.tls, "pg_current", None) if client is not None else None
    if not strategy:
        return None
    table = current_client().call("placement_group_table", {"pg_id": strategy["pg_id"]})
    if not table:
        return None
    bundles = [table["bundles"][i] for i in sorted(table["bundles"])]
    ready_id = strategy.get("ready_id") or b""
    return PlacementGroup(strategy["pg_id"], bundles, ready_id, table["strategy"])
