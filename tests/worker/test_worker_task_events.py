"""TaskEventBuffer: what a worker reports of its direct callers' calls (no node, no sockets)."""

from __future__ import annotations

import threading
from typing import Any

from edgeray.protocol import Message, TaskEvents, decode_message, encode_message
from edgeray.worker._task_events import TaskEventBuffer


def spec(i: int) -> dict[str, Any]:
    return {"tid": i.to_bytes(16, "big"), "kind": 2, "name": f"A.m{i}", "job": b"\x01\x00\x00\x00", "actor": b"a" * 16}


def states(msgs: list[TaskEvents]) -> list[tuple[str, str]]:
    return [(ev[3], ev[1]) for m in msgs for ev in m.events]


def test_a_call_that_starts_and_ends_between_reports_costs_one_event() -> None:
    b = TaskEventBuffer(lambda m: None)
    b.accepted(spec(1))
    b.started(spec(1)["tid"])
    b.finished(spec(1), None)
    (msg,) = b.report()
    ((tid, state, kind, name, job, actor, err, start, at),) = msg.events
    assert (tid, state, kind, name, err) == (spec(1)["tid"], "FINISHED", 2, "A.m1", None)
    assert isinstance(start, float) and at >= start
    assert b.report() == []  # nothing new
    b.close()


def test_held_calls_are_reported_once_per_state() -> None:
    b = TaskEventBuffer(lambda m: None)
    b.accepted(spec(1))
    b.accepted(spec(2))
    b.started(spec(1)["tid"])
    assert sorted(states(b.report())) == [("A.m1", "RUNNING"), ("A.m2", "SUBMITTED_TO_WORKER")]
    assert b.report() == []
    b.started(spec(2)["tid"])
    b.finished(spec(1), "TASK_EXECUTION_EXCEPTION")
    assert states(b.report()) == [("A.m1", "FAILED"), ("A.m2", "RUNNING")]
    b.close()


def test_calls_the_node_dispatched_are_not_reported() -> None:
    b = TaskEventBuffer(lambda m: None)
    b.started(spec(1)["tid"])
    b.finished(spec(1), None)
    assert b.report() == []
    b.close()


def test_reports_travel_as_task_events_messages() -> None:
    sent: list[Message] = []
    b = TaskEventBuffer(sent.append)
    for i in range(3):
        b.accepted(spec(i))
        b.finished(spec(i), None)
    b.flush()
    (msg,) = sent
    back = decode_message(encode_message(msg))
    assert isinstance(back, TaskEvents) and [ev[3] for ev in back.events] == ["A.m0", "A.m1", "A.m2"]
    b.close()


def test_off_when_asked(monkeypatch) -> None:
    monkeypatch.setenv("EDGERAY_TASK_EVENTS", "0")
    b = TaskEventBuffer(lambda m: None)
    b.accepted(spec(1))
    b.finished(spec(1), None)
    assert b.report() == []


def by_task(msgs: list[Message]) -> dict[bytes, list[str]]:
    out: dict[bytes, list[str]] = {}
    for m in msgs:
        assert isinstance(m, TaskEvents)
        for ev in m.events:
            out.setdefault(ev[0], []).append(ev[1])
    return out


def test_a_call_finishing_during_a_report_is_reported_once() -> None:
    sent: list[Message] = []
    buf = TaskEventBuffer(sent.append, interval=3600)
    specs = [spec(i) for i in range(3)]  # (actor calls of a direct caller)
    for s in specs:
        buf.accepted(s)
        buf.started(s["tid"])
    buf.flush()
    assert by_task(sent) == {s["tid"]: ["RUNNING"] for s in specs}

    finishing: list[threading.Thread] = []

    class MidReport(dict):  # type: ignore[type-arg]
        """The reported-states table; iterating it lets another thread finish a call meanwhile."""

        def __iter__(self) -> Any:
            it = super().__iter__()
            yield next(it)
            if not finishing:  # mid-iteration, as a switch of threads would
                t = threading.Thread(target=buf.finished, args=(specs[0], None))
                finishing.append(t)
                t.start()
                t.join(0.2)  # (it runs now, or waits for the report to end)
            yield from it

    buf._reported = MidReport(buf._reported)
    sent.clear()
    buf.flush()  # must not raise
    finishing[0].join()
    buf.flush()
    buf.flush()
    assert by_task(sent).get(specs[0]["tid"]) == ["FINISHED"]
