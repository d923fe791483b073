"""What keeps a listener standing: a connection cap, a handshake deadline, an accept loop that
backs off when the process runs out of file descriptors, and a log that says each kind of trouble
at most once in a while (a flood of connections must not become a flood of log lines).

``serve_guarded`` replaces ``trio.serve_listeners`` for both transports: it runs one handler task
per accepted stream, and whatever that task raises ends that stream only.
"""

from __future__ import annotations

import errno
import logging
import math
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import trio

from .._ratelimit import LogLimiter

log = logging.getLogger("edgeray.transport")

#: accept(2) errors that mean "the process or system is out of something", not "this listener
#: is broken": back off and try again.
ACCEPT_CAPACITY_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})
BACKOFF_FIRST_S = 0.05
BACKOFF_MAX_S = 1.0


@dataclass(frozen=True)
class ListenLimits:
    """Per listener: at most ``max_connections`` open at once (more are closed as soon as they
    are accepted); a peer has ``handshake_timeout_s`` from its accept to finish its handshake
    (TLS, the HTTP upgrade, the hello)."""

    max_connections: int = 4096
    handshake_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {self.max_connections}")
        if not (self.handshake_timeout_s > 0 and math.isfinite(self.handshake_timeout_s)):
            raise ValueError(f"handshake_timeout_s must be a positive number, got {self.handshake_timeout_s}")


StreamHandler = Callable[[Any], Awaitable[None]]


async def serve_guarded(
    handler: StreamHandler,
    listeners: list[Any],
    *,
    limits: ListenLimits,
    name: str,
    log_limiter: LogLimiter,
    task_status: Any = trio.TASK_STATUS_IGNORED,
) -> None:
    """Accept on every listener until cancelled; run ``handler(stream)`` for each stream in a
    task of its own, closing the stream after it. Streams beyond ``limits.max_connections``
    are closed at once. Nothing a handler raises (bar cancellation) leaves its task."""
    open_streams: set[Any] = set()
    async with trio.open_nursery() as nursery:
        for listener in listeners:
            nursery.start_soon(_accept_loop, listener, handler, nursery, open_streams, limits, name, log_limiter)
        task_status.started(listeners)


async def _accept_loop(
    listener: Any,
    handler: StreamHandler,
    nursery: trio.Nursery,
    open_streams: set[Any],
    limits: ListenLimits,
    name: str,
    log_limiter: LogLimiter,
) -> None:
    backoff = BACKOFF_FIRST_S
    async with listener:
        while True:
            try:
                stream = await listener.accept()
            except OSError as e:
                if e.errno not in ACCEPT_CAPACITY_ERRNOS:
                    raise
                log_limiter.warning(
                    "accept", "%s: accept failed with %s (%s) with %d connections open; backing off",
                    name, errno.errorcode.get(e.errno or 0, e.errno), os.strerror(e.errno or 0), len(open_streams),
                )
                await trio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                continue
            backoff = BACKOFF_FIRST_S
            if len(open_streams) >= limits.max_connections:
                log_limiter.warning(
                    "cap", "%s: closed a new connection: %d are open (protocol.max_connections)",
                    name, len(open_streams),
                )
                await trio.aclose_forcefully(stream)
                continue
            open_streams.add(stream)
            nursery.start_soon(_run_one, stream, handler, open_streams, name)


async def _run_one(stream: Any, handler: StreamHandler, open_streams: set[Any], name: str) -> None:
    try:
        await handler(stream)
    except* Exception as group:  # this connection's trouble, whatever it was, ends here
        log.debug("%s: a connection failed: %r", name, group.exceptions[0])
    finally:
        open_streams.discard(stream)
        await trio.aclose_forcefully(stream)
