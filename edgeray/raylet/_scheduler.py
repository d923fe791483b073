"""The node's scheduler: which ready task goes where, and to which worker.

One pass (``Scheduler.schedule``) walks the task table's ready queues, shape by shape, each FIFO
(Ray's scheduling classes), and asks where the head of each queue can run (``place``)::

    answer     what the scheduler does
    RUN        here, drawing from ``pool`` (``bundle``: a placement-group bundle's): an idle
               worker that takes its ``PoolKey`` gets it (``dispatch``); with none, the pool
               may start one and the shape waits for the next pass
    WAIT       not now (no room yet): the shape waits for the next pass
    FORWARD    on another node (``forward``)
    INFEASIBLE no node can ever hold it: it waits for the cluster to change (``park``)
    FAIL       never (``fail`` with ``error``)

A task marked done while queued (cancelled) is dropped when it reaches the head of its queue.
Placement groups waiting for resources are tried before each pass (they were asked earlier).
The scheduler owns no I/O: it acts through ``SchedulerEffects`` and reads the ``TaskTable`` and
the ``WorkerPool`` it is given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._task_table import TaskTable
from ._worker_pool import PoolKey, WorkerPool, WorkerRecord, pool_key

RUN = "run"
WAIT = "wait"
FORWARD = "forward"
INFEASIBLE = "infeasible"
FAIL = "fail"


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a ready task can run now (see the module header)."""

    kind: str
    pool: Any = None  # RUN: the ResourcePool it draws from
    bundle: Any = None  # RUN: its placement-group bundle key (None: the node's own resources)
    node_id: bytes | None = None  # FORWARD
    error: BaseException | None = None  # FAIL


@dataclass(frozen=True, slots=True)
class SchedulerEffects:
    """What the scheduler asks and does outside itself (the node passes its own functions)."""

    #: try the placement groups that wait for resources (before each pass)
    before_pass: Callable[[], None]
    #: where ready task ``t`` can run now
    place: Callable[[Any], Placement]
    #: send ``t`` to the node ``node_id``
    forward: Callable[[Any, bytes], None]
    #: no node can hold ``t``: it waits (and is reported once per shape)
    park: Callable[[Any], None]
    #: ``t`` can never run: its results become ``error``
    fail: Callable[[Any, BaseException], None]
    #: run ``t`` on worker ``w``: take its resources from ``pool``, send it ``Execute``
    dispatch: Callable[[Any, WorkerRecord, Any, PoolKey], None]


class Scheduler:
    def __init__(self, tasks: TaskTable, pool: WorkerPool, effects: SchedulerEffects) -> None:
        self._tasks = tasks
        self._pool = pool
        self._effects = effects

    def schedule(self) -> None:
        """Place ready tasks: per resource shape, FIFO, while resources and idle workers last."""
        self._effects.before_pass()
        ready = self._tasks.ready
        if not ready:
            return
        idle = self._pool.idle()
        for shape, q in list(ready.queues.items()):
            while q:
                t = q[0]
                if t.done:  # cancelled while it waited
                    q.popleft()
                    continue
                where = self._effects.place(t)
                if where.kind == WAIT:
                    break
                if where.kind != RUN:
                    q.popleft()
                    self._not_here(t, where)
                    continue
                key = pool_key(t.req)
                w = self._pool.take_idle(idle, key)
                if w is None:  # (other shapes may still find a worker of theirs)
                    self._pool.spawn_for(len(ready), idle)
                    break
                q.popleft()
                t.pool = where.bundle
                self._effects.dispatch(t, w, where.pool, key)
            if not q:
                del ready.queues[shape]

    def _not_here(self, t: Any, where: Placement) -> None:
        if where.kind == FORWARD:
            assert where.node_id is not None
            self._effects.forward(t, where.node_id)
        elif where.kind == INFEASIBLE:
            self._effects.park(t)
        elif where.kind == FAIL:
            assert where.error is not None
            self._effects.fail(t, where.error)
        else:
            raise ValueError(f"unknown placement {where.kind!r}")
