"""Hostile frames for fuzzing a node: schema-valid messages, mutations of them, and raw maps.

``frames()`` draws one frame (bytes) of three kinds: a message built from the schemas
(``schemas.message_strategy``), such a frame mutated (bytes flipped, cut, a CBOR tag or a
shared reference spliced in, a field replaced by an arbitrary value), or a raw map whose tag is
known and whose fields are anything. Messages that would stop the node on purpose (the ``stop``
call) or start processes (actor creation) are left out: the fuzzer tests what a peer can break,
not what it may legitimately ask for.
"""

from __future__ import annotations

from typing import Any

import cbor2
from hypothesis import strategies as st
from schemas import VALUES, message_strategy

from edgeray.protocol import MESSAGE_TYPES, Call, encode_message

#: a peer may not send these and expect the node to go on as before (they are its right)
SPARED_CALLS = {"stop", "create_actor", "lease_worker", "kill_actor"}
TAGS = sorted(MESSAGE_TYPES)

#: CBOR items that the protocol never uses: tags (datetime, bignum, shared reference, regex,
#: set), undefined, a simple value, an indefinite-length map, a half-precision NaN
POISON = [b"\xc1\x1a\x00\x00\x00\x00", b"\xc2\x58\x40" + b"\xff" * 64, b"\xd8\x1c\x81\xd8\x1d\x00",
          b"\xd8\x23\x63a*b", b"\xd9\x01\x02\x80", b"\xf7", b"\xf0", b"\xbf\xff", b"\xf9\x7e\x00"]


def _sendable(msg: Any) -> bool:
    return not (isinstance(msg, Call) and msg.method in SPARED_CALLS)


def valid_frames() -> st.SearchStrategy[bytes]:
    return st.sampled_from(TAGS).flatmap(lambda tag: message_strategy(MESSAGE_TYPES[tag])).filter(_sendable).map(
        encode_message)


@st.composite
def mutated_frames(draw: Any) -> bytes:
    data = bytearray(draw(valid_frames()))
    how = draw(st.sampled_from(["flip", "cut", "splice", "field"]))
    if how == "flip" and data:
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= draw(st.integers(1, 255))
    elif how == "cut":
        del data[draw(st.integers(0, len(data))):]
    elif how == "splice":
        i = draw(st.integers(0, len(data)))
        data[i:i] = draw(st.sampled_from(POISON))
    else:
        d = cbor2.loads(bytes(data))
        name = draw(st.sampled_from(sorted(d)))
        d[name] = draw(VALUES | st.sampled_from([float("nan"), float("inf"), 10 ** 40, -(2 ** 70)]))
        if isinstance(d.get("method"), str) and d["method"] in SPARED_CALLS:
            d["method"] = "nodes"
        return cbor2.dumps(d)
    return bytes(data)


def raw_maps() -> st.SearchStrategy[bytes]:
    return st.builds(lambda tag, fields: cbor2.dumps({"t": tag, **fields}), st.sampled_from(TAGS),
                     st.dictionaries(st.text(max_size=10), VALUES, max_size=6)).filter(
        lambda b: b"stop" not in b)


def frames() -> st.SearchStrategy[bytes]:
    return valid_frames() | mutated_frames() | raw_maps() | st.binary(max_size=200)
