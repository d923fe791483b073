"""Lineage driven alone: fake tasks, a recording ``release`` and a set for what still exists."""

from __future__ import annotations

from typing import Any

from edgeray.protocol import return_ids
from edgeray.raylet import Lineage


class Task:
    def __init__(self, n: int, rets: int = 2) -> None:
        self.spec: dict[str, Any] = {"tid": n.to_bytes(16, "big"), "rets": rets}


class World:
    def __init__(self, limit: int = 100) -> None:
        self.released: list[Task] = []
        self.existing: set[bytes] = set()
        self.lineage: Lineage[Task] = Lineage(release=self.released.append, exists=self.existing.__contains__,
                                              limit=limit)

    def finished(self, n: int, rets: int = 2) -> Task:
        t = Task(n, rets)
        self.existing.update(return_ids(t.spec))
        self.lineage.keep(t)
        return t


def test_a_task_is_let_go_once_every_result_of_it_is_freed() -> None:
    w = World()
    t = w.finished(1)
    r1, r2 = return_ids(t.spec)
    w.existing.discard(r1)
    w.lineage.freed(r1)
    assert t.spec["tid"] in w.lineage and w.released == []
    w.existing.discard(r2)
    w.lineage.freed(r2)
    assert t.spec["tid"] not in w.lineage and w.released == [t]


def test_the_result_being_freed_counts_as_gone_even_before_the_table_forgets_it() -> None:
    w = World()
    t = w.finished(1, rets=1)
    [r] = return_ids(t.spec)
    w.lineage.freed(r)  # still "existing": it is the one being freed
    assert w.released == [t]


def test_past_the_limit_the_oldest_tasks_are_let_go() -> None:
    w = World(limit=3)
    tasks = [w.finished(n) for n in range(1, 6)]
    assert len(w.lineage) == 3 and w.released == tasks[:2]
    assert w.lineage.get(tasks[0].spec["tid"]) is None and w.lineage.get(tasks[4].spec["tid"]) is tasks[4]


def test_a_task_taken_to_run_again_keeps_its_pins() -> None:
    w = World(limit=2)
    t = w.finished(1)
    assert w.lineage.take(t.spec["tid"]) is t and w.lineage.take(t.spec["tid"]) is None
    assert w.released == [] and len(w.lineage) == 0
    w.lineage.keep(t)  # it finished again
    w.finished(2)
    w.finished(3)  # over the limit: t, the oldest, goes (once)
    assert w.released == [t]


def test_the_order_of_ids_already_let_go_does_not_grow_without_bound() -> None:
    w = World(limit=2)
    for n in range(1, 200):
        t = w.finished(n, rets=1)
        w.lineage.take(t.spec["tid"])
    assert len(w.lineage._order) <= 2 * w.lineage.limit + 1
