"""When a worker's death is acted on: after its connection has been read to the end.

A worker sends its last ``TaskDone`` just before it dies (a call that ran, then the next one that
``os._exit``-ed). The process's exit and the frames still in its socket reach the node on two
paths; acting on the exit first made a finished call look like the running one: it was retried
after the call that killed the worker, which then ran first on every restart. So an exit is
acted on once the worker's connection has closed (every frame read), or at once if it is closed
already; a socket a forked grandchild keeps open is waited for at most ``DRAIN_S``.

``WorkerExits`` owns the exits waiting for their connections and receives its collaborators at
construction: ``connected(worker_id)``, ``report(worker_id, returncode)`` (the pool's
``worker_exited``) and ``start_soon`` (a nursery's).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio

#: at most this long between a worker's exit and acting on it while its socket stays open
DRAIN_S = 2.0


class WorkerExits:
    def __init__(
        self,
        connected: Callable[[bytes], bool],
        report: Callable[[bytes, int | None], None],
        start_soon: Callable[..., Any],
        drain_s: float = DRAIN_S,
    ) -> None:
        self._connected = connected
        self._report = report
        self._start_soon = start_soon
        self._drain_s = drain_s
        self._waiting: dict[bytes, int | None] = {}  # exited, connection still open -> returncode

    def exited(self, worker_id: bytes, returncode: int | None) -> None:
        """The worker's process exited (the spawner's callback)."""
        if not self._connected(worker_id):
            self._report(worker_id, returncode)
            return
        self._waiting[worker_id] = returncode
        self._start_soon(self._deadline, worker_id)

    def disconnected(self, worker_id: bytes) -> None:
        """The worker's connection closed, every frame it sent read."""
        self._flush(worker_id)

    def _flush(self, worker_id: bytes) -> None:
        if worker_id in self._waiting:
            self._report(worker_id, self._waiting.pop(worker_id))

    async def _deadline(self, worker_id: bytes) -> None:
        await trio.sleep(self._drain_s)
        self._flush(worker_id)

    def waiting(self) -> int:
        return len(self._waiting)
