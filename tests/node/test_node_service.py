"""The node as Trio services in this process (pytest-trio): authentication and bad peers.

``open_node`` runs GCS, raylet, store and listeners in the test's Trio run (no worker processes:
``prestart_workers = 0``). Peers are raw clients built from the sans-I/O pieces: a Trio Unix
socket (or WebSocket) + ``FrameDecoder`` + ``Connection``.
"""

from __future__ import annotations

import os
import stat
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trio_websocket
from inproc import node_config, token

from edgeray.exceptions import AuthenticationError
from edgeray.node import NodeInfo, open_node
from edgeray.protocol import (
    Call,
    Connection,
    FrameDecoder,
    PutObject,
    Refused,
    Reply,
    Role,
    Shutdown,
    Welcome,
    decode_message,
    frame,
)

pytestmark = [pytest.mark.timeout(60), pytest.mark.slow]  # (starts a node: the process-level tier)

MAX_FRAME = 1 << 20
STEP_TIMEOUT = 10  # seconds any one exchange may take


@pytest.fixture
async def node(edgeray_home: str) -> AsyncIterator[NodeInfo]:
    async with open_node(node_config()) as info:
        yield info


class RawPeer:
    """A hand-driven client over a Trio Unix socket."""

    def __init__(self, stream: trio.SocketStream, tok: str | None) -> None:
        self.stream = stream
        self.dec = FrameDecoder(64 << 20)
        self.conn = Connection(Role.CLIENT, token=tok, max_frame=64 << 20)
        self.req = 0

    @classmethod
    async def open(cls, node: NodeInfo, tok: str | None) -> RawPeer:
        return cls(await trio.open_unix_socket(node.unix_path), tok)

    async def send_bytes(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def send_frame(self, payload: bytes) -> None:
        await self.stream.send_all(frame(payload))

    async def receive_frame(self) -> bytes | None:
        """The next frame, or None at end of stream (the node closed the connection)."""
        with trio.fail_after(STEP_TIMEOUT):
            while True:
                f = self.dec.next_frame()
                if f is not None:
                    return f
                try:
                    data = await self.stream.receive_some(1 << 16)
                except trio.BrokenResourceError:
                    return None
                if not data:
                    return None
                self.dec.feed(data)

    async def handshake(self, role: str = "cli") -> Welcome:
        await self.send_frame(
            self.conn.hello(role, os.getpid(), info={"hostname": "not-this-host"})
        )
        f = await self.receive_frame()
        assert f is not None, "the node closed the connection during the handshake"
        msg = self.conn.receive(f)
        assert isinstance(msg, Welcome)
        return msg

    async def call(self, method: str, args: dict | None = None) -> Reply:
        self.req += 1
        await self.send_frame(self.conn.send(Call(self.req, method, args or {})))
        while True:
            f = await self.receive_frame()
            assert f is not None, "the node closed the connection instead of replying"
            msg = self.conn.receive(f)
            if isinstance(msg, Reply) and msg.req == self.req:
                return msg

    async def assert_closed_by_node(self) -> None:
        """The node ends the connection: EOF (after any frames it sent first)."""
        while (f := await self.receive_frame()) is not None:
            decode_message(f)  # whatever it sent must still be well formed

    async def aclose(self) -> None:
        await self.stream.aclose()


async def test_node_serves_a_raw_client(node: NodeInfo) -> None:
    peer = await RawPeer.open(node, token())
    welcome = await peer.handshake()
    assert welcome.node_id.hex() == node.node_id
    reply = await peer.call("nodes")
    assert reply.ok, reply.error
    assert [n["NodeID"] for n in reply.value] == [node.node_id]
    reply = await peer.call("cluster_resources")
    assert reply.ok and reply.value["CPU"] == 1.0
    await peer.aclose()


async def test_unknown_call_method_is_an_error_reply_not_a_disconnect(node: NodeInfo) -> None:
    peer = await RawPeer.open(node, token())
    await peer.handshake()
    reply = await peer.call("no_such_method")
    assert not reply.ok and "no_such_method" in (reply.error or "")
    assert (await peer.call("nodes")).ok
    await peer.aclose()


@pytest.mark.parametrize("bad", ["", "not-the-token", None])
async def test_wrong_token_is_refused_then_closed(node: NodeInfo, bad: str | None) -> None:
    peer = await RawPeer.open(node, bad)
    await peer.send_frame(peer.conn.hello("driver", os.getpid()))
    f = await peer.receive_frame()
    assert f is not None, "expected a Refused frame before the close"
    msg = decode_message(f)
    assert isinstance(msg, Refused)
    assert "token" in msg.reason
    with pytest.raises(AuthenticationError):
        Connection(Role.CLIENT, token=bad, max_frame=MAX_FRAME).receive(f)
    await peer.assert_closed_by_node()
    await peer.aclose()


async def test_non_hello_first_frame_is_refused_then_closed(node: NodeInfo) -> None:
    peer = await RawPeer.open(node, token())
    await peer.send_frame(
        Connection(Role.SERVER, token=None, max_frame=MAX_FRAME).send(Refused("x"))
    )
    f = await peer.receive_frame()
    assert f is not None and isinstance(decode_message(f), Refused)
    await peer.assert_closed_by_node()


async def test_garbage_before_handshake_is_closed(node: NodeInfo) -> None:
    peer = await RawPeer.open(node, token())
    await peer.send_frame(b"\xff\x00 definitely not cbor")
    await peer.assert_closed_by_node()


async def test_unknown_worker_id_is_refused(node: NodeInfo) -> None:
    peer = await RawPeer.open(node, token())
    await peer.send_frame(peer.conn.hello("worker", os.getpid(), worker_id=os.urandom(16)))
    f = await peer.receive_frame()
    assert f is not None and isinstance(decode_message(f), Refused)
    await peer.assert_closed_by_node()


async def test_a_peer_gone_before_its_refusal_closes_only_that_connection(node: NodeInfo) -> None:
    """A worker killed just after its hello (chaos killed one this way): the node's refusal
    meets a broken pipe, which must end that connection, not the node."""
    tok = token()
    for _ in range(30):
        peer = await RawPeer.open(node, tok)
        await peer.send_frame(peer.conn.hello("worker", os.getpid(), worker_id=os.urandom(16)))
        await peer.aclose()
    # (lets the node meet the closed peers; no event says it has: the node's tasks never all
    # block, so trio.testing.wait_all_tasks_blocked cannot tell it either)
    await trio.sleep(0.2)
    good = await RawPeer.open(node, tok)
    await good.handshake()
    reply = await good.call("nodes")
    assert reply.ok, reply.error
    await good.aclose()


async def test_oversize_pre_auth_header_closes_at_once(edgeray_home: str) -> None:
    # the handshake deadline is far off: a close within the test's limit is the node not
    # waiting for the payload (no bound on how soon it comes, which a busy machine would break)
    async with open_node(node_config(**{"protocol.handshake_timeout_s": 3600})) as node:
        peer = await RawPeer.open(node, token())
        await peer.send_bytes(struct.pack(">I", 1 << 20))  # a 1 MiB frame announced, not sent
        with trio.fail_after(120):  # (else: it waited for the payload, or the handshake deadline)
            await peer.assert_closed_by_node()


async def test_frame_over_the_node_limit_closes_only_that_connection(node: NodeInfo) -> None:
    tok = token()
    good = await RawPeer.open(node, tok)
    await good.handshake()
    peer = await RawPeer.open(node, tok)
    await peer.handshake()
    limit = 64 << 20  # protocol.max_frame_bytes default
    await peer.send_bytes(struct.pack(">I", limit + 1))
    await peer.assert_closed_by_node()
    await trio.sleep(0.1)  # (lets the node finish with the closed one: no event says it has)
    reply = await good.call("nodes")
    assert reply.ok
    again = await RawPeer.open(node, tok)
    await again.handshake()
    assert (await again.call("nodes")).ok


def _malformed(peer: RawPeer) -> dict[str, bytes]:
    import cbor2

    return {
        "garbage": b"\xff\xfe\xfd",
        "unknown-tag": cbor2.dumps({"t": "no-such-message", "x": 1}),
        "wrong-field-type": cbor2.dumps({"t": "call", "req": "one", "method": "nodes", "args": {}}),
        "extra-field": cbor2.dumps(
            {"t": "call", "req": 1, "method": "nodes", "args": {}, "evil": 1}
        ),
        "unexpected-type": cbor2.dumps(
            {
                "t": "welcome",
                "node_id": b"",
                "worker_id": b"",
                "job_id": b"",
                "namespace": "",
                "arena": None,
                "info": {},
            }
        ),
        "bad-object-payload": peer.conn.send(
            PutObject({"id": 17, "data": None, "loc": None, "err": False, "refs": []})
        ),
    }


@pytest.mark.parametrize(
    "kind",
    [
        "garbage",
        "unknown-tag",
        "wrong-field-type",
        "extra-field",
        "unexpected-type",
        "bad-object-payload",
    ],
)
async def test_malformed_frame_closes_only_that_connection(node: NodeInfo, kind: str) -> None:
    tok = token()
    good = await RawPeer.open(node, tok)
    await good.handshake("driver")
    bad = await RawPeer.open(node, tok)
    await bad.handshake("driver")
    assert (await bad.call("nodes")).ok

    await bad.send_frame(_malformed(bad)[kind])
    await bad.assert_closed_by_node()
    await bad.aclose()

    # the other peer, connected all along, is still served ...
    reply = await good.call("nodes")
    assert reply.ok and reply.value[0]["NodeID"] == node.node_id
    # ... and so is a new one
    again = await RawPeer.open(node, tok)
    await again.handshake()
    assert (await again.call("cluster_resources")).ok
    await again.aclose()
    await good.aclose()


@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("create_object", {"id": "not-bytes", "size": 10}),
        ("create_object", {"id": b"\x01" * 20, "size": -5}),
        ("kill_actor", {"actor_id": b"short"}),
        ("get_actor", {"name": ["a", "list"]}),
        ("list", {"kind": "tasks", "surprise": 1}),
    ],
    ids=["id-not-bytes", "negative-size", "short-actor-id", "name-a-list", "unknown-arg"],
)
async def test_bad_call_args_are_an_error_reply_and_change_nothing(node: NodeInfo, method: str, args: dict) -> None:
    peer = await RawPeer.open(node, token())
    await peer.handshake("driver")
    before = (await peer.call("status")).value["objects"]
    reply = await peer.call(method, args)
    assert not reply.ok and reply.error_type == "ProtocolError", reply
    assert method in (reply.error or "")
    assert (await peer.call("status")).value["objects"] == before
    await peer.aclose()


