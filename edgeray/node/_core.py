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
from typing import Any, Protocol

from .. import exceptions as exc
from ..gcs import ActorRecord, DurableGcs, GcsTables
from ..gcs import _tables as gcs_state
from ..object_store import ObjectStore, serialize
from ..plugins import ClusterView, NodeView, SchedulingRequest
from ..protocol import Call, CancelTask, Execute, Log, Message, ObjectReady, encode_spec
from ..raylet import NodeResources, ObjectEntry, ObjectTable, to_units
from ..raylet import _workers as W
from ..raylet._resources import ResourcePool
from ..raylet._tasks import ACTOR_CALL, ACTOR_CREATE, TASK, TaskSpec, return_ids
from ._cluster import ClusterTable, NodeEntry
from ._placement_groups import WAIT, PlacementGroups, pg_strategy
from ._remote import RemoteWork, is_marker

log = logging.getLogger("edgeray.node")


class Peer(Protocol):
    peer_id: bytes
    role: str
    job_id: bytes
    pid: int
    shm: bool

    def send(self, msg: Message) -> None: ...


class Spawner(Protocol):
    def spawn_worker(self) -> W.WorkerRecord: ...

    def kill_worker(self, worker: W.WorkerRecord, force: bool = True) -> None: ...


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


def _caller_key(spec: TaskSpec) -> bytes:
    """The ordering queue of an actor call: its owner process and the handle it came through."""
    return spec["owner"] + spec["opts"].get("caller", b"")  # type: ignore[no-any-return]


def error_payload(object_id: bytes, error: BaseException) -> dict[str, Any]:
    return {"id": object_id, "data": serialize(error).to_bytes(), "loc": None, "err": True, "refs": []}


