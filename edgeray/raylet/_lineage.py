"""Lineage: finished tasks kept so that results lost with the node holding them can be computed
again (Ray's lineage reconstruction, for tasks this node forwarded to another node).

A kept task keeps its arguments pinned in the object directory; letting it go releases them
(``release``, given at construction). ``Lineage`` owns the kept tasks and their order, and
nothing else; whether a result still exists is asked of ``exists`` (the directory).

The rules:

- ``keep(t)``: a finished task that may run again is kept, newest last. At most ``limit`` tasks
  are kept: past it the oldest are let go (their results can no longer be recomputed).
- ``freed(oid)``: one of a kept task's results was freed; once none of them exists, the task
  is let go.
- ``take(tid)``: the task is taken out to run again; its pins go with it (not released).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from ..protocol import return_ids

#: How many finished forwarded tasks are remembered to re-run them if their results are lost.
LINEAGE_LIMIT = 10_000


class LineageTask(Protocol):
    @property
    def spec(self) -> dict[str, Any]: ...


T = TypeVar("T", bound=LineageTask)


class Lineage(Generic[T]):
    """The kept tasks by task id (see the module's docstring)."""

    def __init__(self, *, release: Callable[[T], None], exists: Callable[[bytes], bool],
                 limit: int = LINEAGE_LIMIT) -> None:
        self._release = release
        self._exists = exists
        self.limit = limit
        self._tasks: dict[bytes, T] = {}
        self._order: deque[bytes] = deque()

    def __len__(self) -> int:
        return len(self._tasks)

    def __contains__(self, task_id: bytes) -> bool:
        return task_id in self._tasks

    def get(self, task_id: bytes) -> T | None:
        return self._tasks.get(task_id)

    def keep(self, t: T) -> None:
        tid = t.spec["tid"]
        self._tasks[tid] = t
        self._order.append(tid)
        while len(self._tasks) > self.limit and self._order:
            self._drop(self._order.popleft())
        if len(self._order) > 2 * self.limit:  # ids of entries already dropped
            self._order = deque(x for x in self._order if x in self._tasks)

    def freed(self, oid: bytes) -> None:
        """``oid`` was freed: once all the results of its task are, forget the task."""
        t = self._tasks.get(oid[:16])
        if t is not None and all(r == oid or not self._exists(r) for r in return_ids(t.spec)):
            self._drop(oid[:16])

    def take(self, task_id: bytes) -> T | None:
        """Take the task out to run it again (its pins stay with it)."""
        return self._tasks.pop(task_id, None)

    def _drop(self, task_id: bytes) -> None:
        t = self._tasks.pop(task_id, None)
        if t is not None:
            self._release(t)
