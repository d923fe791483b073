"""The node's scheduler driven alone (``raylet._scheduler``): a task table, a worker pool over a
fake spawner, and recording effects whose placement answers the test chooses."""

from __future__ import annotations

import itertools
from typing import Any

from edgeray.raylet import _scheduler as S
from edgeray.raylet._scheduler import Placement, Scheduler, SchedulerEffects
from edgeray.raylet._task_table import TaskTable
from edgeray.raylet._worker_pool import BUSY, PoolKey, WorkerPool, WorkerRecord


class Task:
    def __init__(self, name: str, shape: Any = "cpu", req: dict[str, int] | None = None) -> None:
        self.spec = {"name": name}
        self.shape = shape
        self.req = req if req is not None else {"CPU": 10_000}
        self.done = False
        self.cancelled = False
        self.retries_left = 3
        self.missing = 0
        self.pool: Any = "unset"


class Spawner:
    def __init__(self) -> None:
        self.ids = itertools.count(1)
        self.spawned: list[WorkerRecord] = []

    def spawn_worker(self) -> WorkerRecord:
        w = WorkerRecord(next(self.ids).to_bytes(16, "big"), None, 0.0)
        self.spawned.append(w)
        return w

    def kill_worker(self, worker: WorkerRecord, force: bool = True) -> None:
        pass


class Harness:
    def __init__(self, pool_size: int = 1, max_workers: int = 8) -> None:
        self.answers: dict[str, Placement] = {}  # by task name; RUN on the node's pool otherwise
        self.log: list[tuple[Any, ...]] = []
        self.tasks = TaskTable({})
        self.spawner = Spawner()
        self.pool = WorkerPool(self.spawner, pool_size=pool_size, max_workers=max_workers, now=lambda: 0.0,
                               holds_actors=lambda wid: False, stats={})
        effects = SchedulerEffects(
            before_pass=lambda: self.log.append(("before_pass",)),
            place=lambda t: self.answers.get(t.spec["name"], Placement(S.RUN, "node-pool", None)),
            forward=lambda t, node: self.log.append(("forward", t.spec["name"], node)),
            park=lambda t: self.log.append(("park", t.spec["name"])),
            fail=lambda t, e: self.log.append(("fail", t.spec["name"], str(e))),
            dispatch=self._dispatch,
        )
        self.scheduler = Scheduler(self.tasks, self.pool, effects)

    def _dispatch(self, t: Any, w: WorkerRecord, pool: Any, key: PoolKey) -> None:
        self.pool.run_task(w, t, key)
        self.log.append(("dispatch", t.spec["name"], w.worker_id[-1], pool, t.pool))

    def workers(self, n: int) -> None:
        for _ in range(n):
            w = self.pool.spawn()
            assert w is not None
            self.pool.connected(w, object())

    def ready(self, *tasks: Task) -> None:
        for t in tasks:
            self.tasks.ready.append(t)

    def did(self, kind: str) -> list[tuple[Any, ...]]:
        return [e for e in self.log if e[0] == kind]


def test_ready_tasks_go_to_idle_workers_fifo() -> None:
    h = Harness()
    h.workers(2)
    a, b, c = Task("a"), Task("b"), Task("c")
    h.ready(a, b, c)
    h.scheduler.schedule()
    assert h.log[0] == ("before_pass",)
    assert [e[1] for e in h.did("dispatch")] == ["a", "b"]
    assert list(h.tasks.ready) == [c]
    assert len(h.spawner.spawned) == 3  # (one started for ``c``)


def test_nothing_ready_only_tries_the_groups() -> None:
    h = Harness()
    h.scheduler.schedule()
    assert h.log == [("before_pass",)]


def test_wait_holds_its_shape_only() -> None:
    h = Harness()
    h.workers(2)
    big, after, other = Task("big", "big"), Task("after", "big"), Task("other", "small")
    h.answers["big"] = Placement(S.WAIT)
    h.ready(big, after, other)
    h.scheduler.schedule()
    assert [e[1] for e in h.did("dispatch")] == ["other"]
    assert list(h.tasks.ready.queues) == ["big"] and list(h.tasks.ready) == [big, after]


def test_forward_park_and_fail_take_the_task_off_the_queue() -> None:
    h = Harness()
    h.workers(1)
    f, p, x, r = Task("f"), Task("p"), Task("x"), Task("r")
    h.answers.update({"f": Placement(S.FORWARD, node_id=b"n2"), "p": Placement(S.INFEASIBLE),
                      "x": Placement(S.FAIL, error=ValueError("never"))})
    h.ready(f, p, x, r)
    h.scheduler.schedule()
    assert h.log[1:] == [("forward", "f", b"n2"), ("park", "p"), ("fail", "x", "never"),
                         ("dispatch", "r", 1, "node-pool", None)]
    assert not h.tasks.ready


def test_a_bundle_placement_is_recorded_on_the_task() -> None:
    h = Harness()
    h.workers(1)
    t = Task("t", "pg")
    h.answers["t"] = Placement(S.RUN, "bundle-pool", (b"pg", 0))
    h.ready(t)
    h.scheduler.schedule()
    assert h.did("dispatch") == [("dispatch", "t", 1, "bundle-pool", (b"pg", 0))]


def test_cancelled_tasks_are_dropped_at_the_head() -> None:
    h = Harness()
    h.workers(1)
    gone, t = Task("gone"), Task("t")
    gone.done = True
    h.ready(gone, t)
    h.scheduler.schedule()
    assert [e[1] for e in h.did("dispatch")] == ["t"] and not h.tasks.ready.queues


def test_work_goes_only_to_workers_of_its_key() -> None:
    h = Harness(pool_size=1, max_workers=8)
    h.workers(1)
    gpu = Task("gpu", "gpu", {"GPU": 10_000})
    h.ready(gpu)
    h.scheduler.schedule()
    (w,) = h.pool.workers.values()
    assert w.state == BUSY and w.key == PoolKey(gpu=True)
    h.pool.task_done(w, b"f", None)
    cpu = Task("cpu")
    h.ready(cpu)
    h.scheduler.schedule()
    assert [e[1] for e in h.did("dispatch")] == ["gpu"]  # the GPU worker takes no CPU-only work
    assert len(h.spawner.spawned) == 2 and list(h.tasks.ready) == [cpu]
    fresh = h.spawner.spawned[-1]
    h.pool.connected(fresh, object())
    h.scheduler.schedule()
    assert [e[1] for e in h.did("dispatch")] == ["gpu", "cpu"]
