"""Outgoing connections from this node to others (authenticated WebSockets).

A ``NodeLink`` is this node acting as a client of another node: it forwards work there, holds
objects there, reads chunks of them, and asks the head for the cluster's tables. Sending never
blocks (frames queue until the writer drains them, also before the connection is up); a call
gets its ``Reply`` through a callback or ``call_async``. ``NodeLinks`` owns them all in the
node's nursery: one link per node, opened on first use, and the *head link* of a joined node,
which carries its heartbeats and is opened again whenever it breaks.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import trio

from .. import exceptions as exc
from ..protocol import (
    Call,
    ClusterState,
    Connection,
    Log,
    Message,
    ObjectReady,
    Refused,
    Reply,
    Role,
)

if TYPE_CHECKING:
    from ._service import NodeServer

log = logging.getLogger("edgeray.node")

Callback = Callable[[bool, Any, "str | None"], None]


class NodeLink:
    def __init__(self, owner: NodeLinks, node_id: bytes | None, address: str, info: dict[str, Any]) -> None:
        self.owner = owner
        self.node_id = node_id
        self.address = address
        self.info = info
        self.closed = False
        self.connected = False
        self.arena_spec: dict[str, Any] | None = None  # the other node's arena, when on this machine
        self.welcome_info: dict[str, Any] | None = None
        self.held = True  # its messages wait for this node's membership (all but the head link)
        self._scope: trio.CancelScope | None = None
        self._out: list[Message] = []
        self._wake = trio.Event()
        self._pending: dict[int, Callback] = {}
        self._req = 0

    def send(self, msg: Message) -> None:
        if self.closed:
            return
        self._out.append(msg)
        self._wake.set()

    def call(self, method: str, args: dict[str, Any], callback: Callback | None) -> None:
        if self.closed:
            if callback is not None:
                callback(False, None, "ConnectionError: the link to the node is closed")
            return
        self._req += 1
        if callback is not None:
            self._pending[self._req] = callback
        self.send(Call(self._req if callback is not None else 0, method, args))

    async def call_async(self, method: str, args: dict[str, Any]) -> Any:
        done = trio.Event()
        box: list[Any] = []

        def finished(ok: bool, value: Any, error: str | None) -> None:
            box.extend((ok, value, error))
            done.set()

        self.call(method, args, finished)
        await done.wait()
        ok, value, error = box
        if not ok:
            raise ConnectionError(error) if str(error).startswith("ConnectionError") else exc.RaySystemError(str(error))
        return value

    async def run(self) -> None:
        """Connect, say hello, then pump frames both ways until either side closes."""
        from ..transport import open_ws_channel

        server = self.owner.server
        conn = Connection(Role.CLIENT, token=server.token, max_frame=server.max_frame)
        try:
            ssl_context = server.client_ssl() if self.address.startswith("wss://") else None
            async with open_ws_channel(
                self.address, token=server.token, max_frame=server.max_frame, ssl_context=ssl_context
            ) as ws:
                await ws.send_frames([conn.hello("node", os.getpid(), info=self.info)])
                first = await ws.receive_frame()
                if first is None:
                    raise ConnectionError(f"{self.address} closed the connection during the handshake")
                welcome = conn.receive(first)
                if self.node_id is None:
                    self.node_id = welcome.node_id  # type: ignore[attr-defined]
                self.arena_spec = welcome.arena  # type: ignore[attr-defined]
                self.welcome_info = welcome.info  # type: ignore[attr-defined]
                self.connected = True
                async with trio.open_nursery() as nursery:
                    self._scope = nursery.cancel_scope
                    if self.closed:  # dropped while connecting
                        nursery.cancel_scope.cancel()
                    nursery.start_soon(self._writer, ws, conn)
                    await self._reader(ws, conn)
                    nursery.cancel_scope.cancel()
        finally:
            self.closed = True
            pending, self._pending = self._pending, {}
            for cb in pending.values():
                cb(False, None, "ConnectionError: the link to the node closed")

    def end(self) -> None:
        """Close it now: nothing more is sent or taken on it."""
        self.closed = True
        self._wake.set()
        if self._scope is not None:
            self._scope.cancel()

    async def _writer(self, ws: Any, conn: Connection) -> None:
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            out, self._out = self._out, []
            await ws.send_frames([conn.send(msg) for msg in out])

    async def _reader(self, ws: Any, conn: Connection) -> None:
        while True:
            data = await ws.receive_frame()
            if data is None:
                return
            msg = conn.receive(data)
            if self.held:
                await self.owner.server.lease.wait_usable()
            if self.closed:  # dropped (its node died): what it still sends is not taken
                return
            if isinstance(msg, Reply):
                cb = self._pending.pop(msg.req, None)
                if cb is not None:
                    cb(msg.ok, msg.value, None if msg.ok else f"{msg.error_type}: {msg.error}")
            else:
                self.owner.on_message(self, msg)


class NodeLinks:
    def __init__(self, server: NodeServer, nursery: trio.Nursery) -> None:
        self.server = server
        self.nursery = nursery
        self.links: dict[bytes, NodeLink] = {}
        self.head_link: NodeLink | None = None
        self._arenas: dict[str, Any] = {}  # other nodes' arenas on this machine, by name

    def arena_of(self, link: NodeLink) -> Any:
        """The other node's arena mapped here, if it is on this machine (else None)."""
        spec = link.arena_spec
        if not spec:
            return None
        arena = self._arenas.get(spec["name"])
        if arena is None:
            from ..object_store import Arena

            try:
                arena = self._arenas[spec["name"]] = Arena.attach(spec)
            except (OSError, ValueError) as e:
                log.info("cannot map node %s's arena (%s); copying over the link", (link.node_id or b"").hex()[:12], e)
                link.arena_spec = None
                return None
        return arena

    def close(self) -> None:
        for arena in self._arenas.values():
            arena.close()
        self._arenas.clear()

    def _hello_info(self, join: bool) -> dict[str, Any]:
        core = self.server.core
        return {
            "node_id": core.node_id, "address": self.server.address, "hostname": self.server.hostname,
            "join": join, "total": dict(core.resources.total), "available": dict(core.resources.available),
            "labels": dict(core.labels),
        }

    def link(self, node_id: bytes) -> NodeLink:
        """The link to ``node_id`` (opened now if there is none)."""
        link = self.links.get(node_id)
        if link is not None and not link.closed:
            return link
        entry = self.server.core.cluster.get(node_id)
        address = entry.address if entry is not None else ""
        link = NodeLink(self, node_id, address, self._hello_info(False))
        self.links[node_id] = link
        if not address:
            link.closed = True
            return link
        self.nursery.start_soon(self._run, link)
        return link

    def drop(self, node_id: bytes) -> None:
        link = self.links.pop(node_id, None)
        if link is not None:
            link.end()
            if link.arena_spec:
                arena = self._arenas.pop(link.arena_spec["name"], None)
                if arena is not None:
                    arena.close()

    async def _run(self, link: NodeLink) -> None:
        try:
            await link.run()
        except* _ws_errors() as group:  # raised in the link's nursery: it comes in a group
            log.warning("link to node %s (%s) failed: %s", (link.node_id or b"").hex()[:12], link.address, _first(group))
        finally:
            if link.node_id is not None and self.links.get(link.node_id) is link:
                del self.links[link.node_id]
                self.server.core.remote.node_died(link.node_id)

    async def keep_head_link(self, address: str, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Join the head at ``address`` and stay joined: reconnect (re-registering) whenever the
        link breaks, e.g. while the head restarts."""
        started = False
        head_id: bytes | None = None  # the head we were joined to
        while True:
            link = NodeLink(self, None, address, self._hello_info(True))
            link.held = False  # (it carries the answers that confirm the membership)
            self.head_link = link
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(link.run)
                    with trio.move_on_after(10):
                        while not link.connected and not link.closed:
                            await trio.sleep(0.01)
                    if link.connected:
                        if head_id is not None and link.node_id != head_id:  # it restarted: the old one is gone
                            self.server.core.remote.node_died(head_id)
                        head_id = link.node_id
                        self.server.core.remote.announce_actors()
                    if not started and link.connected:
                        started = True
                        task_status.started()
            except* _ws_errors() as group:
                log.warning("cannot reach the head at %s: %s; retrying", address, _first(group))
            if link.node_id is not None:
                self.server.core.remote.is_head = False
            await trio.sleep(1.0)

    def on_message(self, link: NodeLink, msg: Message) -> None:
        core = self.server.core
        if link.node_id is not None and core.cluster.is_fenced(link.node_id):
            log.info("ignored %s from node %s: it was declared dead", msg.TAG, link.node_id.hex()[:12])
            return
        if isinstance(msg, ObjectReady):
            if link.node_id is not None:
                core.remote.object_ready(link.node_id, msg.payload)
        elif isinstance(msg, ClusterState):
            if link is not self.head_link:  # the cluster's table is the head's to say
                log.warning("ignored a cluster table from node %s, which is not the head", (link.node_id or b"").hex()[:12])
                return
            if core.cluster.lists_local_dead(msg.nodes):
                self.server.fence("its cluster table lists this node dead")
                return
            died = core.cluster.apply_state(msg.nodes)
            for node_id in died:
                core.remote.node_died(node_id)
            core.retry_infeasible()
            core.schedule()
        elif isinstance(msg, Log):
            core.send_log(msg.job_id, msg.name, msg.pid, msg.lines, msg.stream)
        elif isinstance(msg, Refused):  # it takes nothing from this node any more
            log.warning("node %s refused this node: %s", (link.node_id or b"").hex()[:12], msg.reason)
            link.end()
        else:
            log.warning("unexpected %s from node %s", msg.TAG, (link.node_id or b"").hex()[:12])


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The innermost first error of a (possibly nested) exception group."""
    e: BaseException = group
    while isinstance(e, BaseExceptionGroup):
        e = e.exceptions[0]
    return e


def _ws_errors() -> tuple[type[BaseException], ...]:
    from ..transport import WS_ERRORS

    return (*WS_ERRORS, exc.RaySystemError, ConnectionError)
