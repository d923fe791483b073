"""In-memory GCS tables. Persistence backends (issue 6) write through ``GcsTables.kv``."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ._actor_lifecycle import ALIVE, DEAD, DIED, PENDING, RESTARTING, advance
from ._durable import DurableGcs
from ._pg_lifecycle import PG_CREATED, PG_PENDING, PG_REMOVED, PG_RESCHEDULING
from ._task_events import TaskEventTable

__all__ = ["ALIVE", "DEAD", "PENDING", "RESTARTING", "ActorRecord", "GcsTables", "JobRecord",
           "PG_CREATED", "PG_PENDING", "PG_REMOVED", "PG_RESCHEDULING", "PlacementGroupRecord"]


@dataclass
class JobRecord:
    job_id: bytes
    namespace: str
    driver_pid: int
    start_time: float = field(default_factory=time.time)
    end_time: float | None = None
    alive: bool = True


@dataclass
class ActorRecord:
    actor_id: bytes
    spec: dict[str, Any]
    class_name: str
    name: str
    namespace: str
    job_id: bytes
    detached: bool
    meta: dict[str, Any]
    state: str = PENDING
    worker_id: bytes | None = None
    pid: int | None = None
    death_cause: str | None = None
    death_exc: BaseException | None = None  # the error calls on this dead actor raise, if special
    restarts: int = 0
    # calls not yet sent to the worker: per caller (ordering) queues
    queues: dict[bytes, deque[Any]] = field(default_factory=dict)  # raylet TaskRecords
    inflight: dict[bytes, Any] = field(default_factory=dict)
    host: bytes | None = None  # the node it runs on, when that is another node
    stub: bool = False  # only known here to route calls (created elsewhere)
    origin: bytes | None = None  # the node that placed it here (its owner), when another node

    @property
    def max_restarts(self) -> int:
        return int(self.spec["opts"].get("max_restarts", 0))

    def info(self) -> dict[str, Any]:
        return {
            "actor_id": self.actor_id.hex(),
            "class_name": self.class_name,
            "name": self.name,
            "namespace": self.namespace,
            "job_id": self.job_id.hex(),
            "state": self.state,
            "pid": self.pid,
            "is_detached": self.detached,
            "death_cause": self.death_cause,
            "restarts": self.restarts,
        }




@dataclass
class PlacementGroupRecord:
    """A placement group: bundles (resource units) reserved together under one strategy."""

    pg_id: bytes
    name: str
    strategy: str
    bundles: list[dict[str, int]]  # resource -> units (1/10000)
    job_id: bytes
    detached: bool
    ready_id: bytes  # the object pg.ready() returns; set when the group is created
    ready_value: bytes  # its payload data (the client's pickled PlacementGroup)
    state: str = PG_PENDING
    nodes: list[bytes] = field(default_factory=list)  # the node of each bundle, once created
    create_time: float = field(default_factory=time.time)
    warned: bool = False

    def info(self) -> dict[str, Any]:
        """``placement_group_table()``'s entry, as Ray spells it."""
        return {
            "placement_group_id": self.pg_id.hex(),
            "name": self.name,
            "bundles": {i: {k: v / 10_000 for k, v in b.items()} for i, b in enumerate(self.bundles)},
            "bundles_to_node_id": {i: n.hex() for i, n in enumerate(self.nodes)},
            "strategy": self.strategy,
            "state": self.state,
            "is_detached": self.detached,
            "stats": {"scheduling_state": "FINISHED" if self.state == PG_CREATED else self.state},
        }


