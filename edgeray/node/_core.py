"""The node's state machine: tasks, actors, objects and workers, driven by messages.

Everything here runs on the node's single Trio thread; handlers are synchronous, so state changes
are atomic. I/O is delegated: ``Peer.send`` queues frames, ``Spawner`` starts worker processes.
"""

from __future__ import annotations

import functools
import logging
import os
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from .. import exceptions as exc
from ..gcs import ActorDirectory, ActorRecord, DurableGcs, GcsTables
from ..gcs import _tables as gcs_state
from ..gcs._actor_lifecycle import RESTORED, advance
from ..gcs._task_events import TERMINAL, error_type, new_row
from ..object_store import ObjectStore
from ..plugins import ClusterView, NodeView, SchedulingRequest, from_unit_dict
from ..protocol import CancelTask, Execute, Log, encode_spec
from ..raylet import NodeResources, ObjectDirectory, ObjectEntry, error_payload
from ..raylet import _scheduler as S
from ..raylet import _workers as W
from ..raylet._resources import ResourcePool
from ..raylet._scheduler import Placement, Scheduler, SchedulerEffects
from ..raylet._task_table import ReadyQueues, TaskTable
from ..raylet._tasks import ACTOR_CALL, ACTOR_CREATE, TASK, TaskSpec, return_ids
from ..raylet._worker_pool import WorkerPool
from ._actors import Actors, DirectoryPorts
from ._cluster import ClusterTable, NodeEntry
from ._objects import NodeObjectEffects
from ._placement_groups import WAIT, PlacementGroups
from ._pool_workers import PoolWorkers
from ._records import INFEASIBLE, Peer, Spawner, TaskRecord, caller_key
from ._remote import RemoteWork, is_marker

log = logging.getLogger("edgeray.node")


class _NoSpawner:
    """The pool's effects on a node that starts no worker processes."""

    def spawn_worker(self) -> None:
        return None

    def kill_worker(self, worker: W.WorkerRecord, force: bool = True) -> None:
        pass


_NO_SPAWNER = _NoSpawner()


