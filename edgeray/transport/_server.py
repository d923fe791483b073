"""Trio servers for Unix sockets and WebSockets, each yielding a ``FrameChannel`` per peer.

Both run on ``serve_guarded`` (``_limits``): a connection cap, a handshake deadline, accept that
backs off when file descriptors run out, and nothing one connection raises reaching the server.
The WebSocket listener also answers plain HTTP requests (``_http``): it reads each connection's
request head first, by the handshake deadline, and hands a WebSocket upgrade on to
trio-websocket with those bytes replayed; any other request goes to the ``http`` router.
"""

from __future__ import annotations

import hmac
import logging
import os
import socket as _stdsocket
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, Protocol
from urllib.parse import urlsplit

import trio
import trio_websocket

from .._ratelimit import LogLimiter
from ..protocol import FrameDecoder, frame
from ._http import HeadReader, HttpError, Router, response_bytes, serve_http, text
from ._limits import ListenLimits, serve_guarded
from ._tls import describe_tls_error

log = logging.getLogger("edgeray.transport")

DEFAULT_LIMITS = ListenLimits()


class FrameChannel(Protocol):
    """What the node sees of a peer: whole frames in, batches of frames out."""

    peer: str
    #: ``trio.current_time()`` by which the peer must have finished its handshake (its hello)
    handshake_deadline: float

    async def receive_frame(self) -> bytes | None:
        """The next frame, or None once the peer has closed the connection."""

    async def send_frames(self, frames: list[bytes]) -> None: ...

    async def aclose(self) -> None: ...


class UnixFrameChannel:
    def __init__(self, stream: trio.SocketStream, max_frame: int, handshake_deadline: float = float("inf")) -> None:
        self._stream = stream
        self._decoder = FrameDecoder(max_frame)
        self.peer = _unix_peer(stream)
        self.handshake_deadline = handshake_deadline

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
    def __init__(self, ws: trio_websocket.WebSocketConnection, peer: str, handshake_deadline: float = float("inf")) -> None:
        self._ws = ws
        self.peer = peer
        self.handshake_deadline = handshake_deadline

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
        try:
            for f in frames:
                await self._ws.send_message(f)
        except trio_websocket.ConnectionClosed as e:  # the peer is gone: as any broken stream
            raise trio.BrokenResourceError(f"the WebSocket to {self.peer} closed: {e}") from None

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
async def open_ws_channel(
    address: str,
    *,
    token: str | None,
    max_frame: int,
    connect_timeout: float = 5.0,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[WebSocketFrameChannel]:
    """A client WebSocket to ``address`` (``ws://HOST:PORT``, or ``wss://HOST:PORT`` verified
    with ``ssl_context``) with the cluster token in the ``Authorization`` header, as a
    ``FrameChannel`` (node-to-node links run on Trio). A TLS failure (an unknown CA, a missing
    client certificate) raises ``ConnectionError`` saying so, at once."""
    u = urlsplit(address)
    if u.scheme not in ("ws", "wss") or not u.hostname:
        raise ValueError(f"unsupported address {address!r}: use ws://HOST:PORT or wss://HOST:PORT")
    if u.scheme == "wss" and ssl_context is None:
        raise ValueError(f"{address} is a wss:// address: an ssl_context is needed")
    host, port = u.hostname, u.port or (443 if u.scheme == "wss" else 80)
    headers = [(b"Authorization", b"Bearer " + token.encode())] if token else []
    try:
        with trio.fail_after(connect_timeout):
            stream = await _client_stream(host, port, ssl_context if u.scheme == "wss" else None, address)
    except trio.TooSlowError:
        raise trio_websocket.ConnectionTimeout(f"no connection to {address} in {connect_timeout:g} s") from None
    async with trio.open_nursery() as nursery:
        with trio.move_on_after(connect_timeout) as scope:
            ws = await trio_websocket.wrap_client_stream(
                nursery, stream, u.netloc, u.path or "/", extra_headers=headers,
                max_message_size=max_frame, receive_buffer_size=RECEIVE_BYTES,
            )
        if scope.cancelled_caught:
            await trio.aclose_forcefully(stream)
            raise trio_websocket.ConnectionTimeout(f"no WebSocket handshake with {address} in {connect_timeout:g} s")
        try:
            yield WebSocketFrameChannel(ws, address)
        finally:
            with trio.move_on_after(connect_timeout):
                await ws.aclose()


async def _client_stream(host: str, port: int, ssl_context: ssl.SSLContext | None, address: str) -> Any:
    """A TCP stream to ``host:port``; with ``ssl_context``, TLS on it, its handshake done."""
    tcp = await trio.open_tcp_stream(host, port)
    if ssl_context is None:
        return tcp
    stream = trio.SSLStream(tcp, ssl_context, server_hostname=host, https_compatible=True)
    try:
        await stream.do_handshake()
    except trio.BrokenResourceError as e:
        await trio.aclose_forcefully(tcp)
        raise ConnectionError(describe_tls_error(e.__cause__ or e, address)) from None
    except BaseException:
        await trio.aclose_forcefully(tcp)
        raise
    return stream


async def serve_unix(
    path: str,
    handler: Handler,
    *,
    max_frame: int,
    limits: ListenLimits = DEFAULT_LIMITS,
    task_status: Any = trio.TASK_STATUS_IGNORED,
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
        await handler(UnixFrameChannel(stream, max_frame, trio.current_time() + limits.handshake_timeout_s))

    try:
        await serve_guarded(
            on_stream, [listener], limits=limits, name=f"unix socket {path}",
            log_limiter=LogLimiter(log), task_status=task_status,
        )
    finally:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def bearer_ok(headers: list[tuple[bytes, bytes]], token: str) -> bool:
    """Whether the ``Authorization`` header is ``Bearer <token>`` (the scheme in any case,
    RFC 7235); compared in constant time."""
    auth = b""
    for k, v in headers:
        if k.lower() == b"authorization":
            auth = v
    scheme, _, credentials = auth.strip().partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), token.encode())


