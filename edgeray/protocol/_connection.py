"""The per-connection state machine: authenticate first, then exchange messages.

A ``Connection`` is fed whole frames (from ``FrameDecoder`` on a stream, or one WebSocket
message each) and returns validated messages. The server side accepts nothing but a ``Hello``
carrying the right token until it has authenticated the peer, and it refuses large frames before
that, so nothing from an unauthenticated peer is decoded beyond the handshake or ever unpickled.
"""

from __future__ import annotations

import enum
import hmac

from ..exceptions import AuthenticationError, ProtocolError, VersionMismatchError
from . import _messages
from ._messages import (
    PROTOCOL_VERSION,
    Hello,
    Message,
    Refused,
    Welcome,
    decode_message,
    encode_message,
)
from ._plain import loads_strict

#: how a refusal for another edgeray release begins (Ray's words)
VERSION_MISMATCH = "Version mismatch"
#: the largest frame accepted before authentication (a Hello is tiny)
PRE_AUTH_MAX_FRAME = 64 * 1024


def decode_pre_auth(data: bytes) -> Message:
    """Decode a handshake frame: the only decoding bytes get before their sender is known
    (a server's first frame from a client, a client's first frame from a server).

    It uses the strict decoder (``_plain.loads_strict``): no CBOR tag, indefinite length or
    simple value is acted on before the token is checked."""
    return decode_message(data, loads_strict)


class Role(enum.Enum):
    CLIENT = "client"
    SERVER = "server"


class State(enum.Enum):
    HANDSHAKE = "handshake"
    OPEN = "open"
    CLOSED = "closed"


class Connection:
    """One side of a connection.

    Server: ``receive(frame)`` on the first frame returns the authenticated ``Hello`` (or raises
    ``AuthenticationError``/``ProtocolError``); the server then sends ``Welcome`` with ``send``.
    Client: ``hello(...)`` gives the first frame; the first frame received must be ``Welcome``
    (``Refused`` raises ``AuthenticationError``).
    """

    def __init__(self, role: Role, *, token: str | None, max_frame: int) -> None:
        self.role = role
        self.max_frame = max_frame
        self._token = token
        self.state = State.HANDSHAKE
        self.peer_hello: Hello | None = None

    # -- sending --------------------------------------------------------------------------
    def hello(self, role: str, pid: int, **fields: object) -> bytes:
        if self.role is not Role.CLIENT:
            raise ProtocolError("only a client sends hello")
        msg = Hello(token=self._token or "", role=role, pid=pid, version=PROTOCOL_VERSION,
                    release=_messages.RELEASE, **fields)  # type: ignore[arg-type]
        return encode_message(msg)

    def send(self, msg: Message) -> bytes:
        if self.state is State.CLOSED:
            raise ProtocolError("connection is closed")
        if self.state is State.HANDSHAKE:
            if self.role is Role.SERVER and isinstance(msg, Refused):
                self.state = State.CLOSED
            elif self.role is Role.SERVER and isinstance(msg, Welcome) and self.peer_hello is not None:
                self.state = State.OPEN
            else:
                raise ProtocolError(f"cannot send {msg.TAG} before the handshake completes")
        return encode_message(msg)

    # -- receiving ------------------------------------------------------------------------
    def receive(self, data: bytes) -> Message:
        if self.state is State.OPEN:
            if len(data) > self.max_frame:
                raise ProtocolError(f"frame of {len(data)} bytes exceeds {self.max_frame}")
            return decode_message(data)
        if self.state is State.CLOSED:
            raise ProtocolError("connection is closed")
        return self._receive_handshake(data)

    def _receive_handshake(self, data: bytes) -> Message:
        if self.role is Role.SERVER:
            if len(data) > PRE_AUTH_MAX_FRAME:
                self.state = State.CLOSED
                raise ProtocolError("handshake frame too large")
            try:
                msg = decode_pre_auth(data)
            except ProtocolError:
                self.state = State.CLOSED
                raise
            if not isinstance(msg, Hello):
                self.state = State.CLOSED
                raise ProtocolError(f"expected hello, got {msg.TAG}")
            if msg.version != PROTOCOL_VERSION:
                self.state = State.CLOSED
                raise ProtocolError(f"protocol version {msg.version} not supported (want {PROTOCOL_VERSION})")
            if self._token is not None and not hmac.compare_digest(msg.token.encode(), self._token.encode()):
                self.state = State.CLOSED
                raise AuthenticationError("invalid cluster token")
            if msg.release is not None and msg.release != _messages.RELEASE:  # (after the token: told only to members)
                self.state = State.CLOSED
                raise VersionMismatchError(
                    f"{VERSION_MISMATCH}: the node runs edgeray {_messages.RELEASE}, the {msg.role} connecting to "
                    f"it (pid {msg.pid}) edgeray {msg.release}. Run the same edgeray version on every node and "
                    "driver."
                )
            self.peer_hello = msg
            return msg
        msg = decode_pre_auth(data)
        if isinstance(msg, Refused):
            self.state = State.CLOSED
            if msg.reason.startswith(VERSION_MISMATCH):
                raise VersionMismatchError(msg.reason)
            raise AuthenticationError(f"connection refused by the node: {msg.reason}")
        if not isinstance(msg, Welcome):
            self.state = State.CLOSED
            raise ProtocolError(f"expected welcome, got {msg.TAG}")
        self.state = State.OPEN
        return msg

    def close(self) -> None:
        self.state = State.CLOSED
