"""Trio servers for Unix sockets and WebSockets, each yielding a ``FrameChannel`` per peer."""

from __future__ import annotations

import hmac
import os
import socket as _stdsocket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

import trio
import trio_websocket

from ..protocol import FrameDecoder, frame


class FrameChannel(Protocol):
    """What the node sees of a peer: whole frames in, batches of frames out."""

    peer: str

    async def receive_frame(self) -> bytes | None:
        """The next frame, or None once the peer has closed the connection."""

    async def send_frames(self, frames: list[bytes]) -> None: ...

    async def aclose(self) -> None: ...


class UnixFrameChannel:
    def __init__(self, stream: trio.SocketStream, max_frame: int) -> None:
        self._stream = stream
        self._decoder = FrameDecoder(max_frame)
        self.peer = "unix"

    def set_max_frame(self, n: int) -> None:
        self._decoder.max_frame = n

    async def receive_frame(self) -> bytes | None:
        while True:
            f = self._decoder.next_frame()
            if f is not None:
                return f
            try:
                data = await self._stream.receive_some(1 << 20)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return None
            if not data:
                return None
            self._decoder.feed(data)

    async def send_frames(self, frames: list[bytes]) -> None:
        if len(frames) == 1:
            data = frame(frames[0])
        else:
            data = b"".join(frame(f) for f in frames)
        await self._stream.send_all(data)

    async def send_raw(self, data: bytes) -> None:
        """Send bytes that are already framed."""
        await self._stream.send_all(data)

    async def aclose(self) -> None:
        await self._stream.aclose()


class WebSocketFrameChannel:
    def __init__(self, ws: trio_websocket.WebSocketConnection, peer: str) -> None:
        self._ws = ws
        self.peer = peer

    def set_max_frame(self, n: int) -> None:  # trio-websocket enforces max_message_size
        pass

    async def receive_frame(self) -> bytes | None:
        try:
            msg = await self._ws.get_message()
        except trio_websocket.ConnectionClosed:
            return None
        if isinstance(msg, str):
            msg = msg.encode()
        return msg

    async def send_frames(self, frames: list[bytes]) -> None:
        for f in frames:
            await self._ws.send_message(f)

    async def aclose(self) -> None:
        await self._ws.aclose()


Handler = Callable[[Any], Awaitable[None]]

#: Bytes read from a WebSocket at a time (trio-websocket's default of 4 KiB makes a large
#: object's chunks cost thousands of parser rounds each).
RECEIVE_BYTES = 1 << 20

#: What a broken or refused WebSocket connection raises, for callers that retry.
WS_ERRORS = (
    OSError,
    trio.BrokenResourceError,
    trio_websocket.HandshakeError,
    trio_websocket.ConnectionRejected,
    trio_websocket.ConnectionClosed,
)


@asynccontextmanager
async def open_ws_channel(address: str, *, token: str | None, max_frame: int, connect_timeout: float = 5.0) -> AsyncIterator[WebSocketFrameChannel]:
    """A client WebSocket to ``address`` (``ws://HOST:PORT``) with the cluster token in the
    ``Authorization`` header, as a ``FrameChannel`` (node-to-node links run on Trio)."""
    headers = [(b"Authorization", b"Bearer " + token.encode())] if token else []
    async with trio_websocket.open_websocket_url(
        address, extra_headers=headers, max_message_size=max_frame, connect_timeout=connect_timeout,
        receive_buffer_size=RECEIVE_BYTES,
    ) as ws:
        yield WebSocketFrameChannel(ws, address)


async def serve_unix(
    path: str, handler: Handler, *, max_frame: int, task_status: Any = trio.TASK_STATUS_IGNORED
) -> None:
    """Listen on a Unix socket at ``path`` (mode 0600) and run ``handler(channel)`` per peer."""
    if os.path.exists(path):
        os.unlink(path)
    sock = trio.socket.socket(_stdsocket.AF_UNIX, _stdsocket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        await sock.bind(path)
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    sock.listen(512)
    listener = trio.SocketListener(sock)

    async def on_stream(stream: trio.SocketStream) -> None:
        await handler(UnixFrameChannel(stream, max_frame))

    try:
        await trio.serve_listeners(on_stream, [listener], task_status=task_status)
    finally:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


async def serve_ws(
    host: str,
    port: int,
    handler: Handler,
    *,
    token: str | None,
    max_frame: int,
    task_status: Any = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve WebSockets on ``host:port``; a request without ``Authorization: Bearer <token>`` is
    rejected with HTTP 401 before any frame is read. ``task_status`` gets the bound port."""

    async def on_request(request: trio_websocket.WebSocketRequest) -> None:
        if token is not None:
            auth = dict((k.lower(), v) for k, v in request.headers).get(b"authorization", b"")
            expected = b"Bearer " + token.encode()
            if not hmac.compare_digest(auth, expected):
                await request.reject(401, body=b"invalid or missing cluster token")
                return
        ws = await request.accept()
        remote = request.remote
        peer = f"{getattr(remote, 'address', remote)}:{getattr(remote, 'port', '')}"
        await handler(WebSocketFrameChannel(ws, peer))

    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            lambda task_status: trio_websocket.serve_websocket(
                on_request,
                host,
                port,
                ssl_context=None,
                handler_nursery=nursery,
                max_message_size=max_frame,
                receive_buffer_size=RECEIVE_BYTES,
                task_status=task_status,
            )
        )
        task_status.started(server.port)
