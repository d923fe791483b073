"""Plain HTTP on the node's listener, sans-I/O: the request head read with h11, a router of
``(method, path) -> handler`` as data, responses as bytes.

The listener (``_server.serve_ws``) reads each connection's request head with ``HeadReader``
first: a WebSocket upgrade goes on to trio-websocket with the bytes read so far replayed; any
other request is answered here, one request per connection (``Connection: close``).

- ``HeadReader``: bytes in; ``head`` once the request line and headers are complete, with the
  size limit h11 (and wsproto, which uses h11) applies to them; ``HttpError(400)`` for a
  malformed request or a head too large (431);
- ``Router``: routes as data, each ``Route(handler, public, page)`` (a handler answers at once,
  or is ``async`` and awaits first); ``respond(request)`` (``respond_async``) checks
  the cluster token (``Authorization: Bearer``, or the dashboard's login cookie, ``_session``)
  unless the route is public, runs the handler, and turns what goes wrong into a status: 401 (a
  ``page`` route: 303 to ``/login`` instead, for a browser), 404, 405, 500;
- ``response_bytes(response)``: the whole response as bytes;
- ``serve_http(stream, reader, router, ...)``: the only I/O, moving bytes between the two.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import h11

from ._session import session_ok

log = logging.getLogger("edgeray.transport")

#: The largest request head (request line and headers) read: h11's limit, the one wsproto's
#: WebSocket handshake had before HTTP shared the listener.
MAX_HEAD_BYTES = 16 * 1024
#: The largest request body read (the jobs API's submissions are small JSON documents).
MAX_BODY_BYTES = 1 << 20

REASONS = {200: b"OK", 303: b"See Other", 400: b"Bad Request", 401: b"Unauthorized", 404: b"Not Found", 405: b"Method Not Allowed",
           408: b"Request Timeout", 413: b"Content Too Large", 431: b"Request Header Fields Too Large",
           500: b"Internal Server Error"}


class HttpError(Exception):
    """A request answered with ``status`` and ``message`` as its body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Request:
    method: str
    target: str  # as sent: the path and the query
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""

    @property
    def path(self) -> str:
        return urlsplit(self.target).path or "/"

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query)

    def header(self, name: str) -> bytes | None:
        """The last value of header ``name`` (any case), or None."""
        key = name.lower().encode()
        found = None
        for k, v in self.headers:
            if k.lower() == key:
                found = v
        return found

    @property
    def is_websocket_upgrade(self) -> bool:
        upgrade = (self.header("upgrade") or b"").lower()
        tokens = [t.strip() for t in (self.header("connection") or b"").lower().split(b",")]
        return upgrade == b"websocket" and b"upgrade" in tokens


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)


def text(status: int, message: str) -> Response:
    return Response(status, (message + "\n").encode())


class HeadReader:
    """Feeds a connection's first bytes to h11 until the request head is complete; keeps
    every byte (``buffered``) for the WebSocket path, which parses them again."""

    def __init__(self, max_head: int = MAX_HEAD_BYTES) -> None:
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=max_head)
        self.buffered = bytearray()
        self.head: Request | None = None

    def feed(self, data: bytes) -> Request | None:
        """Bytes received (``b""``: the peer closed); the request once its head is complete,
        else None (more is needed, or the peer closed before sending anything). Raises
        ``HttpError`` for a malformed or too large head, or one cut short."""
        self.buffered += data
        self.conn.receive_data(data)
        try:
            event = self.conn.next_event()
        except h11.RemoteProtocolError as e:
            raise HttpError(e.error_status_hint, f"malformed HTTP request: {e}") from None
        if event is h11.NEED_DATA or isinstance(event, h11.ConnectionClosed):
            return None
        if not isinstance(event, h11.Request):  # (a server's first event is a request or an error)
            raise HttpError(400, "malformed HTTP request")
        self.head = Request(event.method.decode("ascii", "replace"), event.target.decode("ascii", "replace"),
                            list(event.headers))
        return self.head

    def feed_body(self, data: bytes) -> None:
        """More of the request's body (``b""``: the peer closed)."""
        self.conn.receive_data(data)

    def body_complete(self) -> bool:
        """Whether the whole body is in ``head.body`` (False: feed more). Raises ``HttpError``
        for a malformed body, one cut short, or one over ``MAX_BODY_BYTES``."""
        assert self.head is not None
        while True:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError as e:
                raise HttpError(e.error_status_hint, f"malformed HTTP request body: {e}") from None
            if event is h11.NEED_DATA:
                return False
            if isinstance(event, h11.Data):
                self.head.body += bytes(event.data)
                if len(self.head.body) > MAX_BODY_BYTES:
                    raise HttpError(413, f"a request body over {MAX_BODY_BYTES} bytes")
                continue
            if isinstance(event, h11.ConnectionClosed):
                raise HttpError(400, "the connection closed before the request body was complete")
            return True  # EndOfMessage (or PAUSED after it)


