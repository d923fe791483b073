"""Pure data types shared by the core and the plugins: resources, cluster views, decisions.

Everything here is plain Python (dataclasses, dicts, ints), cheap to build and to read, since a
scheduling decision runs for every task.

Resource amounts follow Ray: floats with a precision of 0.0001. They are compared and added as
integers of 1/10000 units (:func:`to_units` / :func:`from_units`), so ``0.1 + 0.2`` CPUs is exactly
``0.3`` and ten tasks of ``0.1`` CPU fit exactly on one CPU.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from edgeray.config import Config

__all__ = [
    "UNIT",
    "CRITICAL_RESOURCES",
    "UNIT_INSTANCE_RESOURCES",
    "to_units",
    "from_units",
    "to_unit_dict",
    "from_unit_dict",
    "fits",
    "add",
    "subtract",
    "ResourceSet",
    "validate_resource_request",
    "NodeView",
    "ClusterView",
    "SchedulingRequest",
    "Decision",
    "Strategy",
    "PersistenceBackend",
    "PersistenceFactory",
    "NodeInfo",
    "TaskEvent",
]

#: Fixed-point units per 1.0 of a resource (Ray's precision: 0.0001).
UNIT = 10_000

#: The resources whose use makes a node "busy" for the DEFAULT policy (Ray's critical resource
#: utilization); the kinds a request asks for count too.
CRITICAL_RESOURCES = ("CPU", "memory", "object_store_memory")

#: Resources that come in whole devices: a request above 1 must be a whole number (Ray's rule).
UNIT_INSTANCE_RESOURCES = frozenset({"GPU"})


# --------------------------------------------------------------------------------------------
# Fixed-point arithmetic.


def to_units(amount: float) -> int:
    """``amount`` in 1/10000 units, rounded to the nearest unit (``0.29`` -> ``2900``)."""
    return round(amount * UNIT)


def from_units(units: int) -> float:
    """The float for ``units`` 1/10000 units."""
    return units / UNIT


def to_unit_dict(resources: Mapping[str, float]) -> dict[str, int]:
    """``{name: units}`` for every entry (zeros kept)."""
    return {k: round(v * UNIT) for k, v in resources.items()}


def from_unit_dict(units: Mapping[str, int]) -> dict[str, float]:
    return {k: v / UNIT for k, v in units.items()}


def fits(request: Mapping[str, float], available: Mapping[str, float]) -> bool:
    """Whether every amount of ``request`` is available (missing names count as 0)."""
    for k, v in request.items():
        if v and round(v * UNIT) > round(available.get(k, 0.0) * UNIT):
            return False
    return True


def add(a: Mapping[str, float], b: Mapping[str, float]) -> dict[str, float]:
    """``a + b`` per name, exact to 0.0001 (keys of both; a new dict)."""
    out = to_unit_dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + round(v * UNIT)
    return {k: v / UNIT for k, v in out.items()}


def subtract(a: Mapping[str, float], b: Mapping[str, float]) -> dict[str, float]:
    """``a - b`` per name, exact to 0.0001 (a new dict). May go negative: check :func:`fits`
    first where that matters (a blocked task's CPU given back may overcommit, as in Ray)."""
    out = to_unit_dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) - round(v * UNIT)
    return {k: v / UNIT for k, v in out.items()}


