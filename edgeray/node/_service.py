"""The node daemon as Trio services: listeners, peers, worker processes.

``serve_node(config, *, task_status)`` runs a node until cancelled (trio.serve_listeners style);
``open_node(config)`` is the async context manager for embedding a node in a Trio program::

    async with edgeray.open_node(config) as node:
        ...  # drivers connect to node.address
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import trio

from .. import _files
from .. import exceptions as exc
from .._ratelimit import LogLimiter
from ..config import Config
from ..gcs import DurableGcs
from ..object_store import Arena, ObjectStore, SpillDir, cleanup_stale, cleanup_stale_spill
from ..plugins import (
    detect_node_resources,
    make_plugin_manager,
    node_labels,
    notify,
    persistence_backend,
    scheduling_strategies,
)
from ..protocol import (
    AddRef,
    Blocked,
    Call,
    CancelTask,
    Connection,
    DelRef,
    ForwardTask,
    Heartbeat,
    Log,
    Message,
    Promise,
    Publish,
    PutObject,
    RegisterFunction,
    Role,
    Shutdown,
    SubmitTask,
    Subscribe,
    TaskDone,
    TaskEvents,
    Unblocked,
    Unmap,
    Welcome,
    decode_spec,
)
from ..protocol import Refused as RefusedMsg
from ..protocol._connection import PRE_AUTH_MAX_FRAME
from ..raylet import NodeResources
from ..raylet import _workers as W
from . import _hosted
from ._calls import CallHandlers
from ._core import NodeCore
from ._links import NodeLinks
from ._listen import (
    client_ssl_context,
    node_address,
    serve_unix_listener,
    serve_ws_listener,
    warn_if_exposed,
)
from ._membership import LEASE_SHARE, HeadMembers, Lease, MemberBeats, member_refusal
from ._memory_monitor import MemoryMonitor
from ._peer_conn import PeerConn
from ._remote import new_job_base
from ._spawner import ProcessSpawner
from ._user_metrics import UserMetrics
from ._worker_exits import WorkerExits

log = logging.getLogger("edgeray.node")

#: The smallest automatic store: below this much free shared memory, use a file-backed arena.
MIN_AUTO_STORE = 256 << 20


@dataclass
class NodeInfo:
    node_id: str
    address: str  # ws://host:port (wss:// with TLS)
    unix_path: str
    pid: int
    session_dir: str


class NodeServer:
    """Owns the core, the listeners and the peers of one running node."""

    def __init__(self, config: Config, token: str | None, node_id: bytes | None = None, prespawned: Any = ()) -> None:
        self.config = config
        self.token = token
        self.node_id = node_id or os.urandom(16)
        self.prespawned = list(prespawned)
        self.max_frame = config.protocol.max_frame_bytes
        self.hostname = socket.gethostname()
        self.address = ""
        self.unix_path = ""
        self.embedded_driver: bytes | None = None
        self.stop_event = trio.Event()
        self.fenced = trio.Event()  # the head declared this incarnation dead: start over
        self.head_members: HeadMembers | None = None  # the head's joined nodes
        self.worker_exits: WorkerExits | None = None  # workers' deaths, acted on once their frames are read
        self.lease = Lease(config.gcs.node_timeout_s * LEASE_SHARE, always=config.node.head)
        self.log_limit = LogLimiter(log)
        self.refusals = LogLimiter(log)  # refused connections: said once in a while, not per peer
        self._client_ssl: Any = None
        self.user_metrics = UserMetrics()  # what workers and drivers report, for /metrics

    def client_ssl(self) -> Any:
        """The TLS context of this node's links to ``wss://`` nodes (made on first use)."""
        if self._client_ssl is None:
            self._client_ssl = client_ssl_context(self.config)
        return self._client_ssl

    # -- connections ----------------------------------------------------------------------
    async def handle_channel(self, channel: Any) -> None:
        """Serve one connection until it closes. Whatever goes wrong with it (the peer gone
        mid-handshake, a bug handling it) ends that connection only, never the node."""
        try:
            await self._handshake_and_serve(channel)
        except* (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as group:
            log.debug("a connection broke: %r", group.exceptions[0])
        except* Exception as group:
            log.error("internal error serving a connection; closed it", exc_info=group.exceptions[0])
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(1.0):  # a peer may never answer the close
                try:
                    await channel.aclose()
                except Exception:
                    pass

    async def _handshake_and_serve(self, channel: Any) -> None:
        conn = Connection(Role.SERVER, token=self.token, max_frame=self.max_frame)
        if hasattr(channel, "set_max_frame"):
            channel.set_max_frame(PRE_AUTH_MAX_FRAME)  # nothing big is buffered before auth
        peer = getattr(channel, "peer", "?")
        with trio.move_on_at(getattr(channel, "handshake_deadline", float("inf"))) as deadline:
            try:
                first = await channel.receive_frame()
            except exc.ProtocolError as e:
                self.refusals.warning("bad-hello", "refused a connection from %s: %s", peer, e)
                return
        if deadline.cancelled_caught:
            self.refusals.warning(
                "slow-hello", "closed a connection from %s: no hello within protocol.handshake_timeout_s (%g s)",
                peer, self.config.protocol.handshake_timeout_s,
            )
            return
        if first is None:
            return
        try:
            hello = conn.receive(first)
        except exc.RaySystemError as e:
            kind = "auth" if isinstance(e, exc.AuthenticationError) else "bad-hello"
            self.refusals.warning(kind, "refused a connection from %s: %s", peer, e)
            try:
                await channel.send_frames([Connection(Role.SERVER, token=None, max_frame=1 << 16).send(RefusedMsg(str(e)))])
            except Exception:
                pass
            return
        await self._serve_peer(channel, conn, hello)

    async def _serve_peer(self, channel: Any, conn: Connection, hello: Any) -> None:
        core = self.core
        role = hello.role
        info = hello.info or {}
        if role == "worker":
            peer_id = hello.worker_id or b""
            if peer_id not in core.workers:
                await channel.send_frames([conn.send(RefusedMsg("unknown worker id"))])
                return
            job_id = b"\x00" * 4
            namespace = ""
        elif role == "driver":
            peer_id = os.urandom(16)
            namespace = hello.namespace or f"anon-{os.urandom(8).hex()}"
            job_id = core.gcs.new_job(namespace, hello.pid).job_id
        else:
            peer_id, job_id, namespace = os.urandom(16), b"\x00" * 4, hello.namespace or ""
        shm = info.get("hostname") == self.hostname and role != "node"
        peer = PeerConn(channel, conn, peer_id, role, job_id, hello.pid, shm)
        if role == "node":
            node_id = info.get("node_id")
            if not isinstance(node_id, bytes) or len(node_id) != 16:
                await channel.send_frames([conn.send(RefusedMsg("a node must say its 16-byte node_id"))])
                return
            peer.node_id = node_id
        welcome = Welcome(
            node_id=self.node_id,
            worker_id=peer_id,
            job_id=job_id,
            namespace=namespace,
            # nodes on one machine copy each other's objects straight from the arena
            arena=self.arena.spec if shm or (role == "node" and info.get("hostname") == self.hostname) else None,
            info={
                "inline_threshold": self.config.object_store.inline_threshold,
                "max_frame": self.max_frame,
                "address": self.address,
                "hostname": self.hostname,
                "gpu_ids": list(core.resources.gpu_free),
                "node_timeout_s": self.config.gcs.node_timeout_s,
            },
        )
        await channel.send_frames([conn.send(welcome)])
        if role == "node" and core.cluster.is_fenced(peer.node_id):  # declared dead: say so, and go
            await channel.send_frames([conn.send(self._refusal(peer.node_id))])
            return
        if hasattr(channel, "set_max_frame"):
            channel.set_max_frame(self.max_frame)
        if info.get("embedded"):
            self.embedded_driver = peer_id
        core.peer_connected(peer)
        try:
            if role == "node" and info.get("join"):
                self._member_joined(peer, info)
            async with trio.open_nursery() as nursery:
                peer.scope = nursery.cancel_scope
                nursery.start_soon(peer.writer)
                await self._read_loop(channel, conn, peer, nursery)
                peer.closed = True
                nursery.cancel_scope.cancel()
        finally:
            peer.closed = True
            core.peer_disconnected(peer)
            if role == "worker" and self.worker_exits is not None:  # (its death, if it died, is acted on now)
                self.worker_exits.disconnected(peer_id)
            if self.head_members is not None:
                self.head_members.left(peer)
            if peer_id == self.embedded_driver:
                log.info("the embedding driver disconnected; stopping the node")
                self.stop_event.set()

    async def _read_loop(self, channel: Any, conn: Connection, peer: PeerConn, nursery: trio.Nursery) -> None:
        """Decode and dispatch the peer's messages until it closes. A message that fails
        validation (``ProtocolError``), or whose handling fails, ends this connection only:
        the peer is told why (``Shutdown``) and nothing of that message was acted on."""
        core = self.core
        dispatch = self._dispatch
        while True:
            try:
                data = await channel.receive_frame()
                if data is None:
                    return
                msg = conn.receive(data)
                if peer.role == "node" and not await self._may_take(peer):
                    return
                dispatch(core, peer, msg, nursery)
            except exc.ProtocolError as e:
                self.log_limit.warning("protocol", "closing the connection of a %s (pid %s, %s): %s",
                                       peer.role, peer.pid, channel.peer, e)
                await peer.close_with(Shutdown(f"protocol error: {e}"))
                return
            except Exception:  # a bug handling this peer's message: drop the peer, keep the node
                self.log_limit.error("internal", "internal error handling a message from pid %s; closing its connection",
                                     peer.pid, exc_info=True)
                await peer.close_with(Shutdown("internal error in the node handling a message; see its log"))
                return

    def _dispatch(self, core: NodeCore, peer: PeerConn, msg: Message, nursery: trio.Nursery) -> None:
        entry = self._handlers.get(type(msg))
        if entry is None or peer.role not in entry[0]:
            raise exc.ProtocolError(f"unexpected message {msg.TAG} from a {peer.role}")
        entry[1](core, peer, msg, nursery)

    def _dispatch_table(self) -> dict[type[Message], tuple[frozenset[str], Any]]:
        """Message type -> (the roles that may send it, its handler)."""
        clients = frozenset({"driver", "worker"})
        worker = frozenset({"worker"})
        node = frozenset({"node"})
        anyone = frozenset({"driver", "worker", "node", "cli"})
        calls = self.calls

        def submit(core: NodeCore, peer: PeerConn, msg: Any, nursery: Any) -> None:
            spec = decode_spec(msg.spec, checked=True)
            if peer.role == "driver" and spec["job"] != peer.job_id:  # (a worker runs many jobs' tasks)
                raise exc.ProtocolError("a driver submits tasks of its own job only")
            core.submit(peer, spec, msg.spec)

        def forward(core: NodeCore, peer: PeerConn, msg: Any, nursery: Any) -> None:
            spec = decode_spec(msg.spec, checked=True)
            core.remote.accept(peer, peer.node_id, spec, msg.spec, msg.deps, msg.fns, msg.actor, msg.job)

        def heartbeat(core: NodeCore, peer: PeerConn, msg: Any, nursery: Any) -> None:
            if core.cluster.heartbeat(peer.node_id, msg.total, msg.available, msg.labels):
                core.schedule()

        return {
            SubmitTask: (clients, submit),
            TaskDone: (worker, lambda c, p, m, n: c.task_done(p, m.task_id, m.results, m.failed, m.retryable, m.error)),
            Subscribe: (anyone, lambda c, p, m, n: c.object_service.subscribe(p, m.ids)),
            AddRef: (anyone, lambda c, p, m, n: c.objects.add_holder(m.ids, p.peer_id)),
            DelRef: (anyone, lambda c, p, m, n: c.objects.remove_holder(m.ids, p.peer_id)),
            Unmap: (anyone, lambda c, p, m, n: c.object_service.unmap(p, m.ids, m.counts)),
            PutObject: (clients, lambda c, p, m, n: c.object_service.put_object(p, m.payload)),
            Promise: (clients, lambda c, p, m, n: c.object_service.promise(p, m.ids)),
            Publish: (worker, lambda c, p, m, n: c.object_service.publish(p, m.owner, m.payloads)),
            Call: (anyone, lambda c, p, m, n: calls.handle(p, m, n)),
            RegisterFunction: (clients, lambda c, p, m, n: c.gcs.register_function(
                m.fn_id, m.blob, m.name, p.job_id if p.role == "driver" else None)),
            Blocked: (worker, lambda c, p, m, n: c.pool_workers.worker_blocked(p, m.task_id)),
            Unblocked: (worker, lambda c, p, m, n: c.pool_workers.worker_unblocked(p, m.task_id)),
            Log: (worker, lambda c, p, m, n: c.send_log(m.job_id, m.name, m.pid, m.lines, m.stream)),
            TaskEvents: (clients, lambda c, p, m, n: c.task_events_from(p, m.events, m.owner)),
            CancelTask: (frozenset({"driver", "worker", "node"}), lambda c, p, m, n: calls.cancel(p, m)),
            ForwardTask: (node, forward),
            Heartbeat: (node, heartbeat),
        }

    # -- the cluster ----------------------------------------------------------------------
    async def _may_take(self, peer: PeerConn) -> bool:
        """Before acting on a message from another node: False (after telling it) when that
        node was declared dead; held while this node's own membership is unconfirmed."""
        await self.lease.wait_usable()
        if not self.core.cluster.is_fenced(peer.node_id):
            return True
        log.info("refused a message from node %s: it was declared dead", peer.node_id.hex()[:12])
        peer.send(self._refusal(peer.node_id))
        await peer.flush()
        return False

    def _refusal(self, node_id: bytes) -> Message:
        if self.head_members is not None:
            return self.head_members.refusal(node_id)
        return member_refusal(node_id)

    def _member_joined(self, peer: PeerConn, info: dict[str, Any]) -> None:
        if self.head_members is None:
            log.warning("node %s tried to join, but this node is not a head", peer.node_id.hex()[:12])
            return
        if not self.head_members.joined(peer, info):  # (fenced since the check at its hello)
            peer.send(self.head_members.refusal(peer.node_id))
            self.core.remote.spawn(peer.end_after_flush)  # type: ignore[misc]

    def fence(self, why: str) -> None:
        """The head declared this node dead: stop this incarnation (workers killed, state
        dropped) and join again under a new node id (``run``)."""
        if self.fenced.is_set() or self.config.node.head:
            return
        log.warning("this node (%s) was declared dead by the head (%s): it is fenced; killing its "
                    "workers and joining again as a new node", self.node_id.hex()[:12], why)
        self.lease.event("fenced")
        self.fenced.set()

    # -- lifecycle ------------------------------------------------------------------------
    async def run(self, task_status: Any) -> None:
        """Serve until stopped. A fenced incarnation ends (its workers killed, its store and
        state dropped) and the node starts again as a new one: a new node id, joining anew."""
        while await self._run_incarnation(task_status) and not self.stop_event.is_set():
            task_status = trio.TASK_STATUS_IGNORED  # (told once: the first incarnation)
            self.node_id = os.urandom(16)
            self.prespawned = []
            self.embedded_driver = None
            self.fenced = trio.Event()
            self.lease = Lease(self.config.gcs.node_timeout_s * LEASE_SHARE, always=self.config.node.head)
            log.info("starting again as node %s", self.node_id.hex()[:12])

    async def _run_incarnation(self, task_status: Any) -> bool:
        """One node id's life; True if it ended fenced."""
        cfg = self.config
        for name in cleanup_stale("edgeray", shm_dir=cfg.object_store.shm_dir, fallback_dirs=(self._fallback_dir(),)):
            log.info("removed a shared-memory segment left by a dead node: %s", name)
        pm = make_plugin_manager(cfg.plugins.load)
        total, gpu_ids = detect_node_resources(pm, cfg)
        capacity = self._store_capacity(total)
        self.arena = Arena.create(
            "edgeray",
            capacity,
            shm_dir=cfg.object_store.shm_dir,
            fallback_dir=self._fallback_dir(),
            force_file=cfg.object_store.force_file,
        )
        self.spill = None
        self.durable: DurableGcs | None = None
        try:
            if cfg.object_store.spilling:
                root = str(cfg.object_store.resolved_spill_dir())
                cleanup_stale_spill(root)
                self.spill = SpillDir(root)
            return await self._run_with_arena(task_status, total, gpu_ids, pm)
        finally:
            if self.durable is not None:
                self.durable.close()
            if getattr(self, "links", None) is not None:
                self.links.close()
            self.arena.close()
            self.arena.unlink()
            if self.spill is not None:
                self.spill.close()

    def _fallback_dir(self) -> str:
        return self.config.object_store.fallback_dir or str(_files.home() / "shm")

    def _store_capacity(self, total: dict[str, float]) -> int:
        """``object_store.memory`` when set; else 30% of the node's memory (Ray's default),
        capped by the free space of the shared-memory directory. When that directory is
        absent or too small for a useful store (a container's 64 MB /dev/shm), the arena is
        a file in ``fallback_dir`` instead (``Arena.create`` says so in the log), sized
        without that cap."""
        cfg = self.config.object_store
        if cfg.memory > 0:
            return int(cfg.memory)
        cap = int(total.get("object_store_memory") or total.get("memory", 8 << 30) * 0.3)
        cap = max(cap, MIN_AUTO_STORE)
        if cfg.force_file:
            return cap
        try:
            st = os.statvfs(cfg.shm_dir)
            room = int(st.f_bavail * st.f_frsize * 0.9)
        except OSError:
            return cap
        return min(cap, room) if room >= MIN_AUTO_STORE else cap

    async def _run_with_arena(self, task_status: Any, total: dict[str, float], gpu_ids: list[str], pm: Any) -> bool:
        cfg = self.config
        num_cpus = total.get("CPU", 1)
        store = ObjectStore(self.arena, self.spill)
        pool = cfg.node.prestart_workers if cfg.node.prestart_workers >= 0 else int(num_cpus)
        max_workers = cfg.node.max_workers or max(32, int(num_cpus) * 8)
        resources = NodeResources({k: v for k, v in total.items() if k not in ("memory", "object_store_memory")} | {"memory": total.get("memory", 0)}, gpu_ids)
        sdir = _files.node_dir(self.node_id.hex())
        self.session_dir = str(sdir)
        logs = sdir / "logs"
        logs.mkdir(exist_ok=True)
        self.unix_path = str(sdir / "node.sock")
        env = {
            "EDGERAY_NODE_SOCKET": self.unix_path,
            "EDGERAY_NODE_ID": self.node_id.hex(),
            "EDGERAY_TOKEN": self.token or "",
            "EDGERAY_PARENT_PID": str(os.getpid()),
            "EDGERAY_LOG_DIR": str(logs),
            **W.log_env(cfg.log.max_bytes, cfg.log.backup_count),
        }
        spawner = ProcessSpawner(env, str(logs), cfg.node.worker_start)  # (it starts workers once it runs in the nursery)
        self.core = core = NodeCore(self.node_id, resources, store, pool_size=max(pool, 1), max_workers=max_workers,
                                    spawner=spawner, node_socket=self.unix_path)
        core.strategies = scheduling_strategies(pm)
        core.labels = node_labels(pm, cfg)
        core.cluster.local.labels = dict(core.labels)
        core.cluster.local.head = cfg.node.head
        core.remote.is_head = cfg.node.head
        if not cfg.node.head:
            core.gcs._next_job = new_job_base()
        self.durable = durable = DurableGcs(persistence_backend(pm, cfg))
        core.restore(durable, cfg.gcs.node_timeout_s)
        self.calls = CallHandlers(self, core)
        self._handlers = self._dispatch_table()
        async with trio.open_nursery() as nursery:
            self.worker_exits = WorkerExits(lambda wid: wid in core.peers, core.pool_workers.worker_exited,
                                            nursery.start_soon)
            spawner.run_in(nursery, self.worker_exits.exited)
            if cfg.node.head:
                self.head_members = HeadMembers(self, nursery.start_soon)
            for worker_id, proc in self.prespawned:  # known before they can connect
                core.pool.add(spawner.adopt(worker_id, proc))
            await nursery.start(serve_unix_listener, self)
            port = await nursery.start(serve_ws_listener, self)
            self.address = node_address(cfg, port)
            warn_if_exposed(cfg, self.address)
            core.cluster.local.address = self.address
            self.links = links = NodeLinks(self, nursery)
            core.remote.links = links
            core.remote.spawn = nursery.start_soon
            if self.head_members is not None:
                nursery.start_soon(self.head_members.loop)
            else:
                await nursery.start(links.keep_head_link, cfg.node.head_address)
                nursery.start_soon(MemberBeats(self, self.lease).loop)
            for _ in range(pool - len(self.prespawned)):
                core.pool.spawn()
            nursery.start_soon(self._reaper)
            if cfg.node.memory_monitor_refresh_ms > 0:
                monitor = MemoryMonitor(core, cfg.node.memory_usage_threshold, cfg.node.memory_monitor_refresh_ms)
                nursery.start_soon(monitor.run)
            info = NodeInfo(self.node_id.hex(), self.address, self.unix_path, os.getpid(), self.session_dir)
            notify(pm, "edgeray_node_started", node=_plugin_node_info(info, total))
            try:
                task_status.started(info)
                await _first_of(self.stop_event, self.fenced)
                return self.fenced.is_set()
            finally:
                with trio.CancelScope(shield=True):
                    self._kill_workers()
                    notify(pm, "edgeray_node_stopping", node=_plugin_node_info(info, total))
                nursery.cancel_scope.cancel()

    def _kill_workers(self) -> None:
        for w in list(self.core.workers.values()):
            proc = w.process
            if proc is not None and proc.returncode is None:
                try:
                    proc.kill()
                except ProcessLookupError:
                    pass
            try:  # its socket for direct callers
                os.unlink(W.direct_socket(self.unix_path, w.worker_id))
            except OSError:
                pass

    async def _reaper(self) -> None:
        """Stops idle workers beyond the pool size after a while (Ray's idle worker killing)."""
        core = self.core
        while True:
            await trio.sleep(1.0)
            core.actors.reap_stopping()
            core.pool.reap_idle()


async def _first_of(*events: trio.Event) -> None:
    """Until one of ``events`` is set."""
    async with trio.open_nursery() as nursery:
        async def wait(e: trio.Event) -> None:
            await e.wait()
            nursery.cancel_scope.cancel()

        for e in events:
            nursery.start_soon(wait, e)


def _plugin_node_info(info: NodeInfo, total: dict[str, float]) -> Any:
    from ..plugins import NodeInfo as PluginNodeInfo

    try:
        return PluginNodeInfo(node_id=info.node_id, address=info.address, resources=dict(total))  # type: ignore[call-arg]
    except TypeError:
        return info




async def serve_node(
    config: Config,
    *,
    write_address: bool = False,
    node_id: bytes | None = None,
    prespawned: Any = (),
    task_status: Any = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run a node until cancelled (or stopped); ``task_status.started(NodeInfo)`` once it serves.

    ``prespawned``: (worker id, Popen) pairs of workers started before the node (see
    ``edgeray.cli``), which connect once it listens; ``node_id`` must then be the one they use."""
    token = _files.load_or_create_token(config.auth.token) if config.auth.enabled else None
    server = NodeServer(config, token, node_id, prespawned)

    async def started(info: NodeInfo) -> None:
        pass

    hosted: list[NodeInfo] = []

    class _Status:
        def started(self, info: NodeInfo) -> None:
            _hosted.add(info.address, info.unix_path)  # (a driver on this thread is told at once)
            hosted.append(info)
            if write_address and (config.node.head or _files.read_address() is None):
                _files.write_address(
                    {"address": info.address, "unix": info.unix_path, "pid": info.pid, "node_id": info.node_id}
                )
            task_status.started(info)

    try:
        await server.run(_Status())
    finally:
        for info in hosted:
            _hosted.discard(info.address, info.unix_path)
        if write_address:
            _files.remove_address(os.getpid())


@asynccontextmanager
async def open_node(config: Config | None = None) -> AsyncIterator[NodeInfo]:
    """Run a node inside the caller's Trio program for the duration of the block."""
    from ..config import load_config

    cfg = config or load_config()
    async with trio.open_nursery() as nursery:
        info = await nursery.start(serve_node, cfg)
        try:
            yield info
        finally:
            nursery.cancel_scope.cancel()