async def test_unix_socket_and_token_file_are_private(node: NodeInfo) -> None:
    assert stat.S_IMODE(os.stat(node.unix_path).st_mode) == 0o600
    tok = Path(os.environ["EDGERAY_HOME"]) / "token"
    assert stat.S_IMODE(tok.stat().st_mode) == 0o600
    assert len(token()) >= 32


async def test_node_info(node: NodeInfo) -> None:
    assert node.address.startswith("ws://127.0.0.1:")
    assert node.pid == os.getpid()
    assert os.path.exists(node.unix_path)
    assert Path(node.session_dir).is_dir()
    assert Path(node.session_dir).is_relative_to(os.environ["EDGERAY_HOME"])


# --------------------------------------------------------------------------- WebSocket


async def test_websocket_without_token_gets_401(node: NodeInfo) -> None:
    with trio.fail_after(STEP_TIMEOUT):
        with pytest.raises(trio_websocket.ConnectionRejected) as info:
            async with trio_websocket.open_websocket_url(node.address):
                pass
    assert info.value.status_code == 401


async def test_websocket_with_wrong_token_gets_401(node: NodeInfo) -> None:
    with trio.fail_after(STEP_TIMEOUT):
        with pytest.raises(trio_websocket.ConnectionRejected) as info:
            async with trio_websocket.open_websocket_url(
                node.address, extra_headers=[(b"authorization", b"Bearer " + b"x" * 43)]
            ):
                pass
    assert info.value.status_code == 401


