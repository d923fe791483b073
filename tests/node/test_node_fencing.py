"""Fencing (issue 15): a node id the head declared dead never comes back, and what it sends
afterwards is refused. An embedded head (``open_node``) with a short node timeout, and a
hand-driven node peer over its Unix socket that joins, then falls silent; plus the pure parts
(the member's ``Lease``, the loops' ``LoopErrors``, the table's fenced ids) on their own."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio
import trio.testing
from inproc import node_config, token

from edgeray.node import NodeInfo, open_node
from edgeray.node._cluster import ClusterTable, NodeEntry
from edgeray.node._membership import DETACHED, FENCED, JOINING, MEMBER, SUSPECT, Lease, LoopErrors
from edgeray.protocol import (
    Call,
    ClusterState,
    Connection,
    FrameDecoder,
    Heartbeat,
    Message,
    Reply,
    Role,
    Welcome,
    frame,
)

pytestmark = pytest.mark.timeout(60)

WAIT_S = 30  # a generous limit for any one wait on a busy machine


@pytest.fixture
async def head(edgeray_home: str) -> AsyncIterator[NodeInfo]:
    cfg = node_config(**{"gcs.heartbeat_interval_s": 0.1, "gcs.node_timeout_s": 1.0})
    async with open_node(cfg) as info:
        yield info


class NodePeer:
    """Another node as the head sees it, driven by hand over the head's Unix socket."""

    def __init__(self, stream: trio.SocketStream, node_id: bytes) -> None:
        self.stream = stream
        self.node_id = node_id
        self.dec = FrameDecoder(64 << 20)
        self.conn = Connection(Role.CLIENT, token=token(), max_frame=64 << 20)

    @classmethod
    async def join(cls, head: NodeInfo, node_id: bytes, join: bool = True) -> tuple[NodePeer, Welcome]:
        peer = cls(await trio.open_unix_socket(head.unix_path), node_id)
        info = {"node_id": node_id, "address": "ws://127.0.0.1:9", "hostname": "elsewhere", "join": join,
                "total": {"CPU": 10_000}, "available": {"CPU": 10_000}, "labels": {}}
        await peer.stream.send_all(frame(peer.conn.hello("node", os.getpid(), info=info)))
        welcome = await peer.receive()
        assert isinstance(welcome, Welcome)
        return peer, welcome

    async def receive(self) -> Message | None:
        """The next message, or None once the head closed the connection."""
        with trio.fail_after(WAIT_S):
            while (f := self.dec.next_frame()) is None:
                try:
                    data = await self.stream.receive_some(1 << 16)
                except trio.BrokenResourceError:
                    return None
                if not data:
                    return None
                self.dec.feed(data)
            return self.conn.receive(f)

    async def send(self, msg: Message) -> None:
        await self.stream.send_all(frame(self.conn.send(msg)))

    async def told_dead_then_closed(self) -> None:
        """Messages until one lists this node dead; then the head closes the connection."""
        while True:
            msg = await self.receive()
            assert msg is not None, "closed without being told it is dead"
            if isinstance(msg, ClusterState) and any(
                    n["node_id"] == self.node_id and not n["alive"] for n in msg.nodes):
                break
        while (msg := await self.receive()) is not None:
            assert not isinstance(msg, Reply), f"a fenced node's request was answered: {msg}"

    async def membership(self) -> Any:
        await self.send(Call(1, "membership", {}))
        while True:
            msg = await self.receive()
            assert msg is not None
            if isinstance(msg, Reply) and msg.req == 1:
                assert msg.ok, msg.error
                return msg.value


@pytest.mark.slow  # (starts a node: the process-level tier)
async def test_a_silent_member_is_fenced_told_so_and_refused_after(head: NodeInfo) -> None:
    dead = os.urandom(16)
    peer, welcome = await NodePeer.join(head, dead)
    assert welcome.info["node_timeout_s"] == 1.0  # the member's lease follows the head's timeout
    assert await peer.membership() is True
    await peer.told_dead_then_closed()  # it sent no heartbeat: declared dead, told, closed

    again, _ = await NodePeer.join(head, dead)  # joining again under the same id
    await again.told_dead_then_closed()
    other, _ = await NodePeer.join(head, dead, join=False)  # nor any other link with that id
    await other.told_dead_then_closed()

    fresh, _ = await NodePeer.join(head, os.urandom(16))  # a new incarnation is welcome
    await fresh.send(Heartbeat({"CPU": 10_000}, {"CPU": 10_000}, {}))
    assert await fresh.membership() is True
    for p in (peer, again, other, fresh):
        await p.stream.aclose()