class ResourceSet:
    """An immutable set of resource amounts held as fixed-point units.

    For accounting loops that add and subtract often: convert once, then stay in integers.
    ``a <= b`` means ``a`` fits in ``b``; ``+``/``-`` are exact; zero entries are dropped.
    """

    __slots__ = ("_units", "_hash")

    def __init__(self, resources: Mapping[str, float] | None = None, *, units: Mapping[str, int] | None = None) -> None:
        if units is not None:
            self._units = {k: int(v) for k, v in units.items() if v}
        else:
            self._units = {k: u for k, v in (resources or {}).items() if (u := round(v * UNIT))}
        self._hash: int | None = None

    @classmethod
    def from_units(cls, units: Mapping[str, int]) -> ResourceSet:
        return cls(units=units)

    @property
    def units(self) -> Mapping[str, int]:
        return self._units

    def to_dict(self) -> dict[str, float]:
        return {k: v / UNIT for k, v in self._units.items()}

    def get(self, name: str) -> float:
        return self._units.get(name, 0) / UNIT

    def is_empty(self) -> bool:
        return not self._units

    def fits_in(self, other: ResourceSet) -> bool:
        o = other._units
        return all(v <= o.get(k, 0) for k, v in self._units.items())

    def __le__(self, other: ResourceSet) -> bool:
        return self.fits_in(other)

    def __add__(self, other: ResourceSet) -> ResourceSet:
        out = dict(self._units)
        for k, v in other._units.items():
            out[k] = out.get(k, 0) + v
        return ResourceSet(units=out)

    def __sub__(self, other: ResourceSet) -> ResourceSet:
        out = dict(self._units)
        for k, v in other._units.items():
            out[k] = out.get(k, 0) - v
        return ResourceSet(units=out)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ResourceSet) and self._units == other._units

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._units.items()))
        return self._hash

    def __bool__(self) -> bool:
        return bool(self._units)

    def __repr__(self) -> str:
        return f"ResourceSet({self.to_dict()!r})"


def validate_resource_request(resources: Mapping[str, Any]) -> dict[str, float]:
    """Check a task's or actor's resource demand; return it canonical (floats rounded to 0.0001,
    zero entries dropped). Raises ``ValueError`` for a non-numeric, negative, infinite or
    too-precise amount, and for a GPU amount above 1 that is not whole (Ray's rules)."""
    if not isinstance(resources, Mapping):
        raise ValueError(f"resources must be a dict of name -> amount, got {type(resources).__name__}")
    out: dict[str, float] = {}
    for name, amount in resources.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"resource names must be non-empty strings, got {name!r}")
        if isinstance(amount, bool) or not isinstance(amount, int | float):
            raise ValueError(f"the quantity of resource {name} must be a number, got {amount!r}")
        if not math.isfinite(amount):
            raise ValueError(f"the quantity of resource {name} must be finite, got {amount!r}")
        if amount < 0:
            raise ValueError(f"the quantity of resource {name} cannot be negative, got {amount!r}")
        units = round(amount * UNIT)
        if amount and not units:
            raise ValueError(
                f"the precision of the fractional quantity of resource {name} cannot go beyond "
                f"0.0001, got {amount!r}"
            )
        if name in UNIT_INSTANCE_RESOURCES and amount > 1 and not float(amount).is_integer():
            raise ValueError(
                f"{name} resource quantities >1 must be whole numbers; {amount!r} is invalid"
            )
        if units:
            out[name] = units / UNIT
    return out


# --------------------------------------------------------------------------------------------
# Cluster views.


def _request_units(request: SchedulingRequest | Mapping[str, float]) -> Mapping[str, int]:
    if isinstance(request, SchedulingRequest):
        return request.units
    return {k: u for k, v in request.items() if (u := round(v * UNIT))}


