"""Byte streams that carry protocol frames: Unix sockets and WebSockets.

Rule: imports ``edgeray.protocol``, ``edgeray.exceptions``, ``edgeray._ratelimit``, trio,
trio-websocket, wsproto, h11 and the standard library; knows nothing of tasks, objects or actors.

- server side (trio): ``serve_unix``, ``serve_ws`` hand each accepted peer to a handler as a
  ``FrameChannel`` (receive whole frames, send batches of frames);
- client side in trio: ``open_ws_channel(address, ...)``, a node's links to other nodes;
- client side (blocking, thread-safe sends): ``connect_blocking(address)`` for drivers and workers,
  which must work from any thread and inside any event loop, so they do not run trio;
- TLS (``_tls``): server and client ``ssl`` contexts; a driver's files from the environment;
- HTTP (``_http``, sans-I/O): plain requests on the WebSocket listener, routed by a ``Router``
  of ``(method, path) -> Route``, behind the cluster token or the dashboard's login cookie
  (``_session``: ``new_session``, ``set_cookie``, ``clear_cookie``);
- limits (``_limits``): the connection cap, the handshake deadline, accept backing off on EMFILE,
  refusals logged rate-limited (``edgeray._ratelimit``).
"""

from typing import Any

from ._blocking import BlockingChannel, UnixChannel, connect_blocking

_LAZY = {
    **dict.fromkeys(("FrameChannel", "UnixFrameChannel", "WebSocketFrameChannel", "serve_unix", "serve_ws",
                     "open_ws_channel", "bearer_ok", "WS_ERRORS"), "_server"),
    **dict.fromkeys(("ListenLimits", "serve_guarded"), "_limits"),
    **dict.fromkeys(("Router", "Route", "Request", "Response", "HttpError"), "_http"),
    **dict.fromkeys(("new_session", "set_cookie", "clear_cookie"), "_session"),
    **dict.fromkeys(("TlsFiles", "server_context", "client_context", "client_context_from_env"), "_tls"),
}


def __getattr__(name: str) -> Any:
    # The servers import trio, TLS imports ssl; clients (workers, drivers) must not pay for that.
    module = _LAZY.get(name)
    if module is not None:
        import importlib

        return getattr(importlib.import_module(f".{module}", __name__), name)
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
    "bearer_ok",
    "ListenLimits",
    "serve_guarded",
    "Router",
    "Route",
    "Request",
    "Response",
    "HttpError",
    "new_session",
    "set_cookie",
    "clear_cookie",
    "TlsFiles",
    "server_context",
    "client_context",
    "client_context_from_env",
]
