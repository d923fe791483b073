"""Byte streams that carry protocol frames: Unix sockets and WebSockets.

Rule: imports ``edgeray.protocol``, ``edgeray.exceptions``, trio, trio-websocket, wsproto and the
standard library; knows nothing of tasks, objects or actors.

- server side (trio): ``serve_unix``, ``serve_ws`` hand each accepted peer to a handler as a
  ``FrameChannel`` (receive whole frames, send batches of frames);
- client side in trio: ``open_ws_channel(address, ...)``, a node's links to other nodes;
- client side (blocking, thread-safe sends): ``connect_blocking(address)`` for drivers and workers,
  which must work from any thread and inside any event loop, so they do not run trio.
"""

from typing import Any

from ._blocking import BlockingChannel, UnixChannel, connect_blocking

_SERVER_NAMES = {"FrameChannel", "UnixFrameChannel", "WebSocketFrameChannel", "serve_unix", "serve_ws",
                 "open_ws_channel", "WS_ERRORS"}


def __getattr__(name: str) -> Any:
    # The servers import trio; clients (workers, drivers) must not pay for that import.
    if name in _SERVER_NAMES:
        from . import _server

        return getattr(_server, name)
    raise AttributeError(name)

__all__ = [
    "BlockingChannel",
    "UnixChannel",
    "connect_blocking",
    "FrameChannel",
    "UnixFrameChannel",
    "WebSocketFrameChannel",
    "serve_unix",
    "serve_ws",
    "open_ws_channel",
    "WS_ERRORS",
]
