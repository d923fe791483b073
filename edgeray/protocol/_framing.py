"""Length-prefixed framing for byte streams: 4-byte big-endian length, then the payload."""

from __future__ import annotations

import struct

from ..exceptions import ProtocolError

_HEADER = struct.Struct(">I")
HEADER_SIZE = _HEADER.size


def frame(payload: bytes) -> bytes:
    """One frame: the length header followed by ``payload``."""
    return _HEADER.pack(len(payload)) + payload


class FrameDecoder:
    """Accumulates stream bytes and yields whole frames, refusing any over ``max_frame`` bytes.

    The limit is checked on the header, before the payload is buffered, so a peer cannot make us
    hold more than ``max_frame`` bytes of one frame.
    """

    def __init__(self, max_frame: int) -> None:
        self.max_frame = max_frame
        self._buf = bytearray()
        self._pos = 0

    def feed(self, data: bytes) -> None:
        if self._pos and self._pos == len(self._buf):
            self._buf.clear()
            self._pos = 0
        self._buf += data

    def next_frame(self) -> bytes | None:
        """The next complete frame, or None when more bytes are needed."""
        buf, pos = self._buf, self._pos
        if len(buf) - pos < HEADER_SIZE:
            return None
        (n,) = _HEADER.unpack_from(buf, pos)
        if n > self.max_frame:
            raise ProtocolError(f"frame of {n} bytes exceeds the limit of {self.max_frame} bytes")
        end = pos + HEADER_SIZE + n
        if len(buf) < end:
            return None
        payload = bytes(buf[pos + HEADER_SIZE : end])
        if end == len(buf):
            buf.clear()
            self._pos = 0
        else:
            self._pos = end
            if end > 1 << 20:  # compact now and then
                del buf[:end]
                self._pos = 0
        return payload

    @property
    def buffered(self) -> int:
        return len(self._buf) - self._pos
