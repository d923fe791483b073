"""The handshake state machine, as a client/server pair with bytes passed by hand (no sockets)."""

from __future__ import annotations

import os
import subprocess
import sys

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeray.exceptions import AuthenticationError, ProtocolError
from edgeray.protocol import (
    Call,
    Connection,
    Hello,
    Log,
    Refused,
    Reply,
    Role,
    SubmitTask,
    Welcome,
    decode_message,
    encode_message,
)
from edgeray.protocol._connection import PRE_AUTH_MAX_FRAME, State
from edgeray.protocol._messages import PROTOCOL_VERSION

TOKEN = "s3cret-token"
MAX = 1 << 20


def welcome() -> Welcome:
    return Welcome(
        node_id=b"n" * 16,
        worker_id=b"w" * 16,
        job_id=b"j" * 4,
        namespace="ns",
        arena=None,
        info={"k": 1},
    )


def pair(
    server_token: str | None = TOKEN, client_token: str | None = TOKEN
) -> tuple[Connection, Connection]:
    return Connection(Role.CLIENT, token=client_token, max_frame=MAX), Connection(
        Role.SERVER, token=server_token, max_frame=MAX
    )


def handshake(client: Connection, server: Connection) -> Hello:
    hello = server.receive(client.hello("driver", 1234, namespace="ns", info={"hostname": "h"}))
    assert isinstance(hello, Hello)
    got = client.receive(server.send(welcome()))
    assert got == welcome()
    return hello


def test_handshake_ok_then_messages_both_ways() -> None:
    client, server = pair()
    hello = handshake(client, server)
    assert hello.role == "driver" and hello.pid == 1234 and hello.namespace == "ns"
    assert hello.version == PROTOCOL_VERSION
    assert server.peer_hello == hello
    assert client.state is State.OPEN and server.state is State.OPEN

    call = Call(req=1, method="nodes", args={})
    assert server.receive(client.send(call)) == call
    reply = Reply(req=1, ok=True, value=[{"NodeID": "x"}])
    assert client.receive(server.send(reply)) == reply
    log = Log(job_id=b"j" * 4, name="f", pid=1, lines=["a", "b"])
    assert client.receive(server.send(log)) == log


def test_no_token_configured_accepts_any_token() -> None:
    client, server = pair(server_token=None, client_token="whatever")
    handshake(client, server)


def test_client_without_token_sends_empty_token() -> None:
    client, server = pair(client_token=None)
    msg = decode_message(client.hello("driver", 1))
    assert isinstance(msg, Hello) and msg.token == ""
    with pytest.raises(AuthenticationError):
        server.receive(client.hello("driver", 1))


@pytest.mark.parametrize("bad", ["", "s3cret-tokeN", "s3cret-token ", "x" * 200, "s3cret"])
def test_wrong_token_is_an_authentication_error(bad: str) -> None:
    client, server = pair(client_token=bad)
    with pytest.raises(AuthenticationError):
        server.receive(client.hello("driver", 1))
    assert server.state is State.CLOSED
    assert server.peer_hello is None
    # nothing more is accepted on that connection
    with pytest.raises(ProtocolError):
        server.receive(client.hello("driver", 1))


def test_non_hello_first_frame_is_a_protocol_error() -> None:
    server = Connection(Role.SERVER, token=TOKEN, max_frame=MAX)
    with pytest.raises(ProtocolError, match="hello"):
        server.receive(encode_message(Call(req=1, method="nodes", args={})))
    assert server.state is State.CLOSED


@pytest.mark.parametrize(
    "first", [b"", b"\x00garbage", cbor2.dumps({"t": "hello"}), cbor2.dumps([1, 2])]
)
def test_garbage_first_frame_is_a_protocol_error(first: bytes) -> None:
    server = Connection(Role.SERVER, token=TOKEN, max_frame=MAX)
    with pytest.raises(ProtocolError):
        server.receive(first)
    assert server.state is State.CLOSED


def test_wrong_protocol_version_is_refused() -> None:
    server = Connection(Role.SERVER, token=TOKEN, max_frame=MAX)
    hello = Hello(token=TOKEN, role="driver", pid=1, version=PROTOCOL_VERSION + 99)
    with pytest.raises(ProtocolError, match="version"):
        server.receive(encode_message(hello))
    assert server.state is State.CLOSED


def test_large_pre_auth_frame_refused_before_decoding() -> None:
    """Even a well-formed Hello with the right token is refused when it is too large."""
    server = Connection(Role.SERVER, token=TOKEN, max_frame=64 << 20)
    big = Hello(
        token=TOKEN,
        role="driver",
        pid=1,
        version=PROTOCOL_VERSION,
        info={"pad": "x" * PRE_AUTH_MAX_FRAME},
    )
    data = encode_message(big)
    assert len(data) > PRE_AUTH_MAX_FRAME
    with pytest.raises(ProtocolError, match="large"):
        server.receive(data)
    assert server.state is State.CLOSED
    assert server.peer_hello is None


