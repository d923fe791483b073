"""The worker pool: a node's worker processes as a lifecycle table (h11's ``_state.py`` style).

Each worker is in one state; events move it, and only these moves are legal (anything else
raises ``IllegalTransition``, so a bug shows where it happens, not three messages later)::

    event        from       to         when
    connected    STARTING   IDLE       its process connected to the node
    run_task     IDLE       BUSY       a task was dispatched to it
    host_actor   IDLE       ACTOR      an actor's creation was dispatched to it (for its life)
    lend         IDLE       LEASED     lent to a caller on this machine (Ray's worker lease)
    task_done    BUSY       IDLE       its task finished (or failed, or goes to be retried)
    returned     LEASED     IDLE       its lease was returned (or its holder went away)
    retire       IDLE       RETIRING   it ran a function's ``max_calls``, or it is stopped to
                                       make room for work of another ``PoolKey`` at the cap
    reap         IDLE       DEAD       idle for ``IDLE_REAP_S`` beyond the pool size: stopped
    exited       (any)      DEAD       its process exited: its record leaves the table

``blocked`` is a flag of a BUSY or LEASED worker, not a state: its task waits in ``get`` or
``wait`` and has lent its CPU out meanwhile (see ``WorkerPool.set_blocked``).

The pool's decisions: which idle worker takes work of a ``PoolKey`` (a fresh one, or one
dedicated to that key: GPU state never leaks into CPU-only work), when to start a worker (a few
at a time, up to ``max_workers`` taking work; workers blocked in ``get`` and actors' workers do
not count; at the cap an idle worker of another key is retired to make room), refilling the
pool to ``pool_size``, reaping idle workers beyond it, and ``max_calls``. It acts on the world
only through ``WorkerEffects`` (start a process, signal one) and reads time from ``now``; it
never refers to the node it serves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

STARTING = "starting"
IDLE = "idle"
BUSY = "busy"
ACTOR = "actor"
LEASED = "leased"  # lent to a caller, who sends it tasks directly
RETIRING = "retiring"  # told to exit (max_calls, room at the cap): takes nothing more
DEAD = "dead"
STATES = frozenset((STARTING, IDLE, BUSY, ACTOR, LEASED, RETIRING, DEAD))
#: a pool worker that runs, or will run, tasks (not an actor's, not leaving)
TAKING_WORK = frozenset((STARTING, IDLE, BUSY, LEASED))

#: (state, event) -> next state; ``exited`` is legal from every state (see ``WorkerPool.exited``)
TRANSITIONS: dict[tuple[str, str], str] = {
    (STARTING, "connected"): IDLE,
    (IDLE, "run_task"): BUSY,
    (IDLE, "host_actor"): ACTOR,
    (IDLE, "lend"): LEASED,
    (BUSY, "task_done"): IDLE,
    (LEASED, "returned"): IDLE,
    (IDLE, "retire"): RETIRING,
    (IDLE, "reap"): DEAD,
}
#: where ``blocked`` may be set: the worker runs a task of its own, or its caller's
BLOCKABLE = frozenset((BUSY, LEASED))
#: an idle worker beyond the pool size is stopped after this long (Ray's idle worker killing)
IDLE_REAP_S = 10.0


class IllegalTransition(RuntimeError):
    """An event that the worker's state does not allow (a bug in the caller)."""


@dataclass(frozen=True, slots=True)
class PoolKey:
    """What a pool worker is dedicated to once it has run work; work only goes to workers of its
    own key (or to fresh ones), as Ray keeps workers apart, so GPU state and
    ``CUDA_VISIBLE_DEVICES`` never leak between GPU and CPU-only work. Room is left for Ray's
    other half of the key: the hash of the runtime env a worker is dedicated to."""

    gpu: bool
    runtime_env_hash: str = ""


def pool_key(req: dict[str, int]) -> PoolKey:
    """The key of work that needs ``req`` (resources in units)."""
    return PoolKey(gpu=bool(req.get("GPU")))


class WorkerRecord:
    """One worker process as the node knows it. Its ``state`` changes only through the
    ``WorkerPool``'s transitions; the other fields are the work it holds."""

    __slots__ = ("worker_id", "process", "pid", "state", "peer", "task", "actor_id", "blocked", "started_at", "idle_since",
                 "lent_to", "lent", "calls", "key", "assigned_at", "oom")

    def __init__(self, worker_id: bytes, process: Any, started_at: float) -> None:
        self.worker_id = worker_id
        self.process = process
        self.pid: int = process.pid if process is not None else 0
        self.state = STARTING
        self.peer: Any = None
        self.task: Any = None  # the TaskRecord running (pooled worker)
        self.actor_id: bytes | None = None
        self.blocked = False
        self.started_at = started_at
        self.idle_since = started_at
        self.lent_to: bytes | None = None  # LEASED: the caller's peer id, and the resources held
        self.lent: dict[str, int] = {}
        self.calls: dict[bytes, int] = {}  # function id -> tasks of it run (for ``max_calls``)
        self.key: PoolKey | None = None  # what it is dedicated to (None: fresh, it takes any work)
        self.assigned_at = started_at  # when its current work (task, actor, lease) was given to it
        self.oom: str | None = None  # why the memory monitor killed it, once it has

    def takes(self, key: PoolKey) -> bool:
        """Work of ``key`` may run here: the worker is fresh, or dedicated to that key."""
        return self.key is None or self.key == key