@dataclass(frozen=True, slots=True)
class NodeView:
    """One node as a strategy sees it (read-only; the dicts must not be mutated)."""

    node_id: str
    alive: bool
    total: Mapping[str, float]
    available: Mapping[str, float]
    labels: Mapping[str, str] = field(default_factory=dict)
    is_local: bool = False
    total_units: Mapping[str, int] = field(init=False, repr=False, compare=False)
    available_units: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "total_units", to_unit_dict(self.total))
        object.__setattr__(self, "available_units", to_unit_dict(self.available))

    def is_feasible(self, request: SchedulingRequest | Mapping[str, float]) -> bool:
        """The node's *total* resources could hold the request (ignoring what is in use)."""
        return self.fits_total_units(_request_units(request))

    def is_available(self, request: SchedulingRequest | Mapping[str, float]) -> bool:
        """The node's *available* resources hold the request now."""
        return self.fits_available_units(_request_units(request))

    def fits_total_units(self, units: Mapping[str, int]) -> bool:
        """:meth:`is_feasible` for a demand already in units (``SchedulingRequest.units``)."""
        tot = self.total_units
        for k, u in units.items():
            if tot.get(k, 0) < u:
                return False
        return True

    def fits_available_units(self, units: Mapping[str, int]) -> bool:
        """:meth:`is_available` for a demand already in units (``SchedulingRequest.units``)."""
        av = self.available_units
        for k, u in units.items():
            if av.get(k, 0) < u:
                return False
        return True

    @property
    def has_gpu(self) -> bool:
        return self.total_units.get("GPU", 0) > 0

    def utilization(self, extra_kinds: Any = ()) -> float:
        """Ray's critical resource utilization: the highest ``used / total`` over
        :data:`CRITICAL_RESOURCES` and ``extra_kinds`` (e.g. the kinds a request asks for),
        counting only kinds this node has. 0.0 = idle, 1.0 = full (may exceed 1 when overcommitted).
        """
        tot = self.total_units
        av = self.available_units
        highest = 0.0
        for k in CRITICAL_RESOURCES:
            t = tot.get(k, 0)
            if t > 0:
                u = 1.0 - av.get(k, 0) / t
                if u > highest:
                    highest = u
        for k in extra_kinds:
            if k in CRITICAL_RESOURCES:
                continue
            t = tot.get(k, 0)
            if t > 0:
                u = 1.0 - av.get(k, 0) / t
                if u > highest:
                    highest = u
        return highest


@dataclass(frozen=True, slots=True)
class ClusterView:
    """A read-only snapshot of the cluster for one scheduling decision.

    ``local_node_id`` is the node making the decision (the one the work was submitted to); when it
    is empty, the node marked ``is_local`` is taken.
    """

    nodes: tuple[NodeView, ...]
    local_node_id: str = ""
    by_id: Mapping[str, NodeView] = field(init=False, repr=False, compare=False)
    #: Whether any alive node has GPUs.
    has_gpu_nodes: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.nodes, tuple):
            object.__setattr__(self, "nodes", tuple(self.nodes))
        object.__setattr__(self, "by_id", {n.node_id: n for n in self.nodes})
        object.__setattr__(self, "has_gpu_nodes", any(n.alive and n.has_gpu for n in self.nodes))
        if not self.local_node_id:
            for n in self.nodes:
                if n.is_local:
                    object.__setattr__(self, "local_node_id", n.node_id)
                    break

    def get(self, node_id: str) -> NodeView | None:
        return self.by_id.get(node_id)

    @property
    def local(self) -> NodeView | None:
        return self.by_id.get(self.local_node_id)

    def alive_nodes(self) -> list[NodeView]:
        return [n for n in self.nodes if n.alive]

    def feasible_nodes(self, request: SchedulingRequest | Mapping[str, float]) -> list[NodeView]:
        """Alive nodes whose total resources could ever hold the request."""
        units = _request_units(request)
        return [n for n in self.nodes if n.alive and n.fits_total_units(units)]

    def available_nodes(self, request: SchedulingRequest | Mapping[str, float]) -> list[NodeView]:
        """Alive nodes that have the request's resources available now."""
        units = _request_units(request)
        return [n for n in self.nodes if n.alive and n.fits_available_units(units)]

    def __len__(self) -> int:
        return len(self.nodes)


@dataclass(frozen=True, slots=True)
class SchedulingRequest:
    """What is to be placed.

    - ``resources``: the demand (validated, see :func:`validate_resource_request`); for an actor,
      what it needs to be *scheduled* (Ray: 1 CPU by default), so an empty dict is a
      zero-resource actor.
    - ``kind``: ``"task"`` or ``"actor"``.
    - ``strategy``: the strategy's name (the core picks the strategy object by it).
    - ``params``: the strategy's parameters (e.g. ``{"node_id": ..., "soft": False}``).
    - ``arg_bytes_by_node``: node id -> bytes of this task's arguments stored there (locality).
    """

    resources: Mapping[str, float]
    kind: Literal["task", "actor"] = "task"
    strategy: str = "DEFAULT"
    params: Mapping[str, Any] = field(default_factory=dict)
    arg_bytes_by_node: Mapping[str, int] = field(default_factory=dict)
    units: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in ("task", "actor"):
            raise ValueError(f"SchedulingRequest.kind must be 'task' or 'actor', got {self.kind!r}")
        object.__setattr__(
            self, "units", {k: u for k, v in self.resources.items() if (u := round(v * UNIT))}
        )

    @property
    def is_zero_resource_actor(self) -> bool:
        """An actor asking for nothing: Ray places these on a random alive node."""
        return self.kind == "actor" and not self.units


