"""A placement group's states and the bookkeeping of its two-phase creation, driven alone
(plain records; the rounds of reservations as the node's answers would come)."""

from __future__ import annotations

import pytest

from edgeray.gcs import PlacementGroupRecord
from edgeray.gcs import _pg_lifecycle as pgl

A, B, C = b"a" * 16, b"b" * 16, b"c" * 16


def group(state: str = pgl.PG_PENDING) -> PlacementGroupRecord:
    rec = PlacementGroupRecord(pg_id=b"p" * 16, name="", strategy="SPREAD", bundles=[{"CPU": 10_000}] * 3,
                               job_id=b"j", detached=False, ready_id=b"r", ready_value=b"")
    rec.state = state
    return rec


@pytest.mark.parametrize(("state", "event", "after"), [
    (pgl.PG_PENDING, pgl.RESERVED, pgl.PG_CREATED),
    (pgl.PG_CREATED, pgl.BUNDLES_LOST, pgl.PG_RESCHEDULING),
    (pgl.PG_RESCHEDULING, pgl.RESERVED, pgl.PG_CREATED),
    (pgl.PG_PENDING, pgl.RESTORED, pgl.PG_RESCHEDULING),
    (pgl.PG_PENDING, pgl.REMOVED, pgl.PG_REMOVED),
    (pgl.PG_CREATED, pgl.REMOVED, pgl.PG_REMOVED),
    (pgl.PG_RESCHEDULING, pgl.REMOVED, pgl.PG_REMOVED),
])
def test_legal_transitions(state: str, event: str, after: str) -> None:
    rec = group(state)
    assert pgl.advance_pg(rec, event) == after and rec.state == after


@pytest.mark.parametrize(("state", "event"), [
    (pgl.PG_CREATED, pgl.RESERVED), (pgl.PG_PENDING, pgl.BUNDLES_LOST), (pgl.PG_CREATED, pgl.RESTORED),
    (pgl.PG_REMOVED, pgl.REMOVED), (pgl.PG_REMOVED, pgl.RESERVED), (pgl.PG_RESCHEDULING, pgl.BUNDLES_LOST),
])
def test_illegal_transitions_raise_and_leave_the_state(state: str, event: str) -> None:
    rec = group(state)
    with pytest.raises(pgl.PlacementGroupStateError):
        pgl.advance_pg(rec, event)
    assert rec.state == state


def test_every_state_has_its_rules() -> None:
    assert set(pgl.TRANSITIONS) == set(pgl.PG_STATES)
    assert all(nxt in pgl.PG_STATES for rules in pgl.TRANSITIONS.values() for nxt in rules.values())


def test_a_round_ends_when_the_last_node_answers() -> None:
    tp = pgl.TwoPhase()
    pg = b"p" * 16
    tp.begin(pg, [B, C], [1, 2])
    assert pg in tp and len(tp) == 1
    assert tp.answer(pg, B, True) is None  # C still to answer
    rnd = tp.answer(pg, C, True)
    assert rnd is not None and (rnd.ok, rnd.failed, rnd.indices) == ({B, C}, False, [1, 2])
    assert pg not in tp and tp.answer(pg, C, True) is None  # (forgotten: a late answer is ignored)


def test_one_refusal_fails_the_round_and_names_the_yeses_to_give_back() -> None:
    tp = pgl.TwoPhase()
    pg = b"p" * 16
    tp.begin(pg, [A, B, C], [0, 1, 2])
    assert tp.answer(pg, A, False) is None
    assert tp.answer(pg, B, True) is None
    rnd = tp.answer(pg, C, True)
    assert rnd is not None and rnd.failed and rnd.ok == {B, C}


def test_an_answer_from_a_node_not_asked_does_not_end_the_round() -> None:
    tp = pgl.TwoPhase()
    pg = b"p" * 16
    tp.begin(pg, [B], [0])
    assert tp.answer(b"other-group-----", B, True) is None
    assert pg in tp
    rnd = tp.answer(pg, B, True)
    assert rnd is not None and not rnd.failed
