"""Fetching driven alone: a fake link serving chunks, a bytearray store, a nursery for effects."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio

from edgeray import exceptions as exc
from edgeray.object_store import deserialize
from edgeray.protocol import Message, Unmap
from edgeray.raylet import Fetcher, ObjectEntry
from edgeray.raylet import _fetch as fetch_mod

OTHER = b"M" * 16


class Arena:
    def __init__(self, size: int = 1 << 16) -> None:
        self.buf = bytearray(size)

    def write_view(self, offset: int, size: int) -> memoryview:
        return memoryview(self.buf)[offset : offset + size]


class Store:
    def __init__(self) -> None:
        self.arena = Arena()
        self.objects: dict[bytes, dict[str, Any]] = {}
        self.next = 0

    def create(self, oid: bytes, size: int) -> int:
        offset, self.next = self.next, self.next + size
        self.objects[oid] = {"offset": offset, "size": size, "sealed": False}
        return offset

    def seal(self, oid: bytes) -> None:
        self.objects[oid]["sealed"] = True

    def delete(self, oid: bytes) -> None:
        del self.objects[oid]

    def data(self, oid: bytes) -> bytes:
        o = self.objects[oid]
        return bytes(self.arena.buf[o["offset"] : o["offset"] + o["size"]])


class Link:
    def __init__(self, data: dict[bytes, bytes], fail: int = 0) -> None:
        self.closed = False
        self.data = data
        self.fail = fail  # how many calls fail first
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.sent: list[Message] = []
        self.arena: Arena | None = None

    def send(self, msg: Message) -> None:
        self.sent.append(msg)

    def call(self, method: str, args: dict[str, Any], callback: Any) -> None:
        raise AssertionError("fetching uses call_async")

    async def call_async(self, method: str, args: dict[str, Any]) -> Any:
        self.calls.append((method, args))
        await trio.sleep(0)
        if self.fail:
            self.fail -= 1
            raise ConnectionError("link broke")
        if method == "lease_object":
            assert self.arena is not None
            self.arena.buf[100 : 100 + len(self.data[args["id"]])] = self.data[args["id"]]
            return [100, len(self.data[args["id"]])]
        assert method == "read_object"
        return self.data[args["id"]][args["offset"] : args["offset"] + args["size"]]


class Effects:
    def __init__(self, link: Link, nursery: trio.Nursery) -> None:
        self._link = link
        self._nursery = nursery
        self.alive = True

    def link(self, node_id: bytes) -> Link:
        assert node_id == OTHER
        return self._link

    def arena_of(self, link: Link) -> Arena | None:
        return link.arena

    def is_alive(self, node_id: bytes) -> bool:
        return self.alive

    def start_soon(self, fn: Callable[..., Awaitable[None]], *args: Any) -> None:
        self._nursery.start_soon(fn, *args)


def oid(n: int) -> bytes:
    return bytes([n]) * 20


def marker_entry(object_id: bytes, size: int) -> ObjectEntry:
    e = ObjectEntry(object_id)
    e.state = 1
    e.payload = {"id": object_id, "data": None, "loc": None, "err": False, "refs": [], "node": OTHER, "size": size}
    return e


async def run_fetches(entries: dict[bytes, ObjectEntry], link: Link, body: Callable[[Fetcher, Effects], None],
                      store: Store | None = None, **kw: Any) -> tuple[Fetcher, Store]:
    store = store or Store()
    async with trio.open_nursery() as nursery:
        effects = Effects(link, nursery)
        f = Fetcher(entries.get, store, effects, **kw)
        body(f, effects)
    return f, store


async def test_a_marker_is_copied_here_in_chunks_and_then_called_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetch_mod, "CHUNK", 4)
    value = b"0123456789"
    entries = {oid(1): marker_entry(oid(1), len(value)), oid(2): ObjectEntry(oid(2))}
    link = Link({oid(1): value})
    done: list[int] = []
    f, store = await run_fetches(entries, link, lambda f, _e: f.localize([oid(1), oid(2)], lambda: done.append(1)))
    assert done == [1]
    assert [a["offset"] for _m, a in link.calls] == [0, 4, 8]
    p = entries[oid(1)].payload
    assert p is not None and p["loc"] == [store.objects[oid(1)]["offset"], 10] and "node" not in p
    assert store.data(oid(1)) == value and store.objects[oid(1)]["sealed"]
    assert f.stats == {"objects_fetched": 1, "bytes_fetched": 10} and f.fetching == {}


async def test_nothing_to_fetch_calls_then_at_once() -> None:
    done: list[int] = []
    await run_fetches({oid(1): ObjectEntry(oid(1))}, Link({}), lambda f, _e: f.localize([oid(1), oid(9)], lambda: done.append(1)))
    assert done == [1]


async def test_two_callers_share_one_fetch() -> None:
    entries = {oid(1): marker_entry(oid(1), 3)}
    link = Link({oid(1): b"abc"})
    done: list[str] = []

    def body(f: Fetcher, _e: Effects) -> None:
        f.localize([oid(1)], lambda: done.append("a"))
        f.localize([oid(1)], lambda: done.append("b"))

    await run_fetches(entries, link, body)
    assert sorted(done) == ["a", "b"] and len(link.calls) == 1


async def test_a_failed_copy_is_tried_again_while_the_node_lives() -> None:
    entries = {oid(1): marker_entry(oid(1), 3)}
    link = Link({oid(1): b"abc"}, fail=2)
    _f, store = await run_fetches(entries, link, lambda f, _e: f.localize([oid(1)], lambda: None), retry_delay=0)
    assert len(link.calls) == 3 and store.data(oid(1)) == b"abc"


async def test_a_copy_from_a_dead_node_makes_the_object_lost() -> None:
    entries = {oid(1): marker_entry(oid(1), 3)}
    link = Link({oid(1): b"abc"}, fail=1)

    def body(f: Fetcher, e: Effects) -> None:
        f.localize([oid(1)], lambda: None)
        e.alive = False

    _f, store = await run_fetches(entries, link, body, retry_delay=0)
    p = entries[oid(1)].payload
    assert p is not None and p["err"] and p["lost_from"] == OTHER
    assert isinstance(deserialize(p["data"], []), exc.ObjectLostError) and store.objects == {}


async def test_a_copy_that_arrives_after_the_entry_changed_is_dropped() -> None:
    entries = {oid(1): marker_entry(oid(1), 3)}
    link = Link({oid(1): b"abc"})

    def body(f: Fetcher, _e: Effects) -> None:
        f.localize([oid(1)], lambda: None)
        entries[oid(1)].payload = {"id": oid(1), "data": b"new", "loc": None, "err": False, "refs": []}  # recomputed

    _f, store = await run_fetches(entries, link, body)
    assert entries[oid(1)].payload["data"] == b"new" and store.objects == {}  # type: ignore[index]


async def test_on_one_machine_the_bytes_are_copied_from_the_other_arena_under_a_lease() -> None:
    entries = {oid(1): marker_entry(oid(1), 5)}
    link = Link({oid(1): b"hello"})
    link.arena = Arena()
    _f, store = await run_fetches(entries, link, lambda f, _e: f.localize([oid(1)], lambda: None))
    assert [m for m, _a in link.calls] == ["lease_object"] and store.data(oid(1)) == b"hello"
    [msg] = link.sent
    assert isinstance(msg, Unmap) and msg.ids == [oid(1)] and msg.counts == [1]