def response_bytes(response: Response, *, head_only: bool = False) -> bytes:
    """The whole response (closing the connection after it) as bytes."""
    conn = h11.Connection(h11.SERVER)
    # (h11 answers only a request it has seen: give it a minimal one, HEAD to send no body)
    conn.receive_data(b"HEAD" if head_only else b"GET")
    conn.receive_data(b" / HTTP/1.1\r\nHost: x\r\n\r\n")
    conn.next_event()
    conn.next_event()
    headers = [("Content-Type", response.content_type), ("Content-Length", str(len(response.body))),
               ("Connection", "close"), *response.headers]
    out = conn.send(h11.Response(status_code=response.status, headers=headers,
                                 reason=REASONS.get(response.status, b"")))
    assert out is not None
    if not head_only and response.body:
        out += conn.send(h11.Data(data=response.body)) or b""
    return out + (conn.send(h11.EndOfMessage()) or b"")


#: A handler answers at once, or (an ``async def``) awaits what it needs first, e.g. other nodes.
Handler = Callable[[Request], Response | Awaitable[Response]]


@dataclass(frozen=True)
class Route:
    """``handler(request) -> Response``; ``public``: served without the cluster token;
    ``page``: a browser's page, which sends a visitor without a login to ``/login``."""

    handler: Handler
    public: bool = False
    page: bool = False


class Router:
    """``(method, path) -> Route``, as data. Authentication is ``authenticated(request)``: the
    cluster token as a bearer header, or the dashboard's login cookie signed with it."""

    def __init__(self, routes: dict[tuple[str, str], Route], token: str | None,
                 bearer_ok: Callable[[list[tuple[bytes, bytes]], str], bool]) -> None:
        self.routes = dict(routes)
        self.token = token
        self._bearer_ok = bearer_ok

    def authenticated(self, request: Request) -> bool:
        if self.token is None:
            return True
        return self._bearer_ok(request.headers, self.token) or session_ok(request.header("cookie"), self.token,
                                                                           time.time())

    def respond(self, request: Request) -> Response:
        """The answer to ``request`` from a synchronous handler (an ``async`` one: a 500; the
        listener calls ``respond_async``)."""
        outcome = self._dispatch(request)
        if inspect.isawaitable(outcome):
            if inspect.iscoroutine(outcome):
                outcome.close()
            return text(500, "internal error: an async route answered synchronously")
        return outcome

    async def respond_async(self, request: Request) -> Response:
        """The answer to ``request``, awaiting an ``async`` handler's."""
        outcome = self._dispatch(request)
        if not inspect.isawaitable(outcome):
            return outcome
        try:
            return await outcome
        except HttpError as e:
            return text(e.status, str(e))
        except Exception:
            log.exception("internal error answering %s %s", request.method, request.path)
            return text(500, "internal error; see the node's log")

    def _dispatch(self, request: Request) -> Response | Awaitable[Response]:
        method = "GET" if request.method == "HEAD" else request.method
        route = self.routes.get((method, request.path))
        if route is None:
            if any(path == request.path for _m, path in self.routes):
                allowed = ", ".join(sorted(m for m, p in self.routes if p == request.path))
                return Response(405, b"method not allowed\n", headers=[("Allow", allowed)])
            return text(404, f"no such page: {request.path}")
        if not route.public and not self.authenticated(request):
            if route.page:
                return Response(303, b"log in first: /login\n", headers=[("Location", "/login"), ("Cache-Control", "no-store")])
            return Response(401, b"invalid or missing cluster token: send Authorization: Bearer <token>\n",
                            headers=[("WWW-Authenticate", 'Bearer realm="edgeray"')])
        try:
            return route.handler(request)
        except HttpError as e:
            return text(e.status, str(e))
        except Exception:
            log.exception("internal error answering %s %s", request.method, request.path)
            return text(500, "internal error; see the node's log")


async def serve_http(stream: Any, reader: HeadReader, router: Router | None, receive_bytes: int) -> None:
    """Answer the request whose head ``reader`` holds on ``stream`` (I/O only: the body read,
    the response sent). The caller bounds it in time and closes the stream after it."""
    request = reader.head
    assert request is not None
    try:
        while not reader.body_complete():
            reader.feed_body(await stream.receive_some(receive_bytes))
        response = text(404, "this node serves no HTTP pages") if router is None else await router.respond_async(request)
    except HttpError as e:
        response = text(e.status, str(e))
    await stream.send_all(response_bytes(response, head_only=request.method == "HEAD"))
