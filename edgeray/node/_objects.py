"""The node side of the object directory: the ``DirectoryEffects`` that ``raylet.ObjectDirectory``
acts through, made of the node's other parts (its peers, its live tasks, the cross-node work and
the actors), given to it when ``NodeCore`` is built.

The directory itself (entries, holders, pins, waiters, sealing, freeing, leases) is
``edgeray.raylet.ObjectDirectory``; this module holds no state of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol

from ..raylet import ObjectEntry
from ._records import Peer, TaskRecord

if TYPE_CHECKING:
    from ._remote import RemoteWork


class _ActorRefs(Protocol):
    """The actors' part as far as freeing goes: the last handle to a scoped actor."""

    scoped: dict[bytes, bytes]

    def ref_freed(self, oid: bytes) -> None: ...


class NodeObjectEffects:
    """``DirectoryEffects`` over the node's peers, live tasks, remote work and actors."""

    def __init__(self, peers: Mapping[bytes, Peer], live: Mapping[bytes, TaskRecord], remote: RemoteWork,
                 actors: _ActorRefs) -> None:
        self._peers = peers
        self._live = live
        self._remote = remote
        self._actors = actors

    def peer(self, peer_id: bytes) -> Peer | None:
        return self._peers.get(peer_id)

    def running_result(self, object_id: bytes) -> bool:
        """A result of a task this node runs or queues: only its ``TaskDone`` may seal it."""
        t = self._live.get(object_id[:16])
        return t is not None and not t.done

    def localize(self, ids: list[bytes], then: Callable[[], None]) -> None:
        self._remote.localize(ids, then)

    def freed(self, e: ObjectEntry) -> None:
        """Nobody holds the object any more: the node holding it for us, the lineage that could
        recompute it and the actor whose last handle it was are told."""
        remote = self._remote
        if remote.forwarding.holds(e.id):
            remote.freed(e.id)
        if e.id[:16] in remote.lineage:
            remote.lineage.freed(e.id)
        if e.id in self._actors.scoped:  # the last handle to an actor is gone
            self._actors.ref_freed(e.id)