class NodeCore:
    """State and message handlers of one node (single-node scheduling; see issue 5 for more)."""

    def __init__(
        self,
        node_id: bytes,
        resources: NodeResources,
        store: ObjectStore,
        *,
        pool_size: int,
        max_workers: int,
        spawner: Spawner | None = None,
        node_socket: str = "",
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.node_id = node_id
        self.resources = resources
        self.store = store
        self.gcs = GcsTables()
        self.pgs = PlacementGroups(self)
        self.strategies: dict[str, Any] = {}  # plugin scheduling strategies by name
        self.labels: dict[str, str] = {}  # this node's labels (config and plugins)
        self.cluster = ClusterTable(NodeEntry(node_id, "", os.uname().nodename, dict(resources.total),
                                              dict(resources.available), head=True))
        self.peers: dict[bytes, Peer] = {}
        self.stats = {
            "tasks_submitted": 0, "tasks_finished": 0, "workers_started": 0, "workers_died": 0,
            "task_retries": 0, "actor_restarts": 0, "direct_tasks_finished": 0, "workers_killed_oom": 0,
        }
        self.tasks = TaskTable(self.stats)  # live, ready, running, infeasible; the retry decision
        self.remote = RemoteWork(self, self.cluster)
        self.actors = Actors(self, ActorDirectory(self.gcs, node_id, DirectoryPorts(self.remote, self.pgs)))
        self.gcs.on_dead = self.actors.died
        effects = NodeObjectEffects(self.peers, self.tasks.live, self.remote, self.actors)
        self.object_service = ObjectDirectory(node_id, store, effects)
        self.pool_workers = PoolWorkers(self)
        self.objects = self.object_service.table
        self.spawner = spawner  # (None: this node starts no worker processes)
        self.node_socket = node_socket  # the node's Unix socket; workers' direct sockets live beside it
        self.now = now
        self._warned_infeasible: set[bytes] = set()
        #: workers the memory monitor killed: worker id -> why (kept for the lease holders that ask)
        self.oom_kills: dict[bytes, str] = {}
        owned = self.actors.owned
        self.pool = WorkerPool(spawner or _NO_SPAWNER, pool_size=pool_size, max_workers=max_workers, now=now,
                               holds_actors=lambda wid: bool(owned.get(wid)), stats=self.stats)
        self.workers = self.pool.workers  # (the pool's table, read by the other parts)
        self.scheduler = Scheduler(self.tasks, self.pool, SchedulerEffects(
            before_pass=self.pgs.try_pending, place=self._place, forward=self.remote.forward,
            park=lambda t: self._infeasible(t, t.place), fail=self._fail_unplaceable, dispatch=self._dispatch))

    # the task table's places (``raylet._task_table``), read by the other parts
    @property
    def live(self) -> weakref.WeakValueDictionary[bytes, TaskRecord]:
        return self.tasks.live

    @property
    def ready(self) -> ReadyQueues:
        return self.tasks.ready

    @property
    def running(self) -> dict[bytes, TaskRecord]:
        return self.tasks.running

    @property
    def infeasible(self) -> list[TaskRecord]:
        return self.tasks.infeasible

    # ------------------------------------------------------------------ peers
    def peer_connected(self, peer: Peer) -> None:
        self.peers[peer.peer_id] = peer
        if peer.role == "worker":
            w = self.workers.get(peer.peer_id)
            if w is not None:
                self.pool.connected(w, peer)
                self.schedule()

    def peer_disconnected(self, peer: Peer) -> None:
        self.peers.pop(peer.peer_id, None)
        self.object_service.peer_gone(peer.peer_id)
        for w in self.pool.lent_to(peer.peer_id):
            self.pool_workers.return_lease(peer, w.worker_id)
        if peer.role == "driver":
            self._end_job(peer.job_id)

    def _end_job(self, job_id: bytes) -> None:
        job = self.gcs.jobs.get(job_id)
        if job is not None:
            job.alive = False
            job.end_time = time.time()
            self.gcs.save_job(job)
        for rec in list(self.gcs.actors.values()):
            if rec.job_id == job_id and not rec.detached and rec.state != gcs_state.DEAD:
                self.actors.terminate(rec, "The actor is dead because its owner has died: the driver that created it exited.")
        self.ready.remove_if(lambda t: t.spec["job"] == job_id and not self.drop_task(t))
        # nor do the job's tasks that wait for resources or arguments: nobody will read them
        ended = [t for t in self.infeasible if t.spec["job"] == job_id]
        ended += [t for t in list(self.live.values()) if t.spec["job"] == job_id and t.missing and t.spec["kind"] == TASK]
        for t in ended:
            if not t.done:
                t.done = True
                self.drop_task(t)
        self.tasks.drop_done_infeasible()
        self.pgs.end_job(job_id)
        self.gcs.end_job(job_id)

    def drop_task(self, t: TaskRecord) -> bool:
        self.release_pins(t)
        return False

    # ------------------------------------------------------------------ submission
    def unschedulable(self, spec: TaskSpec) -> BaseException | None:
        """The error for a strategy no node here can ever satisfy (one node: see issue 5)."""
        strategy = spec["opts"].get("strategy")
        if not isinstance(strategy, dict):
            return None
        cls = exc.ActorUnschedulableError if spec["kind"] == ACTOR_CREATE else exc.TaskUnschedulableError
        kind = strategy.get("kind")
        if kind == "NODE_AFFINITY":
            target = strategy.get("node_id")
            try:
                alive = isinstance(target, str) and self.cluster.is_alive(bytes.fromhex(target))
            except ValueError:
                alive = False
            if alive or strategy.get("soft"):
                return None
            nodes = ", ".join(n.hex() for n in self.cluster.alive_ids())
            return cls(
                f"{spec['name']} has hard node affinity to node {target}, which is not "
                f"alive in this cluster (nodes: {nodes}); use soft=True to run elsewhere."
            )
        return None

    def submit(self, peer: Peer, spec: TaskSpec, raw: bytes | None = None, *, local_only: bool = False) -> None:
        if spec["kind"] == ACTOR_CALL and spec["actor"] not in self.gcs.actors:
            if self.remote.locate_actor(peer, spec, raw):  # it lives on another node: ask where
                return
        self.stats["tasks_submitted"] += 1
        rets = return_ids(spec)
        objects = self.objects
        owner = peer.peer_id
        for oid in rets:
            objects.expect(oid, owner).waiters.append(functools.partial(self.object_service.push, peer))
        if spec["kind"] != ACTOR_CALL and not local_only:
            error = self.unschedulable(spec)
            if error is not None:
                if spec["kind"] == ACTOR_CREATE and spec["actor"] in self.gcs.actors:
                    actor = self.gcs.actors[spec["actor"]]
                    self.gcs.mark_dead(actor, str(error))
                    actor.death_exc = error
                self.fail_returns(spec, error)
                return
        if spec["kind"] == ACTOR_CALL:
            known = self.gcs.actors.get(spec["actor"])
            if known is None or known.state == gcs_state.DEAD:
                self.fail_returns(spec, self.actors.error(known, spec))
                return
        t = TaskRecord(spec, raw, local_only)
        self.live[spec["tid"]] = t
        objects.pin(spec["deps"])
        objects.pin(spec["nested"])
        self._await_deps(t)

    def _await_deps(self, t: TaskRecord) -> None:
        """Queue ``t`` once its arguments are ready (actor calls: in their caller's queue)."""
        spec, objects = t.spec, self.objects
        t.missing = len(spec["deps"])
        t.registering = True  # count every dependency before any may complete
        for i, oid in enumerate(spec["deps"]):
            if not objects.when_ready(oid, functools.partial(self._dep_ready, t, i)):
                t.missing -= 1
                t.dep_payloads[i] = error_payload(oid, exc.ObjectLostError(oid.hex(), "it was freed or never existed"))
        t.registering = False
        if spec["kind"] == ACTOR_CALL:
            actor = self.gcs.actors[spec["actor"]]
            t.retries_left = int(actor.spec["opts"].get("max_task_retries", 0))
            actor.queues.setdefault(caller_key(spec), deque()).append(t)  # type: ignore[arg-type]
            self.actors.pump(actor)
        elif t.missing == 0:
            self._enqueue(t)

    def _dep_ready(self, t: TaskRecord, i: int, e: ObjectEntry) -> None:
        t.dep_payloads[i] = e.payload
        t.missing -= 1
        if t.missing == 0 and not t.registering:
            if t.spec["kind"] == ACTOR_CALL:
                actor = self.gcs.actors.get(t.spec["actor"])
                if actor is not None:
                    self.actors.pump(actor)
            else:
                self._enqueue(t)

    def _enqueue(self, t: TaskRecord) -> None:
        if t.done:  # cancelled while it waited for its arguments
            return
        failed = next((p for p in t.dep_payloads if p is not None and p.get("err")), None)
        if failed is not None and t.spec["kind"] == TASK:
            bounce = t.local_only and failed.get("lost_from") is not None  # its owner can recompute it
            self.finish_with_payloads(t, [{**failed, "id": oid, "refs": [], "bounce": bounce} for oid in return_ids(t.spec)])
            return
        if t.local_only and t.spec["kind"] == TASK and any(is_marker(p) for p in t.dep_payloads):
            self.remote.localize(t.spec["deps"], functools.partial(self._localized_before_queue, t))
            return
        self.ready.append(t)
        self.schedule()

    def _localized_before_queue(self, t: TaskRecord) -> None:
        """A task forwarded here has its arguments copied in before it takes a worker; one
        that could not be copied (its node died) goes back to the owner (``bounce``)."""
        self._refresh_deps(t)
        if any(is_marker(p) for p in t.dep_payloads):
            self.ready.append(t)  # dispatch fetches what is still elsewhere
        else:
            self._enqueue(t)
        self.schedule()

    # ------------------------------------------------------------------ scheduling
    def schedule(self) -> None:
        """Place ready tasks (``raylet._scheduler.Scheduler.schedule``)."""
        self.scheduler.schedule()

    def _place(self, t: TaskRecord) -> Placement:
        """Where ready ``t`` can run now: the scheduler's question, answered from the cluster
        (across nodes), its placement group's bundles, or this node's resources."""
        if self.cluster.is_multi() and not t.local_only and t.pg is None:
            where = self.remote.decide(t)
            if isinstance(where, bytes):  # another node
                return Placement(S.FORWARD, node_id=where)
            pool, key = self._local_placement(t) if where is None else (None, where)
        elif t.local_only and t.pg is None:
            pool, key = self._local_placement(t)
        else:
            pool, key = self._placement(t)
        if pool is not None:
            return Placement(S.RUN, pool, key)
        if key is WAIT:
            return Placement(S.WAIT)
        if isinstance(key, bytes):  # its placement-group bundle is on that node
            return Placement(S.FORWARD, node_id=key)
        if key is None or key is INFEASIBLE:
            return Placement(S.INFEASIBLE)
        return Placement(S.FAIL, error=key)

    def _placement(self, t: TaskRecord) -> tuple[ResourcePool | None, Any]:
        """Where ``t`` draws its resources: ``(pool, bundle key or None)``; ``(None, WAIT)`` when
        it must wait; ``(None, None)`` when no node can ever fit it; ``(None, error)``."""
        if t.pg is not None:
            return self.pgs.bundle_for(t, t.pg)
        named = t.spec["opts"].get("strategy")
        if (isinstance(named, str) and named != "DEFAULT") or (isinstance(named, dict) and named.get("kind") == "NAMED"):
            answer = self._ask_strategy(t, named)
            if answer is not None:
                return None, answer
        res = self.resources
        if not res.feasible(t.place):
            return None, None
        return (res, None) if res.fits(t.place) else (None, WAIT)

    def _local_placement(self, t: TaskRecord) -> tuple[ResourcePool | None, Any]:
        res = self.resources
        if not res.feasible(t.place):
            return None, None
        return (res, None) if res.fits(t.place) else (None, WAIT)

    def retry_infeasible(self) -> None:
        """The cluster changed (a node joined): tasks no node could hold are tried again."""
        if self.tasks.take_infeasible():
            self.schedule()

    def _ask_strategy(self, t: TaskRecord, named: Any) -> Any:
        """Ask a named strategy (a plugin's, or SPREAD) about ``t``: None = place it here (if it
        fits), ``WAIT`` = ask again when resources free up, ``INFEASIBLE`` = it waits and is
        reported, or the error that fails it."""
        name, params = (named, {}) if isinstance(named, str) else (named.get("name"), named.get("params") or {})
        res = self.resources
        me = self.node_id.hex()
        view = ClusterView((NodeView(me, True, res.snapshot_total(), res.snapshot_available(), self.labels, True),), me)
        decision = self.ask_strategy(t, name, params, view)
        if isinstance(decision, BaseException):
            return decision
        if decision.is_node and decision.node_id == me:
            return None
        if decision.is_retry or decision.is_node:  # another node (none here yet): ask again later
            return WAIT
        return INFEASIBLE

    def ask_strategy(self, t: TaskRecord, name: str, params: dict[str, Any], view: ClusterView,
                     arg_bytes: dict[str, int] | None = None) -> Any:
        """The strategy ``name``'s decision for ``t`` over ``view``, or the error that fails
        ``t``: an unknown strategy, one that raised, or a fatal ``infeasible``."""
        strategy = self.strategies.get(name)
        actor = t.spec["kind"] == ACTOR_CREATE
        cls = exc.ActorUnschedulableError if actor else exc.TaskUnschedulableError
        if strategy is None:
            return cls(f"{t.spec['name']}: unknown scheduling strategy {name!r}; this node knows "
                       f"{sorted(self.strategies)} (install or load the plugin that provides it).")
        request = SchedulingRequest(from_unit_dict(t.place), "actor" if actor else "task",
                                    name, params, arg_bytes or {})
        try:
            decision = strategy.decide(request, view)
        except Exception as e:  # a broken plugin fails this task, not the node
            log.exception("scheduling strategy %s failed", name)
            return cls(f"{t.spec['name']}: scheduling strategy {name!r} raised {e!r}")
        if decision.is_infeasible and decision.fatal:
            return cls(f"{t.spec['name']} cannot be scheduled by {name}: {decision.reason}")
        return decision

    def pool_of(self, t: TaskRecord) -> ResourcePool | None:
        """The pool ``t`` holds resources from (None: its bundle is gone with its group)."""
        if t.pool is None:
            return self.resources
        return self.resources.bundles.get(t.pool)

    def _fail_unplaceable(self, t: TaskRecord, error: BaseException) -> None:
        if t.spec["kind"] == ACTOR_CREATE:
            actor = self.gcs.actors.get(t.spec["actor"])
            if actor is not None:
                self.gcs.mark_dead(actor, str(error))
                actor.death_exc = error
                self.actors.fail_calls(actor)
        self.fail_returns(t.spec, error)
        self.release_pins(t)

    def stop_work_in_placement_group(self, pg_id: bytes, cause: str) -> None:
        """A group is being removed: queued work for it fails, running work in it is killed."""
        error_task = exc.TaskPlacementGroupRemoved(f"The placement group {pg_id.hex()} was removed: {cause}.")
        # (Ray: the actor's calls raise ActorDiedError, naming the group)
        error_actor = exc.ActorDiedError(f"The actor died because its placement group {pg_id.hex()} was removed: {cause}.")

        def in_group(t: TaskRecord) -> bool:
            return t.pg is not None and t.pg["pg_id"] == pg_id

        doomed = [t for t in self.ready if in_group(t)]
        self.ready.remove_if(in_group)
        for t in doomed:
            self._fail_unplaceable(t, error_actor if t.spec["kind"] == ACTOR_CREATE else error_task)
        for w in list(self.workers.values()):
            t = w.task
            if t is None or t.pool is None or t.pool[0] != pg_id:
                continue
            if w.state == W.ACTOR and w.actor_id is not None:
                actor = self.gcs.actors.get(w.actor_id)
                if actor is not None:
                    actor.death_exc = error_actor
                    self.actors.kill(actor, f"its placement group {pg_id.hex()} was removed ({cause})", no_restart=True)
            elif not t.done:
                t.retries_left = 0
                self.running.pop(t.spec["tid"], None)
                self.fail_returns(t.spec, error_task)
                self.release_pins(t)
                t.done = True
                if self.spawner is not None:
                    self.spawner.kill_worker(w)

    def _infeasible(self, t: TaskRecord, req: dict[str, int]) -> None:
        self.tasks.park_infeasible(t)
        key = repr(sorted(req.items())).encode()
        if key not in self._warned_infeasible:
            self._warned_infeasible.add(key)
            want = from_unit_dict(req)
            msg = (
                f"Warning: The following resource request cannot be scheduled right now: {want}. "
                f"This node has {self.resources.snapshot_total()}. The {'actor' if t.spec['kind'] else 'task'} "
                f"{t.spec['name']} waits until a node that can run it joins the cluster."
            )
            log.warning(msg)
            self.send_log(t.spec["job"], "scheduler", os.getpid(), [msg], "err")

    def _dispatch(self, t: TaskRecord, w: W.WorkerRecord, pool: ResourcePool, key: W.PoolKey) -> None:
        spec = t.spec
        req = t.req
        t.gpu_ids = pool.acquire(req)
        t.held = req
        t.worker = w
        if spec["kind"] == ACTOR_CREATE:
            self.pool.host_actor(w, t, key, spec["actor"])
            actor = self.gcs.actors[spec["actor"]]
            actor.worker_id = w.worker_id
            actor.pid = w.pid
            if self.cluster.is_multi() or actor.name:
                self.remote.actor_placed(actor, self.node_id)
            self.pool.refill()
        else:
            self.pool.run_task(w, t, key)
        self.running[spec["tid"]] = t
        self.send_execute(w, t)

    def send_execute(self, w: W.WorkerRecord, t: TaskRecord) -> None:
        if any(is_marker(p) for p in t.dep_payloads):  # bring arguments held elsewhere here first
            self.remote.localize(t.spec["deps"], functools.partial(self._send_localized, w, t))
            return
        self._send_execute_now(w, t)

    def _send_localized(self, w: W.WorkerRecord, t: TaskRecord) -> None:
        if t.done or t.worker is not w or w.peer is None or w.state == W.DEAD:
            return
        for oid in t.spec["deps"]:
            e = self.objects.get(oid)
            if e is not None and not e.ready:  # lost meanwhile and being recomputed: wait for it
                self.objects.when_ready(oid, lambda _e: self._send_localized(w, t))
                return
        self._refresh_deps(t)
        if any(is_marker(p) for p in t.dep_payloads):  # recomputed on another node: fetch again
            self.send_execute(w, t)
            return
        self._send_execute_now(w, t)

    def _refresh_deps(self, t: TaskRecord) -> None:
        """Take the arguments' current payloads (a copy made here replaces a marker)."""
        for i, oid in enumerate(t.spec["deps"]):
            e = self.objects.get(oid)
            if e is not None and e.payload is not None:
                t.dep_payloads[i] = e.payload

    def _send_execute_now(self, w: W.WorkerRecord, t: TaskRecord) -> None:
        spec = t.spec
        env = None
        if spec["kind"] != ACTOR_CALL:
            cpus = spec["res"].get("CPU")
            env = {
                "OMP_NUM_THREADS": str(max(1, int(cpus))) if cpus else "1",
                "CUDA_VISIBLE_DEVICES": ",".join(t.gpu_ids),
            }
        deps = [self.object_service.payload_for(w.peer, p, lease=True) for p in t.dep_payloads]
        if t.raw is None:
            t.raw = encode_spec(spec)  # type: ignore[arg-type]
        w.peer.send(Execute(t.raw, deps, env))
        self.gcs.task_events.record(spec, "RUNNING", node_id=self.node_id, worker_pid=w.pid)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ completion
    def task_done(self, peer: Peer, task_id: bytes, results: list[dict[str, Any]], failed: bool, retryable: bool, error: str | None) -> None:
        t = self.running.get(task_id)
        if t is not None and (t.worker is None or t.worker.worker_id != peer.peer_id):
            # only the worker the task went to reports it (a forged result is refused whole)
            raise exc.ProtocolError(f"done for task {task_id.hex()}, which was not sent to this worker")
        t = self.running.pop(task_id, None)
        if t is None:
            for p in results:  # a task we no longer track (cancelled, its job gone)
                if p.get("loc") is not None and self.objects.get(p["id"]) is None:
                    self.store.delete(p["id"])
            return
        w = self.workers.get(peer.peer_id)
        kind = t.spec["kind"]
        if kind == ACTOR_CALL:
            actor = self.gcs.actors.get(t.spec["actor"])
            if actor is not None:
                actor.inflight.pop(task_id, None)
        if failed and retryable and kind == TASK and self.tasks.retry(t):
            self.release_worker(t, w)
            self.schedule()
            return
        if kind == ACTOR_CREATE:
            self.actors.created(t, failed, error)
        state = "FAILED" if failed else "FINISHED"
        self.gcs.task_events.record(t.spec, state, node_id=self.node_id, worker_pid=w.pid if w is not None else None,
                                    error=("TASK_CANCELLED" if t.cancelled else "TASK_EXECUTION_EXCEPTION") if failed else None)
        self.finish_with_payloads(t, results)
        self.release_worker(t, w)
        self.schedule()

    def release_worker(self, t: TaskRecord, w: W.WorkerRecord | None) -> None:
        kind = t.spec["kind"]
        if kind == TASK:
            pool = self.pool_of(t)
            if t.held and pool is not None:
                if w is not None and w.blocked:
                    pool.release({k: v for k, v in t.held.items() if k != "CPU"}, t.gpu_ids)
                else:
                    pool.release(t.held, t.gpu_ids)
            t.held = {}
            if w is not None:  # (Ray's ``max_calls``: the pool retires a worker that ran ``fn`` that often)
                self.pool.task_done(w, t.spec["fn"], t.spec["opts"].get("max_calls"))

    def finish_with_payloads(self, t: TaskRecord, results: list[dict[str, Any]]) -> None:
        t.done = True
        self.stats["tasks_finished"] += 1
        for p in results:
            p = self.object_service.sealed(p)
            if self.objects.set_ready(p) is None and p.get("loc") is not None:
                self.store.delete(p["id"])
        self.release_pins(t)

    def release_pins(self, t: TaskRecord) -> None:
        self.objects.unpin(t.spec["deps"])
        self.objects.unpin(t.spec["nested"])

    def fail_returns(self, spec: TaskSpec, error: BaseException) -> None:
        """The task fails without running (again): its results become ``error``."""
        self.gcs.task_events.record(spec, "FAILED", node_id=self.node_id, error=error_type(error))
        for oid in return_ids(spec):
            self.objects.set_ready(error_payload(oid, error))

    # ------------------------------------------------------------------ cancellation
    def cancel_task(self, task_id: bytes, force: bool, recursive: bool) -> None:
        """Ray's ``cancel``: a task not started never runs; a running one is interrupted
        (``KeyboardInterrupt`` in it, or its worker killed with ``force``); ``recursive`` also
        cancels the tasks it submitted. Its results become ``TaskCancelledError``."""
        t = self.live.get(task_id)
        if t is None or t.done or t.cancelled or t.spec["kind"] == ACTOR_CREATE:
            return
        t.cancelled = True
        t.retries_left = 0
        if t.forwarded_to is not None:  # its node cancels it and answers with its results
            self.remote.link(t.forwarded_to).send(CancelTask(task_id, force, recursive))
            return
        kind = t.spec["kind"]
        w = t.worker
        if recursive and w is not None and kind == TASK:
            for child in [c for c in self.live.values() if c.spec["owner"] == w.worker_id and c is not t]:
                self.cancel_task(child.spec["tid"], force, True)
        if task_id in self.running and w is not None:
            if force and kind == TASK and self.spawner is not None:
                self.spawner.kill_worker(w)  # worker_exited reports TaskCancelledError
            elif w.peer is not None:
                # KeyboardInterrupt / coroutine cancel; the worker also cancels the children it
                # sent to leased workers (the node does not know those)
                w.peer.send(CancelTask(task_id, False, recursive and kind == TASK))
            return
        error = exc.TaskCancelledError(f"Task {t.spec['name']} ({task_id.hex()}) was cancelled.")
        t.done = True  # a queue (the ready queue, its actor's) drops it when it reaches it
        self.fail_returns(t.spec, error)
        self.release_pins(t)

    # ------------------------------------------------------------------ actors

    def restore(self, durable: DurableGcs, rejoin_s: float = 0.0) -> None:
        """Take back what the GCS saved before this node restarted: detached actors (created
        again: their constructors re-run, their state is new; one that ran on another node is
        left to it if that node rejoins within ``rejoin_s``), their code, detached placement
        groups (reserved again) and the KV store; then write through to ``durable``."""
        gcs = self.gcs
        gcs.functions.update(durable.functions())
        gcs.kv.update(durable.kv())
        gcs.restore_jobs(durable.jobs())
        for saved in durable.actors():
            spec = saved["spec"]
            rec = ActorRecord(
                actor_id=spec["actor"], spec=spec, class_name=saved["class_name"], name=saved["name"],
                namespace=saved["namespace"], job_id=saved["job_id"], detached=True, meta=saved["meta"],
            )
            gcs.register_actor(rec)
            if spec["deps"]:
                gcs.mark_dead(rec, "its constructor's ObjectRef arguments were lost when the node restarted")
                durable.drop_actor(rec.actor_id)
                continue
            advance(rec, RESTORED)
            t = TaskRecord(spec)
            self.live[spec["tid"]] = t
            if isinstance(saved.get("host"), bytes) and saved["host"] != self.node_id:
                self.remote.await_host(t, self.now() + rejoin_s)
            else:
                self.ready.append(t)
        for saved_pg in durable.pgs():
            self.pgs.restore(saved_pg, rejoin_s)
        gcs.durable = durable
        if gcs.actors or gcs.pgs:
            log.info("restored %d detached actors and %d placement groups", len(gcs.actors), len(gcs.pgs))
        self.schedule()

    def namespace_of(self, peer: Peer) -> str:
        job_id = peer.job_id
        if peer.role == "worker":  # a task or actor: the namespace of the job it works for
            w = self.workers.get(peer.peer_id)
            if w is not None and w.task is not None:
                job_id = w.task.spec["job"]
        job = self.gcs.jobs.get(job_id)
        return job.namespace if job else "default"

    def task_events_from(self, peer: Peer, events: list[Any], owner: bool = False) -> None:
        """A worker reports what the calls of its direct callers did (``TaskEvents``); with
        ``owner``, a submitter reports its own tasks whose leased worker died unreported (a
        driver: only its job's; the worker that ran them is unknown then)."""
        if owner:
            if peer.role == "driver" and isinstance(events, list):
                events = [e for e in events if isinstance(e, list) and len(e) > 4 and e[4] == peer.job_id]
            self.gcs.task_events.ingest(events, node_id=self.node_id, worker_pid=None)
            return
        if peer.role != "worker":
            return
        w = self.workers.get(peer.peer_id)
        pid = w.pid if w is not None else peer.pid
        self.stats["direct_tasks_finished"] += self.gcs.task_events.ingest(events, node_id=self.node_id, worker_pid=pid)

    def task_rows(self) -> list[dict[str, Any]]:
        """``list tasks``: what this node recorded, with the state of tasks it holds now."""
        rows = {r["task_id"]: r for r in self.gcs.task_events.list()}
        for state, t in list(self.tasks.pending()):
            spec = t.spec
            pid = t.worker.pid if t.worker is not None else None
            row = rows.get(spec["tid"].hex())
            if row is None or row["state"] in TERMINAL:  # (a retry runs again)
                row = rows[spec["tid"].hex()] = new_row(spec["tid"], state, spec["kind"], spec["name"], spec["job"],
                                                        spec.get("actor"), self.node_id, pid)
            row["state"] = state
        return list(rows.values())

    # ------------------------------------------------------------------ logs
    def send_log(self, job_id: bytes, name: str, pid: int, lines: list[str], stream: str = "out") -> None:
        msg = Log(job_id, name, pid, lines, stream)
        for p in list(self.peers.values()):
            if p.role == "driver" and p.job_id == job_id:
                p.send(msg)
        origin = self.remote.job_origin.get(job_id)  # the job's driver is on another node
        if origin is not None and origin.peer_id in self.peers:
            origin.send(msg)

    # ------------------------------------------------------------------ views
    def nodes(self, address: str) -> list[dict[str, Any]]:
        self.cluster.local.address = address
        self.cluster.refresh_local(self.resources.total, self.resources.available)
        out = []
        for n in self.cluster.nodes.values():
            host = n.address.split("://", 1)[-1].rsplit(":", 1)[0] or "127.0.0.1"
            out.append({
                "NodeID": n.node_id.hex(), "Alive": n.alive, "NodeManagerAddress": host,
                "NodeManagerHostname": n.hostname, "Address": n.address,
                "Resources": from_unit_dict(n.total) if n.alive else {},
                "Labels": dict(n.labels), "IsHead": n.head, "alive": n.alive,
            })
        return out

    def cluster_resources(self) -> dict[str, float]:
        if not self.cluster.is_multi():
            return self.resources.snapshot_total()
        self.cluster.refresh_local(self.resources.total, self.resources.available)
        return self.cluster.totals()

    def available_resources(self) -> dict[str, float]:
        if not self.cluster.is_multi():
            return self.resources.snapshot_available()
        self.cluster.refresh_local(self.resources.total, self.resources.available)
        return self.cluster.availables()

    # ------------------------------------------------------------------ across nodes

    def forwarded_lost(self, t: TaskRecord, node_id: bytes) -> None:
        """``t`` was sent to ``node_id``, which died before it finished."""
        kind = t.spec["kind"]
        why = f"the node {node_id.hex()} running {t.spec['name']} died"
        if kind == TASK:
            if self.tasks.retry(t):
                return
            self.fail_returns(t.spec, exc.NodeDiedError(f"{why}; no retries left (max_retries={t.spec['opts'].get('max_retries', 3)})."))
            self.release_pins(t)
            t.done = True
            return
        self.actors.forwarded_lost(t, why)

    def resubmit(self, t: TaskRecord) -> None:
        """Run a finished task again (lineage reconstruction of its lost results). Its
        arguments are still pinned (the lineage held them); some may be being recomputed."""
        t.done = False
        t.worker = None
        t.dep_payloads = [None] * len(t.spec["deps"])
        self.live[t.spec["tid"]] = t
        self._await_deps(t)