class ReadyQueues:
    """Tasks whose dependencies are resolved, FIFO per resource shape (Ray's scheduling classes),
    so one pass of the scheduler costs O(shapes), not O(tasks)."""

    def __init__(self) -> None:
        self.queues: dict[Any, deque[TaskRecord]] = {}

    def append(self, t: TaskRecord) -> None:
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
            yield from list(q)

    def remove(self, t: TaskRecord) -> None:
        q = self.queues.get(t.shape)
        if q is not None:
            q.remove(t)
            if not q:
                del self.queues[t.shape]

    def remove_if(self, pred: Callable[[TaskRecord], bool]) -> None:
        for shape, q in list(self.queues.items()):
            kept = deque(t for t in q if not pred(t))
            if kept:
                self.queues[shape] = kept
            else:
                del self.queues[shape]


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
        self.remote = RemoteWork(self, self.cluster)
        self.gcs.on_dead = self.actor_died
        self.objects = ObjectTable(self._free_entry)
        self.peers: dict[bytes, Peer] = {}
        self.live: weakref.WeakValueDictionary[bytes, TaskRecord] = weakref.WeakValueDictionary()  # for cancel
        self.leases: dict[bytes, dict[bytes, int]] = {}  # peer -> object -> leases it reads under
        self.creating: dict[bytes, set[bytes]] = {}  # peer -> objects it is writing (not sealed)
        self.workers: dict[bytes, W.WorkerRecord] = {}
        self.ready = ReadyQueues()
        self.running: dict[bytes, TaskRecord] = {}
        self.infeasible: list[TaskRecord] = []
        self.pool_size = pool_size
        self.max_workers = max_workers
        self.spawner: Spawner | None = None
        self.node_socket = ""  # the node's Unix socket; actors' direct sockets live beside it
        self._now = now
        self._warned_infeasible: set[bytes] = set()
        self.stats = {
            "tasks_submitted": 0, "tasks_finished": 0, "workers_started": 0, "workers_died": 0,
            "task_retries": 0, "actor_restarts": 0,
        }

    # ------------------------------------------------------------------ peers
    def peer_connected(self, peer: Peer) -> None:
        self.peers[peer.peer_id] = peer
        if peer.role == "worker":
            w = self.workers.get(peer.peer_id)
            if w is not None:
                w.peer = peer
                if w.state == W.STARTING:
                    w.state = W.IDLE
                    w.idle_since = self._now()
                self.schedule()

    def peer_disconnected(self, peer: Peer) -> None:
        self.peers.pop(peer.peer_id, None)
        for oid, n in self.leases.pop(peer.peer_id, {}).items():
            self.store.unpin(oid, n)
        for oid in self.creating.pop(peer.peer_id, ()):
            d = self.store.describe(oid)
            if d is not None and d["where"] == "creating":
                self.store.delete(oid)  # written half-way by a process that is gone
        self.objects.drop_holder_everywhere(peer.peer_id)
        for w in [w for w in self.workers.values() if w.state == W.LEASED and w.lent_to == peer.peer_id]:
            self.return_lease(peer, w.worker_id)
        if peer.role == "driver":
            self._end_job(peer.job_id)

    # ------------------------------------------------------------------ worker leases
    def lease_worker(self, peer: Peer, res: dict[str, Any]) -> dict[str, Any] | None:
        """Ray's worker lease: lend an idle pool worker to ``peer``, which sends it tasks that
        need ``res`` (CPUs only) directly, holding those resources until it returns the lease.
        None when there is no idle worker or room, or when tasks wait here already (they come
        first); ``{"never": True}`` for a peer that is not on this machine."""
        if peer.role == "node" or not peer.shm or not self.node_socket:
            return {"never": True}
        if self.ready:
            return None
        req = {k: to_units(float(v)) for k, v in res.items() if isinstance(v, int | float) and v}
        if set(req) - {"CPU"} or not self.resources.fits(req):
            return None
        w = next((w for w in self.workers.values() if w.state == W.IDLE and w.peer is not None), None)
        if w is None:
            return None
        self.resources.acquire(req)
        w.state, w.lent_to, w.lent = W.LEASED, peer.peer_id, req
        cpus = float(res.get("CPU", 0) or 0)
        env = {"OMP_NUM_THREADS": str(max(1, int(cpus))) if cpus else "1", "CUDA_VISIBLE_DEVICES": ""}
        return {"path": W.direct_socket(self.node_socket, w.worker_id), "worker_id": w.worker_id, "env": env}

    def return_lease(self, peer: Peer, worker_id: bytes) -> None:
        w = self.workers.get(worker_id)
        if w is None or w.state != W.LEASED or w.lent_to != peer.peer_id:
            return
        self._release_lease(w)
        w.state = W.IDLE
        w.idle_since = self._now()
        self.schedule()

    def _release_lease(self, w: W.WorkerRecord) -> None:
        held = {k: v for k, v in w.lent.items() if k != "CPU"} if w.blocked else w.lent
        self.resources.release(held)
        w.lent_to, w.lent, w.blocked = None, {}, False

    def _end_job(self, job_id: bytes) -> None:
        job = self.gcs.jobs.get(job_id)
        if job is not None:
            job.alive = False
            job.end_time = time.time()
            self.gcs.save_job(job)
        for rec in list(self.gcs.actors.values()):
            if rec.job_id == job_id and not rec.detached and rec.state != gcs_state.DEAD:
                self.kill_actor(rec, "the driver that created the actor exited", no_restart=True)
        self.ready.remove_if(lambda t: t.spec["job"] == job_id and not self._drop_task(t))
        self.pgs.end_job(job_id)

    def release_pins(self, t: TaskRecord) -> None:
        self._release_pins(t)

    def _drop_task(self, t: TaskRecord) -> bool:
        self._release_pins(t)
        return False

    # ------------------------------------------------------------------ objects
    def _free_entry(self, e: ObjectEntry) -> None:
        p = e.payload
        if p is not None and p.get("loc") is not None:
            self.store.delete(e.id)
        if e.id in self.remote.origin:
            self.remote.freed(e.id)
        if e.id[:16] in self.remote.lineage:
            self.remote.lineage_freed(e.id)

    def lost_payload(self, oid: bytes, why: str) -> dict[str, Any]:
        return error_payload(oid, exc.ObjectLostError(oid.hex(), why))

    def error_payload_for(self, oid: bytes, error: BaseException) -> dict[str, Any]:
        return error_payload(oid, error)

    def _sealed(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Seal a shared-memory payload's object (written by its creator); an object that was
        never created here becomes an ``ObjectLostError`` payload."""
        if payload.get("loc") is not None:
            oid = payload["id"]
            self._forget_creating(oid)
            try:
                self.store.seal(oid)
            except KeyError:
                return error_payload(oid, exc.ObjectLostError(oid.hex(), "its creator never allocated it in this node's store"))
        return payload

    def _forget_creating(self, oid: bytes) -> None:
        for creating in self.creating.values():
            creating.discard(oid)

    def put_object(self, peer: Peer, payload: dict[str, Any]) -> None:
        oid = payload["id"]
        self.objects.expect(oid, peer.peer_id)
        payload = self._sealed(payload)
        if self.objects.set_ready(payload) is None and payload.get("loc") is not None:
            self.store.delete(oid)

    def promise(self, peer: Peer, ids: list[bytes]) -> None:
        """``peer`` will publish these objects (results of its direct actor calls)."""
        for oid in ids:
            self.objects.expect(oid, peer.peer_id)

    def publish(self, peer: Peer, owner: bytes, payloads: list[dict[str, Any]]) -> None:
        """An actor's worker seals a direct call's results for their ``owner`` (the caller),
        who becomes their holder and is sent each one."""
        to = self.peers.get(owner)
        for payload in payloads:
            oid = payload["id"]
            if to is None:  # the caller is gone: nobody will ever read these
                if payload.get("loc") is not None and self.store.describe(oid) is not None:
                    self._forget_creating(oid)
                    self.store.delete(oid)
                continue
            self.objects.expect(oid, owner)
            e = self.objects.set_ready(self._sealed(payload))
            if e is None:
                if payload.get("loc") is not None:
                    self.store.delete(oid)
            else:
                self._push(to, e)

    def create_object(self, peer: Peer, oid: bytes, size: int) -> int:
        """Room for an object ``peer`` writes now and seals with its ``PutObject``/``TaskDone``.

        The creator does not become a holder (a task's result belongs to its owner); if it
        disconnects before sealing, the half-written object is dropped."""
        d = self.store.describe(oid)
        if d is not None and d["where"] == "creating":  # a retry of a task whose worker died mid-write
            self.store.delete(oid)
            self._forget_creating(oid)
        offset = self.store.create(oid, size)
        self.objects.expect(oid, None)
        self.creating.setdefault(peer.peer_id, set()).add(oid)
        return offset

    def subscribe(self, peer: Peer, ids: list[bytes]) -> None:
        for oid in ids:
            if not self.objects.when_ready(oid, functools.partial(self._push, peer)):
                lost = exc.ObjectLostError(oid.hex(), "it was freed or never existed on this node")
                peer.send(ObjectReady(error_payload(oid, lost)))

    def _push(self, peer: Peer, e: ObjectEntry) -> None:
        if peer.peer_id in self.peers:
            p = e.payload
            if peer.role != "node" and is_marker(p):  # its bytes are on another node
                assert p is not None
                if peer.shm:  # a notice: the bytes come here when it maps them (map_object)
                    peer.send(ObjectReady({"id": e.id, "data": None, "loc": [0, int(p.get("size") or 0)],
                                           "err": False, "refs": p.get("refs") or []}))
                else:
                    self.remote.localize([e.id], functools.partial(self._push, peer, e))
                return
            peer.send(ObjectReady(self.payload_for(peer, e.payload)))

    def payload_for(self, peer: Peer, payload: dict[str, Any] | None, *, lease: bool = False) -> dict[str, Any]:
        """The payload as ``peer`` can use it.

        Shared-memory objects: to a peer that maps the arena, a notice (its ``loc`` is only a
        marker) unless ``lease``: then the object is brought back into memory if it was
        spilled, pinned there, and its current place is handed out as a lease the peer
        returns with ``Unmap``. Peers without the arena, or when no room can be made, get
        the bytes.
        """
        assert payload is not None
        if peer.role == "node":
            return self.remote.marker_for(payload)  # type: ignore[return-value]
        if payload.get("loc") is None or (peer.shm and not lease):
            return payload
        oid = payload["id"]
        store = self.store
        try:
            if peer.shm:
                try:
                    loc = store.restore(oid)
                except exc.ObjectStoreFullError as e:
                    log.warning("cannot restore object %s into memory (%s); sending its bytes", oid.hex(), e)
                else:
                    store.pin(oid)
                    leases = self.leases.setdefault(peer.peer_id, {})
                    leases[oid] = leases.get(oid, 0) + 1
                    return {**payload, "loc": list(loc)}
            data = store.read_bytes(oid)
        except (KeyError, OSError) as e:
            return error_payload(oid, exc.ObjectLostError(oid.hex(), f"its stored copy could not be read: {e}"))
        return {**payload, "loc": None, "data": data}

    def map_object(self, peer: Peer, oid: bytes) -> dict[str, Any]:
        """A lease on a ready object for ``peer`` to read (see ``payload_for``)."""
        e = self.objects.get(oid)
        if e is None or not e.ready:
            return error_payload(oid, exc.ObjectLostError(oid.hex(), "it was freed or never existed on this node"))
        return self.payload_for(peer, e.payload, lease=True)

    def unmap(self, peer: Peer, ids: list[bytes], counts: list[int]) -> None:
        """``peer`` gives back leases: objects nobody reads may be spilled again."""
        leases = self.leases.get(peer.peer_id)
        if not leases:
            return
        for oid, n in zip(ids, counts, strict=False):
            held = leases.get(oid, 0)
            n = min(int(n), held)
            if n <= 0:
                continue
            if held == n:
                del leases[oid]
            else:
                leases[oid] = held - n
            self.store.unpin(oid, n)

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
            objects.expect(oid, owner).waiters.append(functools.partial(self._push, peer))
        if spec["kind"] != ACTOR_CALL and not local_only:
            error = self.unschedulable(spec)
            if error is not None:
                if spec["kind"] == ACTOR_CREATE and spec["actor"] in self.gcs.actors:
                    actor = self.gcs.actors[spec["actor"]]
                    self.gcs.mark_dead(actor, str(error))
                    actor.death_exc = error
                self._fail_returns(spec, error)
                return
        if spec["kind"] == ACTOR_CALL:
            known = self.gcs.actors.get(spec["actor"])
            if known is None or known.state == gcs_state.DEAD:
                self._fail_returns(spec, self._actor_error(known, spec))
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
            actor.queues.setdefault(_caller_key(spec), deque()).append(t)  # type: ignore[arg-type]
            self._pump_actor(actor)
        elif t.missing == 0:
            self._enqueue(t)

    def _dep_ready(self, t: TaskRecord, i: int, e: ObjectEntry) -> None:
        t.dep_payloads[i] = e.payload
        t.missing -= 1
        if t.missing == 0 and not t.registering:
            if t.spec["kind"] == ACTOR_CALL:
                actor = self.gcs.actors.get(t.spec["actor"])
                if actor is not None:
                    self._pump_actor(actor)
            else:
                self._enqueue(t)

    def _enqueue(self, t: TaskRecord) -> None:
        if t.done:  # cancelled while it waited for its arguments
            return
        failed = next((p for p in t.dep_payloads if p is not None and p.get("err")), None)
        if failed is not None and t.spec["kind"] == TASK:
            bounce = t.local_only and failed.get("lost_from") is not None  # its owner can recompute it
            self._finish_with_payloads(t, [{**failed, "id": oid, "refs": [], "bounce": bounce} for oid in return_ids(t.spec)])
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
        """Place ready tasks: per resource shape, FIFO, while resources and idle workers last.

        Placement groups waiting for resources are tried first (they were asked for earlier)."""
        self.pgs.try_pending()
        ready = self.ready
        if not ready:
            return
        idle = [w for w in self.workers.values() if w.state == W.IDLE]
        multi = self.cluster.is_multi()
        for shape, q in list(ready.queues.items()):
            while q:
                t = q[0]
                if multi and not t.local_only and t.pg is None:
                    where = self.remote.decide(t)
                    if isinstance(where, bytes):  # another node
                        q.popleft()
                        self.remote.forward(t, where)
                        continue
                    pool, key = self._local_placement(t) if where is None else (None, where)
                elif t.local_only and t.pg is None:
                    pool, key = self._local_placement(t)
                else:
                    pool, key = self._placement(t)
                if pool is None:
                    if key is WAIT:
                        break
                    q.popleft()
                    if isinstance(key, bytes):  # its placement-group bundle is on that node
                        self.remote.forward(t, key)
                        continue
                    if key is None or key is INFEASIBLE:
                        self._infeasible(t, t.place)
                    else:
                        self._fail_unplaceable(t, key)
                    continue
                if not idle:
                    self._maybe_spawn()
                    return
                q.popleft()
                t.pool = key
                self._dispatch(t, idle.pop(), pool)
            if not q:
                del ready.queues[shape]

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
        waiting, self.infeasible = self.infeasible, []
        for t in waiting:
            if not t.done:
                self.ready.append(t)
        if waiting:
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
        request = SchedulingRequest({k: v / 10_000 for k, v in t.place.items()}, "actor" if actor else "task",
                                    name, params, arg_bytes or {})
        try:
            decision = strategy.decide(request, view)
        except Exception as e:  # a broken plugin fails this task, not the node
            log.exception("scheduling strategy %s failed", name)
            return cls(f"{t.spec['name']}: scheduling strategy {name!r} raised {e!r}")
        if decision.is_infeasible and decision.fatal:
            return cls(f"{t.spec['name']} cannot be scheduled by {name}: {decision.reason}")
        return decision

    def _pool(self, t: TaskRecord) -> ResourcePool | None:
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
                self._fail_actor_calls(actor)
        self._fail_returns(t.spec, error)
        self._release_pins(t)

    def stop_work_in_placement_group(self, pg_id: bytes, cause: str) -> None:
        """A group is being removed: queued work for it fails, running work in it is killed."""
        error_task = exc.TaskPlacementGroupRemoved(f"The placement group {pg_id.hex()} was removed: {cause}.")
        error_actor = exc.ActorPlacementGroupRemoved(f"The placement group {pg_id.hex()} was removed: {cause}.")

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
                    self.kill_actor(actor, f"its placement group was removed ({cause})", no_restart=True)
            elif not t.done:
                t.retries_left = 0
                self.running.pop(t.spec["tid"], None)
                self._fail_returns(t.spec, error_task)
                self._release_pins(t)
                t.done = True
                if self.spawner is not None:
                    self.spawner.kill_worker(w)

    def _infeasible(self, t: TaskRecord, req: dict[str, int]) -> None:
        self.infeasible.append(t)
        key = repr(sorted(req.items())).encode()
        if key not in self._warned_infeasible:
            self._warned_infeasible.add(key)
            want = {k: v / 10_000 for k, v in req.items()}
            msg = (
                f"Warning: The following resource request cannot be scheduled right now: {want}. "
                f"This node has {self.resources.snapshot_total()}. The {'actor' if t.spec['kind'] else 'task'} "
                f"{t.spec['name']} waits until a node that can run it joins the cluster."
            )
            log.warning(msg)
            self.send_log(t.spec["job"], "scheduler", os.getpid(), [msg], "err")

    def _maybe_spawn(self) -> None:
        if self.spawner is None:
            return
        alive = [w for w in self.workers.values() if w.state != W.DEAD]
        starting = sum(1 for w in alive if w.state == W.STARTING)
        if starting >= max(2, self.pool_size) or len(alive) >= self.max_workers:
            return
        if starting >= len(self.ready):
            return
        self.spawn()

    def spawn(self) -> W.WorkerRecord:
        assert self.spawner is not None
        w = self.spawner.spawn_worker()
        self.workers[w.worker_id] = w
        self.stats["workers_started"] += 1
        return w

    def _dispatch(self, t: TaskRecord, w: W.WorkerRecord, pool: ResourcePool) -> None:
        spec = t.spec
        req = t.req
        t.gpu_ids = pool.acquire(req)
        t.held = req
        t.worker = w
        w.task = t
        if spec["kind"] == ACTOR_CREATE:
            w.state = W.ACTOR
            w.actor_id = spec["actor"]
            actor = self.gcs.actors[spec["actor"]]
            actor.worker_id = w.worker_id
            actor.pid = w.pid
            if self.cluster.is_multi() or actor.name:
                self.remote.actor_placed(actor, self.node_id)
            self._refill_pool()
        else:
            w.state = W.BUSY
        self.running[spec["tid"]] = t
        self._send_execute(w, t)

    def _send_execute(self, w: W.WorkerRecord, t: TaskRecord) -> None:
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
            self._send_execute(w, t)
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
        deps = [self.payload_for(w.peer, p, lease=True) for p in t.dep_payloads]
        if t.raw is None:
            t.raw = encode_spec(spec)  # type: ignore[arg-type]
        w.peer.send(Execute(t.raw, deps, env))

    def _refill_pool(self) -> None:
        pooled = sum(1 for w in self.workers.values() if w.state in (W.STARTING, W.IDLE, W.BUSY, W.LEASED))
        if self.spawner is not None and pooled < self.pool_size:
            self.spawn()

    # ------------------------------------------------------------------ completion
    def task_done(self, peer: Peer, task_id: bytes, results: list[dict[str, Any]], failed: bool, retryable: bool, error: str | None) -> None:
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
        if failed and retryable and t.retries_left != 0 and kind == TASK:
            t.retries_left -= 1
            self.stats["task_retries"] += 1
            self._release_worker(t, w)
            self.ready.append(t)
            self.schedule()
            return
        if kind == ACTOR_CREATE:
            self._actor_created(t, failed, error)
        self._finish_with_payloads(t, results)
        self._release_worker(t, w)
        self.schedule()

    def _release_worker(self, t: TaskRecord, w: W.WorkerRecord | None) -> None:
        kind = t.spec["kind"]
        if kind == TASK:
            pool = self._pool(t)
            if t.held and pool is not None:
                if w is not None and w.blocked:
                    pool.release({k: v for k, v in t.held.items() if k != "CPU"}, t.gpu_ids)
                else:
                    pool.release(t.held, t.gpu_ids)
            t.held = {}
            if w is not None and w.state == W.BUSY:
                w.state = W.IDLE
                w.task = None
                w.blocked = False
                w.idle_since = self._now()

    def _finish_with_payloads(self, t: TaskRecord, results: list[dict[str, Any]]) -> None:
        t.done = True
        self.stats["tasks_finished"] += 1
        for p in results:
            p = self._sealed(p)
            if self.objects.set_ready(p) is None and p.get("loc") is not None:
                self.store.delete(p["id"])
        self._release_pins(t)

    def _release_pins(self, t: TaskRecord) -> None:
        self.objects.unpin(t.spec["deps"])
        self.objects.unpin(t.spec["nested"])

    def _fail_returns(self, spec: TaskSpec, error: BaseException) -> None:
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
        self.ready.remove_if(lambda x: x is t)
        if kind == ACTOR_CALL:
            actor = self.gcs.actors.get(t.spec["actor"])
            q = actor.queues.get(_caller_key(t.spec)) if actor is not None else None
            if q is not None and t in q:
                q.remove(t)
        t.done = True
        self._fail_returns(t.spec, error)
        self._release_pins(t)

    # ------------------------------------------------------------------ blocking
    def worker_blocked(self, peer: Peer, task_id: bytes) -> None:
        w = self.workers.get(peer.peer_id)
        if w is not None and w.state == W.LEASED:  # its caller's task waits: lend its CPU out
            if not w.blocked and w.lent.get("CPU"):
                w.blocked = True
                self.resources.release({"CPU": w.lent["CPU"]})
                self.schedule()
            return
        t = self.running.get(task_id)
        if w is None or t is None or w.blocked or t.spec["kind"] != TASK:
            return
        w.blocked = True
        cpu = t.held.get("CPU", 0)
        pool = self._pool(t)
        if cpu and pool is not None:
            pool.release({"CPU": cpu})
        self.schedule()

    def worker_unblocked(self, peer: Peer, task_id: bytes) -> None:
        w = self.workers.get(peer.peer_id)
        if w is not None and w.state == W.LEASED:
            if w.blocked:
                w.blocked = False
                self.resources.acquire_forced({"CPU": w.lent["CPU"]})
            return
        t = self.running.get(task_id)
        if w is None or t is None or not w.blocked:
            return
        w.blocked = False
        cpu = t.held.get("CPU", 0)
        pool = self._pool(t)
        if cpu and pool is not None:
            pool.acquire_forced({"CPU": cpu})

    # ------------------------------------------------------------------ worker death
    def worker_exited(self, worker_id: bytes, returncode: int | None) -> None:
        w = self.workers.get(worker_id)
        if w is None or w.state == W.DEAD:
            return
        prev = w.state
        w.state = W.DEAD
        if returncode not in (0, None) and returncode != -15:
            self.stats["workers_died"] += 1
        del self.workers[worker_id]
        t = w.task
        if prev == W.LEASED:
            self._release_lease(w)
        if self.node_socket:  # its socket for direct callers
            try:
                os.unlink(W.direct_socket(self.node_socket, worker_id))
            except OSError:
                pass
        if prev == W.ACTOR and w.actor_id is not None:
            actor = self.gcs.actors.get(w.actor_id)
            if actor is not None:
                self._actor_worker_died(actor, returncode, t)
        elif t is not None and not t.done:
            self.running.pop(t.spec["tid"], None)
            self._release_worker(t, None)
            if t.cancelled:
                self._fail_returns(t.spec, exc.TaskCancelledError(f"Task {t.spec['name']} ({t.spec['tid'].hex()}) was cancelled (force=True)."))
                self._release_pins(t)
                t.done = True
            elif t.retries_left != 0:
                t.retries_left -= 1
                t.worker = None
                self.stats["task_retries"] += 1
                self.ready.append(t)
            else:
                err = exc.WorkerCrashedError(
                    f"The worker running {t.spec['name']} died unexpectedly (exit code {returncode}); "
                    f"no retries left (max_retries={t.spec['opts'].get('max_retries', 3)})."
                )
                self._fail_returns(t.spec, err)
                self._release_pins(t)
        if prev != W.ACTOR:
            self._refill_pool()
        self.schedule()

    # ------------------------------------------------------------------ actors
    def create_actor(self, peer: Peer, spec: TaskSpec, meta: dict[str, Any]) -> dict[str, Any]:
        opts = spec["opts"]
        name = opts.get("name") or ""
        namespace = opts.get("namespace") or self._namespace_of(peer)
        if name:
            existing = self.gcs.lookup_named(name, namespace)
            if existing is not None:
                if opts.get("get_if_exists"):
                    return {"existing": True, "actor_id": existing.actor_id, "meta": existing.meta}
                raise ValueError(
                    f"The name {name} (namespace={namespace}) is already taken. Use a different name, "
                    f"kill the existing actor, or pass get_if_exists=True."
                )
            if self.remote.is_head:  # a name another node's actor holds
                taken = self.directory_call("register_name", {"name": name, "namespace": namespace, "actor_id": spec["actor"]})
                if taken["taken"]:
                    if opts.get("get_if_exists") and isinstance(taken.get("node_id"), bytes):
                        stub = self.adopt_actor_stub(taken["actor_id"], taken)
                        return {"existing": True, "actor_id": stub.actor_id, "meta": stub.meta}
                    raise ValueError(
                        f"The name {name} (namespace={namespace}) is already taken. Use a different name, "
                        f"kill the existing actor, or pass get_if_exists=True."
                    )
        rec = ActorRecord(
            actor_id=spec["actor"],
            spec=spec,
            class_name=spec["name"],
            name=name,
            namespace=namespace,
            job_id=spec["job"],
            detached=opts.get("lifetime") == "detached",
            meta=meta,
        )
        self.gcs.register_actor(rec)
        self.submit(peer, spec)
        return {"existing": False, "actor_id": rec.actor_id, "meta": meta}

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
            rec.state = gcs_state.RESTARTING
            t = TaskRecord(spec)
            self.live[spec["tid"]] = t
            if isinstance(saved.get("host"), bytes) and saved["host"] != self.node_id:
                self.remote.await_host(t, self._now() + rejoin_s)
            else:
                self.ready.append(t)
        for saved_pg in durable.pgs():
            self.pgs.restore(saved_pg, rejoin_s)
        gcs.durable = durable
        if gcs.actors or gcs.pgs:
            log.info("restored %d detached actors and %d placement groups", len(gcs.actors), len(gcs.pgs))
        self.schedule()

    def _namespace_of(self, peer: Peer) -> str:
        job_id = peer.job_id
        if peer.role == "worker":  # a task or actor: the namespace of the job it works for
            w = self.workers.get(peer.peer_id)
            if w is not None and w.task is not None:
                job_id = w.task.spec["job"]
        job = self.gcs.jobs.get(job_id)
        return job.namespace if job else "default"

    def _actor_created(self, t: TaskRecord, failed: bool, error: str | None) -> None:
        actor = self.gcs.actors.get(t.spec["actor"])
        if actor is None:
            return
        if failed:
            w = t.worker
            self.gcs.mark_dead(actor, f"The actor's constructor raised: {error}")
            self._fail_actor_calls(actor)
            if w is not None:
                self._release_actor_resources(t)
                if self.spawner is not None:
                    self.spawner.kill_worker(w)
            return
        actor.state = gcs_state.ALIVE
        self._pump_actor(actor)

    def _release_actor_resources(self, t: TaskRecord) -> None:
        pool = self._pool(t)
        if t.held and pool is not None:
            pool.release(t.held, t.gpu_ids)
        t.held = {}

    def pump_actor_of(self, actor_id: bytes) -> None:
        actor = self.gcs.actors.get(actor_id)
        if actor is not None:
            self._pump_actor(actor)

    def _pump_actor(self, actor: ActorRecord) -> None:
        if actor.state != gcs_state.ALIVE:
            if actor.state == gcs_state.DEAD:
                self._fail_actor_calls(actor)
            return
        host = actor.host
        if host is not None:  # on another node: the calls go there, in order, once ready
            self._drain_calls(actor, functools.partial(self._forward_call, actor, host))
            return
        w = self.workers.get(actor.worker_id) if actor.worker_id else None
        if w is None or w.peer is None:
            return
        self._drain_calls(actor, functools.partial(self._send_call, actor, w))

    def _drain_calls(self, actor: ActorRecord, send: Callable[[TaskRecord], None]) -> None:
        """Hand each caller's ready calls to ``send``, in order (an unordered actor lets later
        ready calls overtake one still waiting for its arguments). A call whose argument is an
        error fails with it instead."""
        def one(t: TaskRecord) -> None:
            failed = next((p for p in t.dep_payloads if p is not None and p.get("err")), None)
            if failed is not None:
                self._finish_with_payloads(t, [{**failed, "id": oid, "refs": []} for oid in return_ids(t.spec)])
            else:
                send(t)

        ordered = not actor.meta.get("unordered", False)
        for q in actor.queues.values():
            while q:
                t = q[0]
                if t.missing:
                    if ordered:
                        break
                    # unordered (async/threaded) actors: let later ready calls overtake
                    for other in list(q):
                        if not other.missing:
                            q.remove(other)
                            one(other)
                    break
                q.popleft()
                one(t)

    def _forward_call(self, actor: ActorRecord, host: bytes, t: TaskRecord) -> None:
        actor.inflight[t.spec["tid"]] = t
        self.remote.forward(t, host)

    def _send_call(self, actor: ActorRecord, w: W.WorkerRecord, t: TaskRecord) -> None:
        t.worker = w
        self.running[t.spec["tid"]] = t
        actor.inflight[t.spec["tid"]] = t  # type: ignore[assignment]
        self._send_execute(w, t)

    def _actor_error(self, actor: ActorRecord | None, spec: TaskSpec) -> BaseException:
        if actor is not None and actor.death_exc is not None:
            return actor.death_exc
        if actor is None:
            return exc.ActorDiedError("The actor is unknown to this cluster (it may have been created by another session).")
        return exc.ActorDiedError(
            f"The actor {actor.class_name} ({actor.actor_id.hex()}) is dead, so {spec['name']} cannot run. "
            f"Cause: {actor.death_cause}",
            actor.actor_id.hex(),
        )

    def _fail_actor_calls(self, actor: ActorRecord) -> None:
        for q in actor.queues.values():
            while q:
                t = q.popleft()
                self._fail_returns(t.spec, self._actor_error(actor, t.spec))
                self._release_pins(t)
        for tid, t in list(actor.inflight.items()):
            actor.inflight.pop(tid)
            self.running.pop(tid, None)
            self._fail_returns(t.spec, self._actor_error(actor, t.spec))
            self._release_pins(t)

    def fail_actor_calls(self, actor: ActorRecord, error: BaseException) -> None:
        actor.death_exc = error
        self._fail_actor_calls(actor)

    def kill_actor(self, actor: ActorRecord, cause: str, no_restart: bool = True) -> None:
        if actor.state == gcs_state.DEAD:
            return
        if actor.host is not None:  # it runs on another node: that node kills it
            self.remote.link(actor.host).send(Call(0, "kill_actor", {"actor_id": actor.actor_id, "no_restart": no_restart}))
            if no_restart:
                self.gcs.mark_dead(actor, cause)
                self._fail_actor_calls(actor)
            return
        w = self.workers.get(actor.worker_id) if actor.worker_id else None
        if no_restart or actor.restarts >= actor.max_restarts != -1:
            self.gcs.mark_dead(actor, cause)
        if w is not None and self.spawner is not None:
            self.spawner.kill_worker(w)
        if actor.state == gcs_state.DEAD:
            create = self._creation_task(actor)
            if create is not None:
                self._release_actor_resources(create)
            self._fail_actor_calls(actor)
            self.ready.remove_if(lambda t: t.spec.get("actor") == actor.actor_id and not self._drop_task(t))

    def _creation_task(self, actor: ActorRecord) -> TaskRecord | None:
        w = self.workers.get(actor.worker_id) if actor.worker_id else None
        return w.task if w is not None else None

    def _actor_worker_died(self, actor: ActorRecord, returncode: int | None, create: TaskRecord | None) -> None:
        if create is not None:
            self._release_actor_resources(create)
            self.running.pop(create.spec["tid"], None)
        if actor.state == gcs_state.DEAD:
            self._fail_actor_calls(actor)
            return
        budget = actor.max_restarts
        if budget == -1 or actor.restarts < budget:
            actor.restarts += 1
            self.stats["actor_restarts"] += 1
            actor.state = gcs_state.RESTARTING
            actor.worker_id = None
            # calls that were running: retried first, in their callers' order, if max_task_retries allows
            for tid, t in reversed(list(actor.inflight.items())):
                actor.inflight.pop(tid)
                self.running.pop(tid, None)
                if t.retries_left != 0:
                    if t.retries_left > 0:
                        t.retries_left -= 1
                    t.worker = None
                    actor.queues.setdefault(_caller_key(t.spec), deque()).appendleft(t)
                else:
                    self._fail_returns(t.spec, exc.RayActorError(
                        f"The actor {actor.class_name} died while running {t.spec['name']} (exit code {returncode}); "
                        "it is restarting (set max_task_retries to retry calls).", actor.actor_id.hex()))
                    self._release_pins(t)
            if create is None:
                create = TaskRecord(actor.spec)
            create.done = False
            create.worker = None
            # a restart re-runs the constructor; its args are still pinned by the record
            self.ready.append(create)
            self.schedule()
            return
        self.gcs.mark_dead(actor, f"The actor's worker process died (exit code {returncode}) and max_restarts={budget} is spent.")
        self._fail_actor_calls(actor)

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
                "Resources": {k: v / 10_000 for k, v in n.total.items()} if n.alive else {},
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
    def adopt_actor(self, spec: TaskSpec, info: dict[str, Any], origin: bytes) -> None:
        """Another node placed an actor here: keep its record (this node runs and restarts it)."""
        aid = spec["actor"]
        rec = self.gcs.actors.get(aid)
        if rec is not None and not rec.stub:
            rec.host = None
            rec.state = gcs_state.PENDING
            rec.origin = origin
            return
        rec = ActorRecord(
            actor_id=aid, spec=spec, class_name=str(info.get("class_name") or spec["name"]),
            name=str(info.get("name") or ""), namespace=str(info.get("namespace") or "default"),
            job_id=spec["job"], detached=bool(info.get("detached")), meta=dict(info.get("meta") or {}),
        )
        rec.restarts = int(info.get("restarts") or 0)
        rec.origin = origin
        self.gcs.actors[aid] = rec  # its name is the head's to keep, not this node's

    def adopt_actor_stub(self, aid: bytes, info: dict[str, Any]) -> ActorRecord:
        """An actor running on another node that calls from here must reach: a routing record."""
        rec = self.gcs.actors.get(aid)
        if rec is not None:
            return rec
        rec = ActorRecord(
            actor_id=aid, spec={"opts": {}, "deps": [], "fn": None}, class_name=str(info.get("class_name") or ""),
            name=str(info.get("name") or ""), namespace=str(info.get("namespace") or ""), job_id=b"",
            detached=False, meta=dict(info.get("meta") or {}), state=gcs_state.ALIVE,
        )
        rec.host, rec.stub = info["node_id"], True
        if rec.host == self.node_id:
            rec.host = None
        self.gcs.actors[aid] = rec
        return rec

    def forwarded_lost(self, t: TaskRecord, node_id: bytes) -> None:
        """``t`` was sent to ``node_id``, which died before it finished."""
        kind = t.spec["kind"]
        why = f"the node {node_id.hex()} running {t.spec['name']} died"
        if kind == TASK:
            if t.retries_left != 0 and not t.cancelled:
                t.retries_left -= 1
                self.stats["task_retries"] += 1
                self.ready.append(t)
                return
            self._fail_returns(t.spec, exc.NodeDiedError(f"{why}; no retries left (max_retries={t.spec['opts'].get('max_retries', 3)})."))
            self._release_pins(t)
            t.done = True
            return
        actor = self.gcs.actors.get(t.spec["actor"])
        if kind == ACTOR_CREATE:
            if actor is None or actor.state == gcs_state.DEAD:
                self._release_pins(t)
                return
            budget = actor.max_restarts
            if budget == -1 or actor.restarts < budget:
                actor.restarts += 1
                self.stats["actor_restarts"] += 1
                actor.state, actor.host = gcs_state.RESTARTING, None
                for r in return_ids(t.spec):
                    e = self.objects.get(r)
                    if e is not None:
                        e.state, e.payload = 0, None
                for tid, call in reversed(list(actor.inflight.items())):  # retried first, in order
                    actor.inflight.pop(tid)
                    self._requeue_call(actor, call, why)
                self.ready.append(t)
                return
            self.gcs.mark_dead(actor, f"{why}, and max_restarts={budget} is spent.")
            self._fail_actor_calls(actor)
            self._release_pins(t)
            return
        if actor is not None:  # an actor call in flight
            actor.inflight.pop(t.spec["tid"], None)
            if actor.state == gcs_state.RESTARTING:
                self._requeue_call(actor, t, why)
                return
        self._fail_returns(t.spec, exc.RayActorError(f"The actor died: {why}.", t.spec["actor"].hex()))
        self._release_pins(t)

    def actor_host_died(self, actor: ActorRecord, node_id: bytes) -> None:
        """An actor this node placed on ``node_id`` died with that node: create it again
        (constructor re-run, on any node) within ``max_restarts``, else it is dead."""
        why = f"the node {node_id.hex()} running the actor died"
        budget = actor.max_restarts
        lost_args = [d for d in actor.spec["deps"] if (e := self.objects.get(d)) is None or not e.ready]
        if (budget != -1 and actor.restarts >= budget) or lost_args:
            cause = f"{why}, and max_restarts={budget} is spent." if not lost_args else f"{why}, and its constructor's arguments are lost."
            self.gcs.mark_dead(actor, cause)
            actor.death_exc = exc.ActorDiedError(f"The actor {actor.class_name} is dead: {cause}", actor.actor_id.hex())
            self._fail_actor_calls(actor)
            return
        actor.restarts += 1
        self.stats["actor_restarts"] += 1
        actor.state, actor.host = gcs_state.RESTARTING, None
        log.info("restarting actor %s (%s)", actor.class_name, why)
        t = TaskRecord(actor.spec)
        for i, d in enumerate(actor.spec["deps"]):
            e = self.objects.get(d)
            t.dep_payloads[i] = e.payload if e is not None else None
        self.objects.pin(actor.spec["deps"])
        self.objects.pin(actor.spec["nested"])
        self.live[actor.spec["tid"]] = t
        for r in return_ids(actor.spec):
            e = self.objects.get(r)
            if e is not None:
                e.state, e.payload = 0, None
        self.ready.append(t)

    def _requeue_call(self, actor: ActorRecord, t: TaskRecord, why: str) -> None:
        if t.retries_left != 0:
            if t.retries_left > 0:
                t.retries_left -= 1
            actor.queues.setdefault(_caller_key(t.spec), deque()).appendleft(t)
            return
        self._fail_returns(t.spec, exc.RayActorError(
            f"The actor {actor.class_name} died while running {t.spec['name']} ({why}); it is restarting "
            "(set max_task_retries to retry calls).", actor.actor_id.hex()))
        self._release_pins(t)

    def resubmit(self, t: TaskRecord) -> None:
        """Run a finished task again (lineage reconstruction of its lost results). Its
        arguments are still pinned (the lineage held them); some may be being recomputed."""
        t.done = False
        t.worker = None
        t.dep_payloads = [None] * len(t.spec["deps"])
        self.live[t.spec["tid"]] = t
        self._await_deps(t)

    def directory_call(self, method: str, args: dict[str, Any]) -> Any:
        """The head's actor directory: ``actor_placed``, ``locate_actor``, ``lookup_actor``,
        ``register_name``, ``actor_dead``."""
        gcs = self.gcs
        if method == "actor_placed":
            aid = args["actor_id"]
            if aid in self.remote.awaiting_host:
                self.remote.claim_restored(aid, args["node_id"])
            gcs.directory[aid] = {k: args.get(k) for k in ("node_id", "class_name", "name", "namespace", "meta")}
            if args.get("name"):
                gcs.dir_named[(str(args.get("namespace")), str(args["name"]))] = aid
            return None
        if method == "bundles_held":
            self.pgs.claim_bundles(args["node_id"], list(args.get("bundles") or []))
            return None
        if method == "locate_actor":
            return gcs.directory.get(args["actor_id"])
        if method == "lookup_actor":
            aid = gcs.dir_named.get((str(args.get("namespace")), str(args.get("name"))))
            found = gcs.directory.get(aid) if aid is not None else None
            return None if found is None else {**found, "actor_id": aid}
        if method == "register_name":
            key = (str(args.get("namespace")), str(args.get("name")))
            taken = gcs.dir_named.get(key) or gcs.named.get(key)
            if taken is not None and taken != args.get("actor_id"):
                found = gcs.directory.get(taken)
                if found is None and taken in gcs.actors:
                    rec = gcs.actors[taken]
                    found = {"node_id": self.node_id, "class_name": rec.class_name, "meta": rec.meta}
                return {"taken": True, "actor_id": taken, **(found or {})}
            gcs.dir_named[key] = args["actor_id"]
            return {"taken": False}
        if method == "actor_dead":
            aid = args["actor_id"]
            gcs.directory.pop(aid, None)
            for key in [k for k, v in gcs.dir_named.items() if v == aid]:
                del gcs.dir_named[key]
            return None
        raise ValueError(f"unknown directory method {method!r}")

    def actor_died(self, rec: ActorRecord) -> None:
        """``GcsTables.on_dead``: the head forgets the actor's place and name."""
        if not rec.stub and rec.host is None:
            self.remote.head_call("actor_dead", {"actor_id": rec.actor_id}, None)
