"""The object directory: a node's objects, who holds them, what processes are writing into its
store and the read pins (*leases*) under which they map what they read.

``ObjectDirectory`` owns three tables and acts on the world only through what it is given at
construction: the node's ``Store`` (shared-memory bytes) and ``DirectoryEffects`` (the
connected peers, whether an id is the result of a task this node runs, fetching a value held
by another node, and what else must happen when an object is freed).

The rules, one table each:

``table`` (``ObjectTable``: entries, holders, pins, waiters)
    An entry is *pending* until its value is sealed (``set_ready``), then *ready*; a second
    value for a ready entry is ignored (the first stays). It is freed once it has no holder, no
    pin and no waiter; its bytes then leave the store, and ``DirectoryEffects.freed`` is told.
``creating`` (peer -> objects it allocated and has not sealed)
    ``create_object`` adds; ``sealed`` (its ``PutObject``/``TaskDone``) removes; ``written``
    lets the store spill it without removing it; ``drop_created`` and the peer going
    (``peer_gone``) delete its bytes. Only the result of a task this node does not run may be
    put: a task's result is sealed by its ``TaskDone`` alone (``ProtocolError`` otherwise).
``leases`` (peer -> object -> count)
    Each lease is one store pin, taken when a shared-memory reader is handed an object's place
    (``payload_for(lease=True)``, ``map_object``, ``lease_for_node``) and given back by its
    ``Unmap`` (never more than it holds) or all at once when the peer goes.

Payloads as a peer receives them: another node gets a *marker* for a value in this store
(``{"id", "node", "size", "refs", ...}``, no bytes); a process that maps the arena gets a
notice (``loc`` without a lease) unless it asks for a lease; one that does not gets the bytes.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, Protocol

from .. import exceptions as exc
from ..object_store import serialize
from ..protocol import Message, ObjectReady
from ._objects import ObjectEntry, ObjectTable

log = logging.getLogger("edgeray.node")


def error_payload(object_id: bytes, error: BaseException) -> dict[str, Any]:
    """A payload whose value is ``error`` (raised by whoever reads it)."""
    return {"id": object_id, "data": serialize(error).to_bytes(), "loc": None, "err": True, "refs": []}


def lost_payload(object_id: bytes, why: str) -> dict[str, Any]:
    return error_payload(object_id, exc.ObjectLostError(object_id.hex(), why))


def is_marker(p: dict[str, Any] | None) -> bool:
    """Whether payload ``p`` points at bytes held by another node."""
    return p is not None and p.get("node") is not None


def marker_for(p: dict[str, Any] | None, node_id: bytes) -> dict[str, Any] | None:
    """A payload as another node receives it: large values of this node's become markers."""
    if p is None or p.get("loc") is None:
        return p
    return {"id": p["id"], "data": None, "loc": None, "err": False, "refs": p.get("refs") or [],
            "node": node_id, "size": int(p["loc"][1])}


class Reader(Protocol):
    """A connected process or node as the directory sees it."""

    peer_id: bytes
    role: str
    shm: bool

    def send(self, msg: Message) -> None: ...


class Store(Protocol):
    """The operations of ``object_store.ObjectStore`` the directory uses."""

    def describe(self, object_id: bytes) -> dict[str, Any] | None: ...

    def create(self, object_id: bytes, size: int) -> int: ...

    def seal(self, object_id: bytes) -> None: ...

    def delete(self, object_id: bytes) -> None: ...

    def pin(self, object_id: bytes, n: int = 1) -> None: ...

    def unpin(self, object_id: bytes, n: int = 1) -> None: ...

    def restore(self, object_id: bytes) -> tuple[int, int]: ...

    def read_bytes(self, object_id: bytes) -> bytes: ...


class DirectoryEffects(Protocol):
    """What the directory needs from the rest of the node."""

    def peer(self, peer_id: bytes) -> Reader | None:
        """The connected peer ``peer_id``, or None."""

    def running_result(self, object_id: bytes) -> bool:
        """Whether ``object_id`` is a result of a task this node runs or queues."""

    def localize(self, ids: list[bytes], then: Callable[[], None]) -> None:
        """Copy the values held by other nodes among ``ids`` here, then call ``then()``."""

    def freed(self, entry: ObjectEntry) -> None:
        """``entry`` left the table (after its bytes left the store)."""


