"""The worker's side of direct calls (``client/_direct.py`` is the caller's): ``DirectServer``
listens on a Unix socket beside the node's for callers of the actor this worker hosts, or of
the tasks it is lent for; each connection authenticates with the cluster token, as on the
node's socket, then sends ``Execute`` and ``CancelTask``; ``DirectPeer`` answers on it."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from typing import Any

from .. import exceptions as exc
from ..exceptions import ProtocolError
from ..protocol import CancelTask, Connection, Execute, Refused, Role, Welcome, encode_message
from ..transport import UnixChannel

log = logging.getLogger("edgeray.worker")


class DirectPeer:
    """One caller connected to an actor's worker; ``send`` is thread-safe."""

    def __init__(self, chan: UnixChannel, conn: Connection) -> None:
        self._chan = chan
        self._conn = conn
        self.closed = False

    def send(self, msg: Any) -> None:
        if self.closed:
            return
        try:
            self._chan.send_frame(self._conn.send(msg))
        except OSError:
            self.closed = True


class DirectServer:
    """Listens at ``path`` for direct callers (of the actor this worker hosts, or that it is lent
    to); each ``Execute`` goes to ``on_execute(msg, peer)``, each ``CancelTask`` to
    ``on_cancel(task_id, force, recursive)``."""

    def __init__(
        self, path: str, *, token: str | None, worker_id: bytes, max_frame: int,
        on_execute: Callable[[Execute, DirectPeer], None], on_cancel: Callable[[bytes, bool, bool], None],
    ) -> None:
        self.path = path
        self._token = token
        self._worker_id = worker_id
        self._max_frame = max_frame
        self._on_execute = on_execute
        self._on_cancel = on_cancel
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # the socket is the user's only (0600), like the node's
        try:
            self._sock.bind(path)
        finally:
            os.umask(old)
        self._sock.listen(64)
        threading.Thread(target=self._accept_loop, name="edgeray-direct", daemon=True).start()

    def _accept_loop(self) -> None:
        while True:
            try:
                sock, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(sock,), name="edgeray-direct-peer", daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        chan = UnixChannel("", self._max_frame, sock=sock)
        conn = Connection(Role.SERVER, token=self._token, max_frame=self._max_frame)
        try:
            first = chan.receive_frame()
            if first is None:
                return
            try:
                conn.receive(first)
            except exc.AuthenticationError as e:
                chan.send_frame(encode_message(Refused(str(e))))  # the connection is closed already
                return
            welcome = Welcome(b"", self._worker_id, b"\x00" * 4, "", None, {"direct": True})
            chan.send_frame(conn.send(welcome))
            peer = DirectPeer(chan, conn)
            while True:
                data = chan.receive_frame()
                if data is None:
                    return
                msg = conn.receive(data)
                if isinstance(msg, Execute):
                    self._on_execute(msg, peer)
                elif isinstance(msg, CancelTask):
                    self._on_cancel(msg.task_id, msg.force, msg.recursive)
                else:
                    raise ProtocolError(f"unexpected {msg.TAG} on a direct actor connection")
        except (ProtocolError, OSError) as e:
            log.warning("closing a direct actor connection: %s", e)
        finally:
            chan.close()

    def close(self) -> None:
        try:
            self._sock.close()
            os.unlink(self.path)
        except OSError:
            pass