async def serve_ws(
    host: str,
    port: int,
    handler: Handler,
    *,
    token: str | None,
    max_frame: int,
    limits: ListenLimits = DEFAULT_LIMITS,
    ssl_context: ssl.SSLContext | None = None,
    http: Router | None = None,
    task_status: Any = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve WebSockets (``wss://`` with ``ssl_context``) on ``host:port``; a request without
    ``Authorization: Bearer <token>`` is rejected with HTTP 401 before any frame is read.
    Requests that are not WebSocket upgrades go to ``http`` (404 without one); a malformed
    request gets a 400. ``task_status`` gets the bound port."""
    listeners: list[Any] = await trio.open_tcp_listeners(port, host=host)
    if port == 0 and len(listeners) > 1:  # "localhost" as two families would get two ports
        for extra in listeners[1:]:
            await extra.aclose()
        listeners = listeners[:1]
    bound = listeners[0].socket.getsockname()[1]
    if ssl_context is not None:
        listeners = [trio.SSLListener(lst, ssl_context, https_compatible=True) for lst in listeners]
    limiter = LogLimiter(log)

    async def on_request(request: trio_websocket.WebSocketRequest, *, peer: str, deadline: float) -> None:
        if token is not None and not bearer_ok(request.headers, token):
            limiter.warning("auth", "refused a WebSocket connection from %s: invalid or missing cluster token", peer)
            await request.reject(401, body=b"invalid or missing cluster token")
            return
        ws = await request.accept()
        await handler(WebSocketFrameChannel(ws, peer, deadline))

    async def on_stream(stream: Any) -> None:
        peer = _tcp_peer(stream)
        if peer is None:  # gone before it could be served
            return
        deadline = trio.current_time() + limits.handshake_timeout_s
        if isinstance(stream, trio.SSLStream) and not await _tls_handshake(stream, peer, deadline, limiter):
            return
        reader = HeadReader()
        with trio.move_on_at(deadline) as scope:
            try:
                request = await _read_head(stream, reader)
            except HttpError as e:
                limiter.warning("bad-http", "refused a request from %s: %s", peer, e)
                await stream.send_all(response_bytes(text(e.status, str(e))))
                return
        if scope.cancelled_caught:
            limiter.warning("slow-http", "closed a connection from %s: no request within protocol.handshake_timeout_s", peer)
            return
        if request is None:  # gone before it said anything
            return
        if not request.is_websocket_upgrade:
            with trio.move_on_at(deadline):
                await serve_http(stream, reader, http, RECEIVE_BYTES)
            return
        # A WebSocketServer per connection only to run its one-connection handshake with this
        # connection's peer and deadline; its own accept loop (``run``) is never used, so the
        # cap, the deadline and the guard around each connection are ours.
        ws_server = trio_websocket.WebSocketServer(
            partial(on_request, peer=peer, deadline=deadline), listeners,
            max_message_size=max_frame, receive_buffer_size=RECEIVE_BYTES,
            connect_timeout=max(deadline - trio.current_time(), 0.001), disconnect_timeout=limits.handshake_timeout_s,
        )
        await ws_server._handle_connection(ReplayStream(stream, bytes(reader.buffered)))

    await serve_guarded(
        on_stream, listeners, limits=limits, name=f"WebSocket listener on {host}:{bound}",
        log_limiter=limiter, task_status=_PortStatus(task_status, bound),
    )


async def _read_head(stream: Any, reader: HeadReader) -> Any:
    """Receive until ``reader`` holds a whole request head; None if the peer closed first."""
    while True:
        data = await stream.receive_some(RECEIVE_BYTES)
        request = reader.feed(data)
        if request is not None or not data:
            return request


class ReplayStream(trio.abc.Stream):
    """``stream`` with ``prefix`` (bytes already read from it) received again first."""

    def __init__(self, stream: Any, prefix: bytes) -> None:
        self.stream, self._prefix = stream, prefix

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._prefix:
            n = len(self._prefix) if max_bytes is None else max_bytes
            data, self._prefix = self._prefix[:n], self._prefix[n:]
            return data
        return await self.stream.receive_some(max_bytes)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.stream.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self.stream.aclose()


async def _tls_handshake(stream: trio.SSLStream[Any], peer: str, deadline: float, limiter: LogLimiter) -> bool:
    """The server's TLS handshake, by ``deadline``; False (logged, the client told why where
    possible) when it fails."""
    with trio.move_on_at(deadline):
        try:
            await stream.do_handshake()
            return True
        except trio.BrokenResourceError as e:
            cause = e.__cause__
            if isinstance(cause, ssl.SSLError):
                limiter.warning("tls", "TLS handshake with %s failed: %s", peer, getattr(cause, "reason", None) or cause)
                await _send_tls_alert(stream)
            return False
    limiter.warning("slow-tls", "closed a connection from %s: no TLS handshake within protocol.handshake_timeout_s", peer)
    return False


async def _send_tls_alert(stream: Any) -> None:
    """Send the alert OpenSSL wrote for a failed server handshake ("certificate required",
    "unknown CA"), so the client is told why instead of seeing the connection cut.
    ``trio.SSLStream`` leaves it in its outgoing buffer (``_outgoing``, not public: best effort)."""
    outgoing = getattr(stream, "_outgoing", None)
    if not isinstance(stream, trio.SSLStream) or outgoing is None:
        return
    data = outgoing.read()
    if data:
        with trio.move_on_after(1.0):
            try:
                await stream.transport_stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass


class _PortStatus:
    """Reports the bound port where ``serve_guarded`` would report its listeners."""

    def __init__(self, task_status: Any, port: int) -> None:
        self._task_status, self._port = task_status, port

    def started(self, _value: Any = None) -> None:
        self._task_status.started(self._port)


def _tcp_peer(stream: Any) -> str | None:
    """``host:port`` of a TCP (or TLS over TCP) stream's peer; None when it is gone already."""
    sock = stream.transport_stream.socket if isinstance(stream, trio.SSLStream) else stream.socket
    try:
        addr = sock.getpeername()
    except OSError:
        return None
    host, port = addr[0], addr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _unix_peer(stream: trio.SocketStream) -> str:
    """``unix (pid P, uid U)`` from the peer's credentials, where the system tells them."""
    try:
        creds = stream.socket.getsockopt(_stdsocket.SOL_SOCKET, _stdsocket.SO_PEERCRED, struct.calcsize("3i"))
        pid, uid, _ = struct.unpack("3i", creds)
    except (OSError, AttributeError):
        return "unix"
    return f"unix (pid {pid}, uid {uid})"
