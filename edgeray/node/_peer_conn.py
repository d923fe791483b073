"""One connected peer as the node's service sees it: who it is, and how messages reach it.

``PeerConn.send`` is synchronous (the core calls it from anywhere in the event loop): on a Unix
socket it writes straight to the socket when nothing is queued, so the hot path switches no
task; whatever does not fit, and everything on a WebSocket, goes to a queue that the peer's
``writer`` task (in the nursery serving the peer) drains.
"""

from __future__ import annotations

import logging
from typing import Any

import trio

from ..protocol import Connection, Message, frame

log = logging.getLogger("edgeray.node")


class PeerConn:
    """One connected peer. ``send`` writes straight to a Unix socket when nothing is queued (no
    task switch on the hot path); whatever does not fit goes to a queue drained by ``writer``."""

    def __init__(self, channel: Any, conn: Connection, peer_id: bytes, role: str, job_id: bytes, pid: int, shm: bool) -> None:
        self.channel = channel
        self.conn = conn
        self.peer_id = peer_id
        self.role = role
        self.job_id = job_id
        self.pid = pid
        self.shm = shm
        self._out: list[bytes] = []
        self._wake = trio.Event()
        self._writing = False
        self.closed = False
        self._raw = _raw_socket(channel)
        self.node_id = b""  # for a peer that is another node: its id
        self.scope: trio.CancelScope | None = None  # the nursery serving it (set by the service)

    def send(self, msg: Message) -> None:
        if self.closed:
            return
        data = self.conn.send(msg)
        raw = self._raw
        if raw is not None and not self._out and not self._writing:
            framed = frame(data)
            try:
                n = raw.send(framed)
            except (BlockingIOError, InterruptedError):
                n = 0
            except OSError:
                self.closed = True
                return
            if n == len(framed):
                return
            self._out.append(framed[n:])
        else:
            self._out.append(frame(data) if raw is not None else data)
        self._wake.set()

    async def close_with(self, msg: Message, timeout: float = 1.0) -> None:
        """Send ``msg`` as the last message and wait (``timeout`` at most) until it is written."""
        self.send(msg)
        with trio.move_on_after(timeout):
            while (self._out or self._writing) and not self.closed:
                await trio.sleep(0.005)
        self.closed = True

    async def writer(self) -> None:
        raw = self._raw
        while not self.closed:
            await self._wake.wait()
            self._wake = trio.Event()
            chunks, self._out = self._out, []
            if not chunks:
                continue
            self._writing = True
            try:
                if raw is not None:  # chunks are already framed bytes
                    await self.channel.send_raw(b"".join(chunks))
                else:
                    await self.channel.send_frames(chunks)
            except Exception as e:  # broken pipe, closed websocket: the reader ends the peer
                log.debug("peer write failed: %r", e)
                self.closed = True
                return
            finally:
                self._writing = False
            if self._out:
                self._wake.set()


    async def flush(self, timeout_s: float = 1.0) -> None:
        """Until what was sent so far is written (or ``timeout_s``: a peer that reads nothing)."""
        with trio.move_on_after(timeout_s):
            while (self._out or self._writing) and not self.closed:
                await trio.sleep(0.005)

    async def end_after_flush(self) -> None:
        """Close the connection once what was sent to it is written (a fenced node's last
        message), ending the task that serves it."""
        await self.flush()
        self.closed = True
        if self.scope is not None:
            self.scope.cancel()


def _raw_socket(channel: Any) -> Any:
    stream = getattr(channel, "_stream", None)
    sock = getattr(getattr(stream, "socket", None), "_sock", None)
    return sock
