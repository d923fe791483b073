"""Placement groups on the node: create (atomically), wait, place tasks in bundles, remove.
The groups' states and the bookkeeping of their two-phase creation are the GCS's
(``gcs._pg_lifecycle``: ``TRANSITIONS``, ``advance_pg``, ``TwoPhase``); this part does the I/O.

The GCS record (``gcs.PlacementGroupRecord``) says what was asked; ``raylet._placement``
decides which node each bundle goes to; the node's ``NodeResources`` reserves every bundle or
none. A group that does not fit stays PENDING and is tried again whenever resources are
given back. Tasks and actors with a ``PlacementGroupSchedulingStrategy`` draw from their
bundle's pool instead of the node's.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .. import exceptions as exc
from ..gcs import PlacementGroupRecord
from ..gcs import _tables as gcs_state
from ..gcs._pg_lifecycle import BUNDLES_LOST, REMOVED, RESERVED, RESTORED, TwoPhase, advance_pg
from ..plugins import from_unit_dict, from_units
from ..raylet import to_units
from ..raylet._placement import STRATEGIES, never_fits, place_bundles
from ..raylet._resources import UNIT, ResourcePool
from ..raylet._tasks import ACTOR_CREATE

if TYPE_CHECKING:
    from ._core import NodeCore
    from ._records import Peer, TaskRecord

log = logging.getLogger("edgeray.node")

#: The node of a bundle not (yet) placed anywhere alive.
LOST = b""

#: The holder of objects the GCS itself keeps alive (detached groups' ready objects).
GCS_HOLDER = b"\x00gcs"

#: ``bundle_for`` answers: wait (the group is pending or its bundles are busy).
WAIT = "wait"


def pg_strategy(spec: dict[str, Any]) -> dict[str, Any] | None:
    """The task's placement-group strategy, if it has one with a group."""
    s = spec["opts"].get("strategy")
    if isinstance(s, dict) and s.get("kind") == "PLACEMENT_GROUP" and s.get("pg_id") is not None:
        return s
    return None


