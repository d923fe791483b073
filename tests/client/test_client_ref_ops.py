"""coalesce_ref_ops: the reference operations a client queues, sent as few messages with the
same effect on the node (no node, no sockets)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from edgeray.client._values import coalesce_ref_ops
from edgeray.protocol import AddRef, DelRef, Message, PutObject

A, B, C = b"a" * 20, b"b" * 20, b"c" * 20


def test_a_ref_read_and_dropped_costs_nothing() -> None:
    ops: list[Message] = [AddRef([A]), AddRef([B]), DelRef([A]), DelRef([B])]
    assert coalesce_ref_ops(ops) == []


def test_runs_become_one_add_then_one_delete() -> None:
    ops: list[Message] = [DelRef([C]), AddRef([A]), AddRef([B]), DelRef([A])]
    assert coalesce_ref_ops(ops) == [AddRef([B]), DelRef([C])]  # B added before C's delete


def test_other_messages_keep_their_place_and_split_runs() -> None:
    put = PutObject({"id": A, "data": b"x", "loc": None, "err": False, "refs": []})
    ops: list[Message] = [AddRef([A]), put, DelRef([A]), AddRef([B])]
    assert coalesce_ref_ops(ops) == [AddRef([A]), put, AddRef([B]), DelRef([A])]


def test_dropped_then_taken_again_stays_held() -> None:
    assert coalesce_ref_ops([DelRef([A]), AddRef([A])]) == []
    assert coalesce_ref_ops([DelRef([A]), AddRef([A]), DelRef([A])]) == [DelRef([A])]


ids = st.sampled_from([A, B, C])


@st.composite
def histories(draw: st.DrawFn) -> tuple[set[bytes], list[Message]]:
    """Operations as a client queues them: an add only for an object the node does not count
    this process as holding, a delete only for one it does (the client's ``_known``)."""
    held = set(draw(st.sets(ids)))
    start = set(held)
    ops: list[Message] = []
    for oid in draw(st.lists(ids, max_size=30)):
        if oid in held:
            held.discard(oid)
            ops.append(DelRef([oid]))
        else:
            held.add(oid)
            ops.append(AddRef([oid]))
        if draw(st.integers(0, 9)) == 0:
            ops.append(PutObject({"id": oid, "data": b"", "loc": None, "err": False, "refs": []}))
    return start, ops


def apply(state: set[bytes], ops: list[Message]) -> list[tuple[str, frozenset[bytes]]]:
    """Run ``ops`` on the node's holder set; the state seen by each other message, and the end."""
    seen = []
    for m in ops:
        if isinstance(m, AddRef):
            state |= set(m.ids)
        elif isinstance(m, DelRef):
            state -= set(m.ids)
        else:
            seen.append(("at", frozenset(state)))
    seen.append(("end", frozenset(state)))
    return seen


@given(histories())
def test_same_effect_as_the_operations_one_by_one(history: tuple[set[bytes], list[Message]]) -> None:
    start, ops = history
    out = coalesce_ref_ops(ops)
    assert apply(set(start), out) == apply(set(start), ops)
    assert [m for m in out if not isinstance(m, (AddRef, DelRef))] == [m for m in ops if not isinstance(m, (AddRef, DelRef))]
    for prev, m in zip(out, out[1:], strict=False):
        assert not (isinstance(prev, DelRef) and isinstance(m, AddRef)), "an add after a delete in one run"