def test_large_pre_auth_garbage_not_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The size check comes before any CBOR decoding."""
    import edgeray.protocol._connection as conn_mod

    def boom(data: bytes) -> None:
        raise AssertionError("decoded a pre-auth frame larger than the limit")

    monkeypatch.setattr(conn_mod, "decode_message", boom)
    server = Connection(Role.SERVER, token=TOKEN, max_frame=64 << 20)
    with pytest.raises(ProtocolError):
        server.receive(b"\xa1" + b"x" * (PRE_AUTH_MAX_FRAME + 1))


def test_frame_over_max_frame_after_auth() -> None:
    client = Connection(Role.CLIENT, token=TOKEN, max_frame=1000)
    server = Connection(Role.SERVER, token=TOKEN, max_frame=1000)
    handshake(client, server)
    small = client.send(Call(req=1, method="m", args={}))
    assert server.receive(small).req == 1  # type: ignore[attr-defined]
    big = client.send(Call(req=2, method="m", args={"pad": "x" * 2000}))
    with pytest.raises(ProtocolError):
        server.receive(big)
    with pytest.raises(ProtocolError):
        client.receive(server.send(Reply(req=1, ok=True, value="y" * 2000)))


def test_refused_raises_authentication_error_on_client() -> None:
    client, _ = pair()
    client.hello("driver", 1)
    refused_server = Connection(Role.SERVER, token=None, max_frame=MAX)
    data = refused_server.send(Refused(reason="invalid cluster token"))
    with pytest.raises(AuthenticationError, match="invalid cluster token"):
        client.receive(data)
    assert client.state is State.CLOSED
    with pytest.raises(ProtocolError):
        client.send(Call(req=1, method="nodes", args={}))


def test_client_expects_welcome_first() -> None:
    client, _ = pair()
    client.hello("driver", 1)
    with pytest.raises(ProtocolError, match="welcome"):
        client.receive(encode_message(Reply(req=1, ok=True)))
    assert client.state is State.CLOSED


def test_send_before_handshake_is_refused() -> None:
    client, server = pair()
    with pytest.raises(ProtocolError):
        client.send(Call(req=1, method="nodes", args={}))
    with pytest.raises(ProtocolError):
        client.send(SubmitTask(spec=b""))
    with pytest.raises(ProtocolError):
        server.send(Reply(req=1, ok=True))
    # a client never sends Welcome, even during the handshake
    with pytest.raises(ProtocolError):
        client.send(welcome())


def test_only_a_client_says_hello() -> None:
    server = Connection(Role.SERVER, token=TOKEN, max_frame=MAX)
    with pytest.raises(ProtocolError):
        server.hello("driver", 1)


def test_server_cannot_welcome_before_authenticating() -> None:
    server = Connection(Role.SERVER, token=TOKEN, max_frame=MAX)
    with pytest.raises(ProtocolError):
        server.send(welcome())


def test_refused_closes_the_server_side() -> None:
    server = Connection(Role.SERVER, token=TOKEN, max_frame=MAX)
    server.send(Refused(reason="no"))
    assert server.state is State.CLOSED
    with pytest.raises(ProtocolError):
        server.send(Reply(req=1, ok=True))


def test_close_stops_everything() -> None:
    client, server = pair()
    handshake(client, server)
    client.close()
    with pytest.raises(ProtocolError):
        client.send(Call(req=1, method="m", args={}))
    with pytest.raises(ProtocolError):
        client.receive(server.send(Reply(req=1, ok=True)))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_server_handshake_fuzz(first: bytes) -> None:
    """Any first frame: the server authenticates only a Hello with the right token."""
    server = Connection(Role.SERVER, token=TOKEN, max_frame=MAX)
    try:
        msg = server.receive(first)
    except (ProtocolError, AuthenticationError):
        assert server.state is State.CLOSED
        return
    assert isinstance(msg, Hello) and msg.token == TOKEN


def test_protocol_package_imports_no_trio_in_isolation() -> None:
    """edgeray/protocol on its own (the top-level package stubbed out) imports no trio."""
    code = (
        "import sys, types, importlib.util, os\n"
        "spec = importlib.util.find_spec('edgeray')\n"
        "pkg = types.ModuleType('edgeray'); pkg.__path__ = list(spec.submodule_search_locations)\n"
        "sys.modules['edgeray'] = pkg\n"
        "import edgeray.protocol\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('trio', 'trio_websocket', 'socket', 'asyncio')"
        " or (m.startswith('edgeray.') and m.split('.')[1] not in ('protocol', 'exceptions')))\n"
        "assert not bad, bad\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_import_edgeray_protocol_imports_no_trio() -> None:
    """The check as a user would write it (the top-level package is imported too)."""
    r = subprocess.run(
        [sys.executable, "-c", "import edgeray.protocol, sys; assert 'trio' not in sys.modules"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ},
    )
    assert r.returncode == 0, r.stderr


def test_the_release_is_edgerays_version_and_every_hello_says_it() -> None:
    import edgeray
    from edgeray.protocol import _messages

    assert _messages.RELEASE == edgeray.__version__
    client, server = pair()
    assert handshake(client, server).release == edgeray.__version__


def test_a_hello_from_another_release_is_refused_naming_both(monkeypatch: pytest.MonkeyPatch) -> None:
    from edgeray.exceptions import VersionMismatchError
    from edgeray.protocol import _messages

    client, server = pair()
    with monkeypatch.context() as patch:
        patch.setattr(_messages, "RELEASE", "9.9.9")
        hello = client.hello("driver", 1234)
    with pytest.raises(VersionMismatchError) as info:
        server.receive(hello)
    assert f"the node runs edgeray {_messages.RELEASE}" in str(info.value)
    assert "the driver connecting to it (pid 1234) edgeray 9.9.9" in str(info.value)
    assert isinstance(info.value, RuntimeError) and server.state is State.CLOSED
    refusal = Connection(Role.SERVER, token=None, max_frame=MAX).send(Refused(str(info.value)))
    with pytest.raises(VersionMismatchError, match="9.9.9"):  # the client raises it too, not AuthenticationError
        client.receive(refusal)
    # a wrong token is refused for the token, before the version is told
    client, server = pair(client_token="wrong")
    with monkeypatch.context() as patch:
        patch.setattr(_messages, "RELEASE", "9.9.9")
        hello = client.hello("driver", 1234)
    with pytest.raises(AuthenticationError):
        server.receive(hello)