async def test_websocket_with_token_is_served(node: NodeInfo) -> None:
    tok = token()
    conn = Connection(Role.CLIENT, token=tok, max_frame=MAX_FRAME)
    with trio.fail_after(STEP_TIMEOUT):
        async with trio_websocket.open_websocket_url(
            node.address, extra_headers=[(b"authorization", b"Bearer " + tok.encode())]
        ) as ws:
            await ws.send_message(conn.hello("cli", os.getpid(), info={"hostname": "remote"}))
            welcome = conn.receive(await ws.get_message())
            assert isinstance(welcome, Welcome)
            assert (
                welcome.arena is None
            )  # a peer on another host never maps the node's shared memory
            await ws.send_message(conn.send(Call(1, "nodes", {})))
            reply = conn.receive(await ws.get_message())
            assert (
                isinstance(reply, Reply) and reply.ok and reply.value[0]["NodeID"] == node.node_id
            )


async def test_websocket_malformed_message_closes_only_that_connection(node: NodeInfo) -> None:
    tok = token()
    hdr = [(b"authorization", b"Bearer " + tok.encode())]
    with trio.fail_after(STEP_TIMEOUT):
        async with trio_websocket.open_websocket_url(node.address, extra_headers=hdr) as good:
            gconn = Connection(Role.CLIENT, token=tok, max_frame=MAX_FRAME)
            await good.send_message(gconn.hello("cli", os.getpid()))
            assert isinstance(gconn.receive(await good.get_message()), Welcome)
            async with trio_websocket.open_websocket_url(node.address, extra_headers=hdr) as bad:
                bconn = Connection(Role.CLIENT, token=tok, max_frame=MAX_FRAME)
                await bad.send_message(bconn.hello("cli", os.getpid()))
                assert isinstance(bconn.receive(await bad.get_message()), Welcome)
                await bad.send_message(b"\xff\xfe garbage")
                told = decode_message(await bad.get_message())  # why, then the close
                assert isinstance(told, Shutdown) and "protocol error" in told.reason
                with pytest.raises(trio_websocket.ConnectionClosed):
                    await bad.get_message()
            await good.send_message(gconn.send(Call(1, "nodes", {})))
            reply = gconn.receive(await good.get_message())
            assert isinstance(reply, Reply) and reply.ok
