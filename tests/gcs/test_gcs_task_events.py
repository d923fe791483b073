"""TaskEventTable: the rows of ``list tasks`` (plain state, no node, no I/O)."""

from __future__ import annotations

from typing import Any

from edgeray import exceptions as exc
from edgeray.gcs._task_events import TaskEventTable, error_type, merge_rows

NODE = b"n" * 16


def spec(i: int, kind: int = 0, actor: bytes | None = None) -> dict[str, Any]:
    return {"tid": i.to_bytes(16, "big"), "kind": kind, "name": f"t{i}", "job": b"\x01\x00\x00\x00", "actor": actor}


def event(i: int, state: str, start: float | None = None, at: float = 10.0, err: str | None = None) -> list[Any]:
    s = spec(i)
    return [s["tid"], state, 0, s["name"], s["job"], None, err, start, at]


def test_the_latest_state_wins_and_terminal_states_stay() -> None:
    t = TaskEventTable()
    assert t.ingest([event(1, "SUBMITTED_TO_WORKER", at=1.0), event(1, "RUNNING", start=2.0, at=2.5)], node_id=NODE, worker_pid=7) == 0
    (row,) = t.list()
    assert row["state"] == "RUNNING" and row["start_time"] == 2.0 and row["worker_pid"] == 7
    assert t.ingest([event(1, "FINISHED", start=2.0, at=3.0)], node_id=NODE, worker_pid=7) == 1
    t.ingest([event(1, "RUNNING", start=2.0, at=4.0)], node_id=NODE, worker_pid=7)  # late: ignored
    (row,) = t.list()
    assert (row["state"], row["end_time"], row["error_type"]) == ("FINISHED", 3.0, None)
    assert row["task_id"] == (1).to_bytes(16, "big").hex() and row["node_id"] == NODE.hex() and row["type"] == "NORMAL_TASK"


def test_types_and_failures_recorded_by_the_node() -> None:
    t = TaskEventTable()
    t.record(spec(1, kind=1, actor=b"a" * 16), "FINISHED", node_id=NODE, worker_pid=3)
    t.record(spec(2, kind=2, actor=b"a" * 16), "FAILED", node_id=NODE, error=error_type(exc.ActorDiedError("gone")))
    rows = {r["name"]: r for r in t.list()}
    assert rows["t1"]["type"] == "ACTOR_CREATION_TASK" and rows["t1"]["actor_id"] == (b"a" * 16).hex()
    assert rows["t2"]["type"] == "ACTOR_TASK" and rows["t2"]["error_type"] == "ACTOR_DIED"


def test_error_types_are_rays() -> None:
    assert error_type(exc.TaskCancelledError("c")) == "TASK_CANCELLED"
    assert error_type(exc.WorkerCrashedError("w")) == "WORKER_DIED"
    assert error_type(exc.NodeDiedError("n")) == "NODE_DIED"
    assert error_type(ValueError("v")) == "TASK_EXECUTION_EXCEPTION"


def test_a_dead_workers_unfinished_tasks_fail_with_it() -> None:
    t = TaskEventTable()
    t.ingest([event(1, "RUNNING", start=1.0), event(2, "FINISHED", start=1.0, at=2.0), event(3, "SUBMITTED_TO_WORKER")], node_id=NODE, worker_pid=9)
    t.ingest([event(4, "RUNNING", start=1.0)], node_id=NODE, worker_pid=10)
    t.worker_died(9)
    states = {r["name"]: (r["state"], r["error_type"]) for r in t.list()}
    assert states == {
        "t1": ("FAILED", "WORKER_DIED"), "t2": ("FINISHED", None), "t3": ("FAILED", "WORKER_DIED"), "t4": ("RUNNING", None),
    }


def test_the_oldest_rows_go_beyond_the_limit() -> None:
    t = TaskEventTable(limit=3)
    t.ingest([event(i, "FINISHED", at=float(i)) for i in range(5)], node_id=NODE, worker_pid=1)
    assert [r["name"] for r in t.list()] == ["t2", "t3", "t4"] and t.dropped == 2


def test_malformed_events_are_skipped_and_counted() -> None:
    t = TaskEventTable()
    good = event(1, "FINISHED")
    bad = [
        "not a list", [1, 2], event(2, "DANCING"), [b"short", *good[1:]], [*good[:8], "soon"], [*good[:7], True, 1.0],
    ]
    assert t.ingest([*bad, good], node_id=NODE, worker_pid=1) == 1
    assert t.malformed == len(bad) and [r["name"] for r in t.list()] == ["t1"]
    assert t.ingest({"not": "a list"}, node_id=NODE, worker_pid=1) == 0 and t.malformed == len(bad) + 1


def test_rows_of_several_nodes_merge_to_the_furthest_state() -> None:
    owner = TaskEventTable()
    runner = TaskEventTable()
    owner.record(spec(1), "PENDING_NODE_ASSIGNMENT", node_id=b"o" * 16)
    runner.record(spec(1), "FINISHED", node_id=NODE, worker_pid=5)
    runner.record(spec(2), "RUNNING", node_id=NODE, worker_pid=5)
    merged = merge_rows([owner.list(), runner.list(), ["junk", {"no": "id"}]])
    assert [(r["name"], r["state"], r["node_id"]) for r in merged] == [("t1", "FINISHED", NODE.hex()), ("t2", "RUNNING", NODE.hex())]