class WorkerEffects(Protocol):
    """What the pool does to the world: start a worker process, signal one."""

    def spawn_worker(self) -> WorkerRecord | None:
        """A new worker's record (its process starting); None when none can start now."""
        ...

    def kill_worker(self, worker: WorkerRecord, force: bool = True) -> None: ...


class WorkerPool:
    """The table of one node's workers and the decisions about them.

    ``holds_actors(worker_id)``: the worker's tasks created actors that live on (it is never
    reaped nor retired for room: they die with it, as in Ray). ``stats``: the node's counters,
    of which the pool increments ``workers_started`` and ``workers_died``."""

    def __init__(self, effects: WorkerEffects, *, pool_size: int, max_workers: int, now: Callable[[], float],
                 holds_actors: Callable[[bytes], bool], stats: dict[str, int]) -> None:
        self._effects = effects
        self.pool_size = pool_size
        self.max_workers = max_workers
        self._now = now
        self._holds_actors = holds_actors
        self._stats = stats
        self.workers: dict[bytes, WorkerRecord] = {}

    # ------------------------------------------------------------------ the table
    def get(self, worker_id: bytes) -> WorkerRecord | None:
        return self.workers.get(worker_id)

    def __contains__(self, worker_id: object) -> bool:
        return worker_id in self.workers

    def __iter__(self) -> Iterator[WorkerRecord]:
        return iter(list(self.workers.values()))

    def __len__(self) -> int:
        return len(self.workers)

    def idle(self) -> list[WorkerRecord]:
        return [w for w in self.workers.values() if w.state == IDLE]

    def _move(self, w: WorkerRecord, event: str) -> None:
        new = TRANSITIONS.get((w.state, event))
        if new is None:
            raise IllegalTransition(f"worker {w.worker_id.hex()[:12]}: {event!r} is not allowed in state {w.state!r}")
        w.state = new

    # ------------------------------------------------------------------ starting workers
    def add(self, w: WorkerRecord) -> None:
        """Take ``w`` (a started or adopted process, STARTING) into the table."""
        if w.state != STARTING:
            raise IllegalTransition(f"worker {w.worker_id.hex()[:12]} joins the pool {w.state!r}, not starting")
        self.workers[w.worker_id] = w

    def spawn(self) -> WorkerRecord | None:
        """Start one worker (None when the effects cannot start one now)."""
        w = self._effects.spawn_worker()
        if w is not None:
            self.add(w)
            self._stats["workers_started"] = self._stats.get("workers_started", 0) + 1
        return w

    def refill(self) -> None:
        """Start a worker when fewer than ``pool_size`` take work."""
        if sum(1 for w in self.workers.values() if w.state in TAKING_WORK) < self.pool_size:
            self.spawn()

    def spawn_for(self, waiting: int, unfit_idle: list[WorkerRecord]) -> None:
        """Start a worker for ready work (``waiting`` tasks): a few at a time (Ray's worker
        startup concurrency), up to ``max_workers`` that take work; workers whose task is
        blocked in ``get``/``wait`` and actors' workers do not count, so the cap never holds
        back what a blocked task waits for (Ray, too, starts workers beyond its pool when their
        parents block). At the cap, an idle worker dedicated to other work (``unfit_idle``:
        another ``PoolKey``) is retired to make room, as Ray's pool does."""
        starting = counted = 0
        for w in self.workers.values():
            if w.state == STARTING:
                starting += 1
            if w.state in TAKING_WORK and not w.blocked:
                counted += 1
        if starting >= max(2, self.pool_size) or starting >= waiting:
            return
        if counted >= self.max_workers:
            spare = next((w for w in unfit_idle if w.state == IDLE and not self._holds_actors(w.worker_id)), None)
            if spare is None:
                return
            unfit_idle.remove(spare)
            self.retire(spare)
        self.spawn()

    def connected(self, w: WorkerRecord, peer: Any) -> None:
        """``w``'s process connected as ``peer`` (a starting worker becomes idle)."""
        w.peer = peer
        if w.state == STARTING:
            self._move(w, "connected")
            w.idle_since = self._now()

    # ------------------------------------------------------------------ giving out work
    def take_idle(self, idle: list[WorkerRecord], key: PoolKey) -> WorkerRecord | None:
        """The idle worker of ``idle`` (the caller's list of this pass) that work of ``key``
        goes to, the most recently idle first; taken off ``idle``."""
        w = next((w for w in reversed(idle) if w.takes(key)), None)
        if w is not None:
            idle.remove(w)
        return w

    def run_task(self, w: WorkerRecord, task: Any, key: PoolKey) -> None:
        self._move(w, "run_task")
        self._assign(w, task, key)

    def host_actor(self, w: WorkerRecord, task: Any, key: PoolKey, actor_id: bytes) -> None:
        self._move(w, "host_actor")
        self._assign(w, task, key)
        w.actor_id = actor_id

    def _assign(self, w: WorkerRecord, task: Any, key: PoolKey) -> None:
        w.key = key
        w.task = task
        w.assigned_at = self._now()

    def task_done(self, w: WorkerRecord, fn: bytes, max_calls: Any) -> None:
        """``w``'s task ended (a BUSY worker; in any other state nothing changes): it is idle,
        or, having run ``fn`` ``max_calls`` times, it exits (its memory with it)."""
        if w.state != BUSY:
            return
        self._move(w, "task_done")
        w.task = None
        w.blocked = False
        w.idle_since = self._now()
        if not isinstance(max_calls, int) or max_calls <= 0:
            return
        n = w.calls[fn] = w.calls.get(fn, 0) + 1
        if n >= max_calls:
            self.retire(w)

    def retire(self, w: WorkerRecord) -> None:
        """Tell an idle worker to exit; it takes nothing more meanwhile."""
        self._move(w, "retire")
        self._effects.kill_worker(w, force=False)

    # ------------------------------------------------------------------ leases
    def lend(self, key: PoolKey, peer_id: bytes, req: dict[str, int]) -> WorkerRecord | None:
        """Lend a connected idle worker that takes ``key`` to ``peer_id``, holding ``req``."""
        w = next((w for w in self.workers.values() if w.state == IDLE and w.peer is not None and w.takes(key)), None)
        if w is None:
            return None
        self._move(w, "lend")
        w.lent_to, w.lent, w.key = peer_id, req, key
        w.assigned_at = self._now()
        return w

    def lent_to(self, peer_id: bytes) -> list[WorkerRecord]:
        return [w for w in self.workers.values() if w.state == LEASED and w.lent_to == peer_id]

    def returned(self, peer_id: bytes, worker_id: bytes) -> dict[str, int] | None:
        """``peer_id`` returns its lease of ``worker_id``: the resources to release (None: it
        held no such lease)."""
        w = self.workers.get(worker_id)
        if w is None or w.state != LEASED or w.lent_to != peer_id:
            return None
        held = self._end_lease(w)
        self._move(w, "returned")
        w.idle_since = self._now()
        return held

    def _end_lease(self, w: WorkerRecord) -> dict[str, int]:
        """What the lease still holds (a blocked task has lent its CPU out already)."""
        held = {k: v for k, v in w.lent.items() if k != "CPU"} if w.blocked else w.lent
        w.lent_to, w.lent, w.blocked = None, {}, False
        return held

    # ------------------------------------------------------------------ blocking
    def set_blocked(self, w: WorkerRecord, blocked: bool) -> bool:
        """Mark ``w``'s task blocked in ``get``/``wait`` or going on; False when nothing changed."""
        if w.blocked == blocked:
            return False
        if w.state not in BLOCKABLE:
            raise IllegalTransition(f"worker {w.worker_id.hex()[:12]}: blocked={blocked} in state {w.state!r}")
        w.blocked = blocked
        return True

    # ------------------------------------------------------------------ ending
    def reap_idle(self) -> list[WorkerRecord]:
        """Stop idle workers beyond ``pool_size`` that have been idle ``IDLE_REAP_S`` (a worker
        whose tasks created actors is kept: they die with it, as in Ray)."""
        now = self._now()
        pooled = [w for w in self.workers.values() if w.state in TAKING_WORK]
        extra = len(pooled) - self.pool_size
        reaped = []
        for w in pooled:
            if extra <= 0:
                break
            if w.state == IDLE and now - w.idle_since > IDLE_REAP_S and not self._holds_actors(w.worker_id):
                self._move(w, "reap")
                self._effects.kill_worker(w, force=False)
                reaped.append(w)
                extra -= 1
        return reaped

    def exited(self, worker_id: bytes, returncode: int | None) -> tuple[WorkerRecord, str, dict[str, int]] | None:
        """``worker_id``'s process exited: its record leaves the table. Returns it, the state
        it was in, and the resources its lease held (to release); None for a worker unknown."""
        w = self.workers.pop(worker_id, None)
        if w is None:
            return None
        prev = w.state
        w.state = DEAD
        if returncode not in (0, None) and returncode != -15:
            self._stats["workers_died"] = self._stats.get("workers_died", 0) + 1
        held = self._end_lease(w) if prev == LEASED else {}
        return w, prev, held
