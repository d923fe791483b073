"""Task events: the state of each task a node ran or runs, for ``edgeray list tasks``.

Ray keeps these in its GCS (``GcsTaskManager``), fed by every worker's buffered task events. Here
a node records what it sees itself (tasks and calls it dispatched, failures it decides), and its
workers report what the node never sees: direct actor calls and tasks on leased workers
(``TaskEvents``, about once a second). One row per task, the latest state wins; a terminal
state (``FINISHED``, ``FAILED``) is never overwritten by a late report of an earlier one. At most
``limit`` rows are kept, the oldest dropped first (Ray: ``task_events_max_num_task_in_gcs``).
"""

from __future__ import annotations

import collections
import time
from typing import Any

from .. import exceptions as exc

#: Ray's task states, in the order a task goes through them
STATES = ("PENDING_ARGS_AVAIL", "PENDING_NODE_ASSIGNMENT", "SUBMITTED_TO_WORKER", "RUNNING", "FINISHED", "FAILED")
TERMINAL = frozenset({"FINISHED", "FAILED"})
#: ``TaskSpec["kind"]`` -> Ray's task type
TYPES = {0: "NORMAL_TASK", 1: "ACTOR_CREATION_TASK", 2: "ACTOR_TASK"}
DEFAULT_LIMIT = 10_000


def error_type(error: BaseException) -> str:
    """Ray's ``error_type`` of a task that failed with ``error``."""
    if isinstance(error, exc.TaskCancelledError):
        return "TASK_CANCELLED"
    if isinstance(error, exc.WorkerCrashedError):
        return "WORKER_DIED"
    if isinstance(error, exc.NodeDiedError):
        return "NODE_DIED"
    if isinstance(error, exc.RayActorError):
        return "ACTOR_DIED"
    if isinstance(error, exc.ObjectLostError):
        return "OBJECT_LOST"
    return "TASK_EXECUTION_EXCEPTION"


class TaskEventTable:
    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = max(1, limit)
        self.rows: collections.OrderedDict[bytes, dict[str, Any]] = collections.OrderedDict()
        self.dropped = 0  # rows dropped to keep within ``limit``
        self.malformed = 0  # reported events that were not well-formed (skipped)
        self._open: dict[int, set[bytes]] = {}  # worker pid -> its reported tasks not finished

    def record(
        self, spec: dict[str, Any], state: str, *, node_id: bytes, worker_pid: int | None = None,
        error: str | None = None, at: float | None = None,
    ) -> None:
        """A task (its spec) reached ``state`` on this node."""
        self._set(spec["tid"], state, spec.get("kind", 0), spec.get("name", ""), spec.get("job", b""),
                  spec.get("actor"), error, time.time() if at is None else at, node_id, worker_pid)

    def ingest(self, events: Any, *, node_id: bytes, worker_pid: int | None) -> int:
        """A worker's ``TaskEvents``: ``[task_id, state, kind, name, job_id, actor_id|None,
        error_type|None, start_time|None, time]`` each. Returns how many finished (or failed); malformed events
        are skipped and counted."""
        finished = 0
        if not isinstance(events, list):
            self.malformed += 1
            return 0
        for ev in events:
            if not _well_formed(ev):
                self.malformed += 1
                continue
            tid, state, kind, name, job, actor, err, start, at = ev
            self._set(tid, state, kind, name, job, actor, err, float(at), node_id, worker_pid, start)
            finished += state in TERMINAL
        return finished

    def worker_died(self, worker_pid: int, cause: str = "WORKER_DIED") -> None:
        """Tasks a dead worker reported and never finished failed with it."""
        for tid in self._open.pop(worker_pid, ()):
            row = self.rows.get(tid)
            if row is not None and row["state"] not in TERMINAL:
                row["state"], row["error_type"], row["end_time"] = "FAILED", cause, time.time()

    def list(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.rows.values()]

    def _set(
        self, tid: bytes, state: str, kind: int, name: str, job: bytes, actor: bytes | None, err: str | None,
        at: float, node_id: bytes, worker_pid: int | None, start: float | None = None,
    ) -> None:
        row = self.rows.get(tid)
        if row is None:
            row = self.rows[tid] = new_row(tid, state, kind, name, job, actor, node_id, worker_pid)
            if len(self.rows) > self.limit:
                self.rows.popitem(last=False)
                self.dropped += 1
        elif row["state"] in TERMINAL and state not in TERMINAL:
            return  # a late report of an earlier state
        row["state"] = state
        if worker_pid is not None:
            row["worker_pid"] = worker_pid
        if start is not None:
            row["start_time"] = float(start)
        elif state == "RUNNING" and row["start_time"] is None:
            row["start_time"] = at
        if state in TERMINAL:
            row["end_time"] = at
            row["error_type"] = err if state == "FAILED" else None
            if worker_pid is not None:
                self._open.get(worker_pid, set()).discard(tid)
        elif worker_pid is not None:
            self._open.setdefault(worker_pid, set()).add(tid)


def merge_rows(tables: list[list[Any]]) -> list[dict[str, Any]]:
    """Several nodes' ``list tasks`` rows as one list: a task two nodes know (its owner queued
    it, another ran it) appears once, in the furthest state either saw."""
    out: dict[Any, dict[str, Any]] = {}
    for rows in tables:
        for row in rows:
            if not isinstance(row, dict) or "task_id" not in row:
                continue
            old = out.get(row["task_id"])
            if old is None or _rank(row) > _rank(old):
                out[row["task_id"]] = row
    return list(out.values())


def _rank(row: dict[str, Any]) -> tuple[int, bool]:
    state = row.get("state")
    return (STATES.index(state) if state in STATES else -1, row.get("worker_pid") is not None)


def new_row(
    tid: bytes, state: str, kind: int, name: str, job: bytes, actor: bytes | None, node_id: bytes,
    worker_pid: int | None,
) -> dict[str, Any]:
    """A row of ``list tasks`` (Ray's ``TaskState`` fields that edgeray knows)."""
    return {
        "task_id": tid.hex(), "name": name, "state": state, "type": TYPES.get(kind, "NORMAL_TASK"),
        "job_id": job.hex(), "actor_id": actor.hex() if actor else None, "node_id": node_id.hex(),
        "worker_pid": worker_pid, "error_type": None, "start_time": None, "end_time": None,
    }


def _well_formed(ev: Any) -> bool:
    return (
        isinstance(ev, list) and len(ev) == 9
        and isinstance(ev[0], bytes) and len(ev[0]) == 16
        and ev[1] in STATES
        and isinstance(ev[2], int) and isinstance(ev[3], str) and isinstance(ev[4], bytes)
        and (ev[5] is None or isinstance(ev[5], bytes))
        and (ev[6] is None or isinstance(ev[6], str))
        and (ev[7] is None or _is_time(ev[7]))
        and _is_time(ev[8])
    )


def _is_time(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)