# ----------------------------------------------------------------------------- pure parts


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_lease_rules() -> None:
    clock = Clock()
    lease = Lease(1.5, now=clock)
    assert lease.state == JOINING and not lease.usable()
    lease.confirm(clock())
    assert lease.state == MEMBER and lease.usable()
    clock.t += 1.0
    lease.beat(clock())  # the node's loop ran: the lease runs on from it
    clock.t += 1.0
    assert lease.usable()
    clock.t += 1.0  # stalled: the loop did not run for longer than the lease
    assert not lease.usable() and lease.state == SUSPECT
    lease.beat(clock())  # the loop running again does not renew a lapsed lease...
    assert not lease.usable()
    lease.confirm(clock())  # ...the head's yes does
    assert lease.usable()
    # the head link breaks (the head may be down): work goes on while the loop runs
    assert lease.event("link_lost") and lease.state == DETACHED and lease.usable()
    for _ in range(5):
        clock.t += 1.0
        lease.beat(clock())
        assert lease.usable()
    clock.t += 2.0  # a stall while detached
    assert not lease.usable() and lease.state == SUSPECT
    assert lease.event("rejoined") and lease.state == JOINING and not lease.usable()
    lease.confirm(clock())
    assert lease.event("link_lost") and lease.event("rejoined") and lease.state == JOINING
    assert lease.event("fenced") and lease.state == FENCED
    assert not lease.event("confirmed") and not lease.usable()  # final


def test_the_head_holds_an_always_valid_lease() -> None:
    clock = Clock()
    lease = Lease(1.0, always=True, now=clock)
    clock.t += 1000
    assert lease.usable() and not lease.event("fenced") and lease.state == MEMBER


async def test_wait_usable_returns_once_confirmed() -> None:
    lease = Lease(10.0)
    done = trio.Event()

    async def waiter() -> None:
        await lease.wait_usable()
        done.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()  # (the waiter is in wait_usable)
        assert not done.is_set()
        lease.confirm(trio.current_time())
        with trio.fail_after(WAIT_S):
            await done.wait()


def test_loop_errors_are_logged_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    errors = LoopErrors("test loop", every_s=10.0, now=clock)
    with caplog.at_level(logging.ERROR, logger="edgeray.node"):
        errors.report(ValueError("first"))
        for i in range(5):
            clock.t += 1
            errors.report(ValueError(f"again {i}"))
        clock.t += 10
        errors.report(ValueError("later"))
    text = caplog.text
    assert "first" in text and "again" not in text and "5 more" in text and "later" in text
    assert errors.failures == 7


def _entry(node_id: bytes, alive: bool = True) -> NodeEntry:
    return NodeEntry(node_id, "ws://x:1", "x", {"CPU": 10_000}, {"CPU": 10_000}, alive=alive)


def test_a_fenced_id_never_joins_again() -> None:
    table = ClusterTable(_entry(b"h" * 16))
    x = b"x" * 16
    assert table.join(_entry(x)) and table.is_alive(x)
    assert table.fence(x) and not table.is_alive(x) and table.is_fenced(x)
    assert not table.join(_entry(x)) and not table.is_alive(x)
    assert not table.fence(b"h" * 16)  # a node never fences itself
    table.local.head = True  # on the head, any death is for good
    y = b"y" * 16
    assert table.join(_entry(y)) and table.mark_dead(y) and table.is_fenced(y)


def test_a_member_takes_the_heads_dead_as_fenced() -> None:
    me, x = b"m" * 16, b"x" * 16
    table = ClusterTable(_entry(me))
    assert table.apply_state([_entry(x, alive=False).to_wire()]) == [x]
    assert table.is_fenced(x)
    table.apply_state([_entry(x, alive=True).to_wire()])  # a stale table cannot revive it
    assert not table.is_alive(x)
    table.mark_dead(b"y" * 16)  # its own lost link is not the head's word
    assert not table.is_fenced(b"y" * 16)
    assert table.lists_local_dead([_entry(me, alive=False).to_wire()])
    assert not table.lists_local_dead([_entry(me).to_wire()])
