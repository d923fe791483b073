"""Transports: Trio servers (``serve_unix``, ``serve_ws``) against the blocking clients drivers use.

An echo handler on the server side; the blocking client runs in a thread
(``trio.to_thread.run_sync``), as it does in a driver or worker (which never run trio).
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import AsyncIterator

import pytest
import trio

from edgeray.exceptions import AuthenticationError
from edgeray.transport import connect_blocking, serve_unix, serve_ws

pytestmark = pytest.mark.timeout(60)

TOKEN = "transport-test-token"
MAX = 4 << 20


async def echo(channel) -> None:
    try:
        while (f := await channel.receive_frame()) is not None:
            await channel.send_frames([f, f[::-1]])
    finally:
        await channel.aclose()


@pytest.fixture
async def unix_server(nursery) -> AsyncIterator[str]:
    d = tempfile.mkdtemp(prefix="ert", dir="/tmp")
    path = os.path.join(d, "s.sock")
    await nursery.start(
        lambda task_status: serve_unix(path, echo, max_frame=MAX, task_status=task_status)
    )
    yield path


@pytest.fixture
async def ws_server(nursery) -> AsyncIterator[str]:
    port = await nursery.start(
        lambda task_status: serve_ws(
            "127.0.0.1", 0, echo, token=TOKEN, max_frame=MAX, task_status=task_status
        )
    )
    yield f"ws://127.0.0.1:{port}"


def exchange(address: str, token: str | None, payloads: list[bytes]) -> list[bytes]:
    chan = connect_blocking(address, token=token, max_frame=MAX)
    try:
        chan.send_frames(payloads)
        return [chan.receive_frame() for _ in range(2 * len(payloads))]  # type: ignore[misc]
    finally:
        chan.close()


PAYLOADS = [b"", b"a", b"hello world", os.urandom(100_000), os.urandom(3 << 20)]


async def test_unix_round_trip(unix_server: str) -> None:
    got = await trio.to_thread.run_sync(exchange, unix_server, None, PAYLOADS)
    assert got == [x for p in PAYLOADS for x in (p, p[::-1])]


async def test_unix_socket_is_private(unix_server: str) -> None:
    assert stat.S_IMODE(os.stat(unix_server).st_mode) == 0o600


async def test_unix_path_forms(unix_server: str) -> None:
    got = await trio.to_thread.run_sync(exchange, "unix:" + unix_server, None, [b"x"])
    assert got == [b"x", b"x"]


async def test_unix_socket_removed_when_the_server_stops() -> None:
    d = tempfile.mkdtemp(prefix="ert", dir="/tmp")
    path = os.path.join(d, "s.sock")
    async with trio.open_nursery() as n:
        await n.start(
            lambda task_status: serve_unix(path, echo, max_frame=MAX, task_status=task_status)
        )
        assert os.path.exists(path)
        n.cancel_scope.cancel()
    assert not os.path.exists(path)
    os.rmdir(d)


async def test_unix_many_threads_send_whole_frames(unix_server: str) -> None:
    """Sends from several threads never interleave inside a frame."""
    chan = connect_blocking(unix_server, token=None, max_frame=MAX)
    payloads = [bytes([i]) * (10_000 + i) for i in range(40)]

    def send(p: bytes) -> None:
        chan.send_frame(p)

    got: list[bytes | None] = []

    def receive_all() -> None:  # read while the others send: the echo doubles the traffic
        got.extend(chan.receive_frame() for _ in range(2 * len(payloads)))

    async with trio.open_nursery() as n:
        n.start_soon(trio.to_thread.run_sync, receive_all)
        for p in payloads:
            n.start_soon(trio.to_thread.run_sync, send, p)
    chan.close()
    assert sorted(got[0::2]) == sorted(payloads)  # type: ignore[type-var]


async def test_ws_round_trip(ws_server: str) -> None:
    got = await trio.to_thread.run_sync(exchange, ws_server, TOKEN, PAYLOADS)
    assert got == [x for p in PAYLOADS for x in (p, p[::-1])]


@pytest.mark.parametrize("token", [None, "", "wrong", TOKEN + "x"])
async def test_ws_wrong_or_missing_token_refused(ws_server: str, token: str | None) -> None:
    with pytest.raises(AuthenticationError):
        await trio.to_thread.run_sync(exchange, ws_server, token, [b"x"])


async def test_ws_message_over_the_limit_closes_the_connection(ws_server: str) -> None:
    def over() -> bytes | None:
        chan = connect_blocking(ws_server, token=TOKEN, max_frame=MAX)
        try:
            chan.send_frame(b"x" * (MAX + 1))
            return chan.receive_frame()
        finally:
            chan.close()

    assert await trio.to_thread.run_sync(over) is None
    # the server still serves others
    assert await trio.to_thread.run_sync(exchange, ws_server, TOKEN, [b"ok"]) == [b"ok", b"ko"]


async def test_unknown_address_scheme(unix_server: str) -> None:
    with pytest.raises((ValueError, OSError)):
        connect_blocking("http://127.0.0.1:1", token=None, max_frame=MAX)
