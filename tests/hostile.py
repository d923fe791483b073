"""A hand-driven, blocking client of a running node, for tests that act as a hostile peer.

``RawClient.connect(address, token)`` opens the node's Unix socket (or WebSocket) with the
sans-I/O ``Connection``; ``handshake(role)`` authenticates; ``send`` writes any message, even
one the real client would never build; ``send_map`` writes a raw CBOR map (fields the message
classes would refuse to encode); ``call`` waits for its reply; ``closed_reason()`` reads until
the node ends the connection and returns the reason of its ``Shutdown`` (or None).
"""

from __future__ import annotations

import os
from typing import Any

import cbor2

from edgeray.protocol import (
    Call,
    Connection,
    Message,
    Reply,
    Role,
    Shutdown,
    Welcome,
    decode_message,
)
from edgeray.transport import connect_blocking

MAX_FRAME = 64 << 20


class RawClient:
    def __init__(self, chan: Any, token: str | None) -> None:
        self.chan = chan
        self.conn = Connection(Role.CLIENT, token=token, max_frame=MAX_FRAME)
        self.req = 0
        self.welcome: Welcome | None = None

    @classmethod
    def connect(cls, address: str, token: str | None) -> RawClient:
        return cls(connect_blocking(address, token=token, max_frame=MAX_FRAME), token)

    def handshake(self, role: str = "driver", **fields: Any) -> Welcome:
        fields.setdefault("info", {"hostname": "not-this-host"})
        self.chan.send_frame(self.conn.hello(role, os.getpid(), **fields))
        f = self.chan.receive_frame()
        assert f is not None, "the node closed the connection during the handshake"
        msg = self.conn.receive(f)
        assert isinstance(msg, Welcome)
        self.welcome = msg
        return msg

    def send(self, msg: Message) -> None:
        self.chan.send_frame(self.conn.send(msg))

    def send_map(self, tag: str, **fields: Any) -> None:
        """A message as a raw CBOR map (``value_sharing`` so that tests can send tags 28/29)."""
        self.chan.send_frame(cbor2.dumps({"t": tag, **fields}, value_sharing=True))

    def receive(self) -> Message | None:
        f = self.chan.receive_frame()
        return None if f is None else decode_message(f)

    def call(self, method: str, args: dict[str, Any] | None = None) -> Reply:
        self.req += 1
        self.send(Call(self.req, method, args or {}))
        while True:
            msg = self.receive()
            assert msg is not None, f"the node closed the connection instead of answering {method}"
            if isinstance(msg, Reply) and msg.req == self.req:
                return msg

    def closed_reason(self) -> str | None:
        """Read until the node closes the connection; the reason it gave, if any."""
        reason = None
        while (msg := self.receive()) is not None:
            if isinstance(msg, Shutdown):
                reason = msg.reason
        return reason

    def close(self) -> None:
        self.chan.close()
