"""Control-plane requests (``Call`` → ``Reply``): actors, cluster views, objects, functions."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import trio

from .. import exceptions as exc
from ..gcs import _tables as gcs_state
from ..gcs._task_events import merge_rows
from ..protocol import Call, CancelTask, Reply
from ..protocol._calls import check_call
from ..raylet import _workers as W
from ..raylet._tasks import validate_spec
from ._remote import is_marker

if TYPE_CHECKING:
    from ._core import NodeCore
    from ._peer_conn import PeerConn
    from ._service import NodeServer

log = logging.getLogger("edgeray.node")

LIST_TIMEOUT_S = 2.0  # how long ``list tasks`` waits for each other node's rows

_NODES = frozenset({"node"})
_CLIENTS = frozenset({"driver", "worker"})
#: The control calls only some roles may make (any other call: any authenticated peer). Nodes
#: reserve and release bundles on each other and copy objects between them; only the local
#: ``edgeray`` command (a ``cli`` connection on the 0600 Unix socket) stops a node; the internal
#: KV belongs to jobs. A refused call is answered with a ``ProtocolError`` and changes nothing.
CALL_ROLES: dict[str, frozenset[str]] = {
    "reserve_bundles": _NODES,
    "release_bundles": _NODES,
    "read_object": _NODES,
    "lease_object": _NODES,
    "stop": frozenset({"cli"}),
    "kv_put": _CLIENTS,
    "kv_get": _CLIENTS,
}


def _arg(args: dict[str, Any], name: str, typ: type | tuple[type, ...]) -> Any:
    v = args.get(name)
    if not isinstance(v, typ):
        raise exc.ProtocolError(f"argument {name!r} missing or of the wrong type")
    return v


def _ref_kind(e: Any) -> str:
    """Why an object is alive, in ``ray memory``'s words."""
    if e.holders:
        return "LOCAL_REFERENCE"
    if e.pins:
        return "USED_BY_PENDING_TASK_OR_CAPTURED_IN_OBJECT"
    return "PENDING" if not e.ready else "UNREFERENCED"