@dataclass(frozen=True, slots=True)
class Decision:
    """A strategy's answer.

    - ``Decision.node(node_id)``: run it there.
    - ``Decision.retry(reason)``: some node could run it but none has room now; ask again when
      resources are freed or the cluster changes.
    - ``Decision.infeasible(reason)``: no alive node could ever hold it. The work waits (and is
      reported, as in Ray) until the cluster changes. With ``fatal=True`` it can never run under
      its strategy (hard affinity to a dead node): the core fails it with
      ``TaskUnschedulableError`` / ``ActorUnschedulableError``.
    """

    NODE: ClassVar[str] = "node"
    RETRY: ClassVar[str] = "retry"
    INFEASIBLE: ClassVar[str] = "infeasible"

    kind: str
    node_id: str = ""
    reason: str = ""
    fatal: bool = False

    @classmethod
    def node(cls, node_id: str) -> Decision:
        return cls("node", node_id)

    @classmethod
    def retry(cls, reason: str = "") -> Decision:
        return cls("retry", "", reason)

    @classmethod
    def infeasible(cls, reason: str = "", *, fatal: bool = False) -> Decision:
        return cls("infeasible", "", reason, fatal)

    @property
    def is_node(self) -> bool:
        return self.kind == "node"

    @property
    def is_retry(self) -> bool:
        return self.kind == "retry"

    @property
    def is_infeasible(self) -> bool:
        return self.kind == "infeasible"


@runtime_checkable
class Strategy(Protocol):
    """A scheduling strategy: picks a node for a request from a read-only cluster view.

    ``decide`` must be synchronous and fast (it runs on the node's event loop for every task) and
    must not mutate the view. A strategy object may keep state (SPREAD keeps its round-robin
    position); each node gets its own objects from ``edgeray_scheduling_strategies()``.
    """

    name: str

    def decide(self, request: SchedulingRequest, cluster: ClusterView) -> Decision: ...


@runtime_checkable
class PersistenceBackend(Protocol):
    """Storage for the GCS tables: ``table`` and ``key`` are strings, values are bytes.

    Calls are synchronous; a write has returned only once it is durable to the level the backend
    promises (sqlite: it survives kill -9 of the process). ``scan`` yields a snapshot.
    """

    def put(self, table: str, key: str, value: bytes) -> None: ...

    def get(self, table: str, key: str) -> bytes | None: ...

    def delete(self, table: str, key: str) -> None: ...

    def scan(self, table: str) -> Iterator[tuple[str, bytes]]: ...

    def close(self) -> None: ...


#: A persistence backend factory: called with the node's Config, returns an open backend.
PersistenceFactory = Callable[[Config], PersistenceBackend]


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """A node, as told to ``edgeray_node_started`` / ``edgeray_node_stopping``."""

    node_id: str
    address: str = ""  # ws://HOST:PORT ("" when not listening on a WebSocket)
    unix_socket: str = ""
    is_head: bool = False
    resources: Mapping[str, float] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    gpu_ids: tuple[str, ...] = ()
    pid: int = 0
    name: str = ""


@dataclass(frozen=True, slots=True)
class TaskEvent:
    """A task's state change, as told to ``edgeray_task_event``.

    ``kind`` is one of :attr:`KINDS`; ``error`` is ``"ExceptionType: message"`` for ``failed``.
    """

    KINDS: ClassVar[tuple[str, ...]] = ("submitted", "started", "finished", "failed")

    kind: Literal["submitted", "started", "finished", "failed"]
    task_id: str
    name: str = ""
    node_id: str = ""
    worker_id: str = ""
    actor_id: str = ""
    attempt: int = 0
    timestamp: float = field(default_factory=time.time)
    error: str = ""
