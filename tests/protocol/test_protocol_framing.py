"""Length-prefixed framing: any chunking of the stream yields the same frames; size limit on the header."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeray.exceptions import ProtocolError
from edgeray.protocol import FrameDecoder, frame


def drain(dec: FrameDecoder) -> list[bytes]:
    out = []
    while (f := dec.next_frame()) is not None:
        out.append(f)
    return out


def test_frame_layout() -> None:
    assert frame(b"abc") == b"\x00\x00\x00\x03abc"
    assert frame(b"") == b"\x00\x00\x00\x00"


def test_empty_decoder_needs_more() -> None:
    dec = FrameDecoder(100)
    assert dec.next_frame() is None
    dec.feed(b"\x00\x00")
    assert dec.next_frame() is None
    dec.feed(b"\x00\x02a")
    assert dec.next_frame() is None
    dec.feed(b"b")
    assert dec.next_frame() == b"ab"
    assert dec.next_frame() is None
    assert dec.buffered == 0


@settings(max_examples=200, deadline=None)
@given(
    payloads=st.lists(st.binary(max_size=300), max_size=12),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=30),
)
def test_random_chunking(payloads: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(frame(p) for p in payloads)
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    dec = FrameDecoder(300)
    got: list[bytes] = []
    for a, b in zip(points, points[1:], strict=False):
        dec.feed(stream[a:b])
        got.extend(drain(dec))
    assert got == payloads
    assert dec.buffered == 0
    assert dec.next_frame() is None


@settings(max_examples=50, deadline=None)
@given(payloads=st.lists(st.binary(min_size=1, max_size=5000), min_size=1, max_size=8))
def test_byte_at_a_time(payloads: list[bytes]) -> None:
    stream = b"".join(frame(p) for p in payloads)
    dec = FrameDecoder(5000)
    got = []
    for i in range(len(stream)):
        dec.feed(stream[i : i + 1])
        got.extend(drain(dec))
    assert got == payloads


def test_large_stream_compaction_keeps_frames_intact() -> None:
    """Many frames in one feed, crossing the decoder's internal compaction point (1 MiB)."""
    payloads = [bytes([i % 251]) * 70_000 for i in range(40)]
    stream = b"".join(frame(p) for p in payloads)
    dec = FrameDecoder(1 << 20)
    got = []
    for i in range(0, len(stream), 333_333):
        dec.feed(stream[i : i + 333_333])
        got.extend(drain(dec))
    assert got == payloads


def test_frame_at_the_limit_is_accepted() -> None:
    dec = FrameDecoder(16)
    dec.feed(frame(b"x" * 16))
    assert dec.next_frame() == b"x" * 16


def test_oversize_frame_refused_from_the_header_alone() -> None:
    dec = FrameDecoder(16)
    dec.feed(struct.pack(">I", 17))  # only the header: no payload byte has arrived
    with pytest.raises(ProtocolError, match="17"):
        dec.next_frame()


def test_huge_length_refused_without_buffering() -> None:
    dec = FrameDecoder(64 << 20)
    dec.feed(struct.pack(">I", 0xFFFFFFFF) + b"abc")
    with pytest.raises(ProtocolError):
        dec.next_frame()


@settings(max_examples=100, deadline=None)
@given(
    limit=st.integers(0, 1000),
    over=st.integers(1, 2**31),
    good=st.lists(st.binary(max_size=50), max_size=3),
)
def test_oversize_after_good_frames(limit: int, over: int, good: list[bytes]) -> None:
    good = [g[:limit] for g in good]
    dec = FrameDecoder(limit)
    dec.feed(b"".join(frame(g) for g in good) + struct.pack(">I", limit + over))
    assert [dec.next_frame() for _ in good] == good
    with pytest.raises(ProtocolError):
        dec.next_frame()
