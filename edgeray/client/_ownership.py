"""``Ownership``: what one process knows of the objects it references, as a pure table.

No lock, no connection, no threads: the client holds its lock around each call and sends (or
queues, in order) the messages a transition returns. A transition never sends by itself.

Per object id the table holds (each a plain field, below):

* ``counts``: the ObjectRefs to it alive in this process;
* ``known``: the node counts this process as one of its holders;
* ``local``: its value, here only (a small put, a direct result): the node has never heard of it;
* ``direct_pending``: a result of a call that skipped the node, not back yet; ``promised``: ...
  of which the node was told (``Promise``) to expect the value from this process;
* ``subscribed``: the node will push it (``ObjectReady``) when ready;
* ``payloads``: its value (inline bytes) or where it lives (shared memory), once known here.

Rules (each transition below is one of them):

1. ``take``: the count goes 0 -> 1 for an object neither ``known`` nor ``local``: ``AddRef``, and
   it is ``known``. Any other take only counts.
2. ``drop``: the count goes to 0: the object is forgotten here (payload, local value,
   subscription) and, if ``known``, ``DelRef``. Dropping an object not counted is illegal.
3. ``owned`` (a submitted task's returns, a placement group's ready object) and ``put_published``
   (a put sealed on the node) count an object the node already counts as ours: ``known``, no
   message. ``put_local`` counts a value the node does not know: ``local``.
4. ``publish`` (its ref leaves the process): a ``local`` value becomes ``PutObject`` and
   ``known``; a ``direct_pending`` result not yet promised becomes ``Promise``, ``promised``
   and ``known``; anything else needs nothing.
5. ``subscribe``: ``Subscribe`` only for the objects not ``subscribed`` already.
6. A direct call: ``expect_direct`` (its results are ``direct_pending`` and ``subscribed``, not
   ``known``); then either ``direct_to_node`` (it went via the node after all: ``known``, and
   ``DelRef`` for those dropped meanwhile), or ``direct_results`` (the values came back on the
   worker's connection: kept as ``local`` values, or published with ``PutObject`` if promised,
   then ``DelRef`` if dropped), or ``published_result`` (the worker sealed it on the node, which
   pushes it: ``known`` if still held, else ``DelRef``).
7. ``reconnected``: a new node counts nothing and pushes nothing: ``known`` and ``subscribed``
   are emptied.

A payload is kept only while the object is counted here or someone waits for it (``waited``,
the client's business: passed in).
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from typing import Any

from .. import exceptions as exc
from ..object_store import serialize
from ..protocol import AddRef, DelRef, Message, Promise, PutObject, Subscribe

Payload = dict[str, Any]


class OwnershipError(exc.RaySystemError):
    """An illegal transition of the ownership table (a bug in the client)."""


def inline_payload(oid: bytes, data: bytes, err: bool = False) -> Payload:
    return {"id": oid, "data": data, "loc": None, "err": err, "refs": []}


class Ownership:
    """The table; every method is one transition and returns the messages it implies."""

    __slots__ = ("counts", "known", "local", "direct_pending", "promised", "subscribed", "payloads")

    def __init__(self) -> None:
        self.counts: dict[bytes, int] = {}
        self.known: set[bytes] = set()
        self.local: dict[bytes, bytes] = {}
        self.direct_pending: set[bytes] = set()
        self.promised: set[bytes] = set()
        self.subscribed: set[bytes] = set()
        self.payloads: dict[bytes, Payload] = {}

    def held(self, oid: bytes) -> bool:
        return self.counts.get(oid, 0) > 0

    # -- rules 1, 2: counting ---------------------------------------------------------------
    def take(self, oid: bytes) -> list[Message]:
        n = self.counts.get(oid, 0)
        self.counts[oid] = n + 1
        if n == 0 and oid not in self.known and oid not in self.local:
            self.known.add(oid)
            return [AddRef([oid])]
        return []

    def drop(self, oid: bytes) -> list[Message]:
        n = self.counts.get(oid, 0) - 1
        if n > 0:
            self.counts[oid] = n
            return []
        if n < 0:
            raise OwnershipError(f"dropped a reference to {oid.hex()} that was not counted")
        del self.counts[oid]
        self.payloads.pop(oid, None)
        self.local.pop(oid, None)
        self.subscribed.discard(oid)
        if oid in self.known:
            self.known.discard(oid)
            return [DelRef([oid])]
        return []

    # -- rule 3: objects the node counts already, or never hears of ---------------------------
    def owned(self, oid: bytes) -> None:
        self.known.add(oid)
        self.counts[oid] = self.counts.get(oid, 0) + 1

    def returns_submitted(self, ids: Iterable[bytes]) -> None:
        """A submitted task's returns (counted with ``owned``): the node pushes them to their owner."""
        self.subscribed.update(ids)

    def put_published(self, oid: bytes, payload: Payload) -> None:
        self.owned(oid)
        self.payloads[oid] = payload

    def put_local(self, oid: bytes, data: bytes, err: bool = False) -> None:
        self.local[oid] = data
        self.payloads[oid] = inline_payload(oid, data, err)
        self.counts[oid] = self.counts.get(oid, 0) + 1

    def cache(self, payload: Payload) -> None:
        """An inline payload the node also has (it told us in a reply): kept if still held."""
        if self.held(payload["id"]):
            self.payloads[payload["id"]] = payload

    # -- rule 4 --------------------------------------------------------------------------------
    def needs_publish(self, oid: bytes) -> bool:
        return oid in self.local or oid in self.direct_pending

    def publish(self, oid: bytes) -> Message | None:
        data = self.local.pop(oid, None)
        if data is None:
            if oid not in self.direct_pending or oid in self.promised:
                return None
            self.promised.add(oid)
            self.known.add(oid)
            return Promise([oid])
        self.known.add(oid)
        p = self.payloads.get(oid)
        return PutObject(inline_payload(oid, data, bool(p and p.get("err"))))

    # -- rule 5 --------------------------------------------------------------------------------
    def subscribe(self, ids: Iterable[bytes]) -> list[Message]:
        new = [i for i in ids if i not in self.subscribed]
        if not new:
            return []
        self.subscribed.update(new)
        return [Subscribe(new)]

    def ready(self, payload: Payload, waited: Container[bytes]) -> bool:
        """The node pushed a value (not a direct call's): kept? (not if nobody wants it)."""
        oid = payload["id"]
        if not self.held(oid) and oid not in waited:
            return False
        self.payloads[oid] = payload
        return True

    # -- rule 6: calls that skip the node ----------------------------------------------------
    def expect_direct(self, ids: Iterable[bytes]) -> None:
        ids = list(ids)
        self.direct_pending.update(ids)
        self.subscribed.update(ids)
        self.known.difference_update(ids)

    def direct_to_node(self, ids: Iterable[bytes]) -> list[Message]:
        ids = list(ids)
        self.direct_pending.difference_update(ids)
        self.promised.difference_update(ids)
        self.known.update(ids)
        dropped = [i for i in ids if not self.held(i)]
        if not dropped:
            return []
        self.known.difference_update(dropped)
        return [DelRef(dropped)]

    def direct_results(self, payloads: list[Payload], waited: Container[bytes]) -> tuple[list[Message], list[tuple[bytes, bool]]]:
        """Inline results come back on the worker's connection (``published`` markers are
        skipped: their value comes from the node, ``published_result``). Returns the messages
        and the objects now ready here, each with whether it failed."""
        ops: list[Message] = []
        ready: list[tuple[bytes, bool]] = []
        for p in payloads:
            oid = p.get("id")
            if not isinstance(oid, bytes) or oid not in self.direct_pending or p.get("published"):
                continue
            self.direct_pending.discard(oid)
            promised = oid in self.promised
            self.promised.discard(oid)
            held = self.held(oid)
            data, err = p.get("data"), bool(p.get("err"))
            if not isinstance(data, bytes):
                data, err = serialize(exc.RaySystemError("malformed direct result")).to_bytes(), True
            payload = inline_payload(oid, data, err)
            if promised:
                ops.append(PutObject(payload))
                if not held:
                    ops.append(DelRef([oid]))
            if held or oid in waited:
                self.payloads[oid] = payload
                if not promised:
                    self.local[oid] = data
                ready.append((oid, err))
        return ops, ready

    def published_result(self, payload: Payload, waited: Container[bytes]) -> tuple[list[Message], bool] | None:
        """The node pushes a direct call's result its worker sealed there, and counts us as its
        holder: (messages, kept here); None if ``payload`` is not a pending direct result."""
        oid = payload["id"]
        if oid not in self.direct_pending:
            return None
        self.direct_pending.discard(oid)
        self.promised.discard(oid)
        held = self.held(oid)
        ops: list[Message] = []
        if held:
            self.known.add(oid)
        else:
            ops.append(DelRef([oid]))
        if held or oid in waited:
            self.payloads[oid] = payload
            return ops, True
        return ops, False

    # -- rule 7 --------------------------------------------------------------------------------
    def reconnected(self) -> None:
        self.known.clear()
        self.subscribed.clear()
