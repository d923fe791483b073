"""Actors on the node: creation and names, each caller's queue of calls, death and restarts,
actors placed on or by other nodes, and the head's actor directory.

``Actors`` is a part of ``NodeCore`` (``core.actors``) and shares its state: the GCS tables, the
workers, the ready queue. Like the rest of the core it is synchronous and runs on the node's
Trio thread.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import exceptions as exc
from ..gcs import ActorDirectory, ActorRecord
from ..gcs import _actor_lifecycle as life
from ..gcs import _tables as gcs_state
from ..protocol import Call
from ..raylet import _workers as W
from ..raylet._tasks import ACTOR_CREATE, TaskSpec, return_ids
from ._records import Peer, TaskRecord

if TYPE_CHECKING:
    from ._core import NodeCore
    from ._placement_groups import PlacementGroups
    from ._remote import RemoteWork

log = logging.getLogger("edgeray.node")

#: Seconds an actor asked to stop gracefully (SIGTERM: ``__ray_shutdown__``, atexit handlers)
#: has before it is killed (Ray's ``actor_graceful_shutdown_timeout_ms`` default: 30 s)
GRACEFUL_EXIT_S = 30.0


class Actors:
    """The node's actor handling (see the module's docstring)."""

    def __init__(self, core: NodeCore, directory: ActorDirectory) -> None:
        self.core = core
        self.directory = directory
        self.lifecycle = life.ActorLifecycle(core.gcs, self)
        #: the live non-detached actors each worker process here created (fate sharing)
        self.owned: dict[bytes, set[bytes]] = {}
        #: a non-detached actor's creation result -> the actor: every ActorHandle holds a ref to
        #: it, so once it is freed no handle is left anywhere, and the actor goes (Ray's GC)
        self.scoped: dict[bytes, bytes] = {}
        #: the workers of actors asked to stop gracefully -> when they are killed if still there
        self.stopping: dict[bytes, float] = {}

    def create(self, peer: Peer, spec: TaskSpec, meta: dict[str, Any]) -> dict[str, Any]:
        """Register the actor (its name taken, here and on the head) and submit its creation;
        an existing actor of that name is returned when the caller asked ``get_if_exists``."""
        opts = spec["opts"]
        name = opts.get("name") or ""
        namespace = opts.get("namespace") or self.core.namespace_of(peer)
        if name:
            existing = self.core.gcs.lookup_named(name, namespace)
            if existing is not None:
                if opts.get("get_if_exists"):
                    return {"existing": True, "actor_id": existing.actor_id, "meta": existing.meta}
                raise ValueError(
                    f"The name {name} (namespace={namespace}) is already taken. Use a different name, "
                    f"kill the existing actor, or pass get_if_exists=True."
                )
            if self.core.remote.is_head:  # a name another node's actor holds
                taken = self.directory_call("register_name", {"name": name, "namespace": namespace, "actor_id": spec["actor"]})
                if taken["taken"]:
                    if opts.get("get_if_exists") and isinstance(taken.get("node_id"), bytes):
                        stub = self.adopt_stub(taken["actor_id"], taken)
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
        self.core.gcs.register_actor(rec)
        if not rec.detached and spec["owner"] in self.core.workers:  # (a driver's go with its job)
            self.owned.setdefault(spec["owner"], set()).add(rec.actor_id)
        if not rec.detached:
            self.scoped[return_ids(spec)[0]] = rec.actor_id
        self.core.submit(peer, spec)
        return {"existing": False, "actor_id": rec.actor_id, "meta": meta}

    def owner_exited(self, worker_id: bytes, pid: int) -> None:
        """Ray's fate sharing: the non-detached actors a worker process created (a parent
        actor's, a task's) die with it, for good, wherever they run."""
        for aid in self.owned.pop(worker_id, ()):
            rec = self.core.gcs.actors.get(aid)
            if rec is not None and rec.state != gcs_state.DEAD:
                self.kill(rec, f"its owner, the worker process {pid} that created it, died", no_restart=True)

    def created(self, t: TaskRecord, failed: bool, error: str | None) -> None:
        """The actor's constructor finished (``failed``: it raised): its calls may go, or fail."""
        actor = self.core.gcs.actors.get(t.spec["actor"])
        if actor is None:
            return
        if actor.state == gcs_state.DEAD:  # stopped while its constructor ran: it leaves
            return
        if failed:
            w = t.worker
            self.lifecycle.die(actor, f"The actor died because of an error raised in its creation task, {error}")
            if w is not None:
                self.release_resources(t)
                if self.core.spawner is not None:
                    self.core.spawner.kill_worker(w)
            return
        life.advance(actor, life.CREATED)
        self.pump(actor)

    def release_resources(self, t: TaskRecord) -> None:
        pool = self.core.pool_of(t)
        if t.held and pool is not None:
            pool.release(t.held, t.gpu_ids)
        t.held = {}

    def pump_of(self, actor_id: bytes) -> None:
        actor = self.core.gcs.actors.get(actor_id)
        if actor is not None:
            self.pump(actor)

    def pump(self, actor: ActorRecord) -> None:
        """Send the actor's ready calls to its worker, or to the node it lives on."""
        if actor.state != gcs_state.ALIVE:
            if actor.state == gcs_state.DEAD:
                self.fail_calls(actor)
            return
        host = actor.host
        if host is not None:  # on another node: the calls go there, in order, once ready
            self.drain_calls(actor, functools.partial(self._forward_call, actor, host))
            return
        w = self.core.workers.get(actor.worker_id) if actor.worker_id else None
        if w is None or w.peer is None:
            return
        self.drain_calls(actor, functools.partial(self._send_call, actor, w))

    def drain_calls(self, actor: ActorRecord, send: Callable[[TaskRecord], None]) -> None:
        """Hand each caller's ready calls to ``send``, in order (an unordered actor lets later
        ready calls overtake one still waiting for its arguments). A call whose argument is an
        error fails with it instead."""
        def one(t: TaskRecord) -> None:
            failed = next((p for p in t.dep_payloads if p is not None and p.get("err")), None)
            if failed is not None:
                self.core.finish_with_payloads(t, [{**failed, "id": oid, "refs": []} for oid in return_ids(t.spec)])
            else:
                send(t)

        ordered = not actor.meta.get("unordered", False)
        for q in actor.queues.values():
            while q:
                t = q[0]
                if t.done:  # cancelled while it waited
                    q.popleft()
                    continue
                if t.missing:
                    if ordered:
                        break
                    # unordered (async/threaded) actors: let later ready calls overtake
                    for other in list(q):
                        if not other.missing and not other.done:
                            q.remove(other)
                            one(other)
                    break
                q.popleft()
                one(t)

    def _forward_call(self, actor: ActorRecord, host: bytes, t: TaskRecord) -> None:
        actor.inflight[t.spec["tid"]] = t
        self.core.remote.forward(t, host)

    def _send_call(self, actor: ActorRecord, w: W.WorkerRecord, t: TaskRecord) -> None:
        t.worker = w
        self.core.running[t.spec["tid"]] = t
        actor.inflight[t.spec["tid"]] = t  # type: ignore[assignment]
        self.core.send_execute(w, t)

    def error(self, actor: ActorRecord | None, spec: TaskSpec) -> BaseException:
        return life.death_error(actor)

    def fail_calls(self, actor: ActorRecord) -> None:
        """Every call queued or running on the dead ``actor`` fails with its death error."""
        self.lifecycle.fail_calls(actor)

    def fail_calls_with(self, actor: ActorRecord, error: BaseException) -> None:
        actor.death_exc = error
        self.fail_calls(actor)

    # ------------------------------------------------------------------ life.ActorEffects
    def fail_call(self, call: TaskRecord, error: BaseException) -> None:
        self.core.fail_returns(call.spec, error)
        self.core.release_pins(call)

    def forget_running(self, tid: bytes) -> None:
        self.core.running.pop(tid, None)

    def restarting(self, actor: ActorRecord) -> None:
        self.core.stats["actor_restarts"] += 1

    def recreate(self, actor: ActorRecord, loss: life.Loss, creation: TaskRecord | None) -> None:
        """The restart's creation task: the lost worker's (``WORKER``: its arguments are still
        pinned by the record), the one forwarded (``FORWARD``), or a new one (``HOST``: its
        arguments pinned again from what this node still has)."""
        if loss.source == life.WORKER:
            create = creation if creation is not None else TaskRecord(actor.spec)
            create.done = False
            create.worker = None
            self.core.ready.append(create)
            self.core.schedule()
            return
        if loss.source == life.HOST:
            log.info("restarting actor %s (%s)", actor.class_name, loss.why)
            create = TaskRecord(actor.spec)
            for i, d in enumerate(actor.spec["deps"]):
                e = self.core.objects.get(d)
                create.dep_payloads[i] = e.payload if e is not None else None
            self.core.objects.pin(actor.spec["deps"])
            self.core.objects.pin(actor.spec["nested"])
            self.core.live[actor.spec["tid"]] = create
        else:
            assert creation is not None
            create = creation
        for r in return_ids(actor.spec):
            e = self.core.objects.get(r)
            if e is not None:
                e.state, e.payload = 0, None
        self.core.ready.append(create)

    def kill(self, actor: ActorRecord, cause: str, no_restart: bool = True) -> None:
        """``ray.kill``, fate sharing with an owner, a removed placement group: kill its worker
        (or ask its node to); dead for good if ``no_restart`` or its restarts are spent."""
        if actor.state == gcs_state.DEAD:
            return
        if actor.host is not None:  # it runs on another node: that node kills it
            self.core.remote.link(actor.host).send(Call(0, "kill_actor", {"actor_id": actor.actor_id, "no_restart": no_restart}))
            if no_restart:
                self.lifecycle.die(actor, cause)
            return
        w = self.core.workers.get(actor.worker_id) if actor.worker_id else None
        if no_restart or actor.restarts >= actor.max_restarts != -1:
            self.core.gcs.mark_dead(actor, cause)
        if w is not None and self.core.spawner is not None:
            self.core.spawner.kill_worker(w)
        if actor.state == gcs_state.DEAD:
            create = self._creation_task(actor)
            if create is not None:
                self.release_resources(create)
            self.fail_calls(actor)
            self.core.ready.remove_if(lambda t: t.spec.get("actor") == actor.actor_id and not self.core.drop_task(t))

    def terminate(self, actor: ActorRecord, cause: str) -> None:
        """Stop the actor gracefully (its handles are all gone, its job ended): dead now, its
        worker asked to leave (SIGTERM: ``__ray_shutdown__`` and atexit handlers run there),
        and killed if it is still there after ``GRACEFUL_EXIT_S``."""
        if actor.state == gcs_state.DEAD:
            return
        w = self.core.workers.get(actor.worker_id) if actor.worker_id else None
        if actor.host is not None or w is None or self.core.spawner is None:
            self.kill(actor, cause, no_restart=True)  # (not running here yet, or elsewhere)
            return
        self.core.gcs.mark_dead(actor, cause)
        create = self._creation_task(actor)
        if create is not None:
            self.release_resources(create)
        self.fail_calls(actor)
        self.core.spawner.kill_worker(w, force=False)
        self.stopping[w.worker_id] = self.core.now() + GRACEFUL_EXIT_S

    def exiting(self, actor: ActorRecord) -> None:
        """The actor's worker leaves by ``exit_actor()`` (it exits itself, after its atexit
        handlers): dead now, for the calls after it; killed if it is not gone in time."""
        if actor.state == gcs_state.DEAD:
            return
        self.core.gcs.mark_dead(actor, exc.ActorDiedError.EXITED)
        self.fail_calls(actor)
        if actor.worker_id is not None:
            self.stopping[actor.worker_id] = self.core.now() + GRACEFUL_EXIT_S

    def ref_freed(self, object_id: bytes) -> None:
        """``ObjectTable`` freed ``object_id``: if it is a scoped actor's creation result, the
        last handle to the actor is gone, and so is the actor (after the calls already sent:
        each holds the ref until it is done)."""
        aid = self.scoped.pop(object_id, None)
        actor = self.core.gcs.actors.get(aid) if aid is not None else None
        # (one placed on another node is not: that node has the creation result as the task's
        # producer, and handles on it count there, not here; it lives until its job ends)
        if actor is not None and not actor.detached and not actor.stub and actor.host is None:
            self.terminate(actor, exc.ActorDiedError.OUT_OF_SCOPE)

    def reap_stopping(self) -> None:
        """Kill the workers of actors asked to stop that are still there past their time."""
        now = self.core.now()
        for wid, deadline in list(self.stopping.items()):
            w = self.core.workers.get(wid)
            if w is None:
                del self.stopping[wid]
            elif now >= deadline and self.core.spawner is not None:
                del self.stopping[wid]
                self.core.spawner.kill_worker(w)

    def _creation_task(self, actor: ActorRecord) -> TaskRecord | None:
        w = self.core.workers.get(actor.worker_id) if actor.worker_id else None
        return w.task if w is not None else None

    def worker_died(self, actor: ActorRecord, returncode: int | None, create: TaskRecord | None) -> None:
        """The actor's worker process exited: its creation's resources go back, and it restarts
        within ``max_restarts`` (running calls retried within ``max_task_retries``), else it is
        dead (``ActorLifecycle.lose``)."""
        if create is not None:
            self.release_resources(create)
            self.core.running.pop(create.spec["tid"], None)
        self.lifecycle.lose(actor, life.Loss.worker(returncode), create)

    def adopt(self, spec: TaskSpec, info: dict[str, Any], origin: bytes) -> None:
        """Another node placed an actor here: keep its record (this node runs and restarts it)."""
        aid = spec["actor"]
        rec = self.core.gcs.actors.get(aid)
        if rec is not None and not rec.stub:
            rec.host = None
            life.advance(rec, life.ADOPTED)
            rec.origin = origin
            return
        rec = ActorRecord(
            actor_id=aid, spec=spec, class_name=str(info.get("class_name") or spec["name"]),
            name=str(info.get("name") or ""), namespace=str(info.get("namespace") or "default"),
            job_id=spec["job"], detached=bool(info.get("detached")), meta=dict(info.get("meta") or {}),
        )
        rec.restarts = int(info.get("restarts") or 0)
        rec.origin = origin
        self.core.gcs.actors[aid] = rec  # its name is the head's to keep, not this node's

    def adopt_stub(self, aid: bytes, info: dict[str, Any]) -> ActorRecord:
        """An actor running on another node that calls from here must reach: a routing record."""
        rec = self.core.gcs.actors.get(aid)
        if rec is not None:
            return rec
        rec = ActorRecord(
            actor_id=aid, spec={"opts": {}, "deps": [], "fn": None}, class_name=str(info.get("class_name") or ""),
            name=str(info.get("name") or ""), namespace=str(info.get("namespace") or ""), job_id=b"",
            detached=False, meta=dict(info.get("meta") or {}), state=gcs_state.ALIVE,
        )
        rec.host, rec.stub = info["node_id"], True
        if rec.host == self.core.node_id:
            rec.host = None
        self.core.gcs.actors[aid] = rec
        return rec

    def forwarded_lost(self, t: TaskRecord, why: str) -> None:
        """An actor's creation or call, sent to another node that died before it finished."""
        actor = self.core.gcs.actors.get(t.spec["actor"])
        if t.spec["kind"] != ACTOR_CREATE:
            self.lifecycle.call_lost(actor, t, why)
        elif actor is None or not self.lifecycle.lose(actor, life.Loss.forward(why), t):
            self.core.release_pins(t)

    def host_died(self, actor: ActorRecord, node_id: bytes) -> None:
        """An actor this node placed on ``node_id`` died with that node: create it again
        (constructor re-run, on any node) within ``max_restarts``, else it is dead."""
        lost_args = any((e := self.core.objects.get(d)) is None or not e.ready for d in actor.spec["deps"])
        self.lifecycle.lose(actor, life.Loss.host(node_id, lost_args))

    def directory_call(self, method: str, args: dict[str, Any]) -> Any:
        """The head's actor directory (``gcs.ActorDirectory``)."""
        return self.directory.call(method, args)

    def died(self, rec: ActorRecord) -> None:
        """``GcsTables.on_dead``: the head forgets the actor's place and name."""
        if rec.spec.get("tid") and rec.spec.get("rets"):
            self.scoped.pop(return_ids(rec.spec)[0], None)
        owner = rec.spec.get("owner") or b""
        owned = self.owned.get(owner)
        if owned is not None:
            owned.discard(rec.actor_id)
            if not owned:
                del self.owned[owner]
        if not rec.stub and rec.host is None:
            self.core.remote.head_call("actor_dead", {"actor_id": rec.actor_id}, None)


class DirectoryPorts:
    """``gcs.DirectoryEffects`` on this node: the head's directory acts through its parts."""

    def __init__(self, remote: RemoteWork, pgs: PlacementGroups) -> None:
        self._remote = remote
        self._pgs = pgs

    def actor_placed(self, actor_id: bytes, node_id: bytes) -> None:
        self._remote.claim_restored(actor_id, node_id)

    def bundles_held(self, node_id: bytes, bundles: list[Any]) -> None:
        self._pgs.claim_bundles(node_id, bundles)
