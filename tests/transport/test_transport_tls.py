"""``wss://``: the Trio server with a TLS context against the blocking client drivers use (TLS
over memory BIOs, thread-safe sends) and the Trio client node links use; certificates from
throwaway ``trustme`` CAs. Plus the token header's details (RFC 7235: the scheme's case)."""

from __future__ import annotations

import os
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trio_websocket
import trustme

from edgeray.exceptions import AuthenticationError, RaySystemError
from edgeray.transport import (
    ListenLimits,
    TlsFiles,
    client_context,
    connect_blocking,
    open_ws_channel,
    serve_ws,
    server_context,
)

pytestmark = pytest.mark.timeout(60)

TOKEN = "tls-test-token"
MAX = 4 << 20
PAYLOADS = [b"", b"a", b"hello world", os.urandom(100_000), os.urandom(3 << 20)]


async def echo(channel) -> None:
    try:
        while (f := await channel.receive_frame()) is not None:
            await channel.send_frames([f, f[::-1]])
    finally:
        await channel.aclose()


class Pki:
    """A CA, the server's certificate for 127.0.0.1, a client certificate, as PEM files."""

    def __init__(self, root: Path) -> None:
        self.ca = trustme.CA()
        self.ca_file = str(root / "ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_file)
        self.server = self._issue(root, "server", "127.0.0.1", "localhost")
        self.client = self._issue(root, "client", "driver.example")

    def _issue(self, root: Path, name: str, *identities: str) -> TlsFiles:
        cert = self.ca.issue_cert(*identities)
        cert_file, key_file = str(root / f"{name}.pem"), str(root / f"{name}.key")
        cert.cert_chain_pems[0].write_to_path(cert_file)
        cert.private_key_pem.write_to_path(key_file)
        return TlsFiles(cert_file=cert_file, key_file=key_file, ca_file=self.ca_file)


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


async def start_server(nursery: trio.Nursery, pki: Pki, *, mutual: bool = False, limits: ListenLimits | None = None) -> str:
    ctx = server_context(pki.server, require_client_cert=mutual)
    port = await nursery.start(
        lambda task_status: serve_ws(
            "127.0.0.1", 0, echo, token=TOKEN, max_frame=MAX, ssl_context=ctx,
            limits=limits or ListenLimits(), task_status=task_status,
        )
    )
    return f"wss://127.0.0.1:{port}"


@pytest.fixture
async def wss_server(nursery: trio.Nursery, pki: Pki) -> AsyncIterator[str]:
    yield await start_server(nursery, pki)


def exchange(address: str, payloads: list[bytes], ctx: ssl.SSLContext | None = None, token: str = TOKEN) -> list[bytes]:
    chan = connect_blocking(address, token=token, max_frame=MAX, ssl_context=ctx)
    try:
        chan.send_frames(payloads)
        return [chan.receive_frame() for _ in range(2 * len(payloads))]  # type: ignore[misc]
    finally:
        chan.close()


async def test_blocking_client_round_trip_over_wss(wss_server: str, pki: Pki) -> None:
    ctx = client_context(TlsFiles(ca_file=pki.ca_file))
    got = await trio.to_thread.run_sync(exchange, wss_server, PAYLOADS, ctx)
    assert got == [x for p in PAYLOADS for x in (p, p[::-1])]


async def test_blocking_client_sends_from_many_threads_over_wss(wss_server: str, pki: Pki) -> None:
    ctx = client_context(TlsFiles(ca_file=pki.ca_file))
    chan = await trio.to_thread.run_sync(
        lambda: connect_blocking(wss_server, token=TOKEN, max_frame=MAX, ssl_context=ctx)
    )
    payloads = [bytes([i]) * (50_000 + i) for i in range(30)]
    got: list[bytes | None] = []

    def receive_all() -> None:
        got.extend(chan.receive_frame() for _ in range(2 * len(payloads)))

    async with trio.open_nursery() as n:
        n.start_soon(trio.to_thread.run_sync, receive_all)
        for p in payloads:
            n.start_soon(trio.to_thread.run_sync, chan.send_frame, p)
    chan.close()
    assert sorted(got[0::2]) == sorted(payloads)  # type: ignore[type-var]


@pytest.mark.parametrize("ca_var", ["EDGERAY_TLS_CA_FILE", "RAY_TLS_CA_CERT"])
async def test_blocking_client_takes_the_ca_from_the_environment(
    wss_server: str, pki: Pki, monkeypatch: pytest.MonkeyPatch, ca_var: str
) -> None:
    monkeypatch.setenv(ca_var, pki.ca_file)
    assert await trio.to_thread.run_sync(exchange, wss_server, [b"x"]) == [b"x", b"x"]


async def test_a_wrong_ca_is_refused_with_a_clear_error(wss_server: str, tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    other = Pki(tmp_path / "other")
    ctx = client_context(TlsFiles(ca_file=other.ca_file))
    with pytest.raises(RaySystemError, match="could not be verified.*CA"):
        await trio.to_thread.run_sync(exchange, wss_server, [b"x"], ctx)
    # and the server still serves a client that trusts its CA
    good = client_context(TlsFiles(ca_file=str(tmp_path / "ca.pem")))
    assert await trio.to_thread.run_sync(exchange, wss_server, [b"y"], good) == [b"y", b"y"]


async def test_the_system_cas_do_not_trust_a_private_ca(wss_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("EDGERAY_TLS_CA_FILE", "RAY_TLS_CA_CERT"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(RaySystemError, match="could not be verified"):
        await trio.to_thread.run_sync(exchange, wss_server, [b"x"])


async def test_a_plain_ws_client_on_a_tls_port_fails_cleanly(wss_server: str, pki: Pki) -> None:
    with pytest.raises((RaySystemError, OSError)):
        await trio.to_thread.run_sync(exchange, wss_server.replace("wss://", "ws://"), [b"x"])
    ctx = client_context(TlsFiles(ca_file=pki.ca_file))
    assert await trio.to_thread.run_sync(exchange, wss_server, [b"x"], ctx) == [b"x", b"x"]


async def test_mutual_tls_refuses_a_client_without_a_certificate(nursery: trio.Nursery, pki: Pki) -> None:
    address = await start_server(nursery, pki, mutual=True)
    bare = client_context(TlsFiles(ca_file=pki.ca_file))
    with pytest.raises(RaySystemError, match="client certificate"):
        await trio.to_thread.run_sync(exchange, address, [b"x"], bare)
    with_cert = client_context(pki.client)
    assert await trio.to_thread.run_sync(exchange, address, [b"x"], with_cert) == [b"x", b"x"]


async def test_mutual_tls_client_certificate_from_the_environment(
    nursery: trio.Nursery, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    address = await start_server(nursery, pki, mutual=True)
    monkeypatch.setenv("EDGERAY_TLS_CA_FILE", pki.ca_file)
    monkeypatch.setenv("RAY_TLS_SERVER_CERT", pki.client.cert_file)  # Ray's names as fallbacks
    monkeypatch.setenv("RAY_TLS_SERVER_KEY", pki.client.key_file)
    assert await trio.to_thread.run_sync(exchange, address, [b"z"]) == [b"z", b"z"]


async def test_trio_client_over_wss(wss_server: str, pki: Pki) -> None:
    ctx = client_context(TlsFiles(ca_file=pki.ca_file))
    with trio.fail_after(20):
        async with open_ws_channel(wss_server, token=TOKEN, max_frame=MAX, ssl_context=ctx) as ch:
            await ch.send_frames([b"abc"])
            assert await ch.receive_frame() == b"abc"
            assert await ch.receive_frame() == b"cba"


async def test_trio_client_with_a_wrong_ca_fails(wss_server: str, tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    other = Pki(tmp_path / "other")
    ctx = client_context(TlsFiles(ca_file=other.ca_file))
    with trio.fail_after(20), pytest.raises(ConnectionError, match="could not be verified"):
        async with open_ws_channel(wss_server, token=TOKEN, max_frame=MAX, ssl_context=ctx):
            pass


async def test_a_peer_that_never_starts_tls_is_closed_after_the_handshake_timeout(
    nursery: trio.Nursery, pki: Pki
) -> None:
    address = await start_server(nursery, pki, limits=ListenLimits(handshake_timeout_s=0.3))
    port = int(address.rsplit(":", 1)[1])
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    with trio.fail_after(20):
        assert await stream.receive_some(1) == b""  # closed by the server, nothing sent
    await stream.aclose()


def test_missing_files_are_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RaySystemError, match="tls.cert_file"):
        server_context(TlsFiles(cert_file=str(tmp_path / "no.pem"), key_file=str(tmp_path / "no.key")), require_client_cert=False)
    with pytest.raises(RaySystemError, match="ca_file"):
        client_context(TlsFiles(ca_file=str(tmp_path / "none.pem")))


# --------------------------------------------------------------------------- the token header


@pytest.fixture
async def ws_server(nursery: trio.Nursery) -> AsyncIterator[str]:
    port = await nursery.start(
        lambda task_status: serve_ws("127.0.0.1", 0, echo, token=TOKEN, max_frame=MAX, task_status=task_status)
    )
    yield f"ws://127.0.0.1:{port}"


@pytest.mark.parametrize("scheme", [b"Bearer", b"bearer", b"BEARER", b"bEaReR"])
async def test_bearer_scheme_is_case_insensitive(ws_server: str, scheme: bytes) -> None:
    with trio.fail_after(20):
        async with trio_websocket.open_websocket_url(
            ws_server, extra_headers=[(b"Authorization", scheme + b" " + TOKEN.encode())]
        ) as ws:
            await ws.send_message(b"hi")
            assert await ws.get_message() == b"hi"


@pytest.mark.parametrize("auth", [b"Basic " + TOKEN.encode(), TOKEN.encode(), b"Bearer", b"Bearer  x" + TOKEN.encode()])
async def test_other_authorization_forms_are_refused(ws_server: str, auth: bytes) -> None:
    with trio.fail_after(20), pytest.raises(trio_websocket.ConnectionRejected) as info:
        async with trio_websocket.open_websocket_url(ws_server, extra_headers=[(b"Authorization", auth)]):
            pass
    assert info.value.status_code == 401


async def test_blocking_client_401_is_an_authentication_error(ws_server: str) -> None:
    with pytest.raises(AuthenticationError):
        await trio.to_thread.run_sync(lambda: exchange(ws_server, [b"x"], None, "wrong"))
