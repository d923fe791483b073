"""The node's task table and its one retry path (``raylet._task_table``), driven without a node."""

from __future__ import annotations

from typing import Any

from edgeray.raylet._task_table import ReadyQueues, TaskTable


class Task:
    """The fields of a task record the table reads."""

    def __init__(self, name: str, shape: Any = "cpu", retries: int = 3, missing: int = 0) -> None:
        self.spec = {"name": name}
        self.shape = shape
        self.done = False
        self.cancelled = False
        self.retries_left = retries
        self.missing = missing


def test_a_lost_run_is_retried_while_retries_are_left() -> None:
    stats: dict[str, int] = {"task_retries": 0}
    table = TaskTable(stats)
    t = Task("f", retries=2)
    assert table.retry(t) and table.retry(t)
    assert t.retries_left == 0 and stats["task_retries"] == 2
    assert list(table.ready) == [t, t]
    assert not table.retry(t)
    assert stats["task_retries"] == 2 and len(table.ready) == 2


def test_infinite_retries_and_cancelled_tasks() -> None:
    stats: dict[str, int] = {}
    table = TaskTable(stats)
    forever = Task("f", retries=-1)
    for _ in range(5):
        assert table.retry(forever)
    assert stats["task_retries"] == 5
    cancelled = Task("g", retries=3)
    cancelled.cancelled = True
    assert not table.retry(cancelled)
    assert cancelled.retries_left == 3 and len(table.ready) == 5


def test_infeasible_tasks_wait_for_the_cluster_to_change() -> None:
    table = TaskTable({})
    a, b = Task("a"), Task("b")
    table.park_infeasible(a)
    table.park_infeasible(b)
    b.done = True  # (cancelled while it waited)
    table.drop_done_infeasible()
    assert table.infeasible == [a]
    table.park_infeasible(b)
    assert table.take_infeasible() == [a, b]
    assert table.infeasible == [] and list(table.ready) == [a]
    assert table.take_infeasible() == []


def test_pending_names_where_each_task_is() -> None:
    table = TaskTable({})
    run, queued, parked, waiting, finished = Task("r"), Task("q"), Task("p"), Task("w", missing=1), Task("d", missing=1)
    finished.done = True
    table.running[b"r"] = run
    table.ready.append(queued)
    table.park_infeasible(parked)
    for t in (run, queued, parked, waiting, finished):
        table.live[t.spec["name"].encode()] = t
    assert list(table.pending()) == [
        ("RUNNING", run), ("PENDING_NODE_ASSIGNMENT", queued), ("PENDING_NODE_ASSIGNMENT", parked),
        ("PENDING_ARGS_AVAIL", waiting),
    ]


def test_live_is_weak() -> None:
    table = TaskTable({})
    t = Task("gone")
    table.live[b"gone"] = t
    del t
    assert b"gone" not in table.live


def test_ready_queues_are_fifo_per_shape_and_skip_done() -> None:
    q = ReadyQueues()
    a, b, c = Task("a", "x"), Task("b", "y"), Task("c", "x")
    for t in (a, b, c):
        q.append(t)
    assert list(q.queues) == ["x", "y"] and list(q.queues["x"]) == [a, c]
    c.done = True
    assert list(q) == [a, b] and len(q) == 3
    q.remove_if(lambda t: t is b)
    assert list(q.queues) == ["x"] and list(q.queues["x"]) == [a]
    q.remove(a)
    assert not q and len(q) == 0
