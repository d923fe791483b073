"""What the node's core keeps of each task (its queues, ``ReadyQueues``, are the task table's, in
``raylet._task_table``); the protocols of the core's collaborators (a connected peer, the worker
spawner).

Plain data, no I/O: shared by ``_core``, ``_actors``, ``_remote`` and ``_placement_groups``.
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["caller_key"]  # (the GCS's: re-exported for the node's parts)

from ..gcs import caller_key
from ..protocol import Message
from ..raylet import _workers as W
from ..raylet import to_units
from ..raylet._tasks import ACTOR_CREATE, TASK, TaskSpec
from ..raylet._worker_pool import WorkerEffects
from ._placement_groups import pg_strategy


class Peer(Protocol):
    peer_id: bytes
    role: str
    job_id: bytes
    pid: int
    shm: bool

    def send(self, msg: Message) -> None: ...


#: the worker spawner: the worker pool's effects (start a worker process, signal one)
Spawner = WorkerEffects


class TaskRecord:
    __slots__ = ("spec", "raw", "missing", "registering", "dep_payloads", "req", "place", "shape", "gpu_ids", "worker", "retries_left", "done", "held", "pool", "pg", "cancelled", "local_only", "forwarded_to", "__weakref__")

    def __init__(self, spec: TaskSpec, raw: bytes | None = None, local_only: bool = False) -> None:
        self.spec = spec
        self.local_only = local_only  # forwarded here by another node: run here, never elsewhere
        self.forwarded_to: bytes | None = None
        self.raw = raw  # the spec as the submitter encoded it (forwarded in Execute)
        self.missing = 0
        self.registering = False
        self.dep_payloads: list[dict[str, Any] | None] = [None] * len(spec["deps"])
        self.req = {k: to_units(v) for k, v in spec["res"].items() if v}
        # what must be free to place it (an actor needs 1 CPU to be placed, 0 to run, by default)
        self.place = self.req
        if spec["kind"] == ACTOR_CREATE and spec["opts"].get("placement_cpu"):
            self.place = {**self.req, "CPU": self.req.get("CPU", 0) + to_units(1)}
        self.pg = pg = pg_strategy(spec)  # its placement-group strategy, if any
        if pg is not None:  # in a placement group: the bundle holds the resources, no extra CPU
            self.place = self.req
        self.shape = (
            spec["kind"] == ACTOR_CREATE,
            tuple(sorted(self.place.items())),
            (pg["pg_id"], pg.get("bundle_index", -1)) if pg is not None else None,
        )
        self.gpu_ids: list[str] = []
        self.worker: W.WorkerRecord | None = None
        self.retries_left = int(spec["opts"].get("max_retries", 3 if spec["kind"] == TASK else 0))
        self.done = False
        self.held: dict[str, int] = {}
        self.pool: tuple[bytes, int] | None = None  # the placement-group bundle it draws from
        self.cancelled = False


INFEASIBLE = "infeasible"  # a strategy's answer: no node can ever hold it (it waits, reported)


