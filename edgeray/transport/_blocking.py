"""Blocking client channels for drivers and workers (Unix socket, or WebSocket via wsproto).

Sends may come from any thread (a lock keeps frames whole); one reader thread receives.
"""

from __future__ import annotations

import socket
import threading
from urllib.parse import urlparse

from ..exceptions import AuthenticationError, RaySystemError
from ..protocol import FrameDecoder, frame


class BlockingChannel:
    """Frames over a blocking socket. ``send_frame`` is thread-safe; ``receive_frame`` is for one
    reader thread and returns None at end of stream."""

    def send_frame(self, payload: bytes) -> None:
        raise NotImplementedError

    def send_frames(self, payloads: list[bytes]) -> None:
        raise NotImplementedError

    def receive_frame(self) -> bytes | None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class UnixChannel(BlockingChannel):
    """``path`` to connect to, or ``sock``, a socket connected already (an accepted peer)."""

    def __init__(self, path: str, max_frame: int, sock: socket.socket | None = None) -> None:
        if sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(path)
            except OSError:
                sock.close()
                raise
        self._sock = sock
        self._lock = threading.Lock()
        self._decoder = FrameDecoder(max_frame)
        self._closed = False

    def send_frame(self, payload: bytes) -> None:
        data = frame(payload)
        with self._lock:
            self._sock.sendall(data)

    def send_frames(self, payloads: list[bytes]) -> None:
        data = b"".join(frame(p) for p in payloads)
        with self._lock:
            self._sock.sendall(data)

    def receive_frame(self) -> bytes | None:
        dec = self._decoder
        while True:
            f = dec.next_frame()
            if f is not None:
                return f
            try:
                data = self._sock.recv(1 << 20)
            except OSError:
                return None
            if not data:
                return None
            dec.feed(data)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._sock.close()


class WebSocketChannel(BlockingChannel):
    """A WebSocket client (wsproto over a TCP socket); token in ``Authorization: Bearer``."""

    def __init__(self, url: str, token: str | None, max_frame: int, timeout: float = 10.0) -> None:
        import wsproto  # only remote drivers pay for the WebSocket client
        import wsproto.events as wse

        self._wse = wse
        u = urlparse(url)
        if u.scheme not in ("ws",):
            raise ValueError(f"unsupported address scheme in {url!r}: use ws://HOST:PORT")
        host, port = u.hostname or "127.0.0.1", u.port or 80
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._sock.settimeout(None)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._ws = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        self._lock = threading.Lock()
        self._max_frame = max_frame
        self._pending: list[bytes] = []
        self._partial: list[bytes] = []
        headers = [(b"authorization", b"Bearer " + token.encode())] if token else []
        self._sock.sendall(self._ws.send(self._wse.Request(host=f"{host}:{port}", target=u.path or "/", extra_headers=headers)))
        while True:
            data = self._sock.recv(65536)
            if not data:
                raise RaySystemError(f"connection to {url} closed during the WebSocket handshake")
            self._ws.receive_data(data)
            for ev in self._ws.events():
                if isinstance(ev, self._wse.AcceptConnection):
                    return
                if isinstance(ev, self._wse.RejectConnection):
                    if ev.status_code == 401:
                        raise AuthenticationError(f"{url} refused the cluster token (HTTP 401)")
                    raise RaySystemError(f"{url} rejected the WebSocket handshake (HTTP {ev.status_code})")

    def send_frame(self, payload: bytes) -> None:
        self.send_frames([payload])

    def send_frames(self, payloads: list[bytes]) -> None:
        from wsproto.utilities import LocalProtocolError

        with self._lock:
            try:
                data = b"".join(self._ws.send(self._wse.BytesMessage(data=p)) for p in payloads)
            except LocalProtocolError as e:  # the node closed its side: the connection is gone
                raise ConnectionResetError(f"the WebSocket is closing: {e}") from None
            self._sock.sendall(data)

    def receive_frame(self) -> bytes | None:
        while True:
            if self._pending:
                return self._pending.pop(0)
            try:
                data = self._sock.recv(1 << 20)
            except OSError:
                return None
            if not data:
                return None
            self._ws.receive_data(data)
            for ev in self._ws.events():
                if isinstance(ev, self._wse.BytesMessage | self._wse.TextMessage):
                    chunk = ev.data.encode() if isinstance(ev.data, str) else bytes(ev.data)
                    self._partial.append(chunk)
                    if ev.message_finished:
                        self._pending.append(b"".join(self._partial))
                        self._partial = []
                elif isinstance(ev, self._wse.Ping):
                    with self._lock:
                        self._sock.sendall(self._ws.send(ev.response()))
                elif isinstance(ev, self._wse.CloseConnection):
                    return None

    def close(self) -> None:
        try:
            with self._lock:
                self._sock.sendall(self._ws.send(self._wse.CloseConnection(code=1000)))
        except Exception:
            pass
        try:
            self._sock.close()
        except OSError:
            pass


def connect_blocking(address: str, *, token: str | None, max_frame: int) -> BlockingChannel:
    """``unix:/path`` (or a bare path) → Unix socket; ``ws://host:port`` → WebSocket."""
    if address.startswith("ws://") or address.startswith("wss://"):
        return WebSocketChannel(address, token, max_frame)
    path = address[5:] if address.startswith("unix:") else address
    return UnixChannel(path, max_frame)