class ObjectDirectory:
    """The node's objects (see the module's docstring for the rules)."""

    def __init__(self, node_id: bytes, store: Store, effects: DirectoryEffects) -> None:
        self.node_id = node_id
        self._store = store
        self._effects = effects
        self.table = ObjectTable(self._free)
        self.leases: dict[bytes, dict[bytes, int]] = {}  # peer -> object -> leases it reads under
        self.creating: dict[bytes, set[bytes]] = {}  # peer -> objects it is writing (not sealed)

    # -- the table's callback -------------------------------------------------------------
    def _free(self, e: ObjectEntry) -> None:
        p = e.payload
        if p is not None and p.get("loc") is not None:
            self._store.delete(e.id)
        self._effects.freed(e)

    # -- processes ------------------------------------------------------------------------
    def peer_gone(self, peer_id: bytes) -> None:
        """``peer_id`` disconnected: its leases end, what it was writing half-way is dropped,
        and it holds nothing any more."""
        store = self._store
        for oid, n in self.leases.pop(peer_id, {}).items():
            store.unpin(oid, n)
        half_written = self.creating.pop(peer_id, ())
        for oid in half_written:
            if store.describe(oid) is not None:
                store.delete(oid)  # written (half-way, or whole but never sealed) by a process that is gone
        self.table.release(half_written)  # (unless a task's owner still waits for it)
        self.table.drop_holder_everywhere(peer_id)

    # -- writing --------------------------------------------------------------------------
    def sealed(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Seal a shared-memory payload's object (written by its creator); an object that was
        never created here becomes an ``ObjectLostError`` payload."""
        if payload.get("loc") is not None:
            oid = payload["id"]
            self._forget_creating(oid)
            try:
                self._store.seal(oid)
            except KeyError:
                return lost_payload(oid, "its creator never allocated it in this node's store")
        return payload

    def _forget_creating(self, oid: bytes) -> None:
        for creating in self.creating.values():
            creating.discard(oid)

    def put_object(self, peer: Reader, payload: dict[str, Any]) -> None:
        oid = payload["id"]
        if self._effects.running_result(oid):
            raise exc.ProtocolError(f"object {oid.hex()} is the result of a task this peer does not run")
        self.table.expect(oid, peer.peer_id)
        payload = self.sealed(payload)
        if self.table.set_ready(payload) is None and payload.get("loc") is not None:
            self._store.delete(oid)

    def promise(self, peer: Reader, ids: list[bytes]) -> None:
        """``peer`` will publish these objects (results of its direct actor calls)."""
        for oid in ids:
            self.table.expect(oid, peer.peer_id)

    def publish(self, peer: Reader, owner: bytes, payloads: list[dict[str, Any]]) -> None:
        """An actor's worker seals a direct call's results for their ``owner`` (the caller),
        who becomes their holder and is sent each one."""
        to = self._effects.peer(owner)
        if any(self._effects.running_result(p["id"]) for p in payloads):
            raise exc.ProtocolError("a published object is the result of a task this worker does not run")
        for payload in payloads:
            oid = payload["id"]
            if to is None:  # the caller is gone: nobody will ever read these
                if payload.get("loc") is not None and self._store.describe(oid) is not None:
                    self._forget_creating(oid)
                    self._store.delete(oid)
                continue
            self.table.expect(oid, owner)
            e = self.table.set_ready(self.sealed(payload))
            if e is None:
                if payload.get("loc") is not None:
                    self._store.delete(oid)
            else:
                self.push(to, e)

    def create_object(self, peer: Reader, oid: bytes, size: int) -> int:
        """Room for an object ``peer`` writes now and seals with its ``PutObject``/``TaskDone``.

        The creator does not become a holder (a task's result belongs to its owner); if it
        disconnects before sealing, the half-written object is dropped."""
        store = self._store
        d = store.describe(oid)
        if d is not None:
            e = self.table.get(oid)
            if d["where"] == "creating" or e is None or not e.ready:
                # a retry of a task whose worker died writing it (or having written it, unsealed)
                store.delete(oid)
                self._forget_creating(oid)
        offset = store.create(oid, size)
        self.table.expect(oid, None)
        self.creating.setdefault(peer.peer_id, set()).add(oid)
        return offset

    def written(self, peer: Reader, ids: list[bytes]) -> None:
        """``peer`` has written these objects it created (a task's earlier results, sealed with
        its ``TaskDone``): the store may spill them to make room for the next ones. They stay
        the creator's until then (dropped if it goes)."""
        mine = self.creating.get(peer.peer_id, set())
        for oid in ids:
            if oid in mine and self._store.describe(oid) is not None:
                self._store.seal(oid)

    def drop_created(self, peer: Reader, ids: list[bytes]) -> None:
        """``peer`` will never seal these objects it created (its task failed after writing
        them): their room is freed now."""
        mine = self.creating.get(peer.peer_id, set())
        dropped = [oid for oid in ids if oid in mine]
        for oid in dropped:
            mine.discard(oid)
            if self._store.describe(oid) is not None:
                self._store.delete(oid)
        self.table.release(dropped)  # (a task's owner still waiting keeps its entry)

    # -- reading --------------------------------------------------------------------------
    def subscribe(self, peer: Reader, ids: list[bytes]) -> None:
        for oid in ids:
            if not self.table.when_ready(oid, functools.partial(self.push, peer)):
                peer.send(ObjectReady(lost_payload(oid, "it was freed or never existed on this node")))

    def push(self, peer: Reader, e: ObjectEntry) -> None:
        """Send ready ``e`` to ``peer`` (if still connected), as it can use it."""
        if self._effects.peer(peer.peer_id) is None:
            return
        p = e.payload
        if peer.role != "node" and is_marker(p):  # its bytes are on another node
            assert p is not None
            if peer.shm:  # a notice: the bytes come here when it maps them (map_object)
                peer.send(ObjectReady({"id": e.id, "data": None, "loc": [0, int(p.get("size") or 0)],
                                       "err": False, "refs": p.get("refs") or []}))
            else:
                self._effects.localize([e.id], functools.partial(self.push, peer, e))
            return
        peer.send(ObjectReady(self.payload_for(peer, e.payload)))

    def payload_for(self, peer: Reader, payload: dict[str, Any] | None, *, lease: bool = False) -> dict[str, Any]:
        """The payload as ``peer`` can use it.

        Shared-memory objects: to a peer that maps the arena, a notice (its ``loc`` is only a
        marker) unless ``lease``: then the object is brought back into memory if it was
        spilled, pinned there, and its current place is handed out as a lease the peer
        returns with ``Unmap``. Peers without the arena, or when no room can be made, get
        the bytes.
        """
        assert payload is not None
        if peer.role == "node":
            return marker_for(payload, self.node_id)  # type: ignore[return-value]
        if payload.get("loc") is None or (peer.shm and not lease):
            return payload
        oid = payload["id"]
        store = self._store
        try:
            if peer.shm:
                try:
                    loc = store.restore(oid)
                except exc.ObjectStoreFullError as e:
                    log.warning("cannot restore object %s into memory (%s); sending its bytes", oid.hex(), e)
                else:
                    store.pin(oid)
                    self._add_lease(peer.peer_id, oid)
                    return {**payload, "loc": list(loc)}
            data = store.read_bytes(oid)
        except (KeyError, OSError) as e:
            return lost_payload(oid, f"its stored copy could not be read: {e}")
        return {**payload, "loc": None, "data": data}

    def _add_lease(self, peer_id: bytes, oid: bytes) -> None:
        leases = self.leases.setdefault(peer_id, {})
        leases[oid] = leases.get(oid, 0) + 1

    def map_object(self, peer: Reader, oid: bytes) -> dict[str, Any]:
        """A lease on a ready object for ``peer`` to read (see ``payload_for``)."""
        e = self.table.get(oid)
        if e is None or not e.ready:
            return lost_payload(oid, "it was freed or never existed on this node")
        return self.payload_for(peer, e.payload, lease=True)

    def lease_for_node(self, peer: Reader, oid: bytes) -> list[int]:
        """For a node on this machine: where a stored object is in our arena, pinned there
        until the node gives the lease back with ``Unmap``."""
        if peer.role != "node":
            raise ValueError("lease_object is for other nodes")
        e = self.table.get(oid)
        if e is None or not e.ready or e.payload is None or e.payload.get("loc") is None:
            raise KeyError(f"object {oid.hex()} is not in this node's store")
        loc = self._store.restore(oid)
        self._store.pin(oid)
        self._add_lease(peer.peer_id, oid)
        return list(loc)

    def unmap(self, peer: Reader, ids: list[bytes], counts: list[int]) -> None:
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
            self._store.unpin(oid, n)
