"""The wire protocol, sans-I/O (h11/wsproto style): bytes in, events out.

Rule: this package imports only the standard library, cbor2 and ``edgeray.exceptions``; never
trio, never a socket. Everything here is tested with a connection pair and no I/O.

- ``_messages``: every message type, its tag and its typed fields (validated on decode).
- ``_framing``: length-prefixed frames over byte streams, with a size limit.
- ``_connection``: the per-connection state machine: authentication handshake first, then messages.
- ``_ids``: object ids (a task's return values, a put's object): the one place that builds them.
"""

from ._connection import Connection, Role
from ._framing import FrameDecoder, frame
from ._ids import put_id, return_id, return_ids
from ._messages import *  # noqa: F403  (the message classes)
from ._messages import MESSAGE_TYPES, Message, decode_message, encode_message
from ._messages import __all__ as _message_names

__all__ = [
    "Connection",
    "Role",
    "FrameDecoder",
    "frame",
    "return_id",
    "return_ids",
    "put_id",
    "MESSAGE_TYPES",
    "Message",
    "decode_message",
    "encode_message",
    *_message_names,
]
