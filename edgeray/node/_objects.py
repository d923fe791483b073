"""Objects on the node: sealing what processes write into the store, publishing results,
telling subscribers when objects are ready, and the *leases* under which readers map them.

``ObjectService`` is a part of ``NodeCore`` (``core.object_service``): the core's
``ObjectTable`` says which objects exist and who holds them, its ``ObjectStore`` holds their
bytes; this keeps what each connected process reads (leases) and writes (creating).
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any

from .. import exceptions as exc
from ..protocol import ObjectReady
from ..raylet import ObjectEntry
from ._records import Peer, error_payload
from ._remote import is_marker

if TYPE_CHECKING:
    from ._core import NodeCore

log = logging.getLogger("edgeray.node")


class ObjectService:
    """The node's object handling (see the module's docstring)."""

    def __init__(self, core: NodeCore) -> None:
        self.core = core
        self.leases: dict[bytes, dict[bytes, int]] = {}  # peer -> object -> leases it reads under
        self.creating: dict[bytes, set[bytes]] = {}  # peer -> objects it is writing (not sealed)

    def peer_gone(self, peer: Peer) -> None:
        """``peer`` disconnected: its leases end, what it was writing half-way is dropped."""
        store = self.core.store
        for oid, n in self.leases.pop(peer.peer_id, {}).items():
            store.unpin(oid, n)
        half_written = self.creating.pop(peer.peer_id, ())
        for oid in half_written:
            if store.describe(oid) is not None:
                store.delete(oid)  # written (half-way, or whole but never sealed) by a process that is gone
        self.core.objects.release(half_written)  # (unless a task's owner still waits for it)

    def free_entry(self, e: ObjectEntry) -> None:
        """``ObjectTable``'s callback: nobody holds the object any more; its bytes go."""
        p = e.payload
        if p is not None and p.get("loc") is not None:
            self.core.store.delete(e.id)
        if e.id in self.core.remote.origin:
            self.core.remote.freed(e.id)
        if e.id[:16] in self.core.remote.lineage:
            self.core.remote.lineage_freed(e.id)
        if e.id in self.core.actors.scoped:  # the last handle to an actor is gone
            self.core.actors.ref_freed(e.id)

    def lost_payload(self, oid: bytes, why: str) -> dict[str, Any]:
        return error_payload(oid, exc.ObjectLostError(oid.hex(), why))

    def error_payload_for(self, oid: bytes, error: BaseException) -> dict[str, Any]:
        return error_payload(oid, error)

    def sealed(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Seal a shared-memory payload's object (written by its creator); an object that was
        never created here becomes an ``ObjectLostError`` payload."""
        if payload.get("loc") is not None:
            oid = payload["id"]
            self._forget_creating(oid)
            try:
                self.core.store.seal(oid)
            except KeyError:
                return error_payload(oid, exc.ObjectLostError(oid.hex(), "its creator never allocated it in this node's store"))
        return payload

    def _forget_creating(self, oid: bytes) -> None:
        for creating in self.creating.values():
            creating.discard(oid)

    def _task_result(self, oid: bytes) -> bool:
        """A result of a task this node runs or queues: only its ``TaskDone`` may seal it."""
        t = self.core.live.get(oid[:16])
        return t is not None and not t.done

    def put_object(self, peer: Peer, payload: dict[str, Any]) -> None:
        oid = payload["id"]
        if self._task_result(oid):
            raise exc.ProtocolError(f"object {oid.hex()} is the result of a task this peer does not run")
        self.core.objects.expect(oid, peer.peer_id)
        payload = self.sealed(payload)
        if self.core.objects.set_ready(payload) is None and payload.get("loc") is not None:
            self.core.store.delete(oid)

    def promise(self, peer: Peer, ids: list[bytes]) -> None:
        """``peer`` will publish these objects (results of its direct actor calls)."""
        for oid in ids:
            self.core.objects.expect(oid, peer.peer_id)

    def publish(self, peer: Peer, owner: bytes, payloads: list[dict[str, Any]]) -> None:
        """An actor's worker seals a direct call's results for their ``owner`` (the caller),
        who becomes their holder and is sent each one."""
        to = self.core.peers.get(owner)
        if any(self._task_result(p["id"]) for p in payloads):
            raise exc.ProtocolError("a published object is the result of a task this worker does not run")
        for payload in payloads:
            oid = payload["id"]
            if to is None:  # the caller is gone: nobody will ever read these
                if payload.get("loc") is not None and self.core.store.describe(oid) is not None:
                    self._forget_creating(oid)
                    self.core.store.delete(oid)
                continue
            self.core.objects.expect(oid, owner)
            e = self.core.objects.set_ready(self.sealed(payload))
            if e is None:
                if payload.get("loc") is not None:
                    self.core.store.delete(oid)
            else:
                self.push(to, e)

    def create_object(self, peer: Peer, oid: bytes, size: int) -> int:
        """Room for an object ``peer`` writes now and seals with its ``PutObject``/``TaskDone``.

        The creator does not become a holder (a task's result belongs to its owner); if it
        disconnects before sealing, the half-written object is dropped."""
        d = self.core.store.describe(oid)
        if d is not None:
            e = self.core.objects.get(oid)
            if d["where"] == "creating" or e is None or not e.ready:
                # a retry of a task whose worker died writing it (or having written it, unsealed)
                self.core.store.delete(oid)
                self._forget_creating(oid)
        offset = self.core.store.create(oid, size)
        self.core.objects.expect(oid, None)
        self.creating.setdefault(peer.peer_id, set()).add(oid)
        return offset

    def written(self, peer: Peer, ids: list[bytes]) -> None:
        """``peer`` has written these objects it created (a task's earlier results, sealed with
        its ``TaskDone``): the store may spill them to make room for the next ones. They stay
        the creator's until then (dropped if it goes)."""
        mine = self.creating.get(peer.peer_id, set())
        for oid in ids:
            if oid in mine and self.core.store.describe(oid) is not None:
                self.core.store.seal(oid)

    def drop_created(self, peer: Peer, ids: list[bytes]) -> None:
        """``peer`` will never seal these objects it created (its task failed after writing
        them): their room is freed now."""
        mine = self.creating.get(peer.peer_id, set())
        dropped = [oid for oid in ids if oid in mine]
        for oid in dropped:
            mine.discard(oid)
            if self.core.store.describe(oid) is not None:
                self.core.store.delete(oid)
        self.core.objects.release(dropped)  # (a task's owner still waiting keeps its entry)

    def subscribe(self, peer: Peer, ids: list[bytes]) -> None:
        for oid in ids:
            if not self.core.objects.when_ready(oid, functools.partial(self.push, peer)):
                lost = exc.ObjectLostError(oid.hex(), "it was freed or never existed on this node")
                peer.send(ObjectReady(error_payload(oid, lost)))

    def push(self, peer: Peer, e: ObjectEntry) -> None:
        if peer.peer_id in self.core.peers:
            p = e.payload
            if peer.role != "node" and is_marker(p):  # its bytes are on another node
                assert p is not None
                if peer.shm:  # a notice: the bytes come here when it maps them (map_object)
                    peer.send(ObjectReady({"id": e.id, "data": None, "loc": [0, int(p.get("size") or 0)],
                                           "err": False, "refs": p.get("refs") or []}))
                else:
                    self.core.remote.localize([e.id], functools.partial(self.push, peer, e))
                return
            peer.send(ObjectReady(self.payload_for(peer, e.payload)))

    def payload_for(self, peer: Peer, payload: dict[str, Any] | None, *, lease: bool = False) -> dict[str, Any]:
        """The payload as ``peer`` can use it.

        Shared-memory objects: to a peer that maps the arena, a notice (its ``loc`` is only a
        marker) unless ``lease``: then the object is brought back into memory if it was
        spilled, pinned there, and its current place is handed out as a lease the peer
        returns with ``Unmap``. Peers without the arena, or when no room can be made, get
        the bytes.
        """
        assert payload is not None
        if peer.role == "node":
            return self.core.remote.marker_for(payload)  # type: ignore[return-value]
        if payload.get("loc") is None or (peer.shm and not lease):
            return payload
        oid = payload["id"]
        store = self.core.store
        try:
            if peer.shm:
                try:
                    loc = store.restore(oid)
                except exc.ObjectStoreFullError as e:
                    log.warning("cannot restore object %s into memory (%s); sending its bytes", oid.hex(), e)
                else:
                    store.pin(oid)
                    leases = self.leases.setdefault(peer.peer_id, {})
                    leases[oid] = leases.get(oid, 0) + 1
                    return {**payload, "loc": list(loc)}
            data = store.read_bytes(oid)
        except (KeyError, OSError) as e:
            return error_payload(oid, exc.ObjectLostError(oid.hex(), f"its stored copy could not be read: {e}"))
        return {**payload, "loc": None, "data": data}

    def map_object(self, peer: Peer, oid: bytes) -> dict[str, Any]:
        """A lease on a ready object for ``peer`` to read (see ``payload_for``)."""
        e = self.core.objects.get(oid)
        if e is None or not e.ready:
            return error_payload(oid, exc.ObjectLostError(oid.hex(), "it was freed or never existed on this node"))
        return self.payload_for(peer, e.payload, lease=True)

    def unmap(self, peer: Peer, ids: list[bytes], counts: list[int]) -> None:
        """``peer`` gives back leases: objects nobody reads may be spilled again."""
        leases = self.leases.get(peer.peer_id)
        if not leases:
            return
        for oid, n in zip(ids, counts, strict=False):
            held = leases.get(oid, 0)
            n = min(int(n), held)
            if n <= 0:
                continue
            if held == n:
                del leases[oid]
            else:
                leases[oid] = held - n
            self.core.store.unpin(oid, n)
