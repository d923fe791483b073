"""The node's task table: where each task it holds is, and the one path by which a task runs again.

A task the node holds is in one of these places (a task may be in ``live`` and one other)::

    live        every task the node holds, by task id (weakly: for ``cancel`` and ``list tasks``);
                one whose arguments are still missing is only here
    ready       its arguments are ready: FIFO per resource shape (``ReadyQueues``), waiting for
                resources and a worker
    running     sent to a worker (``Execute``), until its ``TaskDone`` or its worker's exit
    infeasible  no node here can ever hold it: it waits for one that can to join

Retries (Ray's ``max_retries``) take one path, ``TaskTable.retry``: the run of a task was lost
(it failed with a retryable error, its worker died, or the node it was forwarded to died); if it
has retries left and was not cancelled, one is used and it goes back to ``ready``. The table is
plain data driven by the node's Trio thread; it never refers to the node.
"""

from __future__ import annotations

import weakref
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, Protocol


class QueuedTask(Protocol):
    """What the table reads of a task record (``node._records.TaskRecord``)."""

    spec: Any
    shape: Any
    done: bool
    cancelled: bool
    retries_left: int
    missing: int


class ReadyQueues:
    """Tasks whose dependencies are resolved, FIFO per resource shape (Ray's scheduling classes),
    so one pass of the scheduler costs O(shapes), not O(tasks). A task marked ``done`` while
    queued (cancelled) stays until the scheduler reaches it and drops it (no scan per cancel);
    iteration skips it, ``len`` still counts it."""

    def __init__(self) -> None:
        self.queues: dict[Any, deque[Any]] = {}

    def append(self, t: Any) -> None:
        q = self.queues.get(t.shape)
        if q is None:
            q = self.queues[t.shape] = deque()
        q.append(t)

    def __len__(self) -> int:
        return sum(len(q) for q in self.queues.values())

    def __bool__(self) -> bool:
        return bool(self.queues)

    def __iter__(self) -> Any:
        for q in list(self.queues.values()):
            yield from [t for t in q if not t.done]

    def remove(self, t: Any) -> None:
        q = self.queues.get(t.shape)
        if q is not None:
            q.remove(t)
            if not q:
                del self.queues[t.shape]

    def remove_if(self, pred: Callable[[Any], bool]) -> None:
        for shape, q in list(self.queues.items()):
            kept = deque(t for t in q if not t.done and not pred(t))  # (done: dropped, ``pred`` not asked)
            if kept:
                self.queues[shape] = kept
            else:
                del self.queues[shape]


class TaskTable:
    """``live``, ``ready``, ``running`` and ``infeasible`` of one node, and its retry decision.

    ``stats``: the node's counters, of which the table increments ``task_retries``."""

    def __init__(self, stats: dict[str, int]) -> None:
        self._stats = stats
        self.live: weakref.WeakValueDictionary[bytes, Any] = weakref.WeakValueDictionary()
        self.ready = ReadyQueues()
        self.running: dict[bytes, Any] = {}
        self.infeasible: list[Any] = []

    def retry(self, t: QueuedTask) -> bool:
        """``t``'s run was lost: True when it runs again (a retry used, ``t`` back in ``ready``);
        False when it has none left or was cancelled (its caller fails it)."""
        if t.retries_left == 0 or t.cancelled:
            return False
        t.retries_left -= 1
        self._stats["task_retries"] = self._stats.get("task_retries", 0) + 1
        self.ready.append(t)
        return True

    def park_infeasible(self, t: QueuedTask) -> None:
        self.infeasible.append(t)

    def take_infeasible(self) -> list[Any]:
        """The cluster changed: the tasks no node could hold, not done, back to ``ready``."""
        waiting, self.infeasible = self.infeasible, []
        for t in waiting:
            if not t.done:
                self.ready.append(t)
        return waiting

    def drop_done_infeasible(self) -> None:
        self.infeasible = [t for t in self.infeasible if not t.done]

    def pending(self) -> Iterator[tuple[str, Any]]:
        """Each task held and not finished, with its state as ``list tasks`` names it."""
        for t in self.running.values():
            yield "RUNNING", t
        for t in self.ready:
            yield "PENDING_NODE_ASSIGNMENT", t
        for t in self.infeasible:
            if not t.done:
                yield "PENDING_NODE_ASSIGNMENT", t
        for t in list(self.live.values()):
            if t.missing and not t.done:
                yield "PENDING_ARGS_AVAIL", t
