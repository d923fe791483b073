"""The worker pool as a lifecycle table, driven without processes: a recording fake spawner and
a fake clock (``raylet._worker_pool``)."""

from __future__ import annotations

import itertools

import pytest

from edgeray.raylet import _worker_pool as P
from edgeray.raylet._worker_pool import (
    ACTOR,
    BUSY,
    DEAD,
    IDLE,
    LEASED,
    RETIRING,
    STARTING,
    IllegalTransition,
    PoolKey,
    WorkerPool,
    WorkerRecord,
)

CPU = PoolKey(gpu=False)
GPU = PoolKey(gpu=True)


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class FakeSpawner:
    """Records what the pool does to the world."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.ids = itertools.count(1)
        self.spawned: list[WorkerRecord] = []
        self.killed: list[tuple[bytes, bool]] = []
        self.can_spawn = True

    def spawn_worker(self) -> WorkerRecord | None:
        if not self.can_spawn:
            return None
        w = WorkerRecord(next(self.ids).to_bytes(16, "big"), None, self.clock())
        self.spawned.append(w)
        return w

    def kill_worker(self, worker: WorkerRecord, force: bool = True) -> None:
        self.killed.append((worker.worker_id, force))


class Harness:
    def __init__(self, pool_size: int = 2, max_workers: int = 4) -> None:
        self.clock = Clock()
        self.spawner = FakeSpawner(self.clock)
        self.owners: set[bytes] = set()
        self.stats: dict[str, int] = {"workers_started": 0, "workers_died": 0}
        self.pool = WorkerPool(self.spawner, pool_size=pool_size, max_workers=max_workers, now=self.clock,
                               holds_actors=lambda wid: wid in self.owners, stats=self.stats)

    def idle_worker(self) -> WorkerRecord:
        w = self.pool.spawn()
        assert w is not None
        self.pool.connected(w, object())
        return w


def test_a_worker_goes_starting_idle_busy_idle() -> None:
    h = Harness()
    w = h.pool.spawn()
    assert w is not None and w.state == STARTING and w.worker_id in h.pool
    assert h.stats["workers_started"] == 1
    h.clock.t = 105.0
    h.pool.connected(w, "peer")
    assert (w.state, w.peer, w.idle_since) == (IDLE, "peer", 105.0)
    task = object()
    h.pool.run_task(w, task, CPU)
    assert (w.state, w.task, w.key, w.assigned_at) == (BUSY, task, CPU, 105.0)
    h.clock.t = 107.0
    h.pool.task_done(w, b"fn", None)
    assert (w.state, w.task, w.idle_since) == (IDLE, None, 107.0)


def test_connecting_again_keeps_the_state() -> None:
    h = Harness()
    w = h.idle_worker()
    h.pool.run_task(w, object(), CPU)
    h.pool.connected(w, "again")
    assert w.state == BUSY and w.peer == "again"


@pytest.mark.parametrize(("state", "event"), [
    (STARTING, "run_task"), (BUSY, "run_task"), (ACTOR, "run_task"), (LEASED, "host_actor"),
    (BUSY, "lend"), (ACTOR, "task_done"), (RETIRING, "returned"), (DEAD, "connected"), (BUSY, "retire"),
    (ACTOR, "reap"),
])
def test_an_illegal_transition_raises(state: str, event: str) -> None:
    h = Harness()
    w = h.idle_worker()
    w.state = state
    with pytest.raises(IllegalTransition):
        h.pool._move(w, event)
    assert w.state == state


def test_the_transitions_are_the_table() -> None:
    for (state, _event), new in P.TRANSITIONS.items():
        assert state in P.STATES and new in P.STATES
    h = Harness()
    w = h.idle_worker()
    h.pool.run_task(w, object(), CPU)
    with pytest.raises(IllegalTransition):
        h.pool.run_task(w, object(), CPU)
    with pytest.raises(IllegalTransition):
        h.pool.host_actor(w, object(), CPU, b"a")


def test_an_actor_worker_is_the_actors_for_its_life() -> None:
    h = Harness()
    w = h.idle_worker()
    h.pool.host_actor(w, "create", CPU, b"actor")
    assert (w.state, w.actor_id) == (ACTOR, b"actor")
    h.pool.task_done(w, b"fn", 1)  # (a pool worker's completion: nothing changes for an actor's)
    assert w.state == ACTOR and not h.spawner.killed


def test_max_calls_retires_a_worker() -> None:
    h = Harness()
    w = h.idle_worker()
    for _ in range(2):
        h.pool.run_task(w, object(), CPU)
        h.pool.task_done(w, b"f", 3)
    assert w.state == IDLE and w.calls == {b"f": 2}
    h.pool.run_task(w, object(), CPU)
    h.pool.task_done(w, b"f", 3)
    assert w.state == RETIRING
    assert h.spawner.killed == [(w.worker_id, False)]


def test_only_workers_of_the_key_or_fresh_ones_take_work() -> None:
    h = Harness()
    gpu, fresh = h.idle_worker(), h.idle_worker()
    h.pool.run_task(gpu, object(), GPU)
    h.pool.task_done(gpu, b"f", None)
    idle = h.pool.idle()
    assert h.pool.take_idle(idle, CPU) is fresh
    assert h.pool.take_idle(idle, CPU) is None
    assert h.pool.take_idle(idle, GPU) is gpu and idle == []


def test_refill_keeps_pool_size_taking_work() -> None:
    h = Harness(pool_size=2)
    a = h.idle_worker()
    h.pool.refill()
    assert len(h.pool) == 2
    h.pool.refill()
    assert len(h.pool) == 2
    h.pool.host_actor(a, object(), CPU, b"x")  # an actor's worker does not count
    h.pool.refill()
    assert len(h.pool) == 3


def test_spawn_for_starts_a_few_at_a_time() -> None:
    h = Harness(pool_size=1, max_workers=10)
    h.pool.spawn_for(5, [])
    h.pool.spawn_for(5, [])
    h.pool.spawn_for(5, [])  # two starting already (max(2, pool_size))
    assert len(h.spawner.spawned) == 2
    h.pool.spawn_for(2, [])  # no more starting than tasks waiting
    assert len(h.spawner.spawned) == 2


def test_at_the_cap_an_idle_worker_of_another_key_makes_room() -> None:
    h = Harness(pool_size=1, max_workers=2)
    gpu, busy = h.idle_worker(), h.idle_worker()
    h.pool.run_task(gpu, object(), GPU)
    h.pool.task_done(gpu, b"f", None)
    h.pool.run_task(busy, object(), CPU)
    h.owners.add(gpu.worker_id)  # its tasks created actors: kept
    unfit = [gpu]
    h.pool.spawn_for(1, unfit)
    assert len(h.spawner.spawned) == 2 and gpu.state == IDLE
    h.owners.clear()
    h.pool.spawn_for(1, unfit)
    assert gpu.state == RETIRING and unfit == [] and h.spawner.killed == [(gpu.worker_id, False)]
    assert len(h.spawner.spawned) == 3


def test_a_blocked_worker_does_not_count_at_the_cap() -> None:
    h = Harness(pool_size=1, max_workers=1)
    w = h.idle_worker()
    h.pool.run_task(w, object(), CPU)
    h.pool.spawn_for(1, [])
    assert len(h.spawner.spawned) == 1
    assert h.pool.set_blocked(w, True)
    assert not h.pool.set_blocked(w, True)
    h.pool.spawn_for(1, [])
    assert len(h.spawner.spawned) == 2


def test_blocked_only_in_busy_or_leased() -> None:
    h = Harness()
    w = h.idle_worker()
    with pytest.raises(IllegalTransition):
        h.pool.set_blocked(w, True)
    h.pool.host_actor(w, object(), CPU, b"a")
    with pytest.raises(IllegalTransition):
        h.pool.set_blocked(w, True)


def test_a_lease_and_its_return() -> None:
    h = Harness()
    unconnected = h.pool.spawn()
    assert h.pool.lend(CPU, b"caller", {"CPU": 10_000}) is None  # (not connected yet)
    w = h.idle_worker()
    h.clock.t = 110.0
    assert h.pool.lend(CPU, b"caller", {"CPU": 10_000}) is w
    assert (w.state, w.lent_to, w.lent, w.assigned_at) == (LEASED, b"caller", {"CPU": 10_000}, 110.0)
    assert h.pool.lent_to(b"caller") == [w]
    assert h.pool.returned(b"other", w.worker_id) is None  # not its lease
    assert unconnected is not None and h.pool.returned(b"caller", unconnected.worker_id) is None
    h.pool.set_blocked(w, True)
    assert h.pool.returned(b"caller", w.worker_id) == {}  # its CPU was lent out already
    assert (w.state, w.lent_to, w.blocked, w.idle_since) == (IDLE, None, False, 110.0)
    assert h.pool.returned(b"caller", w.worker_id) is None


def test_reaping_stops_idle_workers_beyond_the_pool_after_a_while() -> None:
    h = Harness(pool_size=1)
    a, b, c = h.idle_worker(), h.idle_worker(), h.idle_worker()
    h.pool.run_task(c, object(), CPU)
    assert h.pool.reap_idle() == []
    h.clock.t += P.IDLE_REAP_S + 1
    h.owners.add(a.worker_id)
    assert h.pool.reap_idle() == [b]  # (one beyond the pool; ``a`` keeps its actors)
    assert b.state == DEAD and h.spawner.killed == [(b.worker_id, False)]
    assert b.worker_id in h.pool  # until its process exits


def test_an_exit_drops_the_record_and_says_what_it_held() -> None:
    h = Harness()
    w = h.idle_worker()
    h.pool.lend(CPU, b"caller", {"CPU": 10_000, "memory": 5})
    gone = h.pool.exited(w.worker_id, -9)
    assert gone == (w, LEASED, {"CPU": 10_000, "memory": 5})
    assert w.state == DEAD and w.worker_id not in h.pool and h.stats["workers_died"] == 1
    assert h.pool.exited(w.worker_id, -9) is None
    quiet = h.idle_worker()
    assert h.pool.exited(quiet.worker_id, -15) == (quiet, IDLE, {})
    assert h.stats["workers_died"] == 1  # (SIGTERM, 0: asked to go)


def test_no_spawner_no_workers() -> None:
    h = Harness()
    h.spawner.can_spawn = False
    assert h.pool.spawn() is None
    h.pool.refill()
    h.pool.spawn_for(3, [])
    assert len(h.pool) == 0 and h.stats["workers_started"] == 0


def test_only_starting_workers_join() -> None:
    h = Harness()
    w = WorkerRecord(b"x" * 16, None, 0.0)
    w.state = IDLE
    with pytest.raises(IllegalTransition):
        h.pool.add(w)
