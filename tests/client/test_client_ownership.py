"""``Ownership``, the client's pure reference table: its rules driven without a node or sockets.

A model of the node (the set of objects it counts this process as holding, changed by the
messages the transitions return, and by what the node does itself: registering a task's
submitter, sealing a worker's result) must always agree with the table's ``known``.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    precondition,
    rule,
)

from edgeray.client._ownership import Ownership, OwnershipError, inline_payload
from edgeray.protocol import AddRef, DelRef, Message, Promise, PutObject, Subscribe

A, B = b"a" * 20, b"b" * 20


# -- unit tests: one rule each -------------------------------------------------------------------
def test_first_take_adds_the_last_drop_deletes() -> None:
    own = Ownership()
    assert own.take(A) == [AddRef([A])]
    assert own.take(A) == []
    assert own.drop(A) == []
    assert own.drop(A) == [DelRef([A])]
    assert A not in own.counts and A not in own.known


def test_dropping_an_uncounted_object_is_illegal() -> None:
    own = Ownership()
    with pytest.raises(OwnershipError):
        own.drop(A)


def test_a_local_put_costs_nothing_until_published() -> None:
    own = Ownership()
    own.put_local(A, b"v")
    assert own.take(A) == []  # a second ref to it: the node still knows nothing
    msg = own.publish(A)
    assert msg == PutObject(inline_payload(A, b"v"))
    assert own.publish(A) is None
    own.drop(A)
    assert own.drop(A) == [DelRef([A])]


def test_a_local_put_dropped_is_forgotten_silently() -> None:
    own = Ownership()
    own.put_local(A, b"v")
    assert own.drop(A) == []
    assert not own.payloads and not own.local


def test_a_pending_direct_result_is_promised_once() -> None:
    own = Ownership()
    own.owned(A)
    own.expect_direct([A])
    assert own.publish(A) == Promise([A])
    assert own.publish(A) is None
    ops, ready = own.direct_results([inline_payload(A, b"v")], ())
    assert ops == [PutObject(inline_payload(A, b"v"))] and ready == [(A, False)]
    assert A not in own.local  # the node has it now


def test_a_promised_result_dropped_before_it_came_is_published_then_let_go() -> None:
    own = Ownership()
    own.owned(A)
    own.expect_direct([A])
    assert own.publish(A) == Promise([A])
    assert own.drop(A) == [DelRef([A])]
    ops, ready = own.direct_results([inline_payload(A, b"v")], ())
    assert ops == [PutObject(inline_payload(A, b"v")), DelRef([A])] and ready == []


def test_a_direct_result_dropped_before_it_came_is_not_kept() -> None:
    own = Ownership()
    own.owned(A)
    own.expect_direct([A])
    assert own.drop(A) == []  # the node never knew it
    assert own.direct_results([inline_payload(A, b"v")], ()) == ([], [])
    assert not own.payloads


def test_a_waited_for_result_is_kept_though_not_held() -> None:
    own = Ownership()
    own.owned(A)
    own.expect_direct([A])
    own.drop(A)
    _, ready = own.direct_results([inline_payload(A, b"v", err=True)], {A})
    assert ready == [(A, True)] and A in own.payloads


def test_a_call_that_went_via_the_node_after_all() -> None:
    own = Ownership()
    own.owned(A)
    own.owned(B)
    own.expect_direct([A, B])
    own.drop(B)
    assert own.direct_to_node([A, B]) == [DelRef([B])]
    assert own.known == {A}


def test_subscribe_only_once() -> None:
    own = Ownership()
    own.take(A)
    assert own.subscribe([A, B]) == [Subscribe([A, B])]
    assert own.subscribe([A]) == []
    own.drop(A)
    assert own.subscribe([A, B]) == [Subscribe([A])]


def test_a_sealed_direct_result_is_counted_or_let_go() -> None:
    own = Ownership()
    own.owned(A)
    own.expect_direct([A])
    p = {"id": A, "data": None, "loc": [0, 10], "err": False, "refs": []}
    assert own.published_result(p, ()) == ([], True)
    assert A in own.known
    assert own.published_result(p, ()) is None  # not pending any more
    own.owned(B)
    own.expect_direct([B])
    own.drop(B)
    assert own.published_result({**p, "id": B}, ()) == ([DelRef([B])], False)


# -- the model ----------------------------------------------------------------------------------
class OwnershipModel(RuleBasedStateMachine):
    """Random histories of a process's refs, checked against the node's view of them."""

    held = Bundle("held")  # one live ObjectRef each
    pending = Bundle("pending")  # results of direct calls not back yet

    def __init__(self) -> None:
        super().__init__()
        self.own = Ownership()
        self.node: set[bytes] = set()  # whom the node counts this process as holding
        self.ids = (i.to_bytes(20, "big") for i in itertools.count(1))
        self.waited: set[bytes] = set()
        self.ever_waited: set[bytes] = set()
        self.sent = {b"\xff" * 20}  # objects pickled into values (one of another process)

    def deliver(self, msgs: list[Message]) -> None:
        for m in msgs:
            if isinstance(m, AddRef):
                assert not self.node & set(m.ids), "AddRef for an object the node counts already"
                self.node.update(m.ids)
            elif isinstance(m, DelRef):
                assert set(m.ids) <= self.node, "DelRef for an object the node does not count"
                self.node.difference_update(m.ids)
            elif isinstance(m, (Promise,)):
                self.node.update(m.ids)
            elif isinstance(m, PutObject):
                self.node.add(m.payload["id"])
            elif isinstance(m, Subscribe):
                assert len(set(m.ids)) == len(m.ids)
            else:
                raise AssertionError(f"unexpected message {m!r}")

    # -- objects come into being
    @rule(target=held, err=st.booleans())
    def put_small(self, err: bool) -> bytes:
        oid = next(self.ids)
        self.own.put_local(oid, b"v", err)
        return oid

    @rule(target=held)
    def put_large(self) -> bytes:
        oid = next(self.ids)
        self.own.put_published(oid, {"id": oid, "data": None, "loc": [0, 1], "err": False, "refs": []})
        self.node.add(oid)  # the PutObject the client sends with it
        return oid

    @rule(target=held)
    def submit_via_node(self) -> bytes:
        oid = next(self.ids)
        self.node.add(oid)  # the node registers the submitter as the returns' holder
        self.own.owned(oid)
        self.own.returns_submitted([oid])
        return oid

    @rule(targets=(held, pending))
    def submit_direct(self) -> bytes:
        oid = next(self.ids)
        self.own.owned(oid)
        self.own.returns_submitted([oid])
        self.own.expect_direct([oid])
        return oid

    # -- refs are copied, dropped, sent away
    @rule(target=held, oid=held)
    def copy(self, oid: bytes) -> bytes:
        self.deliver(self.own.take(oid))
        return oid

    @rule(target=held, data=st.data())
    def unpickle(self, data: st.DataObject) -> bytes:
        """A ref read from a value: to an object sent away before (by this process or another)."""
        oid = data.draw(st.sampled_from(sorted(self.sent)))
        self.deliver(self.own.take(oid))
        return oid

    @rule(oid=consumes(held))
    def drop(self, oid: bytes) -> None:
        self.deliver(self.own.drop(oid))

    @rule(oid=held)
    def send_away(self, oid: bytes) -> None:
        if self.own.needs_publish(oid):
            msg = self.own.publish(oid)
            if msg is not None:
                self.deliver([msg])
        assert oid not in self.own.local
        self.sent.add(oid)

    @rule(oid=held)
    def wait(self, oid: bytes) -> None:
        self.deliver(self.own.subscribe([oid]))
        self.waited.add(oid)
        self.ever_waited.add(oid)

    @rule()
    def stop_waiting(self) -> None:
        self.waited.clear()

    # -- how a direct call ends
    @rule(oid=consumes(pending), err=st.booleans())
    def result_comes_back(self, oid: bytes, err: bool) -> None:
        ops, ready = self.own.direct_results([inline_payload(oid, b"r", err)], self.waited)
        self.deliver(ops)
        assert all(i == oid and e == err for i, e in ready)
        assert bool(ready) == (self.own.held(oid) or oid in self.waited)

    @rule(oid=consumes(pending))
    def result_sealed_on_the_node(self, oid: bytes) -> None:
        self.node.add(oid)  # the worker's Publish: the node counts the caller as holder
        outcome = self.own.published_result({"id": oid, "data": b"r", "loc": None, "err": False, "refs": []}, self.waited)
        assert outcome is not None
        self.deliver(outcome[0])

    @rule(oid=consumes(pending))
    def went_via_the_node(self, oid: bytes) -> None:
        self.node.add(oid)  # the node registers the submitter as the returns' holder
        self.deliver(self.own.direct_to_node([oid]))

    @precondition(lambda self: not self.own.promised)  # (a promise to the old node: see below)
    @rule()
    def node_restarted(self) -> None:
        self.own.reconnected()
        self.node = set()

    # -- what must always hold
    @invariant()
    def the_node_counts_what_the_table_says(self) -> None:
        assert self.node == self.own.known

    @invariant()
    def counts_are_positive(self) -> None:
        assert all(n > 0 for n in self.own.counts.values())

    @invariant()
    def local_values_are_unknown_to_the_node(self) -> None:
        assert not (set(self.own.local) & self.own.known)
        assert set(self.own.local) <= set(self.own.payloads)

    @invariant()
    def promises_are_of_pending_results(self) -> None:
        assert self.own.promised <= self.own.direct_pending

    @invariant()
    def dropped_objects_are_forgotten(self) -> None:
        own = self.own
        for oid in set(own.known) | set(own.local) | set(own.payloads) | own.subscribed:
            if not own.held(oid) and oid not in own.direct_pending and oid not in self.ever_waited:
                raise AssertionError(f"{oid.hex()} is dropped but still in the table")


OwnershipModel.TestCase.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
test_ownership_model = OwnershipModel.TestCase