class CallHandlers:
    def __init__(self, server: NodeServer, core: NodeCore) -> None:
        self.server = server
        self.core = core
        self.table: dict[str, Callable[[PeerConn, dict[str, Any]], Any]] = {
            "create_actor": self.create_actor,
            "get_actor": self.get_actor,
            "kill_actor": self.kill_actor,
            "actor_state": self.actor_state,
            "actor_direct": self.actor_direct,
            "lease_worker": lambda p, a: self.core.pool_workers.lease_worker(p, _arg(a, "res", dict)),
            "return_lease": lambda p, a: self.core.pool_workers.return_lease(p, _arg(a, "worker_id", bytes)),
            # why a worker exited, when the node knows (the memory monitor killed it), else None
            "worker_exit_cause": lambda p, a: self.core.oom_kills.get(_arg(a, "worker_id", bytes)),
            "nodes": self.nodes,
            "cluster_resources": lambda p, a: self.core.cluster_resources(),
            "available_resources": lambda p, a: self.core.available_resources(),
            "read_object": self.read_object,
            "lease_object": self.lease_object,
            "reserve_bundles": lambda p, a: self.core.pgs.reserve_here(_arg(a, "pg_id", bytes), _arg(a, "bundles", list), p.node_id, bool(a.get("detached"))),
            "release_bundles": lambda p, a: self.core.pgs.release_here(_arg(a, "pg_id", bytes)),
            "create_object": self.create_object,
            "drop_created": self.drop_created,
            "map_object": lambda p, a: self.core.object_service.map_object(p, _arg(a, "id", bytes)),
            "get_function": self.get_function,
            "list": self.list_state,
            "status": self.status,
            "stop": self.stop,
            "create_placement_group": lambda p, a: self.core.pgs.create(p, a),
            "remove_placement_group": lambda p, a: self.core.pgs.remove(_arg(a, "pg_id", bytes)),
            "placement_group_table": lambda p, a: self.core.pgs.info(a.get("pg_id")),
            "get_placement_group": lambda p, a: self.core.pgs.lookup(_arg(a, "name", str)),
            "kv_put": self.kv_put,
            "kv_get": self.kv_get,
            "membership": self.membership,
            "report_metrics": lambda p, a: self.server.user_metrics.report(a["metrics"]),
        }
        for method in ("actor_placed", "locate_actor", "lookup_actor", "register_name", "actor_dead", "bundles_held",
                       "named_actors"):
            self.table[method] = functools.partial(self.directory, method)

    def directory(self, method: str, peer: PeerConn, args: dict[str, Any]) -> Any:
        if peer.role != "node" or not self.core.remote.is_head:
            raise ValueError(f"{method} is the head node's, asked by another node")
        if method in ("actor_placed", "bundles_held") and args.get("node_id") != peer.node_id:
            raise ValueError(f"{method}: a node speaks for itself only")
        return self.core.actors.directory_call(method, args)

    def handle(self, peer: PeerConn, msg: Call, nursery: trio.Nursery) -> None:
        try:
            check_call(msg.method, msg.args)
        except exc.ProtocolError as refused:  # refused whole: nothing changes
            peer.send(Reply(msg.req, False, None, str(refused), "ProtocolError"))
            return
        allowed = CALL_ROLES.get(msg.method)
        if allowed is not None and peer.role not in allowed:
            refusal = f"{msg.method} may be called by {', '.join(sorted(allowed))} connections only, not {peer.role}"
            peer.send(Reply(msg.req, False, None, refusal, "ProtocolError"))
            return
        if msg.method == "list_named_actors":  # (answered once the head has)
            self._list_named_actors(peer, msg)
            return
        if msg.method in ("create_actor", "get_actor") and self._ask_head_first(peer, msg):
            return
        if msg.method == "list" and msg.args.get("kind") == "tasks" and not msg.args.get("local") and self.core.cluster.is_multi():
            nursery.start_soon(self._list_tasks_everywhere, peer, msg)
            return
        if msg.method == "map_object" and isinstance(oid := msg.args.get("id"), bytes):
            e = self.core.objects.get(oid)
            again = functools.partial(self.handle, peer, msg, nursery)
            if e is not None and not e.ready:  # being recomputed: answer once it is back
                e.waiters.append(lambda _e: again())
                return
            if e is not None and is_marker(e.payload):  # copy it here from its node first
                self.core.remote.localize([oid], again)
                return
        self.handle_now(peer, msg)

    # -- actors ---------------------------------------------------------------------------
    def _list_named_actors(self, peer: PeerConn, msg: Call) -> None:
        """``ray.util.list_named_actors``: the names taken in the cluster (the head's), in the
        caller's namespace, or in all of them with ``all_namespaces``."""
        namespace = self.core.namespace_of(peer)
        everywhere = bool(msg.args.get("all_namespaces"))

        def answer(ok: bool, value: Any, error: str | None) -> None:
            if not ok or not isinstance(value, list):
                peer.send(Reply(msg.req, False, None, f"cannot reach the head to list actor names: {error}", "RuntimeError"))
                return
            pairs = [(str(p[0]), str(p[1])) for p in value if isinstance(p, list | tuple) and len(p) == 2]
            names: list[Any] = (
                [{"name": n, "namespace": ns} for ns, n in pairs] if everywhere else [n for ns, n in pairs if ns == namespace]
            )
            peer.send(Reply(msg.req, True, names, None, None))

        self.core.remote.head_call("named_actors", {}, answer)

    def _ask_head_first(self, peer: PeerConn, msg: Call) -> bool:
        """In a cluster, actor names are the head's: a node that is not the head asks it before
        creating a named actor or when it does not know a name. True if the reply is deferred."""
        core = self.core
        if core.remote.is_head:
            return False
        args = msg.args
        if msg.method == "get_actor":
            name = _arg(args, "name", str)
            namespace = args.get("namespace") or core.namespace_of(peer)
            if core.gcs.lookup_named(name, namespace) is not None:
                return False

            def found(ok: bool, value: Any, error: str | None) -> None:
                if ok and isinstance(value, dict) and isinstance(value.get("node_id"), bytes):
                    rec = core.actors.adopt_stub(value["actor_id"], value)
                    peer.send(Reply(msg.req, True, {"actor_id": rec.actor_id, "meta": rec.meta}, None, None))
                else:
                    peer.send(Reply(msg.req, False, None, f"Failed to look up actor with name '{name}' in namespace '{namespace}'.", "ValueError"))

            core.remote.head_call("lookup_actor", {"name": name, "namespace": namespace}, found)
            return True
        spec = validate_spec(_arg(args, "spec", dict))
        opts = spec["opts"]
        name = opts.get("name") or ""
        if not name:
            return False
        namespace = opts.get("namespace") or core.namespace_of(peer)

        def registered(ok: bool, value: Any, error: str | None) -> None:
            if not ok:
                peer.send(Reply(msg.req, False, None, f"cannot reach the head to register actor name {name!r}: {error}", "RuntimeError"))
                return
            if value.get("taken"):
                if opts.get("get_if_exists") and isinstance(value.get("node_id"), bytes):
                    rec = core.actors.adopt_stub(value["actor_id"], value)
                    peer.send(Reply(msg.req, True, {"existing": True, "actor_id": rec.actor_id, "meta": rec.meta}, None, None))
                else:
                    peer.send(Reply(msg.req, False, None, f"The name {name} (namespace={namespace}) is already taken. Use a "
                                    "different name, kill the existing actor, or pass get_if_exists=True.", "ValueError"))
                return
            self.handle_now(peer, msg)

        core.remote.head_call("register_name", {"name": name, "namespace": namespace, "actor_id": spec["actor"]}, registered)
        return True

    def handle_now(self, peer: PeerConn, msg: Call) -> None:
        """Run the call's handler; whatever it raises (a refusal, a bad value, a bug) is the
        caller's error reply, raised with the same type where the client knows it."""
        try:
            value = self.table[msg.method](peer, msg.args)
        except Exception as e:
            if not isinstance(e, exc.RayError | ValueError | TypeError | KeyError):
                log.exception("internal error in call %s from pid %s", msg.method, peer.pid)
            peer.send(Reply(msg.req, False, None, str(e), type(e).__name__))
            return
        peer.send(Reply(msg.req, True, value, None, None))

    def create_actor(self, peer: PeerConn, args: dict[str, Any]) -> Any:
        spec = validate_spec(_arg(args, "spec", dict))
        meta = _arg(args, "meta", dict)
        return self.core.actors.create(peer, spec, meta)

    def get_actor(self, peer: PeerConn, args: dict[str, Any]) -> Any:
        name = _arg(args, "name", str)
        namespace = args.get("namespace") or self.core.namespace_of(peer)
        rec = self.core.gcs.lookup_named(name, namespace)
        if rec is None:  # the head knows every node's names
            found = self.core.actors.directory_call("lookup_actor", {"name": name, "namespace": namespace})
            if found is not None and isinstance(found.get("node_id"), bytes):
                rec = self.core.actors.adopt_stub(found["actor_id"], found)
        if rec is None:
            raise ValueError(f"Failed to look up actor with name '{name}' in namespace '{namespace}'.")
        return {"actor_id": rec.actor_id, "meta": rec.meta}

    def kill_actor(self, peer: PeerConn, args: dict[str, Any]) -> Any:
        aid = _arg(args, "actor_id", bytes)
        rec = self.core.gcs.actors.get(aid)
        if rec is None:
            raise ValueError(f"no actor {aid.hex()}")
        if args.get("exiting"):  # the actor's own worker leaves by exit_actor(): it exits itself
            if rec.worker_id is None or rec.worker_id != peer.peer_id:
                raise ValueError(f"only the actor's own worker may report that actor {aid.hex()} exits")
            self.core.actors.exiting(rec)
            return None
        self.core.actors.kill(rec, exc.ActorDiedError.KILLED, bool(args.get("no_restart", True)))
        return None

    def actor_state(self, peer: PeerConn, args: dict[str, Any]) -> Any:
        rec = self.core.gcs.actors.get(_arg(args, "actor_id", bytes))
        return None if rec is None else {**rec.info(), "meta": rec.meta}

    def actor_direct(self, peer: PeerConn, args: dict[str, Any]) -> Any:
        """Where a caller on this machine may call the actor's worker directly, or None (the
        actor is not alive here yet, lives on another node, or its caller is another node)."""
        rec = self.core.gcs.actors.get(_arg(args, "actor_id", bytes))
        core = self.core
        if rec is None or rec.state != gcs_state.ALIVE or rec.host is not None or peer.role == "node":
            return None
        w = core.workers.get(rec.worker_id) if rec.worker_id else None
        if w is None or w.peer is None or not core.node_socket:
            return None
        return {"path": W.direct_socket(core.node_socket, w.worker_id), "worker_id": w.worker_id}

    # -- cluster --------------------------------------------------------------------------
    def nodes(self, peer: PeerConn, args: dict[str, Any]) -> Any:
        return self.core.nodes(self.server.address)

    def status(self, peer: PeerConn, args: dict[str, Any]) -> Any:
        core = self.core
        return {
            "node_id": core.node_id.hex(),
            "pid": os.getpid(),
            "address": self.server.address,
            "total": core.resources.snapshot_total(),
            "available": core.resources.snapshot_available(),
            "store": core.store.stats(),
            "objects": core.objects.stats(),
            "workers": len(core.workers),
            "peers": len(core.peers),
            "jobs": len(core.gcs.jobs),
            "functions": len(core.gcs.functions),
            "placement_groups": core.pgs.usage(),
            "memory_monitor": {"threshold": self.server.config.node.memory_usage_threshold,
                               "refresh_ms": self.server.config.node.memory_monitor_refresh_ms},
            "pending_tasks": len(core.ready),
            "infeasible": [
                {"name": t.spec["name"], "resources": t.spec["res"]} for t in core.infeasible if not t.done
            ],
            **core.stats,
            **core.remote.stats,
            "cluster": {"nodes": core.nodes(self.server.address), "total": core.cluster_resources(),
                        "available": core.available_resources()},
        }

    def list_state(self, peer: PeerConn, args: dict[str, Any]) -> Any:
        kind = _arg(args, "kind", str)
        core = self.core
        if kind == "actors":
            here = core.node_id.hex()
            return [{**a.info(), "node_id": a.host.hex() if a.host else here} for a in core.gcs.actors.values() if not a.stub]
        if kind == "nodes":
            return core.nodes(self.server.address)
        if kind == "jobs":
            return [
                {"job_id": j.job_id.hex(), "namespace": j.namespace, "driver_pid": j.driver_pid, "alive": j.alive}
                for j in core.gcs.jobs.values()
            ]
        if kind == "objects":
            out = []
            for e in core.objects.entries.values():
                p = e.payload or {}
                d = core.store.describe(e.id) if p.get("loc") else None
                where = "pending" if not e.ready else (d["where"] if d else ("error" if p.get("err") else "inline"))
                out.append({
                    "object_id": e.id.hex(), "size": e.size, "where": where, "reference": _ref_kind(e),
                    "holders": len(e.holders), "pins": e.pins, "mapped": d["pins"] if d else 0,
                })
            return out
        if kind in ("placement-groups", "placement_groups"):
            return [
                {"placement_group_id": r.pg_id.hex(), "name": r.name, "state": r.state, "strategy": r.strategy,
                 "bundles": r.info()["bundles"], "is_detached": r.detached, "creator_job_id": r.job_id.hex()}
                for r in core.gcs.pgs.values()
            ]
        if kind == "tasks":
            return core.task_rows()
        if kind == "workers":
            return [{"worker_id": w.worker_id.hex(), "pid": w.pid, "state": w.state} for w in core.workers.values()]
        raise ValueError(f"cannot list {kind!r}: use actors, nodes, jobs, objects, placement-groups, tasks or workers")

    async def _list_tasks_everywhere(self, peer: PeerConn, msg: Call) -> None:
        """``list tasks`` on a cluster: every live node's rows (Ray's GCS holds them all)."""
        peer.send(Reply(msg.req, True, await task_rows_everywhere(self.core), None, None))

    def membership(self, peer: PeerConn, args: dict[str, Any]) -> bool:
        """The head: is the calling node a member (joined, not declared dead)?"""
        if not self.server.config.node.head:
            raise ValueError("this node is not the head")
        return peer.role == "node" and self.core.cluster.is_alive(peer.node_id)

    def stop(self, peer: PeerConn, args: dict[str, Any]) -> Any:
        self.server.stop_event.set()
        return os.getpid()

    # -- objects, functions, kv -------------------------------------------------------------
    def create_object(self, peer: PeerConn, args: dict[str, Any]) -> Any:
        oid = _arg(args, "id", bytes)
        size = _arg(args, "size", int)
        if size <= 0:
            raise ValueError("object size must be positive")
        written = args.get("written") or []
        if written:
            self.core.object_service.written(peer, written)
        return self.core.object_service.create_object(peer, oid, size)

    def drop_created(self, peer: PeerConn, args: dict[str, Any]) -> Any:
        self.core.object_service.drop_created(peer, _arg(args, "ids", list))
        return None

    def read_object(self, peer: PeerConn, args: dict[str, Any]) -> Any:
        """A chunk of a stored object's bytes, for another node copying it."""
        oid = _arg(args, "id", bytes)
        offset, size = _arg(args, "offset", int), _arg(args, "size", int)
        e = self.core.objects.get(oid)
        if e is None or not e.ready or e.payload is None or e.payload.get("err"):
            raise KeyError(f"object {oid.hex()} is not on this node")
        p = e.payload
        if p.get("loc") is None:
            data = p.get("data") or b""
            return data[offset:offset + size]
        store = self.core.store
        try:
            start, total = store.restore(oid)
        except exc.ObjectStoreFullError:
            return store.read_bytes(oid)[offset:offset + size]
        if offset < 0 or size < 0 or offset + size > total:
            raise ValueError(f"chunk [{offset}, {offset + size}) is outside object {oid.hex()} of {total} bytes")
        return bytes(store.arena.write_view(start + offset, size))

    def lease_object(self, peer: PeerConn, args: dict[str, Any]) -> Any:
        """For a node on this machine: where a stored object is in our arena, pinned there
        until the node gives the lease back with ``Unmap``."""
        return self.core.object_service.lease_for_node(peer, _arg(args, "id", bytes))

    def get_function(self, peer: PeerConn, args: dict[str, Any]) -> Any:
        fid = _arg(args, "fn_id", bytes)
        entry = self.core.gcs.functions.get(fid)
        if entry is None:
            raise KeyError(f"function {fid.hex()} was never registered")
        return entry[0]

    def kv_put(self, peer: PeerConn, args: dict[str, Any]) -> Any:
        self.core.gcs.kv_put(_arg(args, "key", str), _arg(args, "value", bytes))
        return None

    def kv_get(self, peer: PeerConn, args: dict[str, Any]) -> Any:
        return self.core.gcs.kv.get(_arg(args, "key", str))

    def cancel(self, peer: PeerConn, msg: CancelTask) -> None:
        t = self.core.live.get(msg.task_id)
        if peer.role == "driver" and t is not None and t.spec["job"] != peer.job_id:
            raise exc.ProtocolError("a driver cancels tasks of its own job only")
        log.info("cancel of %s requested (force=%s, recursive=%s)", msg.task_id.hex(), msg.force, msg.recursive)
        self.core.cancel_task(msg.task_id, msg.force, msg.recursive)


async def task_rows_everywhere(core: NodeCore) -> list[dict[str, Any]]:
    """This node's task rows and every other live node's; a node that does not answer within
    ``LIST_TIMEOUT_S`` is left out."""
    tables: list[list[Any]] = [core.task_rows()]
    if not core.cluster.is_multi():
        return tables[0]

    async def ask(node_id: bytes) -> None:
        with trio.move_on_after(LIST_TIMEOUT_S):
            try:
                rows = await core.remote.link(node_id).call_async("list", {"kind": "tasks", "local": True})
            except Exception as e:
                log.debug("no task list from node %s: %r", node_id.hex()[:12], e)
                return
            if isinstance(rows, list):
                tables.append(rows)

    async with trio.open_nursery() as nursery:
        for node_id in core.cluster.alive_ids():
            if node_id != core.node_id:
                nursery.start_soon(ask, node_id)
    return merge_rows(tables)
