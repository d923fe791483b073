"""Restricted CBOR: the plain values the protocol uses, and nothing else.

Every frame edgeray decodes holds only maps, arrays, byte and text strings, integers, finite
floats, booleans and null. CBOR can say much more, and a general decoder acts on it: semantic
tags build datetimes, decimals, regular expressions, sets and integers of any size; shared-value
tags 28/29 make one container appear twice or inside itself, which nothing downstream can encode
again. A value that reaches a handler has passed one of the two checks here:

- ``loads_strict(data)``: a small decoder of that subset alone, for frames from a peer that has
  not authenticated yet (its ``Hello``): a tag, an indefinite length, an undefined or simple
  value is refused before anything is built from it;
- ``loads_plain(data)``: cbor2's C decoder (fast), then one walk of the result refusing what is
  not plain: other types (what tags built), integers outside 64 bits, NaN and infinities, a
  container met twice (shared or cyclic), nesting deeper than ``MAX_DEPTH``, map keys that are
  not strings, byte strings or integers. Messages skip the whole walk (``loads_cbor``, then
  their schemas, which check exact types and bounds, and walk only the free-form parts with
  ``check_plain``): the same refusals for half the cost.

Both raise ``ProtocolError`` with what was wrong; neither imports anything but cbor2.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import cbor2

from ..exceptions import ProtocolError

MAX_DEPTH = 32
INT_LIMIT = 1 << 64
_LEAVES = frozenset({bytes, str, bool, type(None)})
_KEYS = frozenset({str, bytes, int})


def loads_cbor(data: bytes) -> Any:
    """Decode ``data`` with cbor2, nothing checked yet (the caller's schema must)."""
    try:
        return cbor2.loads(data)
    except Exception as e:  # cbor2 raises several types on garbage
        raise ProtocolError(f"undecodable frame: {e}") from None


def loads_plain(data: bytes) -> Any:
    """Decode ``data`` and check it holds plain values only (see the module header)."""
    value = loads_cbor(data)
    check_plain(value)
    return value


def check_plain(value: Any) -> None:
    """``ProtocolError`` unless ``value`` is made of plain CBOR values (see the module header)."""
    t = type(value)
    if t in _LEAVES:
        return
    _walk(value, 0, set())


def _walk(v: Any, depth: int, seen: set[int]) -> None:
    t = type(v)
    if t in _LEAVES:
        return
    if t is int:
        if not -INT_LIMIT <= v < INT_LIMIT:
            raise ProtocolError("an integer does not fit in 64 bits")
        return
    if t is float:
        if not math.isfinite(v):
            raise ProtocolError("a number is not finite")
        return
    if t is not list and t is not dict:
        raise ProtocolError(f"a value of type {t.__name__} is not part of the protocol (a CBOR tag?)")
    if depth >= MAX_DEPTH:
        raise ProtocolError(f"values nested deeper than {MAX_DEPTH}")
    key = id(v)
    if key in seen:
        raise ProtocolError("a value appears twice or inside itself (CBOR shared references)")
    seen.add(key)
    depth += 1
    if t is list:
        for x in v:
            if type(x) not in _LEAVES:
                _walk(x, depth, seen)
        return
    for k, x in v.items():
        if type(k) not in _KEYS:
            raise ProtocolError(f"a map key of type {type(k).__name__}")
        if type(k) is int and not -INT_LIMIT <= k < INT_LIMIT:
            raise ProtocolError("an integer does not fit in 64 bits")
        if type(x) not in _LEAVES:
            _walk(x, depth, seen)


# --- the strict decoder (before authentication) -----------------------------------------------

_FLOATS = {25: (">e", 2), 26: (">f", 4), 27: (">d", 8)}
_SIMPLE = {20: False, 21: True, 22: None}


def loads_strict(data: bytes, *, max_items: int = 4096) -> Any:
    """Decode the plain subset of CBOR from ``data`` (one item, nothing after it)."""
    dec = _Strict(data, max_items)
    value = dec.item(0)
    if dec.pos != len(data):
        raise ProtocolError("bytes after the end of the value")
    return value


class _Strict:
    __slots__ = ("data", "pos", "budget")

    def __init__(self, data: bytes, max_items: int) -> None:
        self.data = data
        self.pos = 0
        self.budget = max_items

    def _take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise ProtocolError("the value ends early")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def _length(self, info: int) -> int:
        if info < 24:
            return info
        if info in (24, 25, 26, 27):
            return int.from_bytes(self._take(1 << (info - 24)), "big")
        raise ProtocolError("indefinite or reserved lengths are not part of the protocol")

    def item(self, depth: int) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise ProtocolError("too many values in one frame")
        if depth > MAX_DEPTH:
            raise ProtocolError(f"values nested deeper than {MAX_DEPTH}")
        first = self._take(1)[0]
        major, info = first >> 5, first & 31
        if major == 7:
            if info in _SIMPLE:
                return _SIMPLE[info]
            if info in _FLOATS:
                fmt, size = _FLOATS[info]
                x = struct.unpack(fmt, self._take(size))[0]
                if not math.isfinite(x):
                    raise ProtocolError("a number is not finite")
                return x
            raise ProtocolError(f"simple value {info} is not part of the protocol")
        if major == 6:
            raise ProtocolError("CBOR tags are not part of the protocol")
        n = self._length(info)
        if major == 0:
            return n
        if major == 1:
            return -1 - n
        if major in (2, 3):
            raw = self._take(n)
            if major == 2:
                return raw
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ProtocolError("a text string is not UTF-8") from None
        if n > self.budget:
            raise ProtocolError("too many values in one frame")
        if major == 4:
            return [self.item(depth + 1) for _ in range(n)]
        out: dict[Any, Any] = {}
        for _ in range(n):
            k = self.item(depth + 1)
            if type(k) not in _KEYS:
                raise ProtocolError(f"a map key of type {type(k).__name__}")
            out[k] = self.item(depth + 1)
        return out