class GcsTables:
    def __init__(self) -> None:
        self.jobs: dict[bytes, JobRecord] = {}
        self.actors: dict[bytes, ActorRecord] = {}
        self.named: dict[tuple[str, str], bytes] = {}
        self.pgs: dict[bytes, PlacementGroupRecord] = {}
        self.named_pgs: dict[str, bytes] = {}
        self.durable: DurableGcs | None = None  # write-through persistence (gcs.storage)
        self.functions: dict[bytes, tuple[bytes, str]] = {}
        #: the drivers' jobs that registered each function; code no job of theirs needs any more
        #: goes when the last of them ends (code registered otherwise, by workers or with a
        #: forwarded task, stays: its job is not known here)
        self.function_jobs: dict[bytes, set[bytes]] = {}
        self.kv: dict[str, bytes] = {}
        self._next_job = 1
        self.on_dead: Any = None  # called with each actor record marked dead
        self.task_events = TaskEventTable()  # what this node ran and runs (``list tasks``)

    def new_job(self, namespace: str, pid: int) -> JobRecord:
        job_id = self._next_job.to_bytes(4, "little")
        self._next_job += 1
        rec = self.jobs[job_id] = JobRecord(job_id, namespace, pid)
        self.save_job(rec)
        return rec

    def register_function(self, fn_id: bytes, blob: bytes, name: str, job_id: bytes | None) -> None:
        """Code for ``fn_id``, registered by a driver of ``job_id`` (None: by anyone else)."""
        known = fn_id in self.functions
        self.functions.setdefault(fn_id, (blob, name))
        if job_id is None:
            self.function_jobs.pop(fn_id, None)  # needed beyond any one job: kept
        elif not known or fn_id in self.function_jobs:
            self.function_jobs.setdefault(fn_id, set()).add(job_id)

    def end_job(self, job_id: bytes, keep_dead_jobs: int = 1000) -> None:
        """``job_id``'s driver is gone: drop the code only its jobs registered (unless an
        actor still alive runs it), and all but the newest ``keep_dead_jobs`` ended jobs."""
        in_use = {rec.spec.get("fn") for rec in self.actors.values() if rec.state != DEAD}
        for fn_id in [f for f, jobs in self.function_jobs.items() if job_id in jobs]:
            jobs = self.function_jobs[fn_id]
            jobs.discard(job_id)
            if not jobs and fn_id not in in_use:
                del self.function_jobs[fn_id]
                del self.functions[fn_id]
        ended = [j for j, rec in self.jobs.items() if not rec.alive]
        for j in ended[: max(0, len(ended) - keep_dead_jobs)]:  # (oldest first: insertion order)
            del self.jobs[j]

    def save_job(self, rec: JobRecord) -> None:
        if self.durable is not None:
            self.durable.save_job(rec.job_id, {
                "namespace": rec.namespace, "pid": rec.driver_pid, "start": rec.start_time, "end": rec.end_time,
            })

    def restore_jobs(self, saved: list[tuple[bytes, dict[str, Any]]]) -> None:
        """Jobs of an earlier run of this node: ended (their drivers went with it); new ids
        continue after theirs."""
        for job_id, d in saved:
            end = d.get("end") or time.time()
            self.jobs[job_id] = JobRecord(job_id, str(d["namespace"]), int(d["pid"]), float(d["start"]), end, False)
            self._next_job = max(self._next_job, int.from_bytes(job_id, "little") + 1)

    def lookup_named(self, name: str, namespace: str) -> ActorRecord | None:
        aid = self.named.get((namespace, name))
        if aid is None:
            return None
        rec = self.actors.get(aid)
        if rec is None or rec.state == DEAD:
            return None
        return rec

    def register_actor(self, rec: ActorRecord) -> None:
        self.actors[rec.actor_id] = rec
        if rec.name:
            self.named[(rec.namespace, rec.name)] = rec.actor_id
        if self.durable is not None and rec.detached:
            fn = self.functions.get(rec.spec.get("fn") or b"")
            if fn is not None:
                self.durable.save_function(rec.spec["fn"], fn[0], fn[1])
            self.save_detached(rec)

    def save_detached(self, rec: ActorRecord) -> None:
        """Write a detached actor's record through, with the node it runs on (``host``: after
        a restart, the head waits for that node to rejoin instead of creating it again)."""
        if self.durable is not None and rec.detached and rec.state != DEAD:
            self.durable.save_actor(rec.actor_id, {
                "spec": rec.spec, "class_name": rec.class_name, "name": rec.name,
                "namespace": rec.namespace, "job_id": rec.job_id, "meta": rec.meta, "host": rec.host,
            })

    def kv_put(self, key: str, value: bytes) -> None:
        self.kv[key] = value
        if self.durable is not None:
            self.durable.kv_put(key, value)

    def mark_dead(self, rec: ActorRecord, cause: str) -> None:
        was_dead = rec.state == DEAD
        advance(rec, DIED)
        rec.death_cause = cause
        if self.on_dead is not None and not was_dead:
            self.on_dead(rec)
        if self.durable is not None and rec.detached:
            self.durable.drop_actor(rec.actor_id)
        if rec.name and self.named.get((rec.namespace, rec.name)) == rec.actor_id:
            del self.named[(rec.namespace, rec.name)]
