"""Plain HTTP on the WebSocket listener: the sans-I/O parts (``HeadReader``, ``Router``,
``response_bytes``) with bytes in and bytes out, then a real listener answering HTTP requests
and WebSocket clients on one port, malformed requests included."""

from __future__ import annotations

import http.client
import socket
from collections.abc import AsyncIterator

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from edgeray.transport import (
    Request,
    Response,
    Route,
    Router,
    bearer_ok,
    connect_blocking,
    serve_ws,
)
from edgeray.transport._http import MAX_HEAD_BYTES, HeadReader, HttpError, response_bytes

pytestmark = pytest.mark.timeout(60)

TOKEN = "http-test-token"
MAX = 4 << 20


def _router() -> Router:
    def hello(req: Request) -> Response:
        return Response(200, f"hello {req.query.get('who', ['?'])[0]}".encode())

    def echo(req: Request) -> Response:
        return Response(200, req.body, content_type="application/octet-stream")

    def broken(req: Request) -> Response:
        raise RuntimeError("a bug")

    return Router({
        ("GET", "/hello"): Route(hello),
        ("POST", "/echo"): Route(echo),
        ("GET", "/api/version"): Route(lambda r: Response(200, b"{}"), public=True),
        ("GET", "/broken"): Route(broken),
    }, TOKEN, bearer_ok)


def _head(data: bytes) -> Request | None:
    reader = HeadReader()
    request = None
    for i in range(len(data)):  # one byte at a time: the head may arrive in any pieces
        request = reader.feed(data[i:i + 1]) or request
    return request


AUTH = b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"


def test_head_reader_reads_a_request_in_pieces() -> None:
    req = _head(b"GET /hello?who=you HTTP/1.1\r\nHost: x\r\n" + AUTH + b"\r\n")
    assert req is not None and req.method == "GET" and req.path == "/hello" and req.query == {"who": ["you"]}
    assert req.header("authorization") == b"Bearer " + TOKEN.encode() and not req.is_websocket_upgrade


