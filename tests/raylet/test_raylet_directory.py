"""The object directory driven alone: a recording store, recording peers and effects, no I/O."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from edgeray import exceptions as exc
from edgeray.object_store import deserialize
from edgeray.protocol import Message, ObjectReady
from edgeray.raylet import ObjectDirectory, ObjectEntry

NODE = b"N" * 16


class FakeStore:
    """Objects by id: ``where`` (creating/sealed), pins; every call recorded."""

    def __init__(self) -> None:
        self.objects: dict[bytes, dict[str, Any]] = {}
        self.calls: list[tuple[str, bytes]] = []
        self.next_offset = 0

    def describe(self, oid: bytes) -> dict[str, Any] | None:
        o = self.objects.get(oid)
        return None if o is None else {"where": o["where"], "size": o["size"]}

    def create(self, oid: bytes, size: int) -> int:
        self.calls.append(("create", oid))
        offset, self.next_offset = self.next_offset, self.next_offset + size
        self.objects[oid] = {"where": "creating", "size": size, "offset": offset, "pins": 0}
        return offset

    def seal(self, oid: bytes) -> None:
        self.calls.append(("seal", oid))
        self.objects[oid]["where"] = "memory"  # KeyError if never created, as the real one

    def delete(self, oid: bytes) -> None:
        self.calls.append(("delete", oid))
        del self.objects[oid]

    def pin(self, oid: bytes, n: int = 1) -> None:
        self.objects[oid]["pins"] += n

    def unpin(self, oid: bytes, n: int = 1) -> None:
        self.objects[oid]["pins"] -= n
        assert self.objects[oid]["pins"] >= 0

    def restore(self, oid: bytes) -> tuple[int, int]:
        o = self.objects[oid]
        return o["offset"], o["size"]

    def read_bytes(self, oid: bytes) -> bytes:
        return b"x" * self.objects[oid]["size"]


class FakePeer:
    def __init__(self, peer_id: bytes, role: str = "driver", shm: bool = True) -> None:
        self.peer_id, self.role, self.shm = peer_id, role, shm
        self.sent: list[Message] = []

    def send(self, msg: Message) -> None:
        self.sent.append(msg)


class FakeEffects:
    def __init__(self) -> None:
        self.peers: dict[bytes, FakePeer] = {}
        self.running: set[bytes] = set()
        self.localized: list[tuple[list[bytes], Callable[[], None]]] = []
        self.freed_ids: list[bytes] = []

    def peer(self, peer_id: bytes) -> FakePeer | None:
        return self.peers.get(peer_id)

    def running_result(self, object_id: bytes) -> bool:
        return object_id[:16] in self.running

    def localize(self, ids: list[bytes], then: Callable[[], None]) -> None:
        self.localized.append((ids, then))

    def freed(self, entry: ObjectEntry) -> None:
        self.freed_ids.append(entry.id)


@pytest.fixture
def world() -> tuple[ObjectDirectory, FakeStore, FakeEffects]:
    store, effects = FakeStore(), FakeEffects()
    return ObjectDirectory(NODE, store, effects), store, effects


def connect(effects: FakeEffects, peer_id: bytes, **kw: Any) -> FakePeer:
    p = effects.peers[peer_id] = FakePeer(peer_id, **kw)
    return p


def oid(n: int) -> bytes:
    return bytes([n]) * 16 + b"\x00" * 4


def shm_payload(object_id: bytes, size: int = 10) -> dict[str, Any]:
    return {"id": object_id, "data": None, "loc": [0, size], "err": False, "refs": []}


def inline(object_id: bytes, data: bytes = b"v", refs: list[bytes] | None = None) -> dict[str, Any]:
    return {"id": object_id, "data": data, "loc": None, "err": False, "refs": refs or []}


def test_a_put_is_sealed_held_by_its_putter_and_sent_to_subscribers(world: Any) -> None:
    d, store, effects = world
    a, b = connect(effects, b"a" * 16), connect(effects, b"b" * 16, shm=False)
    d.create_object(a, oid(1), 10)
    d.put_object(a, shm_payload(oid(1)))
    assert store.objects[oid(1)]["where"] == "memory" and d.creating[a.peer_id] == set()
    assert d.table.get(oid(1)).holders == {a.peer_id}  # type: ignore[union-attr]
    d.subscribe(b, [oid(1)])
    [msg] = b.sent
    assert isinstance(msg, ObjectReady) and msg.payload["data"] == b"x" * 10 and msg.payload["loc"] is None


def test_subscribing_to_an_unknown_object_answers_object_lost(world: Any) -> None:
    d, _store, effects = world
    a = connect(effects, b"a" * 16)
    d.subscribe(a, [oid(9)])
    [msg] = a.sent
    assert msg.payload["err"] and isinstance(deserialize(msg.payload["data"], []), exc.ObjectLostError)


def test_a_task_result_may_only_be_sealed_by_its_task(world: Any) -> None:
    d, _store, effects = world
    a = connect(effects, b"a" * 16)
    effects.running.add(oid(2)[:16])
    with pytest.raises(exc.ProtocolError):
        d.put_object(a, inline(oid(2)))
    with pytest.raises(exc.ProtocolError):
        d.publish(a, a.peer_id, [inline(oid(2))])


def test_sealing_what_was_never_created_here_is_an_object_lost_payload(world: Any) -> None:
    d, _store, _effects = world
    p = d.sealed(shm_payload(oid(3)))
    assert p["err"] and isinstance(deserialize(p["data"], []), exc.ObjectLostError)


def test_a_process_that_goes_loses_what_it_was_writing_and_its_leases(world: Any) -> None:
    d, store, effects = world
    w = connect(effects, b"w" * 16)
    d.create_object(w, oid(4), 8)  # half-written, nobody waits for it
    owner = connect(effects, b"o" * 16)
    d.create_object(owner, oid(5), 10)
    d.put_object(owner, shm_payload(oid(5)))
    d.payload_for(w, d.table.get(oid(5)).payload, lease=True)  # type: ignore[union-attr]
    d.payload_for(w, d.table.get(oid(5)).payload, lease=True)  # type: ignore[union-attr]
    assert store.objects[oid(5)]["pins"] == 2 and d.leases[w.peer_id] == {oid(5): 2}
    d.peer_gone(w.peer_id)
    assert oid(4) not in store.objects and d.table.get(oid(4)) is None
    assert store.objects[oid(5)]["pins"] == 0 and w.peer_id not in d.leases


def test_unmap_gives_back_no_more_leases_than_the_peer_holds(world: Any) -> None:
    d, store, effects = world
    r = connect(effects, b"r" * 16)
    d.create_object(r, oid(6), 4)
    d.put_object(r, shm_payload(oid(6), 4))
    d.map_object(r, oid(6))
    d.unmap(r, [oid(6)], [5])  # more than it holds: only its one
    assert store.objects[oid(6)]["pins"] == 0 and d.leases[r.peer_id] == {}
    d.unmap(r, [oid(6)], [1])  # nothing left to give back
    assert store.objects[oid(6)]["pins"] == 0


def test_an_object_nobody_holds_is_freed_with_its_bytes_and_what_it_contains(world: Any) -> None:
    d, store, effects = world
    a = connect(effects, b"a" * 16)
    d.put_object(a, inline(oid(7)))
    d.create_object(a, oid(8), 6)
    d.put_object(a, {**shm_payload(oid(8), 6), "refs": [oid(7)]})  # 8 contains 7: pins it
    d.table.remove_holder([oid(7)], a.peer_id)
    assert d.table.get(oid(7)) is not None and effects.freed_ids == []
    d.table.remove_holder([oid(8)], a.peer_id)
    assert effects.freed_ids == [oid(8), oid(7)] and oid(8) not in store.objects and len(d.table) == 0


def test_payloads_as_each_peer_can_use_them(world: Any) -> None:
    d, _store, effects = world
    a = connect(effects, b"a" * 16)
    node = connect(effects, b"n" * 16, role="node", shm=False)
    d.create_object(a, oid(10), 12)
    d.put_object(a, shm_payload(oid(10), 12))
    e = d.table.get(oid(10))
    assert d.payload_for(a, e.payload)["loc"] == [0, 12]  # a notice, no lease  # type: ignore[union-attr]
    assert a.peer_id not in d.leases
    marker = d.payload_for(node, e.payload)  # type: ignore[union-attr]
    assert marker["node"] == NODE and marker["size"] == 12 and marker["loc"] is None


def test_a_value_held_by_another_node_is_localized_for_a_reader_without_shared_memory(world: Any) -> None:
    d, _store, effects = world
    a = connect(effects, b"a" * 16)
    plain = connect(effects, b"p" * 16, shm=False)
    d.promise(a, [oid(11)])
    d.table.set_ready({"id": oid(11), "data": None, "loc": None, "err": False, "refs": [], "node": b"M" * 16,
                       "size": 3})
    d.subscribe(a, [oid(11)])  # maps the arena: a notice, bytes come on map_object
    assert a.sent[0].payload["loc"] == [0, 3]
    d.subscribe(plain, [oid(11)])
    [(ids, _then)] = effects.localized
    assert ids == [oid(11)] and plain.sent == []


def test_results_published_for_a_caller_that_is_gone_are_dropped(world: Any) -> None:
    d, store, effects = world
    w = connect(effects, b"w" * 16)
    d.create_object(w, oid(12), 5)
    d.publish(w, b"gone" * 4, [shm_payload(oid(12), 5)])
    assert oid(12) not in store.objects and d.creating[w.peer_id] == set()


def test_a_push_to_a_disconnected_peer_sends_nothing(world: Any) -> None:
    d, _store, effects = world
    a = connect(effects, b"a" * 16)
    d.put_object(a, inline(oid(13)))
    ghost = FakePeer(b"g" * 16)
    d.subscribe(ghost, [oid(13)])
    assert ghost.sent == []


def test_lease_for_node_is_only_for_nodes(world: Any) -> None:
    d, store, effects = world
    a = connect(effects, b"a" * 16)
    node = connect(effects, b"n" * 16, role="node")
    d.create_object(a, oid(14), 7)
    d.put_object(a, shm_payload(oid(14), 7))
    with pytest.raises(ValueError):
        d.lease_for_node(a, oid(14))
    assert d.lease_for_node(node, oid(14)) == [0, 7] and store.objects[oid(14)]["pins"] == 1
    with pytest.raises(KeyError):
        d.lease_for_node(node, oid(15))
