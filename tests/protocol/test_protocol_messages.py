"""The CBOR message codec: every message type round-trips, and malformed input is refused.

Sans-I/O: no sockets, no trio. Field values come from hypothesis strategies derived from each
message class's declared field types (``Message.FIELDS``) and value checks (``Message.CHECKS``).
"""

from __future__ import annotations

import dataclasses
import threading

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemas import VALUES, message_strategy, required_fields, sample_message

from edgeray.exceptions import ProtocolError
from edgeray.protocol import MESSAGE_TYPES, Message, decode_message, encode_message

# --------------------------------------------------------------------------- strategies
# (derived from each message's declared types and checks: tests/protocol/schemas.py)

_values = VALUES
_sample = sample_message
_required = required_fields


ALL_TAGS = sorted(MESSAGE_TYPES)

# Every message the design needs (DESIGN.md §4/§5, issue 2) has a type; new ones are welcome.
EXPECTED_TAGS = {
    "hello",
    "welcome",
    "refused",
    "call",
    "reply",
    "regfn",
    "submit",
    "exec",
    "done",
    "put",
    "ready",
    "sub",
    "addref",
    "delref",
    "blocked",
    "unblocked",
    "log",
    "shutdown",
    "cancel",
}


def _wire(msg: Message) -> dict:
    return cbor2.loads(encode_message(msg))


# --------------------------------------------------------------------------- round trips


def test_every_message_type_is_registered() -> None:
    assert EXPECTED_TAGS <= set(MESSAGE_TYPES)
    for tag, cls in MESSAGE_TYPES.items():
        assert cls.TAG == tag
        assert dataclasses.is_dataclass(cls)