class PlacementGroups:
    def __init__(self, core: NodeCore) -> None:
        self.core = core
        self.pending: list[bytes] = []  # ids of PENDING groups, oldest first
        self.preparing = TwoPhase()  # groups waiting for other nodes' reservations
        self.hosted: dict[bytes, bytes] = {}  # other nodes' groups with bundles here -> their owner
        # a restarted head's detached groups waiting for their nodes to report their bundles
        self.restoring: dict[bytes, PlacementGroupRecord] = {}
        self.restore_deadline = 0.0
        self.created = 0
        self.removed = 0

    @property
    def table(self) -> dict[bytes, PlacementGroupRecord]:
        return self.core.gcs.pgs

    # ------------------------------------------------------------------ create
    def create(self, peer: Peer, args: dict[str, Any]) -> dict[str, Any]:
        bundles, strategy, name, lifetime = _validated(args)
        gcs = self.core.gcs
        if name and name in gcs.named_pgs:
            existing = gcs.pgs.get(gcs.named_pgs[name])
            if existing is not None and existing.state != gcs_state.PG_REMOVED:
                raise ValueError(f"Failed to create placement group: the name {name!r} is already taken.")
        pg_id, ready_id = args["pg_id"], args["ready_id"]
        if not (isinstance(pg_id, bytes) and len(pg_id) == 16 and isinstance(ready_id, bytes)):
            raise ValueError("bad placement group id")
        if pg_id in gcs.pgs:
            raise ValueError(f"placement group {pg_id.hex()} exists already")
        rec = PlacementGroupRecord(
            pg_id=pg_id, name=name, strategy=strategy, bundles=bundles, job_id=peer.job_id,
            detached=lifetime == "detached", ready_id=ready_id, ready_value=args.get("ready_value") or b"",
        )
        self.core.objects.expect(ready_id, peer.peer_id)
        self.add(rec)
        self._save(rec)
        self.try_pending()
        return {"pg_id": pg_id, "state": rec.state}

    def add(self, rec: PlacementGroupRecord, queue: bool = True) -> None:
        """Track a new (or restored) group; ``queue``: it is created as soon as it fits."""
        gcs = self.core.gcs
        gcs.pgs[rec.pg_id] = rec
        if rec.name:
            gcs.named_pgs[rec.name] = rec.pg_id
        if rec.detached:  # its ready() object outlives the driver that made it
            self.core.objects.expect(rec.ready_id, GCS_HOLDER)
        if queue:
            self.pending.append(rec.pg_id)

    def _save(self, rec: PlacementGroupRecord) -> None:
        durable = self.core.gcs.durable
        if rec.detached and durable is not None:
            durable.save_pg(rec.pg_id, {
                "pg_id": rec.pg_id, "name": rec.name, "strategy": rec.strategy, "bundles": rec.bundles,
                "job_id": rec.job_id, "ready_id": rec.ready_id, "ready_value": rec.ready_value,
                "nodes": list(rec.nodes), "owner": self.core.node_id,
            })

    def restore(self, saved: dict[str, Any], rejoin_s: float = 0.0) -> None:
        """A detached group saved before the node restarted: reserve it again. Bundles it had
        on other nodes are kept if those nodes rejoin within ``rejoin_s`` and report them
        (``claim_bundles``); the rest are reserved again."""
        rec = PlacementGroupRecord(
            pg_id=saved["pg_id"], name=saved["name"], strategy=saved["strategy"],
            bundles=[{k: int(v) for k, v in b.items()} for b in saved["bundles"]], job_id=saved["job_id"],
            detached=True, ready_id=saved["ready_id"], ready_value=saved["ready_value"],
        )
        elsewhere = [n for n in saved.get("nodes") or [] if n != saved.get("owner")]
        if not elsewhere:
            self.add(rec)
            return
        self.add(rec, queue=False)
        rec.nodes = [LOST] * len(rec.bundles)
        advance_pg(rec, RESTORED)
        self.restoring[rec.pg_id] = rec
        self.restore_deadline = time.monotonic() + rejoin_s

    def claim_bundles(self, node_id: bytes, held: list[Any]) -> None:
        """A node (re)joined holding bundles of restored groups: they stay there."""
        for item in held:
            pg_id, index = bytes(item[0]), int(item[1])
            rec = self.restoring.get(pg_id)
            if rec is not None and 0 <= index < len(rec.nodes):
                rec.nodes[index] = node_id
                if LOST not in rec.nodes:
                    del self.restoring[pg_id]
                    self._rescheduled(rec, rec.nodes)

    def expire_restored(self, now: float) -> None:
        """The nodes of restored groups had their time to rejoin: reserve what is missing."""
        if not self.restoring or now < self.restore_deadline:
            return
        for rec in self.restoring.values():
            self.pending.append(rec.pg_id)
        self.restoring.clear()
        self.try_pending()

    def held_for_others(self) -> list[list[Any]]:
        """Bundles reserved here for detached groups of other nodes (reported to a new head)."""
        return [[k[0], k[1]] for k in self.core.resources.bundles
                if k[0] not in self.table and k[0] not in self.hosted]

    def try_pending(self) -> None:
        """Reserve what fits now, oldest group first (each one atomically)."""
        if not self.pending:
            return
        core = self.core
        nodes = self._node_pools()
        still = []
        for pg_id in self.pending:
            rec = self.table.get(pg_id)
            if rec is not None and rec.state == gcs_state.PG_RESCHEDULING and pg_id not in self.preparing:
                if not self._reschedule(rec, nodes):
                    still.append(pg_id)
                nodes = self._node_pools()
                continue
            if rec is None or rec.state != gcs_state.PG_PENDING or pg_id in self.preparing:
                if rec is not None and pg_id in self.preparing:
                    still.append(pg_id)
                continue
            placed = place_bundles(rec.strategy, rec.bundles, nodes)
            mine = {(pg_id, i): b for i, b in enumerate(rec.bundles) if placed is not None and placed[i] == core.node_id}
            if placed is None or not core.resources.reserve_bundles(mine):
                still.append(pg_id)
                self._warn_if_never(rec, nodes)
                continue
            if all(n == core.node_id for n in placed):
                self._created(rec, placed)
                continue
            still.append(pg_id)
            self._prepare_remote(rec, placed)
            nodes = self._node_pools()
        self.pending = still

    def _node_pools(self) -> dict[bytes, ResourcePool]:
        """This node's pool and, in a cluster, a view of every other alive node's."""
        core = self.core
        nodes: dict[bytes, ResourcePool] = {core.node_id: core.resources}
        for n in core.cluster.nodes.values():
            if n.alive and n.node_id != core.node_id:
                avail = {k: max(v, 0) for k, v in n.available.items()}
                gpus = {str(i): UNIT for i in range(avail.get("GPU", 0) // UNIT)}
                pool = nodes[n.node_id] = ResourcePool.from_units(avail, gpus)
                pool.total = dict(n.total)  # for never_fits: what it holds when empty
        return nodes

    # ------------------------------------------------------------------ node death
    def node_died(self, node_id: bytes) -> None:
        """Our groups' bundles on a dead node are reserved again on live nodes (the group is
        RESCHEDULING meanwhile; what ran in them is retried or restarted by its own rules);
        bundles here of the dead node's groups are released."""
        self.owner_died(node_id)
        for rec in self.table.values():
            if rec.state == gcs_state.PG_CREATED and node_id in rec.nodes:
                advance_pg(rec, BUNDLES_LOST)
                self.pending.append(rec.pg_id)
                log.info("placement group %s lost bundles with node %s: rescheduling them",
                         rec.name or rec.pg_id.hex(), node_id.hex()[:12])
        self.try_pending()

    def _reschedule(self, rec: PlacementGroupRecord, nodes: dict[bytes, ResourcePool]) -> bool:
        """Place the bundles ``rec`` lost, keeping the others where they are. True once the
        group is whole again or its new bundles are being reserved."""
        core = self.core
        lost = [i for i, n in enumerate(rec.nodes) if n not in nodes]
        if not lost:
            advance_pg(rec, RESERVED)
            return True
        kept = {n for n in rec.nodes if n in nodes}
        # a node that still holds bundles of the group takes no new ones, except this node (a
        # refusal elsewhere releases every bundle of the group on that node); STRICT_PACK lost
        # them all with their one node
        pools = {n: p for n, p in nodes.items() if n not in kept or n == core.node_id}
        sub = place_bundles(rec.strategy, [rec.bundles[i] for i in lost], pools)
        if sub is None:
            return False
        placed = list(rec.nodes)
        for i, n in zip(lost, sub, strict=True):
            placed[i] = n
        mine = {(rec.pg_id, i): rec.bundles[i] for i in lost if placed[i] == core.node_id}
        if not core.resources.reserve_bundles(mine):
            return False
        if all(placed[i] == core.node_id for i in lost):
            self._rescheduled(rec, placed)
            return True
        self._prepare_remote(rec, placed, lost)
        return True

    def _rescheduled(self, rec: PlacementGroupRecord, placed: list[bytes]) -> None:
        rec.nodes = placed
        advance_pg(rec, RESERVED)
        self.pending = [p for p in self.pending if p != rec.pg_id]
        self._save(rec)
        ready = self.core.objects.get(rec.ready_id)
        if ready is not None and not ready.ready:  # a restored group: ready() answers now
            self._set_ready(rec)
        self.core.schedule()

    def _created(self, rec: PlacementGroupRecord, placed: list[bytes]) -> None:
        rec.nodes = placed
        advance_pg(rec, RESERVED)
        self._save(rec)
        self.created += 1
        self._set_ready(rec)

    def _set_ready(self, rec: PlacementGroupRecord) -> None:
        self.core.objects.set_ready({"id": rec.ready_id, "data": rec.ready_value, "loc": None, "err": False, "refs": []})

    def _prepare_remote(self, rec: PlacementGroupRecord, placed: list[bytes], only: list[int] | None = None) -> None:
        """Two-phase creation across nodes: every node holding bundles reserves them (all of a
        node's or none); once all said yes the group is created, else what was reserved is
        given back and the group stays pending. ``only``: the bundles being placed again."""
        core = self.core
        pg_id = rec.pg_id
        indices = list(range(len(placed))) if only is None else only
        by_node: dict[bytes, list[list[Any]]] = {}
        for i in indices:
            if placed[i] != core.node_id:
                by_node.setdefault(placed[i], []).append([i, rec.bundles[i]])
        self.preparing.begin(pg_id, by_node, indices)
        for node_id, bundles in by_node.items():
            core.cluster.debit(node_id, _sum_units(b for _, b in bundles))
            core.remote.link(node_id).call("reserve_bundles", {"pg_id": pg_id, "bundles": bundles, "detached": rec.detached},
                                           functools.partial(self._prepared, rec, placed, node_id))

    def _prepared(self, rec: PlacementGroupRecord, placed: list[bytes], node_id: bytes, ok: bool, value: Any, error: str | None) -> None:
        state = self.preparing.answer(rec.pg_id, node_id, ok and value is True)
        if state is None:  # (others still to answer)
            return
        core = self.core
        again = rec.state == gcs_state.PG_RESCHEDULING
        if state.failed or rec.state not in (gcs_state.PG_PENDING, gcs_state.PG_RESCHEDULING):
            for n in state.ok:
                core.remote.link(n).call("release_bundles", {"pg_id": rec.pg_id}, None)
            for i in state.indices:
                if placed[i] == core.node_id:
                    core.resources.release_bundle((rec.pg_id, i))
            core.schedule()
            return
        if again:
            self._rescheduled(rec, placed)
            return
        self.pending = [p for p in self.pending if p != rec.pg_id]
        self._created(rec, placed)
        core.schedule()

    def _warn_if_never(self, rec: PlacementGroupRecord, nodes: Mapping[bytes, ResourcePool]) -> None:
        if rec.warned or not never_fits(rec.strategy, rec.bundles, nodes):
            return
        rec.warned = True
        want = [from_unit_dict(b) for b in rec.bundles]
        msg = (
            f"Warning: placement group {rec.name or rec.pg_id.hex()} ({rec.strategy}, bundles {want}) cannot be "
            f"created on the nodes of this cluster ({len(nodes)} node(s)); it stays pending until nodes that "
            f"can hold it join."
        )
        log.info(msg)  # the driver sees it on its stderr (send_log); the node's log keeps it too
        self.core.send_log(rec.job_id, "scheduler", 0, [msg], "err")

    # ------------------------------------------------------------------ tasks in bundles
    def bundle_for(self, t: TaskRecord, strategy: dict[str, Any]) -> tuple[ResourcePool | None, Any]:
        """The pool a task draws from: ``(pool, key)``, ``(None, WAIT)`` or ``(None, error)``."""
        pg_id = strategy["pg_id"]
        rec = self.table.get(pg_id)
        actor = t.spec["kind"] == ACTOR_CREATE
        if rec is None and any(k[0] == pg_id for k in self.core.resources.bundles):
            return self._bundle_here(t, pg_id, int(strategy.get("bundle_index", -1)))
        if rec is None or rec.state == gcs_state.PG_REMOVED:
            # (an actor's calls raise ActorDiedError, as in Ray)
            cls: type[exc.RayError] = exc.ActorDiedError if actor else exc.TaskPlacementGroupRemoved
            return None, cls(f"{t.spec['name']} cannot run: its placement group {pg_id.hex()} was removed or never existed.")
        if rec.state != gcs_state.PG_CREATED:
            return None, WAIT
        index = int(strategy.get("bundle_index", -1))
        if index >= len(rec.bundles) or index < -1:
            bad: type[exc.RayError] = exc.ActorUnschedulableError if actor else exc.TaskUnschedulableError
            return None, bad(f"{t.spec['name']}: placement_group_bundle_index {index} is out of range "
                             f"for a placement group of {len(rec.bundles)} bundles.")
        keys = [(pg_id, index)] if index >= 0 else [(pg_id, i) for i in range(len(rec.bundles))]
        bundles = self.core.resources.bundles
        pools = [(bundles[k], k) for k in keys if k in bundles]
        for pool, key in pools:
            if pool.fits(t.req):
                return pool, key
        here = self.core.node_id
        elsewhere = [rec.nodes[k[1]] for k in keys if k[1] < len(rec.nodes) and rec.nodes[k[1]] != here]
        if elsewhere and (not pools or index >= 0):  # the bundle is on another node: run it there
            return None, elsewhere[t.spec["tid"][-1] % len(elsewhere)]
        if not any(pool.feasible(t.req) for pool, _ in pools):
            want = from_unit_dict(t.req)
            unfit: type[exc.RayError] = exc.ActorUnschedulableError if actor else exc.TaskUnschedulableError
            where = f"bundle {index}" if index >= 0 else "any bundle"
            return None, unfit(f"{t.spec['name']} asks for {want}, more than {where} of placement group "
                             f"{pg_id.hex()} holds ({rec.info()['bundles']}).")
        return None, WAIT

    def _bundle_here(self, t: TaskRecord, pg_id: bytes, index: int) -> tuple[ResourcePool | None, Any]:
        """A task forwarded here to run in bundles of a group another node owns."""
        bundles = self.core.resources.bundles
        keys = [k for k in bundles if k[0] == pg_id and (index < 0 or k[1] == index)]
        for key in keys:
            if bundles[key].fits(t.req):
                return bundles[key], key
        if keys and not any(bundles[k].feasible(t.req) for k in keys):
            cls: type[exc.RayError] = exc.ActorUnschedulableError if t.spec["kind"] == ACTOR_CREATE else exc.TaskUnschedulableError
            return None, cls(f"{t.spec['name']} asks for more than its placement-group bundle holds.")
        return None, WAIT

    def reserve_here(self, pg_id: bytes, bundles: list[Any], owner: bytes, detached: bool) -> bool:
        """Another node's group: reserve its bundles on this node (all of them or none)."""
        wanted = {(pg_id, int(i)): {str(k): int(v) for k, v in b.items()} for i, b in bundles}
        if not self.core.resources.reserve_bundles(wanted):
            return False
        if not detached:  # a job's group ends with the node its driver used
            self.hosted[pg_id] = owner
        return True

    def owner_died(self, node_id: bytes) -> None:
        """The node that owns groups with bundles here died: its groups end with it (their
        drivers did; a detached group is reserved again by the restarted head)."""
        for pg_id in [p for p, owner in self.hosted.items() if owner == node_id]:
            self.release_here(pg_id, "the node that created it died")

    def release_here(self, pg_id: bytes, cause: str = "it was removed") -> None:
        core = self.core
        self.hosted.pop(pg_id, None)
        core.stop_work_in_placement_group(pg_id, cause)
        for key in [k for k in core.resources.bundles if k[0] == pg_id]:
            core.resources.release_bundle(key)
        core.schedule()

    # ------------------------------------------------------------------ remove
    def remove(self, pg_id: bytes, cause: str = "it was removed") -> None:
        rec = self.table.get(pg_id)
        if rec is None or rec.state == gcs_state.PG_REMOVED:
            return
        core = self.core
        was_created = rec.state in (gcs_state.PG_CREATED, gcs_state.PG_RESCHEDULING)
        was_pending = rec.state == gcs_state.PG_PENDING
        advance_pg(rec, REMOVED)
        self.removed += 1
        if pg_id in self.pending:
            self.pending.remove(pg_id)
        self.restoring.pop(pg_id, None)
        if was_pending:
            err = exc.RayError(f"placement group {rec.name or pg_id.hex()} was removed before it was created")
            from ..raylet import error_payload

            core.objects.set_ready(error_payload(rec.ready_id, err))
        if rec.name and core.gcs.named_pgs.get(rec.name) == pg_id:
            del core.gcs.named_pgs[rec.name]
        if rec.detached:
            core.objects.remove_holder([rec.ready_id], GCS_HOLDER)
            if core.gcs.durable is not None:
                core.gcs.durable.drop_pg(pg_id)
        core.stop_work_in_placement_group(pg_id, cause)
        if was_created:
            for i in range(len(rec.bundles)):
                core.resources.release_bundle((pg_id, i))
            for node_id in {n for n in rec.nodes if n != core.node_id and core.cluster.is_alive(n)}:
                core.remote.link(node_id).call("release_bundles", {"pg_id": pg_id}, None)
        self.try_pending()
        core.schedule()

    def end_job(self, job_id: bytes) -> None:
        for rec in list(self.table.values()):
            if rec.job_id == job_id and not rec.detached and rec.state != gcs_state.PG_REMOVED:
                self.remove(rec.pg_id, "the job that created it ended")

    # ------------------------------------------------------------------ views
    def lookup(self, name: str) -> dict[str, Any] | None:
        pg_id = self.core.gcs.named_pgs.get(name)
        rec = self.table.get(pg_id) if pg_id is not None else None
        if rec is None or rec.state == gcs_state.PG_REMOVED:
            return None
        return {"pg_id": rec.pg_id, "ready_id": rec.ready_id, "bundles": rec.info()["bundles"], "strategy": rec.strategy}

    def info(self, pg_id: bytes | None) -> Any:
        if pg_id is None:
            return {r.pg_id.hex(): r.info() for r in self.table.values()}
        rec = self.table.get(pg_id)
        return rec.info() if rec is not None else {}

    def usage(self) -> list[dict[str, Any]]:
        """Per bundle: what it holds and what is in use (for ``edgeray status``)."""
        out = []
        for (pg_id, i), pool in self.core.resources.bundles.items():
            out.append({
                "pg_id": pg_id.hex(), "bundle": i,
                "total": from_unit_dict(pool.total),
                "used": {k: from_units(v - pool.available.get(k, 0)) for k, v in pool.total.items()},
            })
        return out


def _sum_units(bundles: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for b in bundles:
        for k, v in b.items():
            out[k] = out.get(k, 0) + v
    return out


def _validated(args: dict[str, Any]) -> tuple[list[dict[str, int]], str, str, str | None]:
    bundles = args.get("bundles")
    if not isinstance(bundles, list) or not bundles:
        raise ValueError("The placement group `bundles` argument must be a non-empty list of dicts.")
    out = []
    for b in bundles:
        if not isinstance(b, dict) or not b:
            raise ValueError(f"Bundles must be non-empty dicts of resources, got {b!r}.")
        units = {}
        for k, v in b.items():
            if not isinstance(k, str) or not isinstance(v, int | float) or v < 0:
                raise ValueError(f"Bundle resources must map names to non-negative numbers, got {k!r}: {v!r}.")
            if v > 0:
                units[k] = to_units(v)
        if not units:
            raise ValueError(f"Bundles cannot be empty or contain only zero resources: {b!r}.")
        out.append(units)
    strategy = args.get("strategy", "PACK")
    if strategy not in STRATEGIES:
        raise ValueError(f"Invalid placement group strategy {strategy!r}; supported: {', '.join(STRATEGIES)}.")
    name = args.get("name") or ""
    lifetime = args.get("lifetime")
    if lifetime not in (None, "detached"):
        raise ValueError("Placement group `lifetime` must be None or 'detached'.")
    return out, strategy, str(name), lifetime