def test_head_reader_sees_a_websocket_upgrade_and_keeps_the_bytes() -> None:
    raw = (b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n\x81\x00")
    reader = HeadReader()
    req = reader.feed(raw)
    assert req is not None and req.is_websocket_upgrade and bytes(reader.buffered) == raw


@pytest.mark.parametrize("raw", [b"NOT HTTP AT ALL\r\n\r\n", b"GET / HTTP/1.1\r\nbad header\r\n\r\n",
                                 b"GET / HTTP/1.1\r\n\r\n",  # (HTTP/1.1 requires Host)
                                 b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"])
def test_head_reader_refuses_malformed_requests(raw: bytes) -> None:
    with pytest.raises(HttpError) as e:
        HeadReader().feed(raw)
    assert e.value.status == 400


_VALID = b"GET /hello HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"


@given(st.binary(max_size=512) | st.builds(lambda i, b: _VALID[:i] + b + _VALID[i:],
                                            st.integers(0, len(_VALID)), st.binary(max_size=16)))
def test_head_reader_never_fails_otherwise(data: bytes) -> None:
    """Whatever a peer sends, the reader answers a request, "more", or an HTTP error."""
    reader = HeadReader()
    try:
        for i in range(0, len(data), 7):
            if reader.feed(data[i:i + 7]) is not None:
                break
        else:
            reader.feed(b"")
    except HttpError as e:
        assert 400 <= e.status < 500


def test_head_reader_bounds_the_head() -> None:
    reader = HeadReader()
    with pytest.raises(HttpError) as e:
        reader.feed(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (MAX_HEAD_BYTES + 1))
    assert e.value.status == 431


def test_router_routes_authenticates_and_contains_failures() -> None:
    router = _router()
    ok = Request("GET", "/hello?who=me", [(b"authorization", b"bearer " + TOKEN.encode())])
    assert router.respond(ok).body == b"hello me"
    assert router.respond(Request("GET", "/hello", [])).status == 401
    assert router.respond(Request("GET", "/hello", [(b"Authorization", b"Bearer wrong")])).status == 401
    assert router.respond(Request("GET", "/api/version", [])).status == 200  # public
    assert router.respond(Request("GET", "/nope", [])).status == 404
    refused = router.respond(Request("DELETE", "/hello", []))
    assert refused.status == 405 and ("Allow", "GET") in refused.headers
    assert router.respond(Request("GET", "/broken", [(b"Authorization", b"Bearer " + TOKEN.encode())])).status == 500


def test_response_bytes() -> None:
    out = response_bytes(Response(200, b"abc", content_type="text/plain; version=0.0.4"))
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and body == b"abc"
    assert b"content-length: 3" in head.lower() and b"connection: close" in head.lower()
    assert response_bytes(Response(200, b"abc"), head_only=True).endswith(b"\r\n\r\n")


# -- a real listener ------------------------------------------------------------------------

async def _echo(channel) -> None:
    try:
        while (f := await channel.receive_frame()) is not None:
            await channel.send_frames([f])
    finally:
        await channel.aclose()


@pytest.fixture
async def port(nursery) -> AsyncIterator[int]:
    yield await nursery.start(
        lambda task_status: serve_ws("127.0.0.1", 0, _echo, token=TOKEN, max_frame=MAX, http=_router(),
                                     task_status=task_status)
    )


def _get(port: int, method: str, path: str, headers: dict[str, str], body: bytes | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def _raw(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


async def test_http_and_websockets_share_the_port(port: int) -> None:
    bearer = {"Authorization": f"Bearer {TOKEN}"}

    def run() -> None:
        assert _get(port, "GET", "/hello?who=http", bearer) == (200, b"hello http")
        assert _get(port, "POST", "/echo", bearer, b"x" * 70000) == (200, b"x" * 70000)
        assert _get(port, "GET", "/hello", {})[0] == 401
        assert _get(port, "GET", "/missing", bearer)[0] == 404
        assert _raw(port, b"BLAH\r\n\r\n").startswith(b"HTTP/1.1 400 ")
        assert _raw(port, b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * (MAX_HEAD_BYTES * 2)).startswith(b"HTTP/1.1 431 ")
        chan = connect_blocking(f"ws://127.0.0.1:{port}", token=TOKEN, max_frame=MAX)  # the same port
        try:
            chan.send_frames([b"frame"])
            assert chan.receive_frame() == b"frame"
        finally:
            chan.close()
        assert _get(port, "GET", "/hello?who=again", bearer) == (200, b"hello again")  # still serving

    await trio.to_thread.run_sync(run)


async def test_https_where_the_listener_has_tls(nursery, tmp_path) -> None:
    import ssl

    import trustme

    from edgeray.transport import TlsFiles, server_context

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_file, key_file = tmp_path / "c.pem", tmp_path / "c.key"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    ctx = server_context(TlsFiles(cert_file=str(cert_file), key_file=str(key_file), ca_file=""), require_client_cert=False)
    port = await nursery.start(
        lambda task_status: serve_ws("127.0.0.1", 0, _echo, token=TOKEN, max_frame=MAX, ssl_context=ctx,
                                     http=_router(), task_status=task_status)
    )
    client = ssl.create_default_context()
    ca.configure_trust(client)

    def run() -> tuple[int, bytes]:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=client)
        try:
            conn.request("GET", "/hello?who=tls", headers={"Authorization": f"Bearer {TOKEN}"})
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    assert await trio.to_thread.run_sync(run) == (200, b"hello tls")


async def test_a_request_not_finished_by_the_deadline_is_closed(nursery) -> None:
    from edgeray.transport import ListenLimits

    port = await nursery.start(
        lambda task_status: serve_ws("127.0.0.1", 0, _echo, token=TOKEN, max_frame=MAX, http=_router(),
                                     limits=ListenLimits(handshake_timeout_s=0.5), task_status=task_status)
    )

    def slow() -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n")  # and never the end of the head
            return s.recv(4096)

    assert await trio.to_thread.run_sync(slow) == b""  # closed, without an answer
    assert await trio.to_thread.run_sync(lambda: _get(port, "GET", "/hello", {})[0]) == 401


async def test_an_async_route_is_awaited_and_its_errors_become_statuses() -> None:
    from edgeray.transport._http import text

    async def later(req: Request) -> Response:
        await trio.sleep(0)
        return text(200, "awaited")

    async def refuses(req: Request) -> Response:
        await trio.sleep(0)
        raise HttpError(404, "no such thing")

    async def breaks(req: Request) -> Response:
        await trio.sleep(0)
        raise RuntimeError("boom")

    router = Router({("GET", "/later"): Route(later, public=True), ("GET", "/refuses"): Route(refuses, public=True),
                     ("GET", "/breaks"): Route(breaks, public=True), ("GET", "/secret"): Route(later)},
                    TOKEN, bearer_ok)
    assert (await router.respond_async(Request("GET", "/later", []))).body == b"awaited\n"
    assert (await router.respond_async(Request("GET", "/refuses", []))).status == 404
    assert (await router.respond_async(Request("GET", "/breaks", []))).status == 500
    assert (await router.respond_async(Request("GET", "/secret", []))).status == 401
    assert router.respond(Request("GET", "/later", [])).status == 500  # (not awaited: refused, not hung)
