"""Hostile and broken peers on the node's WebSocket port (issue 15): whatever one connection
does, at any stage, ends that connection only.

Each hostile peer sends (part of) an HTTP request and then resets the connection
(``SO_LINGER`` on, 0 s: the close sends RST, so the node's reply meets a socket that is gone).
After each, a normal client still gets served. In-process nodes (``open_node``, pytest-trio),
plus one real ``edgeray start`` process whose exit code would show a crash.
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import AsyncIterator

import pytest
import trio
import trio_websocket
import wsproto
import wsproto.events as wse
from inproc import node_config, token

from edgeray.node import NodeInfo, open_node
from edgeray.protocol import Call, Connection, Reply, Role, Welcome

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]  # (starts a node: the process-level tier)

MAX_FRAME = 1 << 20
STEP_TIMEOUT = 20
ROUNDS = 10  # each variant, several times: the race between reply and reset varies


@pytest.fixture
async def node(edgeray_home: str) -> AsyncIterator[NodeInfo]:
    async with open_node(node_config()) as info:
        yield info


def upgrade(auth: bytes | None) -> bytes:
    lines = [
        b"GET / HTTP/1.1",
        b"Host: 127.0.0.1",
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        b"Sec-WebSocket-Version: 13",
    ]
    if auth is not None:
        lines.append(b"Authorization: " + auth)
    return b"\r\n".join(lines) + b"\r\n\r\n"


def requests() -> dict[str, bytes]:
    tok = token().encode()
    return {
        "plain-get": b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        "no-token": upgrade(None),
        "wrong-token": upgrade(b"Bearer " + b"x" * 43),
        "right-token": upgrade(b"Bearer " + tok),
        "half-request": upgrade(b"Bearer " + tok)[:40],
        "garbage": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64),
    }


def host_port(address: str) -> tuple[str, int]:
    rest = address.split("://", 1)[1]
    host, port = rest.rsplit(":", 1)
    return host.strip("[]"), int(port)


async def reset_after(address: str, data: bytes, *, wait_reply: bool) -> None:
    """Connect, send ``data``, optionally wait for the first bytes of a reply, then reset."""
    host, port = host_port(address)
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        await sock.connect((host, port))
        await sock.send(data)
        if wait_reply:
            with trio.fail_after(STEP_TIMEOUT):
                await sock.recv(1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        sock.close()


async def assert_serves_a_client(address: str) -> None:
    tok = token()
    conn = Connection(Role.CLIENT, token=tok, max_frame=MAX_FRAME)
    with trio.fail_after(STEP_TIMEOUT):
        async with trio_websocket.open_websocket_url(
            address, extra_headers=[(b"authorization", b"Bearer " + tok.encode())]
        ) as ws:
            await ws.send_message(conn.hello("cli", os.getpid(), info={"hostname": "remote"}))
            assert isinstance(conn.receive(await ws.get_message()), Welcome)
            await ws.send_message(conn.send(Call(1, "nodes", {})))
            reply = conn.receive(await ws.get_message())
            assert isinstance(reply, Reply) and reply.ok


@pytest.mark.parametrize(
    "variant", ["plain-get", "no-token", "wrong-token", "right-token", "half-request", "garbage"]
)
async def test_a_reset_during_the_http_request_ends_that_connection_only(
    node: NodeInfo, variant: str
) -> None:
    data = requests()[variant]
    for _ in range(ROUNDS):
        await reset_after(node.address, data, wait_reply=False)
    await assert_serves_a_client(node.address)


REPLIED = ("plain-get", "no-token", "wrong-token", "right-token")  # the node answers these


@pytest.mark.parametrize("variant", REPLIED)
async def test_a_reset_after_the_reply_ends_that_connection_only(
    node: NodeInfo, variant: str
) -> None:
    """The reply (400, 401, or 101 for an accepted client that gives up before its hello)
    arrived; the peer resets instead of going on."""
    data = requests()[variant]
    for _ in range(ROUNDS):
        await reset_after(node.address, data, wait_reply=True)
    await assert_serves_a_client(node.address)


async def test_a_client_gone_before_its_welcome_ends_that_connection_only(node: NodeInfo) -> None:
    """An accepted client sends its hello and resets before the node's welcome goes out."""
    tok = token()
    for _ in range(ROUNDS):
        conn = Connection(Role.CLIENT, token=tok, max_frame=MAX_FRAME)
        host, port = host_port(node.address)
        sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            await sock.connect((host, port))
            stream = trio.SocketStream(sock)
            await stream.send_all(upgrade(b"Bearer " + tok.encode()))
            with trio.fail_after(STEP_TIMEOUT):
                await stream.receive_some(1)
            client = wsproto.Connection(wsproto.ConnectionType.CLIENT)
            await stream.send_all(client.send(wse.BytesMessage(data=conn.hello("cli", os.getpid()))))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        finally:
            sock.close()
    await assert_serves_a_client(node.address)


def test_a_real_node_survives_hostile_connections(edgeray_home: str) -> None:
    """``edgeray start`` as its own process: it keeps running (no exit code) after every
    hostile variant, and a driver runs a task on it afterwards."""
    import edgeray
    from edgeray.cluster_utils import Cluster

    with Cluster(initialize_head=True, head_node_args={"num_cpus": 1}) as cluster:
        head = cluster.head_node
        assert head is not None

        async def hostile() -> None:
            for name, data in requests().items():
                for wait in (False, True) if name in REPLIED else (False,):
                    for _ in range(3):
                        await reset_after(head.address, data, wait_reply=wait)

        trio.run(hostile)
        trio.run(assert_serves_a_client, head.address)
        assert head.alive(), f"the node exited with code {head.process.returncode}"

        edgeray.init(address=cluster.address)
        try:

            @edgeray.remote
            def one() -> int:
                return 1

            assert edgeray.get(one.remote(), timeout=60) == 1
        finally:
            edgeray.shutdown()
        assert head.alive()
