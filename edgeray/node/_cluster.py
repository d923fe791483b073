"""The cluster as one node sees it: every node's address, resources and liveness.

The head builds this table from its joined nodes' heartbeats and sends it to them
(``ClusterState``); every other node keeps the head's latest copy. Scheduling strategies read it
through ``view()`` (a ``plugins.ClusterView``). Plain synchronous state, tested without I/O.

A node id is one *incarnation*: once the head declares a node dead, that id is *fenced* for good
(``fenced``; on the head by ``fence``, on the others from the head's table). It never joins
again and what it sends afterwards is refused; the node itself, told so, starts over under a
new id. A node this node only lost its own link to (``mark_dead``) is dead here but not fenced:
the head's next table has the last word on it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..plugins import ClusterView, NodeView, from_unit_dict


@dataclass
class NodeEntry:
    node_id: bytes
    address: str
    hostname: str
    total: dict[str, int]  # units of 1/10000
    available: dict[str, int]
    labels: dict[str, str] = field(default_factory=dict)
    alive: bool = True
    head: bool = False
    last_seen: float = 0.0

    def to_wire(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id, "address": self.address, "hostname": self.hostname,
            "alive": self.alive, "head": self.head, "total": self.total,
            "available": self.available, "labels": self.labels,
        }

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> NodeEntry:
        node_id = d.get("node_id")
        if not isinstance(node_id, bytes) or len(node_id) != 16:
            raise ValueError("a cluster node needs a 16-byte node_id")
        return cls(
            node_id=node_id, address=str(d.get("address", "")), hostname=str(d.get("hostname", "")),
            total=_units(d.get("total")), available=_units(d.get("available")),
            labels={str(k): str(v) for k, v in (d.get("labels") or {}).items()},
            alive=bool(d.get("alive", True)), head=bool(d.get("head", False)),
        )


def _units(d: Any) -> dict[str, int]:
    if not isinstance(d, dict):
        return {}
    return {str(k): int(v) for k, v in d.items() if isinstance(v, int | float)}


class ClusterTable:
    """Nodes by id. ``local`` is this node's id; its entry is refreshed from its own resources
    by ``refresh_local``, the others come from heartbeats (head) or ``ClusterState`` (others)."""

    def __init__(self, local: NodeEntry, now: Callable[[], float] = time.monotonic) -> None:
        self.local_id = local.node_id
        self.nodes: dict[bytes, NodeEntry] = {local.node_id: local}
        self._now = now
        self.version = 0  # bumped on every change worth telling the other nodes
        self.fenced: set[bytes] = set()  # ids the head declared dead: never alive again
        local.last_seen = now()

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def local(self) -> NodeEntry:
        return self.nodes[self.local_id]

    def is_multi(self) -> bool:
        """More than one node has ever been seen (so scheduling looks beyond this node)."""
        return len(self.nodes) > 1

    def alive_ids(self) -> list[bytes]:
        return [n.node_id for n in self.nodes.values() if n.alive]

    def get(self, node_id: bytes) -> NodeEntry | None:
        return self.nodes.get(node_id)

    def is_alive(self, node_id: bytes) -> bool:
        n = self.nodes.get(node_id)
        return n is not None and n.alive

    def is_fenced(self, node_id: bytes) -> bool:
        """The head declared this node id dead: refuse whatever it sends."""
        return node_id in self.fenced

    def refresh_local(self, total: dict[str, int], available: dict[str, int]) -> None:
        n = self.local
        if n.total != total or n.available != available:
            n.total, n.available = dict(total), dict(available)
            self.version += 1
        n.last_seen = self._now()

    # -- the head's side ------------------------------------------------------------------
    def join(self, entry: NodeEntry) -> bool:
        """Count a node as a member; False (and nothing changes) for a fenced id."""
        if entry.node_id in self.fenced:
            return False
        entry.alive = True
        entry.last_seen = self._now()
        self.nodes[entry.node_id] = entry
        self.version += 1
        return True

    def heartbeat(self, node_id: bytes, total: dict[str, int], available: dict[str, int], labels: dict[str, str]) -> bool:
        """Record a heartbeat; False if the node is unknown or was declared dead."""
        n = self.nodes.get(node_id)
        if n is None or not n.alive:
            return False
        n.last_seen = self._now()
        if n.total != total or n.available != available or n.labels != labels:
            n.total, n.available, n.labels = dict(total), dict(available), dict(labels)
            self.version += 1
        return True

    def mark_dead(self, node_id: bytes) -> bool:
        """Declare a node dead; True if it was alive. On the head that is for good (fenced)."""
        n = self.nodes.get(node_id)
        if node_id != self.local_id and self.local.head:
            self.fenced.add(node_id)
        if n is None or not n.alive or node_id == self.local_id:
            return False
        n.alive = False
        n.available = {}
        self.version += 1
        return True

    def fence(self, node_id: bytes) -> bool:
        """Declare ``node_id`` dead for good (``mark_dead``, and it may never join again), on
        any node. True if it was alive."""
        if node_id == self.local_id:
            return False
        self.fenced.add(node_id)
        return self.mark_dead(node_id)

    def expired(self, timeout_s: float) -> list[bytes]:
        """Alive nodes (not this one) whose last heartbeat is older than ``timeout_s``."""
        now = self._now()
        return [
            n.node_id for n in self.nodes.values()
            if n.alive and n.node_id != self.local_id and now - n.last_seen > timeout_s
        ]

    def to_wire(self) -> list[dict[str, Any]]:
        return [n.to_wire() for n in self.nodes.values()]

    # -- a member's side ------------------------------------------------------------------
    def lists_local_dead(self, nodes: Iterable[dict[str, Any]]) -> bool:
        """The head's table says this node is dead: it was fenced."""
        return any(isinstance(d, dict) and d.get("node_id") == self.local_id and d.get("alive") is False for d in nodes)

    def apply_state(self, nodes: Iterable[dict[str, Any]]) -> list[bytes]:
        """Take the head's table (this node's own entry stays its own). Returns the ids of
        nodes that are dead now and were alive (or unknown) before."""
        died: list[bytes] = []
        for d in nodes:
            e = NodeEntry.from_wire(d)
            if e.node_id == self.local_id:
                continue
            if not e.alive:
                self.fenced.add(e.node_id)
            elif e.node_id in self.fenced:
                continue  # (a head never says so; a dead id stays dead)
            old = self.nodes.get(e.node_id)
            if not e.alive and (old is None or old.alive):
                died.append(e.node_id)
            self.nodes[e.node_id] = e
        self.version += 1
        return died

    def debit(self, node_id: bytes, units: dict[str, int]) -> None:
        """Count work sent to a node against its available resources until its next report."""
        n = self.nodes.get(node_id)
        if n is None or node_id == self.local_id:
            return
        for k, v in units.items():
            n.available[k] = n.available.get(k, 0) - v

    # -- for strategies and the API ---------------------------------------------------------
    def view(self) -> ClusterView:
        return ClusterView(
            tuple(
                NodeView(n.node_id.hex(), n.alive, _floats(n.total), _floats(n.available), n.labels,
                         n.node_id == self.local_id)
                for n in self.nodes.values()
            ),
            self.local_id.hex(),
        )

    def totals(self) -> dict[str, float]:
        return _sum(n.total for n in self.nodes.values() if n.alive)

    def availables(self) -> dict[str, float]:
        return _sum(n.available for n in self.nodes.values() if n.alive)


def _floats(units: dict[str, int]) -> dict[str, float]:
    return from_unit_dict({k: max(v, 0) for k, v in units.items()})


def _sum(dicts: Iterable[dict[str, int]]) -> dict[str, float]:
    out: dict[str, int] = {}
    for d in dicts:
        for k, v in d.items():
            out[k] = out.get(k, 0) + max(v, 0)
    return from_unit_dict(out)
