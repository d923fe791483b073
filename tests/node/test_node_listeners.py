"""The node's listeners (issue 15): the handshake timeout, the connection cap, refusals logged
(rate-limited, with the peer), the address it advertises, the warning for a listener on the
network without TLS. In-process nodes (``open_node``, pytest-trio) and real sockets."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator

import pytest
import trio
import trio_websocket
from inproc import node_config, token
from waiting import wait_for_async

from edgeray.config import load_config
from edgeray.node import NodeInfo, open_node
from edgeray.protocol import Call, Connection, FrameDecoder, Reply, Role, Welcome, frame

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]  # (starts a node: the process-level tier)

STEP_TIMEOUT = 20


async def handshake_and_call(path: str, tok: str | None) -> Reply:
    """A whole client over the Unix socket: hello, welcome, one call."""
    stream = await trio.open_unix_socket(path)
    try:
        conn = Connection(Role.CLIENT, token=tok, max_frame=1 << 20)
        dec = FrameDecoder(1 << 20)
        await stream.send_all(frame(conn.hello("cli", os.getpid())))

        async def next_msg():
            while (f := dec.next_frame()) is None:
                data = await stream.receive_some(1 << 16)
                assert data, "the node closed the connection"
                dec.feed(data)
            return conn.receive(f)

        with trio.fail_after(STEP_TIMEOUT):
            assert isinstance(await next_msg(), Welcome)
            await stream.send_all(frame(conn.send(Call(1, "nodes", {}))))
            reply = await next_msg()
        assert isinstance(reply, Reply)
        return reply
    finally:
        await stream.aclose()


async def watch_closed(stream: trio.SocketStream, closed: list[trio.SocketStream]) -> None:
    """Record ``stream`` in ``closed`` once the node ends it (EOF or reset)."""
    try:
        data = await stream.receive_some(1)
    except trio.BrokenResourceError:
        data = b""
    assert data == b"", "an idle connection got bytes from the node"
    closed.append(stream)


# --------------------------------------------------------------------------- handshake timeout


async def test_idle_unix_connections_are_closed_after_the_handshake_timeout(edgeray_home: str) -> None:
    async with open_node(node_config(**{"protocol.handshake_timeout_s": 0.5})) as node:
        idle = [await trio.open_unix_socket(node.unix_path) for _ in range(20)]
        closed: list[trio.SocketStream] = []
        async with trio.open_nursery() as n:
            for s in idle:
                n.start_soon(watch_closed, s, closed)
            await wait_for_async(lambda: len(closed) == len(idle), what="every idle connection closed")
        for s in idle:
            await s.aclose()
        assert (await handshake_and_call(node.unix_path, token())).ok


async def test_a_slow_hello_is_closed_after_the_handshake_timeout(edgeray_home: str) -> None:
    """Half a hello, then nothing: the deadline covers the whole first frame."""
    async with open_node(node_config(**{"protocol.handshake_timeout_s": 0.5})) as node:
        conn = Connection(Role.CLIENT, token=token(), max_frame=1 << 20)
        hello = frame(conn.hello("cli", os.getpid()))
        stream = await trio.open_unix_socket(node.unix_path)
        await stream.send_all(hello[: len(hello) // 2])
        closed: list[trio.SocketStream] = []
        with trio.fail_after(STEP_TIMEOUT):
            await watch_closed(stream, closed)
        await stream.aclose()
        assert (await handshake_and_call(node.unix_path, token())).ok


async def test_an_idle_websocket_is_closed_after_the_handshake_timeout(edgeray_home: str) -> None:
    async with open_node(node_config(**{"protocol.handshake_timeout_s": 0.5})) as node:
        port = int(node.address.rsplit(":", 1)[1])
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        closed: list[trio.SocketStream] = []
        with trio.fail_after(STEP_TIMEOUT):
            await watch_closed(stream, closed)  # type: ignore[arg-type]
        await stream.aclose()


# --------------------------------------------------------------------------- connection cap


async def test_unix_connections_beyond_the_cap_are_closed_while_a_driver_works(edgeray_home: str) -> None:
    cap, extra = 8, 6
    async with open_node(node_config(**{"protocol.max_connections": cap, "protocol.handshake_timeout_s": 300})) as node:
        tok = token()
        good = await trio.open_unix_socket(node.unix_path)
        conn = Connection(Role.CLIENT, token=tok, max_frame=1 << 20)
        dec = FrameDecoder(1 << 20)

        async def good_call(req: int) -> bool:
            await good.send_all(frame(conn.send(Call(req, "nodes", {}))))
            with trio.fail_after(STEP_TIMEOUT):
                while True:
                    f = dec.next_frame()
                    if f is not None:
                        msg = conn.receive(f)
                        return isinstance(msg, Reply) and msg.ok
                    data = await good.receive_some(1 << 16)
                    assert data
                    dec.feed(data)

        await good.send_all(frame(conn.hello("cli", os.getpid())))
        with trio.fail_after(STEP_TIMEOUT):
            while (f := dec.next_frame()) is None:
                dec.feed(await good.receive_some(1 << 16))
        assert isinstance(conn.receive(f), Welcome)

        idle = [await trio.open_unix_socket(node.unix_path) for _ in range(cap - 1 + extra)]
        closed: list[trio.SocketStream] = []
        async with trio.open_nursery() as n:
            for s in idle:
                n.start_soon(watch_closed, s, closed)
            await wait_for_async(lambda: len(closed) >= extra, what=f"{extra} connections over the cap closed")
            assert await good_call(1)  # the authenticated one, connected before, is still served
            n.cancel_scope.cancel()
        assert len(closed) == extra  # the ones under the cap are still open (the timeout is long)
        for s in idle:
            await s.aclose()

        # once they are gone, new connections are served again
        async def served() -> bool:
            try:
                return (await handshake_and_call(node.unix_path, tok)).ok
            except AssertionError:  # still at the cap: closed at accept
                return False

        await wait_for_async(served, what="a connection served after the idle ones closed")
        assert await good_call(2)
        await good.aclose()


# --------------------------------------------------------------------------- refusals in the log


async def test_failed_logins_are_logged_with_the_peer_and_rate_limited(
    edgeray_home: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with open_node(node_config()) as node:
        for _ in range(20):
            stream = await trio.open_unix_socket(node.unix_path)
            conn = Connection(Role.CLIENT, token="wrong-token", max_frame=1 << 20)
            await stream.send_all(frame(conn.hello("driver", os.getpid())))
            with trio.fail_after(STEP_TIMEOUT):
                while await stream.receive_some(1 << 16):
                    pass
            await stream.aclose()
        for _ in range(20):
            with trio.fail_after(STEP_TIMEOUT), pytest.raises(trio_websocket.ConnectionRejected):
                async with trio_websocket.open_websocket_url(
                    node.address, extra_headers=[(b"authorization", b"Bearer wrong-token")]
                ):
                    pass
        assert (await handshake_and_call(node.unix_path, token())).ok
    unix = [r.getMessage() for r in caplog.records if "refused a connection from unix" in r.getMessage()]
    ws = [r.getMessage() for r in caplog.records if "refused a WebSocket connection from 127.0.0.1:" in r.getMessage()]
    assert unix and f"pid {os.getpid()}" in unix[0] and "token" in unix[0]
    assert ws and "token" in ws[0]
    assert len(unix) < 20 and len(ws) < 20  # rate-limited: not one line per attempt


# --------------------------------------------------------------------------- addresses


@pytest.fixture
async def wildcard_node(edgeray_home: str, caplog: pytest.LogCaptureFixture) -> AsyncIterator[NodeInfo]:
    caplog.set_level(logging.WARNING)
    async with open_node(node_config(**{"node.host": "0.0.0.0"})) as info:
        yield info


async def test_a_wildcard_host_advertises_a_routable_address(
    wildcard_node: NodeInfo, caplog: pytest.LogCaptureFixture
) -> None:
    host = wildcard_node.address.split("://", 1)[1].rsplit(":", 1)[0]
    assert wildcard_node.address.startswith("ws://")
    assert host not in ("0.0.0.0", "::", "[::]", "")
    # the advertised address reaches the node
    tok = token()
    conn = Connection(Role.CLIENT, token=tok, max_frame=1 << 20)
    with trio.fail_after(STEP_TIMEOUT):
        async with trio_websocket.open_websocket_url(
            wildcard_node.address, extra_headers=[(b"authorization", b"Bearer " + tok.encode())]
        ) as ws:
            await ws.send_message(conn.hello("cli", os.getpid()))
            assert isinstance(conn.receive(await ws.get_message()), Welcome)
    warnings = [r.getMessage() for r in caplog.records if "without TLS" in r.getMessage()]
    assert warnings and "0.0.0.0" in warnings[0]


async def test_advertise_address_is_what_others_are_told(edgeray_home: str) -> None:
    async with open_node(node_config(**{"node.advertise_address": "node-a.example"})) as node:
        assert node.address.startswith("ws://node-a.example:")
        assert int(node.address.rsplit(":", 1)[1]) > 0


async def test_a_loopback_listener_does_not_warn(edgeray_home: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    async with open_node(node_config()) as node:
        assert node.address.startswith("ws://127.0.0.1:")
    assert not [r for r in caplog.records if "without TLS" in r.getMessage()]


def test_advertise_address_must_be_a_host() -> None:
    for bad in ("ws://h:1", "h:6380", "0.0.0.0", "a b"):
        with pytest.raises(ValueError, match="node.advertise_address"):
            load_config(overrides={"node.advertise_address": bad})
    assert load_config(overrides={"node.advertise_address": "10.1.2.3"}).node.advertise_address == "10.1.2.3"
    assert load_config(overrides={"node.advertise_address": "fe80::1"}).node.advertise_address == "fe80::1"


async def test_websocket_connections_beyond_the_cap_are_closed_while_a_client_works(edgeray_home: str) -> None:
    """(An idle TCP connection that leaves before its HTTP request keeps its place until the
    handshake timeout: trio-websocket waits for the request that long; so the timeout is what
    frees those, and this test only checks the cap.)"""
    cap, extra = 3, 4
    async with open_node(node_config(**{"protocol.max_connections": cap, "protocol.handshake_timeout_s": 300})) as node:
        port = int(node.address.rsplit(":", 1)[1])
        tok = token()
        conn = Connection(Role.CLIENT, token=tok, max_frame=1 << 20)
        with trio.fail_after(STEP_TIMEOUT):
            async with trio_websocket.open_websocket_url(
                node.address, extra_headers=[(b"authorization", b"Bearer " + tok.encode())]
            ) as ws:
                await ws.send_message(conn.hello("cli", os.getpid()))
                assert isinstance(conn.receive(await ws.get_message()), Welcome)
                idle = [await trio.open_tcp_stream("127.0.0.1", port) for _ in range(cap - 1 + extra)]
                closed: list[trio.SocketStream] = []
                async with trio.open_nursery() as n:
                    for s in idle:
                        n.start_soon(watch_closed, s, closed)
                    await wait_for_async(lambda: len(closed) >= extra, what=f"{extra} connections over the cap closed")
                    n.cancel_scope.cancel()
                assert len(closed) == extra
                await ws.send_message(conn.send(Call(1, "nodes", {})))
                reply = conn.receive(await ws.get_message())
                assert isinstance(reply, Reply) and reply.ok
                for s in idle:
                    await s.aclose()
