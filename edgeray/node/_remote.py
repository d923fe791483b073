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
that sent them (``Forwarding.origin``), which holds them on this node's behalf.

Three parts of this live in ``raylet/`` and own their data: ``Forwarding`` (the tasks sent to
other nodes, the objects they hold for us and the code sent to each, ``self.forwarding``),
``Fetcher`` (the chunked copy of a marker's bytes, ``self.fetcher``), both acting through
``_NodeLinks``, and ``Lineage`` (the finished tasks kept to recompute lost results,
``self.lineage``). Everything here runs on the node's Trio thread, like ``NodeCore``; the only
async part is the fetch, started in the node's nursery.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import trio

from .. import exceptions as exc
from ..gcs import ActorRecord, JobRecord
from ..gcs import _tables as gcs_state
from ..gcs._actor_lifecycle import PLACED, advance
from ..protocol import DelRef, ForwardTask, Message, encode_spec, return_ids
from ..raylet import (
    Fetcher,
    Forwarding,
    Lineage,
    error_payload,
    is_marker,
    lost_payload,
    marker_for,
)
from ..raylet import FetchLink as Link
from ..raylet._tasks import ACTOR_CALL, ACTOR_CREATE, TASK
from ._cluster import ClusterTable

if TYPE_CHECKING:
    from ._core import NodeCore
    from ._records import Peer, TaskRecord

log = logging.getLogger("edgeray.node")



class _NodeLinks:
    """``raylet.FetchEffects`` and ``raylet.ForwardEffects`` over this node's links and nursery,
    which the service gives ``RemoteWork`` once it runs (``links``, ``spawn``)."""

    def __init__(self, remote: RemoteWork) -> None:
        self._remote = remote

    def link(self, node_id: bytes) -> Link:
        return self._remote.link(node_id)

    def send(self, node_id: bytes, msg: Message) -> None:
        self._remote.link(node_id).send(msg)

    def arena_of(self, link: Link) -> Any:
        return self._remote.links.arena_of(link)

    def is_alive(self, node_id: bytes) -> bool:
        return self._remote.cluster.is_alive(node_id)

    def start_soon(self, fn: Callable[..., Awaitable[None]], *args: Any) -> None:
        assert self._remote.spawn is not None
        self._remote.spawn(fn, *args)


class RemoteWork:
    def __init__(self, core: NodeCore, cluster: ClusterTable) -> None:
        self.core = core
        self.cluster = cluster
        self.node_id = core.node_id
        self.links: Any = None  # _links.NodeLinks, set by the service
        self.spawn: Callable[..., None] | None = None  # nursery.start_soon
        self.is_head = True
        links = _NodeLinks(self)
        # the tasks sent to other nodes, the objects they hold for us, the code sent to each
        self.forwarding: Forwarding[TaskRecord] = Forwarding(links)
        self.awaiting_actor: dict[bytes, list[tuple[Peer, dict[str, Any], bytes | None]]] = {}
        # the head, restarted: detached actors saved as running on another node, waiting for
        # that node to rejoin and say so (else created again once the deadline passes)
        self.awaiting_host: dict[bytes, TaskRecord] = {}
        self.awaiting_deadline = 0.0
        self.job_origin: dict[bytes, Peer] = {}  # job -> the node peer that sent us its work
        # finished forwarded tasks kept to recompute their results (their arguments stay pinned)
        self.lineage: Lineage[TaskRecord] = Lineage(release=core.release_pins,
                                                    exists=lambda oid: core.objects.get(oid) is not None)
        self.fetcher = Fetcher(lambda oid: core.objects.get(oid), core.store, links)
        self._counts = {"tasks_forwarded": 0, "reconstructions": 0}

    @property
    def stats(self) -> dict[str, int]:
        c, f = self._counts, self.fetcher.stats
        return {"tasks_forwarded": c["tasks_forwarded"], "objects_fetched": f["objects_fetched"],
                "bytes_fetched": f["bytes_fetched"], "reconstructions": c["reconstructions"]}

    # ------------------------------------------------------------------ helpers
    def link(self, node_id: bytes) -> Link:
        return self.links.link(node_id)  # type: ignore[no-any-return]

    def marker_for(self, p: dict[str, Any] | None) -> dict[str, Any] | None:
        """A payload as another node receives it: large local values become markers."""
        return marker_for(p, self.node_id)

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
        if fn and fn in core.gcs.functions and self.forwarding.needs_function(node_id, fn):
            blob, name = core.gcs.functions[fn]
            fns.append([fn, blob, name])
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
        self.forwarding.sent(node_id, t)
        self.cluster.debit(node_id, t.place if spec["kind"] != ACTOR_CALL else {})
        self._counts["tasks_forwarded"] += 1
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
                p = lost_payload(oid, "it was freed on the node that holds it")
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
        self.forwarding.subscribe_from(oid, node_id)

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
        forwarding = self.forwarding
        if not forwarding.expects(node_id, oid):
            # not a result of work that node still has from us, nor a value we asked it for:
            # e.g. a late result of a task retried elsewhere after that node was declared dead
            log.info("ignored object %s from node %s: nothing here waits for it from there", oid.hex()[:16], node_id.hex()[:12])
            return
        forwarding.holds_result(oid, node_id)
        for r in payload.get("refs") or []:
            if objects.get(r) is None:
                objects.expect(r, None)
                forwarding.subscribe_from(r, node_id)
        t = forwarding.task_for(node_id, oid)
        done = t is not None and all(r == oid or (x := objects.get(r)) is None or x.ready for r in return_ids(t.spec))
        if done and t is not None:
            forwarding.finished(node_id, oid[:16])
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
        t = self.forwarding.finished(node_id, oid[:16])
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
            self.lineage.keep(t)  # its arguments stay pinned: it may have to run again
            return
        core.release_pins(t)
        if t.spec["kind"] == ACTOR_CALL:
            actor = core.gcs.actors.get(t.spec["actor"])
            if actor is not None:
                actor.inflight.pop(t.spec["tid"], None)

    # ------------------------------------------------------------------ freeing
    def freed(self, oid: bytes) -> None:
        """Nobody here holds ``oid`` any more: the node holding it for us may free it."""
        self.forwarding.freed(oid)

    # ------------------------------------------------------------------ fetching
    def localize(self, oids: list[bytes], then: Callable[[], None]) -> None:
        """Bring every marker among ``oids``' entries into this node's store, then ``then()``
        (``raylet.Fetcher``)."""
        self.fetcher.localize(oids, then)

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
        inflight = self.forwarding.node_gone(node_id)
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
        lost = self.forwarding.lost_with(node_id)
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
            self.lineage.take(oid[:16])  # its pins go with the task run again
            self._counts["reconstructions"] += 1
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
            e.payload = error_payload(oid, error)
        else:
            error = exc.OwnerDiedError(oid.hex(), f"{why} before it sent the value")
            core.objects.set_ready(error_payload(oid, error))


def new_job_base() -> int:
    """Job ids of a non-head node start at a random base, so they never collide with the
    head's (1, 2, ...) or another node's when its work travels."""
    return (int.from_bytes(os.urandom(2), "little") | 1) << 16