@pytest.mark.parametrize("tag", ALL_TAGS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_round_trip(tag: str, data: st.DataObject) -> None:
    cls = MESSAGE_TYPES[tag]
    msg = data.draw(message_strategy(cls))
    wire = encode_message(msg)
    assert isinstance(wire, bytes)
    back = decode_message(wire)
    assert type(back) is cls
    assert back == msg
    # the wire form is a CBOR map with the tag under "t" and every field by name
    d = cbor2.loads(wire)
    assert d["t"] == tag
    assert set(d) == {"t"} | {name for name, _ in cls.FIELDS}


@pytest.mark.parametrize("tag", ALL_TAGS)
def test_optional_fields_may_be_left_out(tag: str) -> None:
    cls = MESSAGE_TYPES[tag]
    msg = _sample(cls)
    d = _wire(msg)
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            del d[f.name]
    back = decode_message(cbor2.dumps(d))
    for f in dataclasses.fields(cls):
        expected = f.default if f.default is not dataclasses.MISSING else getattr(msg, f.name)
        assert getattr(back, f.name) == expected


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "payload",
    [
        cbor2.dumps({"t": "no-such-message"}),
        cbor2.dumps({"t": 3, "reason": "x"}),
        cbor2.dumps({"t": None}),
        cbor2.dumps({"reason": "no tag"}),
        cbor2.dumps(["refused", "x"]),
        cbor2.dumps("refused"),
        cbor2.dumps(None),
        b"",
        b"\xff\xfe\xfd",
        b"\xa1",  # a map header with nothing after it
    ],
    ids=[
        "unknown-tag",
        "int-tag",
        "null-tag",
        "no-tag",
        "array",
        "string",
        "null",
        "empty",
        "garbage",
        "truncated",
    ],
)
def test_malformed_frames_raise_protocol_error(payload: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_message(payload)


MISSING_CASES = [(tag, name) for tag in ALL_TAGS for name in _required(MESSAGE_TYPES[tag])]


@pytest.mark.parametrize(
    ("tag", "field"), MISSING_CASES, ids=[f"{t}.{f}" for t, f in MISSING_CASES]
)
def test_missing_required_field(tag: str, field: str) -> None:
    d = _wire(_sample(MESSAGE_TYPES[tag]))
    del d[field]
    with pytest.raises(ProtocolError, match=field):
        decode_message(cbor2.dumps(d))


_CANDIDATES = [b"b", "s", 12, 1.25, True, [1], {"k": 1}, None]


def _wrong_values(types: tuple[type, ...]) -> list:
    return [v for v in _CANDIDATES if not isinstance(v, types)]


WRONG_CASES = [
    (tag, name, v)
    for tag in ALL_TAGS
    for name, types in MESSAGE_TYPES[tag].FIELDS
    for v in _wrong_values(types)
]


@pytest.mark.parametrize(
    ("tag", "field", "value"),
    WRONG_CASES,
    ids=[f"{t}.{f}={type(v).__name__}" for t, f, v in WRONG_CASES],
)
def test_wrong_field_type(tag: str, field: str, value: object) -> None:
    d = _wire(_sample(MESSAGE_TYPES[tag]))
    d[field] = value
    with pytest.raises(ProtocolError, match=field):
        decode_message(cbor2.dumps(d))


@pytest.mark.parametrize("tag", ALL_TAGS)
def test_extra_field(tag: str) -> None:
    d = _wire(_sample(MESSAGE_TYPES[tag]))
    d["surprise"] = 1
    with pytest.raises(ProtocolError, match="surprise"):
        decode_message(cbor2.dumps(d))


@pytest.mark.parametrize("tag", ALL_TAGS)
def test_non_string_extra_key(tag: str) -> None:
    d = _wire(_sample(MESSAGE_TYPES[tag]))
    d[17] = 1
    with pytest.raises(ProtocolError):
        decode_message(cbor2.dumps(d))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_decode_or_raise_protocol_error(data: bytes) -> None:
    """Garbage never escapes as anything but ProtocolError (or decodes to a valid message)."""
    try:
        msg = decode_message(data)
    except ProtocolError:
        return
    assert isinstance(msg, Message)


def _accepted(cls: type[Message], name: str, types: tuple[type, ...], value: object) -> bool:
    if not isinstance(value, types):
        return False
    for n, where, check in cls.CHECKS:
        if n == name:
            try:
                check(value, where)
            except ProtocolError:
                return False
    return True


@settings(max_examples=300, deadline=None)
@given(tag=st.sampled_from(ALL_TAGS), data=st.data())
def test_mutated_messages_decode_or_raise_protocol_error(tag: str, data: st.DataObject) -> None:
    """Fields replaced by arbitrary values: accepted exactly when the field's type and check
    accept them, refused with ProtocolError otherwise."""
    cls = MESSAGE_TYPES[tag]
    d = _wire(data.draw(message_strategy(cls)))
    name, types = data.draw(st.sampled_from(cls.FIELDS))
    value = data.draw(_values)
    d[name] = value
    try:
        msg = decode_message(cbor2.dumps(d))
    except ProtocolError:
        assert not _accepted(cls, name, types, value)
        return
    assert _accepted(cls, name, types, value)
    assert getattr(msg, name) == value


def test_the_per_thread_encoder_writes_what_cbor2_writes() -> None:
    """encode_spec/encode_message reuse one encoder per thread: the same bytes as cbor2.dumps,
    each value on its own (nothing left over from the last), and a failed encode does not
    spoil the next."""
    from edgeray.protocol import encode_spec

    specs = [{"tid": b"t" * 16, "args": b"x" * 100, "deps": [], "opts": {"a": [1, 2]}}, {"n": 1}, {}]
    for spec in specs * 2:
        assert encode_spec(spec) == cbor2.dumps(spec)
    with pytest.raises(cbor2.CBOREncodeError):
        encode_spec({"bad": object()})
    assert encode_spec(specs[0]) == cbor2.dumps(specs[0])
    seen: list[bytes] = []
    t = threading.Thread(target=lambda: seen.append(encode_spec(specs[1])))
    t.start()
    t.join()
    assert seen == [cbor2.dumps(specs[1])]
