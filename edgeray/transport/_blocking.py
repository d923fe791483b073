"""Blocking client channels for drivers and workers (Unix socket, or WebSocket via wsproto).

Sends may come from any thread (a lock keeps frames whole); one reader thread receives.
"""

from __future__ import annotations

import socket
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from ..exceptions import AuthenticationError, RaySystemError
from ..protocol import FrameDecoder, frame

if TYPE_CHECKING:
    import ssl


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


class TlsSocket:
    """TLS over a connected blocking socket, for one reader thread and senders that hold
    ``lock``: the ``ssl`` state lives in an ``SSLObject`` over memory BIOs that is only touched
    under ``lock`` (OpenSSL does not allow one connection to be used by two threads at once), and
    the ciphertext it makes goes out under that lock too, so records leave in order.

    ``sendall`` must be called holding ``lock``; ``recv`` takes it itself."""

    def __init__(self, sock: socket.socket, context: ssl.SSLContext, hostname: str, lock: threading.Lock) -> None:
        import ssl

        self._ssl = ssl
        self._sock = sock
        self._lock = lock
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._obj = context.wrap_bio(self._in, self._out, server_side=False, server_hostname=hostname)

    def handshake(self) -> None:
        """Before any other thread uses it (the socket's timeout bounds each read)."""
        while True:
            try:
                self._obj.do_handshake()
            except self._ssl.SSLWantReadError:
                self._flush()
                data = self._sock.recv(65536)
                if not data:
                    raise ConnectionResetError("the peer closed the connection during the TLS handshake") from None
                self._in.write(data)
                continue
            self._flush()
            return

    def _flush(self) -> None:
        data = self._out.read()
        if data:
            self._sock.sendall(data)

    def sendall(self, data: bytes) -> None:
        self._obj.write(data)
        self._flush()

    def recv(self, n: int) -> bytes:
        """Plaintext, or b"" at the end of the stream."""
        while True:
            raw = self._sock.recv(n)
            with self._lock:
                if raw:
                    self._in.write(raw)
                else:
                    self._in.write_eof()
                chunks: list[bytes] = []
                try:
                    while True:
                        chunk = self._obj.read(n)
                        if not chunk:
                            break
                        chunks.append(chunk)
                except self._ssl.SSLWantReadError:
                    pass
                except self._ssl.SSLZeroReturnError:
                    chunks.append(b"")
                self._flush()  # e.g. an answer to a key update
            if chunks and any(chunks):
                return b"".join(chunks)
            if not raw or chunks:
                return b""

    def settimeout(self, t: float | None) -> None:
        self._sock.settimeout(t)

    def close(self) -> None:
        self._sock.close()


class WebSocketChannel(BlockingChannel):
    """A WebSocket client (wsproto over a TCP socket, TLS for ``wss://``); token in
    ``Authorization: Bearer``. ``ssl_context`` for ``wss://`` defaults to the one the
    environment describes (``EDGERAY_TLS_CA_FILE``..., see ``_tls``)."""

    def __init__(
        self, url: str, token: str | None, max_frame: int, timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        import wsproto  # only remote drivers pay for the WebSocket client
        import wsproto.events as wse

        self._wse = wse
        u = urlparse(url)
        if u.scheme not in ("ws", "wss"):
            raise ValueError(f"unsupported address scheme in {url!r}: use ws://HOST:PORT or wss://HOST:PORT")
        host, port = u.hostname or "127.0.0.1", u.port or (443 if u.scheme == "wss" else 80)
        self._lock = threading.Lock()
        raw = socket.create_connection((host, port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock: Any = raw
        try:
            if u.scheme == "wss":
                self._sock = _start_tls(raw, ssl_context, host, self._lock, url)
            self._ws = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
            self._max_frame = max_frame
            self._pending: list[bytes] = []
            self._partial: list[bytes] = []
            self._upgrade(url, host, port, u.path or "/", token)
        except BaseException:
            raw.close()
            raise
        self._sock.settimeout(None)

    def _upgrade(self, url: str, host: str, port: int, target: str, token: str | None) -> None:
        headers = [(b"authorization", b"Bearer " + token.encode())] if token else []
        request = self._ws.send(self._wse.Request(host=f"{host}:{port}", target=target, extra_headers=headers))
        try:
            with self._lock:
                self._sock.sendall(request)
            self._read_upgrade_reply(url)
        except OSError as e:
            import ssl

            if isinstance(e, ssl.SSLError):
                from ._tls import describe_tls_error

                raise RaySystemError(describe_tls_error(e, url)) from None
            raise

    def _read_upgrade_reply(self, url: str) -> None:
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


def _start_tls(
    raw: socket.socket, context: ssl.SSLContext | None, host: str, lock: threading.Lock, url: str
) -> TlsSocket:
    import ssl

    from ._tls import client_context_from_env, describe_tls_error

    tls = TlsSocket(raw, context or client_context_from_env(), host, lock)
    try:
        tls.handshake()
    except ssl.SSLError as e:
        raise RaySystemError(describe_tls_error(e, url)) from None
    return tls


def connect_blocking(
    address: str, *, token: str | None, max_frame: int, ssl_context: ssl.SSLContext | None = None
) -> BlockingChannel:
    """``unix:/path`` (or a bare path) → Unix socket; ``ws://host:port`` → WebSocket;
    ``wss://host:port`` → WebSocket over TLS (``ssl_context``, else from the environment)."""
    if address.startswith("ws://") or address.startswith("wss://"):
        return WebSocketChannel(address, token, max_frame, ssl_context=ssl_context)
    path = address[5:] if address.startswith("unix:") else address
    return UnixChannel(path, max_frame)
