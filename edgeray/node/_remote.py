"""Work that crosses nodes: forwarding tasks and actor calls, objects held on other nodes, the
cluster-wide actor directory, and what a node's death means for all of them.

How an object lives on several nodes: the node that runs a task keeps its large result in its
own store and sends the forwarding node a *marker* (``{"id", "node", "size", "refs", ...}``,
no bytes). The forwarding node's entry holds that marker, and its link to the producing node
counts as a holder there until the entry is freed (then ``DelRef``). A local process that needs
the value gets it only after ``localize`` copied the bytes into this node's store in chunks
(``read_object`` calls, a few in flight); a task forwarded elsewhere carries the marker on, so
bytes move once, from where they are to where they are used. Ids this node has never seen that
arrive nested in a task or a value become *proxies*: pending entries subscribed to the node
that sent them (``origin``), which holds them on this node's behalf.

Everything here runs on the node's Trio thread, like ``NodeCore``; the only async part is the
chunked fetch, started in the node's nursery.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import trio

from .. import exceptions as exc
from ..gcs import ActorRecord, JobRecord
from ..gcs import _tables as gcs_state
from ..gcs._actor_lifecycle import PLACED, advance
from ..protocol import AddRef, DelRef, ForwardTask, Message, Subscribe, Unmap, encode_spec
from ..raylet._tasks import ACTOR_CALL, ACTOR_CREATE, TASK, return_ids
from ._cluster import ClusterTable

if TYPE_CHECKING:
    from ._core import NodeCore
    from ._records import Peer, TaskRecord

log = logging.getLogger("edgeray.node")

#: Bytes per ``read_object`` request, and how many are in flight per fetch.
CHUNK = 8 << 20
WINDOW = 3
#: How many finished forwarded tasks are remembered to re-run them if their results are lost.
LINEAGE_LIMIT = 10_000
#: Tries to copy an object from a node that is still thought alive (0.2 s apart).
FETCH_TRIES = 25


class Link(Protocol):
    """An outgoing connection to another node (``_links.NodeLink``)."""

    closed: bool

    def send(self, msg: Message) -> None: ...

    def call(self, method: str, args: dict[str, Any], callback: Callable[[bool, Any, str | None], None] | None) -> None: ...

    async def call_async(self, method: str, args: dict[str, Any]) -> Any: ...


def is_marker(p: dict[str, Any] | None) -> bool:
    return p is not None and p.get("node") is not None


class RemoteWork:
    def __init__(self, core: NodeCore, cluster: ClusterTable) -> None:
        self.core = core
        self.cluster = cluster
        self.node_id = core.node_id
        self.links: Any = None  # _links.NodeLinks, set by the service
        self.spawn: Callable[..., None] | None = None  # nursery.start_soon
        self.is_head = True
        self.origin: dict[bytes, bytes] = {}  # object -> node that holds it for us
        self.inflight: dict[bytes, dict[bytes, TaskRecord]] = {}  # node -> task id -> forwarded task
        self.sent_fns: dict[bytes, set[bytes]] = {}
        self.fetching: dict[bytes, list[Callable[[], None]]] = {}
        self.awaiting_actor: dict[bytes, list[tuple[Peer, dict[str, Any], bytes | None]]] = {}
        # the head, restarted: detached actors saved as running on another node, waiting for
        # that node to rejoin and say so (else created again once the deadline passes)
        self.awaiting_host: dict[bytes, TaskRecord] = {}
        self.awaiting_deadline = 0.0
        self.job_origin: dict[bytes, Peer] = {}  # job -> the node peer that sent us its work
        self.lineage: dict[bytes, TaskRecord] = {}
        self._lineage_order: deque[bytes] = deque()
        self.stats = {"tasks_forwarded": 0, "objects_fetched": 0, "bytes_fetched": 0, "reconstructions": 0}

    # ------------------------------------------------------------------ helpers
    def link(self, node_id: bytes) -> Link:
        return self.links.link(node_id)  # type: ignore[no-any-return]

    def marker_for(self, p: dict[str, Any] | None) -> dict[str, Any] | None:
        """A payload as another node receives it: large local values become markers."""
        if p is None or p.get("loc") is None:
            return p
        return {"id": p["id"], "data": None, "loc": None, "err": False, "refs": p.get("refs") or [],
                "node": self.node_id, "size": int(p["loc"][1])}

    def head_call(self, method: str, args: dict[str, Any], callback: Callable[[bool, Any, str | None], None] | None) -> None:
        """Ask the head (this node's own directory when it is the head)."""
        if self.is_head:
            try:
                value = self.core.actors.directory_call(method, args)
            except Exception as e:
                if callback is not None:
                    callback(False, None, f"{type(e).__name__}: {e}")
                return
            if callback is not None:
                callback(True, value, None)
            return
        head = self.links.head_link if self.links is not None else None
        if head is None or head.closed:
            if callback is not None:
                callback(False, None, "ConnectionError: not connected to the head node")
            return
        head.call(method, args, callback)

    # ------------------------------------------------------------------ scheduling
    def decide(self, t: TaskRecord) -> Any:
        """Where ``t`` goes: None (here, if it fits), a node id, ``WAIT``, ``INFEASIBLE`` or an
        error, from the strategy the task asked for over the whole cluster."""
        from ._placement_groups import WAIT
        from ._records import INFEASIBLE

        core = self.core
        named = t.spec["opts"].get("strategy")
        params: dict[str, Any] = {}
        if named is None or named == "DEFAULT":
            name = "DEFAULT"
        elif isinstance(named, str):
            name = named
        elif named.get("kind") == "NODE_AFFINITY":
            name, params = "NODE_AFFINITY", {k: v for k, v in named.items() if k != "kind"}
        elif named.get("kind") == "NAMED":
            name, params = named.get("name"), named.get("params") or {}
        else:
            return None
        self.cluster.refresh_local(core.resources.total, core.resources.available)
        arg_bytes = self._arg_bytes(t) if t.spec["kind"] == TASK else None
        decision = core.ask_strategy(t, str(name), params, self.cluster.view(), arg_bytes)
        if isinstance(decision, BaseException):
            return decision
        if decision.is_node:
            target = bytes.fromhex(decision.node_id)
            if target == self.node_id:
                return None
            return target if self.cluster.is_alive(target) else WAIT
        if decision.is_retry:
            return WAIT
        return INFEASIBLE

    def _arg_bytes(self, t: TaskRecord) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in t.dep_payloads:
            if p is None:
                continue
            if is_marker(p):
                key, n = p["node"].hex(), int(p.get("size") or 0)
            elif p.get("loc") is not None:
                key, n = self.node_id.hex(), int(p["loc"][1])
            else:
                continue
            out[key] = out.get(key, 0) + n
        return out

    # ------------------------------------------------------------------ forwarding
    def forward(self, t: TaskRecord, node_id: bytes) -> None:
        """Send ``t`` (dependencies resolved) to ``node_id``; its results come back as
        ``ObjectReady`` on that link (``object_ready``)."""
        core = self.core
        spec = t.spec
        link = self.link(node_id)
        fns = []
        fn = spec.get("fn")
        sent = self.sent_fns.setdefault(node_id, set())
        if fn and fn not in sent and fn in core.gcs.functions:
            blob, name = core.gcs.functions[fn]
            fns.append([fn, blob, name])
            sent.add(fn)
        actor = None
        if spec["kind"] == ACTOR_CREATE:
            rec = core.gcs.actors.get(spec["actor"])
            if rec is not None:
                actor = {"name": rec.name, "namespace": rec.namespace, "meta": rec.meta,
                         "class_name": rec.class_name, "detached": rec.detached, "job_id": rec.job_id,
                         "restarts": rec.restarts}
                rec.host = node_id
                advance(rec, PLACED)
                core.gcs.save_detached(rec)
                self.actor_placed(rec, node_id)
        if t.raw is None:
            t.raw = encode_spec(spec)
        deps = [self.marker_for(p) for p in t.dep_payloads]
        job = core.gcs.jobs.get(spec["job"])
        link.send(ForwardTask(t.raw, deps, fns, actor, {"namespace": job.namespace} if job is not None else None))
        t.forwarded_to = node_id
        self.inflight.setdefault(node_id, {})[spec["tid"]] = t
        self.cluster.debit(node_id, t.place if spec["kind"] != ACTOR_CALL else {})
        self.stats["tasks_forwarded"] += 1
        if spec["kind"] == ACTOR_CREATE:
            core.actors.pump_of(spec["actor"])

    def accept(self, peer: Peer, origin_node: bytes, spec: dict[str, Any], raw: bytes,
               deps: list[dict[str, Any]], fns: list[Any], actor: dict[str, Any] | None,
               job: dict[str, Any] | None = None) -> None:
        """Another node's ``ForwardTask``: take in its code, arguments and nested ids, then run
        it here (it is not forwarded again)."""
        core = self.core
        objects = core.objects
        for item in fns:
            if isinstance(item, list) and len(item) == 3 and isinstance(item[0], bytes) and isinstance(item[1], bytes):
                core.gcs.functions.setdefault(item[0], (item[1], str(item[2])))
        temp = b"\x00fwd" + spec["tid"]
        held: list[bytes] = []
        for p in deps:
            if not isinstance(p, dict) or not isinstance(p.get("id"), bytes):
                raise exc.ProtocolError("forwarded dependency payloads must be maps with a bytes id")
            oid = p["id"]
            held.append(oid)
            if objects.get(oid) is not None:
                objects.add_holder([oid], temp)
                continue
            objects.expect(oid, temp)
            for r in p.get("refs") or []:
                self._proxy(r, origin_node, temp, held)
            if p.get("node") == self.node_id:  # ours, but freed meanwhile
                p = core.object_service.lost_payload(oid, "it was freed on the node that holds it")
            objects.set_ready(p)
        for r in spec["nested"]:
            self._proxy(r, origin_node, temp, held)
        self.job_origin[spec["job"]] = peer
        if job is not None and spec["job"] not in core.gcs.jobs:
            core.gcs.jobs[spec["job"]] = JobRecord(spec["job"], str(job.get("namespace") or "default"), 0)
        if actor is not None and spec["kind"] == ACTOR_CREATE:
            core.actors.adopt(spec, actor, origin_node)
        core.submit(peer, spec, raw, local_only=True)
        objects.remove_holder(held, temp)

    def _proxy(self, oid: bytes, node_id: bytes, holder: bytes, held: list[bytes]) -> None:
        objects = self.core.objects
        held.append(oid)
        if objects.get(oid) is not None:
            objects.add_holder([oid], holder)
            return
        objects.expect(oid, holder)
        self.origin[oid] = node_id
        link = self.link(node_id)
        link.send(AddRef([oid]))
        link.send(Subscribe([oid]))

    def object_ready(self, node_id: bytes, payload: dict[str, Any]) -> None:
        """A value (or marker) from ``node_id``: the result of work we forwarded there, or a
        proxy's value."""
        core = self.core
        objects = core.objects
        oid = payload.get("id")
        if not isinstance(oid, bytes):
            raise exc.ProtocolError("object payload without a bytes id")
        e = objects.get(oid)
        if payload.get("bounce"):  # it could not get its arguments there: run it again
            self._bounced(node_id, oid)
            return
        if e is None:  # nobody here wants it any more: let the other node free it
            self.link(node_id).send(DelRef([oid]))
            return
        tasks = self.inflight.get(node_id)
        if not (tasks and oid[:16] in tasks) and self.origin.get(oid) != node_id:
            # not a result of work that node still has from us, nor a value we asked it for:
            # e.g. a late result of a task retried elsewhere after that node was declared dead
            log.info("ignored object %s from node %s: nothing here waits for it from there", oid.hex()[:16], node_id.hex()[:12])
            return
        self.origin.setdefault(oid, node_id)
        for r in payload.get("refs") or []:
            if objects.get(r) is None:
                objects.expect(r, None)
                self.origin[r] = node_id
                link = self.link(node_id)
                link.send(AddRef([r]))
                link.send(Subscribe([r]))
        t = tasks.get(oid[:16]) if tasks else None
        done = t is not None and all(r == oid or (x := objects.get(r)) is None or x.ready for r in return_ids(t.spec))
        if done and t is not None and tasks is not None:
            del tasks[oid[:16]]
            self._credit(node_id, t)  # its resources are free there again (before dependents schedule)
        objects.set_ready(payload)
        if done and t is not None:
            self._forwarded_done(t)

    def _credit(self, node_id: bytes, t: TaskRecord) -> None:
        """A task sent to ``node_id`` no longer holds its resources there (until its report)."""
        if t.spec["kind"] == TASK:
            self.cluster.debit(node_id, {k: -v for k, v in t.place.items()})

    def _bounced(self, node_id: bytes, oid: bytes) -> None:
        """``node_id`` could not fetch an argument of the task we sent it (the node holding
        it died): once that argument is back (``node_died`` recomputes it), send it again."""
        tasks = self.inflight.get(node_id)
        t = tasks.pop(oid[:16], None) if tasks else None
        if t is None or t.done:
            return  # another result of the same task bounced first
        t.forwarded_to = None
        self.link(node_id).send(DelRef(return_ids(t.spec)))  # before any new ForwardTask on that link
        self._credit(node_id, t)
        log.info("%s bounced from node %s (an argument was lost); submitting it again", t.spec["name"], node_id.hex()[:12])
        self.core.stats["task_retries"] += 1
        self.core.resubmit(t)

    def _forwarded_done(self, t: TaskRecord) -> None:
        core = self.core
        t.forwarded_to = None
        t.done = True
        core.stats["tasks_finished"] += 1
        if t.spec["kind"] == TASK and t.retries_left != 0 and not t.cancelled:
            self._keep_lineage(t)  # its arguments stay pinned: it may have to run again
            return
        core.release_pins(t)
        if t.spec["kind"] == ACTOR_CALL:
            actor = core.gcs.actors.get(t.spec["actor"])
            if actor is not None:
                actor.inflight.pop(t.spec["tid"], None)

    # ------------------------------------------------------------------ lineage
    def _keep_lineage(self, t: TaskRecord) -> None:
        """Keep ``t`` (and its arguments) while its results live, so a result lost with the
        node that holds it can be recomputed, recursively. Bounded: past ``LINEAGE_LIMIT``
        tasks the oldest are let go (their results can no longer be recomputed)."""
        tid = t.spec["tid"]
        self.lineage[tid] = t
        self._lineage_order.append(tid)
        while len(self.lineage) > LINEAGE_LIMIT and self._lineage_order:
            self._drop_lineage(self._lineage_order.popleft())
        if len(self._lineage_order) > 2 * LINEAGE_LIMIT:  # ids of entries already dropped
            self._lineage_order = deque(x for x in self._lineage_order if x in self.lineage)

    def _drop_lineage(self, tid: bytes) -> None:
        t = self.lineage.pop(tid, None)
        if t is not None:
            self.core.release_pins(t)

    def lineage_freed(self, oid: bytes) -> None:
        """``oid`` was freed here: once all the results of its task are, forget the task."""
        t = self.lineage.get(oid[:16])
        if t is not None and all(r == oid or self.core.objects.get(r) is None for r in return_ids(t.spec)):
            self._drop_lineage(oid[:16])

    def freed(self, oid: bytes) -> None:
        node_id = self.origin.pop(oid, None)
        if node_id is not None and self.cluster.is_alive(node_id):
            self.link(node_id).send(DelRef([oid]))

    # ------------------------------------------------------------------ fetching
    def localize(self, oids: list[bytes], then: Callable[[], None]) -> None:
        """Bring every marker among ``oids``' entries into this node's store, then ``then()``."""
        objects = self.core.objects
        todo = [oid for oid in oids if (e := objects.get(oid)) is not None and is_marker(e.payload)]
        if not todo:
            then()
            return
        remaining = [len(todo)]

        def one_done() -> None:
            remaining[0] -= 1
            if remaining[0] == 0:
                then()

        for oid in todo:
            waiting = self.fetching.get(oid)
            if waiting is not None:
                waiting.append(one_done)
                continue
            self.fetching[oid] = [one_done]
            e = objects.get(oid)
            assert e is not None and e.payload is not None
            assert self.spawn is not None
            self.spawn(self._fetch, dict(e.payload))

    async def _fetch(self, marker: dict[str, Any]) -> None:
        """Copy the object ``marker`` points at into this node's store. A failed copy is tried
        again while its node is thought alive; once it is declared dead, ``node_died`` has
        already recomputed or failed the object, and that answer is kept."""
        core = self.core
        oid, node_id = marker["id"], marker["node"]
        payload: dict[str, Any] | None = None
        for attempt in range(FETCH_TRIES):
            try:
                payload = await self._copy_here(marker)
                break
            except Exception as e:
                if not self.cluster.is_alive(node_id) or attempt == FETCH_TRIES - 1:
                    log.warning("could not fetch object %s from node %s: %s", oid.hex(), node_id.hex()[:12], e)
                    payload = {**core.object_service.lost_payload(oid, f"fetching it from node {node_id.hex()} failed: {e}"), "lost_from": node_id}
                    break
                await trio.sleep(0.2)
        entry = core.objects.get(oid)
        ours = payload is not None and payload.get("loc") is not None
        if entry is not None and entry.payload is not None and entry.payload.get("node") == node_id:
            entry.payload = payload  # still the marker we fetched (not recomputed meanwhile)
        elif ours:
            core.store.delete(oid)
        for cb in self.fetching.pop(oid, []):
            cb()

    async def _copy_here(self, marker: dict[str, Any]) -> dict[str, Any]:
        oid, node_id, size = marker["id"], marker["node"], int(marker.get("size") or 0)
        store = self.core.store
        if not self.cluster.is_alive(node_id):
            raise ConnectionError(f"node {node_id.hex()} holding it is dead")
        link = self.link(node_id)
        offset = store.create(oid, size)
        try:
            view = store.arena.write_view(offset, size)
            other = self.links.arena_of(link)
            if other is not None:  # on this machine: one copy, from its arena to ours
                loc = await link.call_async("lease_object", {"id": oid})
                try:
                    view[:] = other.write_view(int(loc[0]), size)
                finally:
                    link.send(Unmap([oid], [1]))
            else:
                await _read_chunks(link, oid, size, view)
            store.seal(oid)
        except BaseException:
            store.delete(oid)
            raise
        self.stats["objects_fetched"] += 1
        self.stats["bytes_fetched"] += size
        return {"id": oid, "data": None, "loc": [offset, size], "err": False, "refs": marker.get("refs") or []}

    # ------------------------------------------------------------------ actors
    def actor_placed(self, rec: ActorRecord, node_id: bytes) -> None:
        args = {"actor_id": rec.actor_id, "node_id": node_id, "class_name": rec.class_name,
                "name": rec.name, "namespace": rec.namespace, "meta": rec.meta}
        self.head_call("actor_placed", args, None)

    def announce_actors(self) -> None:
        """Joined (or joined again, after the head restarted): tell the head's directory
        every actor running here, so names resolve and a restarted head does not create
        again the detached actors that never stopped."""
        for rec in list(self.core.gcs.actors.values()):
            if not rec.stub and rec.host is None and rec.worker_id is not None and rec.state != gcs_state.DEAD:
                self.actor_placed(rec, self.node_id)
        held = self.core.pgs.held_for_others()
        if held:
            self.head_call("bundles_held", {"node_id": self.node_id, "bundles": held}, None)

    def await_host(self, t: TaskRecord, deadline: float) -> None:
        """A restored detached actor saved as running on another node: wait for it."""
        self.awaiting_host[t.spec["actor"]] = t
        self.awaiting_deadline = deadline

    def claim_restored(self, aid: bytes, node_id: bytes) -> None:
        """``node_id`` (re)joined and runs ``aid``: the restored record points there."""
        t = self.awaiting_host.pop(aid, None)
        rec = self.core.gcs.actors.get(aid)
        if t is None or rec is None or node_id == self.node_id:
            return
        rec.host = node_id
        advance(rec, PLACED)
        self.core.live.pop(t.spec["tid"], None)
        self.core.gcs.save_detached(rec)
        self.core.actors.pump_of(aid)

    def expire_restored(self, now: float) -> None:
        """The nodes that ran restored actors had their time to rejoin: create the rest."""
        if not self.awaiting_host or now < self.awaiting_deadline:
            return
        for t in self.awaiting_host.values():
            log.info("detached actor %s: its node did not rejoin; creating it again", t.spec["name"])
            self.core.ready.append(t)
        self.awaiting_host.clear()
        self.core.schedule()

    def locate_actor(self, peer: Peer, spec: dict[str, Any], raw: bytes | None) -> bool:
        """An actor call for an actor this node does not know: ask the head where it lives,
        then submit the calls (in order). False if there is nobody to ask."""
        if not self.cluster.is_multi():
            return False
        aid = spec["actor"]
        queue = self.awaiting_actor.get(aid)
        if queue is not None:
            queue.append((peer, spec, raw))
            return True
        self.awaiting_actor[aid] = [(peer, spec, raw)]
        self._ask_location(aid, 40)
        return True

    def _ask_location(self, aid: bytes, tries: int) -> None:
        def answered(ok: bool, value: Any, error: str | None) -> None:
            if ok and isinstance(value, dict) and isinstance(value.get("node_id"), bytes):
                self.core.actors.adopt_stub(aid, value)
            elif tries > 0 and self.spawn is not None:  # maybe not registered yet: ask again soon
                self.spawn(self._ask_later, aid, tries - 1)
                return
            for peer, spec, raw in self.awaiting_actor.pop(aid, []):
                self.core.submit(peer, spec, raw)

        self.head_call("locate_actor", {"actor_id": aid}, answered)

    async def _ask_later(self, aid: bytes, tries: int) -> None:
        await trio.sleep(0.05)
        self._ask_location(aid, tries)

    # ------------------------------------------------------------------ failures
    def node_died(self, node_id: bytes) -> None:
        """``node_id`` is gone (the head said so, or our link to it broke): re-run what we sent
        it, restart its actors elsewhere, recompute or fail the objects only it held."""
        core = self.core
        self.cluster.mark_dead(node_id)  # strategies stop choosing it (the head's next table agrees)
        if self.links is not None:
            self.links.drop(node_id)
        self.sent_fns.pop(node_id, None)
        inflight = self.inflight.pop(node_id, {})
        for rec in list(core.gcs.actors.values()):  # ours that ran there: restart them elsewhere
            if not rec.stub and rec.host == node_id and rec.state != gcs_state.DEAD:
                creating = any(t.spec["kind"] == ACTOR_CREATE and t.spec["actor"] == rec.actor_id for t in inflight.values())
                if not creating:
                    core.actors.host_died(rec, node_id)
        for t in list(inflight.values()):
            t.forwarded_to = None
            core.forwarded_lost(t, node_id)
        core.pgs.node_died(node_id)
        for rec in [r for r in core.gcs.actors.values() if r.origin == node_id and not r.stub]:
            if not rec.detached and rec.host is None:  # its owner is gone: so is it (Ray's fate sharing)
                core.actors.kill(rec, f"the node {node_id.hex()} that owned the actor died", no_restart=True)
        for rec in [r for r in core.gcs.actors.values() if r.stub and r.host == node_id]:
            del core.gcs.actors[rec.actor_id]  # the next call asks the head where it went
            core.actors.fail_calls_with(rec, exc.ActorDiedError(f"The node {node_id.hex()} running the actor died.", rec.actor_id.hex()))
        lost = {oid for oid, n in self.origin.items() if n == node_id}
        for oid in lost:
            self.origin.pop(oid, None)
        for oid in list(lost):
            if oid in lost:  # not already recomputed as another's argument
                lost.discard(oid)
                self._recover_if_lost(oid, node_id, lost)
        core.schedule()

    def _recover_if_lost(self, oid: bytes, node_id: bytes, lost: set[bytes]) -> None:
        e = self.core.objects.get(oid)
        if e is None:
            return
        p = e.payload
        if e.ready and p is not None and not is_marker(p):
            return  # a copy lives here already (inline or fetched)
        self._recover(oid, e, node_id, lost)

    def _recover(self, oid: bytes, e: Any, node_id: bytes, lost: set[bytes]) -> None:
        core = self.core
        t = self.lineage.get(oid[:16])
        if t is not None and e.ready and all(core.objects.get(d) is not None for d in t.spec["deps"]):
            self.lineage.pop(oid[:16], None)  # its pins go with the task run again
            self.stats["reconstructions"] += 1
            log.info("recomputing %s (lost with node %s)", t.spec["name"], node_id.hex()[:12])
            for r in return_ids(t.spec):
                x = core.objects.get(r)
                if x is not None:
                    x.state, x.payload = 0, None
                lost.discard(r)
            for d in t.spec["deps"]:  # arguments lost with the same node: recomputed first
                if d in lost:
                    lost.discard(d)
                    self._recover_if_lost(d, node_id, lost)
            core.resubmit(t)
            return
        why = f"node {node_id.hex()} that held it died"
        if e.ready:
            error: BaseException = exc.ObjectReconstructionFailedError(
                oid.hex(), f"{why}, and the task that made it cannot be re-run (not retryable, "
                "its arguments are gone, or it was not made by a task)")
            e.payload = core.object_service.error_payload_for(oid, error)
        else:
            error = exc.OwnerDiedError(oid.hex(), f"{why} before it sent the value")
            core.objects.set_ready(core.object_service.error_payload_for(oid, error))


async def _read_chunks(link: Link, oid: bytes, size: int, view: memoryview) -> None:
    """Copy ``size`` bytes of ``oid`` into ``view``, ``WINDOW`` chunk requests in flight."""
    positions = list(range(0, size, CHUNK))
    limit = trio.Semaphore(WINDOW)

    async def one(pos: int) -> None:
        n = min(CHUNK, size - pos)
        try:
            data = await link.call_async("read_object", {"id": oid, "offset": pos, "size": n})
        finally:
            limit.release()
        if not isinstance(data, bytes) or len(data) != n:
            raise exc.ObjectLostError(oid.hex(), "the holding node sent a short chunk")
        view[pos : pos + n] = data

    async with trio.open_nursery() as nursery:
        for pos in positions:
            await limit.acquire()
            nursery.start_soon(one, pos)


def new_job_base() -> int:
    """Job ids of a non-head node start at a random base, so they never collide with the
    head's (1, 2, ...) or another node's when its work travels."""
    return (int.from_bytes(os.urandom(2), "little") | 1) << 16
