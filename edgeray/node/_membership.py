"""A node's membership in the cluster, and fencing (DESIGN §4: a node declared dead is fenced,
and what it does afterwards is refused).

A node id is one incarnation. The head declares a member dead when its link closes or it is
silent for ``gcs.node_timeout_s`` (``HeadMembers``); from then on that id is *fenced*
(``ClusterTable.fenced``): the head closes its connections after sending it the table that
lists it dead, refuses it joining again, and every node refuses the messages of a fenced id
(the head answers them with that table, the others with ``Refused``). A fenced node that learns
it (the head's table lists it dead, or ``membership`` says no) kills its workers, drops
everything and joins again under a new id (``NodeServer.fence``).

A member cannot know at once that it was declared dead (it was stopped, its link broke), so it
holds a *lease* (``Lease``): the node's own loop renews it every tick, and a gap longer than
``lease_s`` (shorter than the head's timeout) means the node was stalled (SIGSTOP, a frozen VM)
for long enough that the head may have declared it dead meanwhile. The rules, as data
(``TRANSITIONS``):

    state     event       next      when
    JOINING   confirmed   MEMBER    the head answered ``membership`` yes after a heartbeat
    MEMBER    lapsed      SUSPECT   the node's loop did not run for ``lease_s`` (a stall)
    MEMBER    link_lost   DETACHED  the head link broke (the head may be down: work goes on)
    DETACHED  lapsed      SUSPECT   a stall while detached
    DETACHED  rejoined    JOINING   a new head link (the head restarted, or the same one back)
    SUSPECT   confirmed   MEMBER    the head answered yes: it had not declared it dead
    SUSPECT   rejoined    JOINING   a new head link
    any       fenced      FENCED    the head's table lists this node dead, or it said no

MEMBER and DETACHED take other nodes' messages; JOINING and SUSPECT hold them (the reader
waits), so nothing sent to a stalled node before it was declared dead runs after, and a node
that reconnects to the head runs nothing until the head says it is still a member. While the
head is unreachable (DETACHED) nobody can declare a member dead, so the members go on working
with each other, as Ray's raylets do while the GCS restarts; if the head was up and only the
link broke, the head declared the member dead at once and the others refuse its results from
the moment its death reaches them (a message already in flight in that window still runs).
FENCED is final for this id. The head and a node that never joined are always members
(``Lease.always``).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import trio

from ..protocol import ClusterState, Heartbeat, Message
from ..protocol import Refused as RefusedMsg
from ._cluster import NodeEntry

if TYPE_CHECKING:
    from ._peer_conn import PeerConn
    from ._service import NodeServer

log = logging.getLogger("edgeray.node")

JOINING, MEMBER, DETACHED, SUSPECT, FENCED = "JOINING", "MEMBER", "DETACHED", "SUSPECT", "FENCED"
USABLE = frozenset({MEMBER, DETACHED})

TRANSITIONS: dict[tuple[str, str], str] = {
    (JOINING, "confirmed"): MEMBER,
    (MEMBER, "lapsed"): SUSPECT,
    (MEMBER, "link_lost"): DETACHED,
    (DETACHED, "lapsed"): SUSPECT,
    (DETACHED, "rejoined"): JOINING,
    (SUSPECT, "confirmed"): MEMBER,
    (SUSPECT, "rejoined"): JOINING,
    (JOINING, "fenced"): FENCED,
    (MEMBER, "fenced"): FENCED,
    (DETACHED, "fenced"): FENCED,
    (SUSPECT, "fenced"): FENCED,
}

#: The lease, as a share of the head's node timeout.
LEASE_SHARE = 0.75
#: How often the node's background loops run.
TICK_S = 0.05


class Lease:
    """A member's right to act for the cluster (the state machine in the module header)."""

    def __init__(self, lease_s: float, *, always: bool = False, now: Callable[[], float] = time.monotonic) -> None:
        self.state = MEMBER if always else JOINING
        self.always = always
        self.lease_s = lease_s
        self.last_beat = now()
        self._now = now
        self._changed = trio.Event()

    def event(self, name: str) -> bool:
        """Apply ``name``; False when the current state has no such transition."""
        if self.always:
            return False
        nxt = TRANSITIONS.get((self.state, name))
        if nxt is None:
            return False
        if nxt != self.state:
            log.info("membership: %s -> %s (%s)", self.state, nxt, name)
        self.state = nxt
        self._changed.set()
        self._changed = trio.Event()
        return True

    def beat(self, at: float) -> None:
        """The node's loop ran at ``at``: a usable lease runs on from then (a lapsed one is
        renewed only by the head's yes)."""
        if self.usable():
            self.last_beat = at

    def confirm(self, sent_at: float) -> None:
        """The head answered yes to a check sent after a heartbeat sent at ``sent_at``."""
        if self.event("confirmed"):
            self.last_beat = max(self.last_beat, sent_at)

    def usable(self) -> bool:
        """A member with a live lease (a lapsed one turns SUSPECT here)."""
        if self.always:
            return True
        if self.state in USABLE and self._now() - self.last_beat > self.lease_s:
            self.event("lapsed")
        return self.state in USABLE

    async def wait_usable(self) -> None:
        """Until this node may act on other nodes' messages (forever once FENCED: the node
        is then being started again, which cancels the wait)."""
        while not self.usable():
            changed = self._changed
            with trio.move_on_after(TICK_S):
                await changed.wait()


class LoopErrors:
    """A background loop's failed iterations: the first is logged with its traceback, then
    one line per ``every_s`` at most, saying how many failed meanwhile. The loop goes on."""

    def __init__(self, name: str, every_s: float = 10.0, now: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.every_s = every_s
        self._now = now
        self._last = -float("inf")
        self.failures = 0
        self._unlogged = 0

    def report(self, e: BaseException) -> None:
        self.failures += 1
        now = self._now()
        if now - self._last < self.every_s:
            self._unlogged += 1
            return
        more = f" ({self._unlogged} more since the last report)" if self._unlogged else ""
        log.error("the %s failed an iteration%s; it goes on", self.name, more, exc_info=e if self._last < 0 else None)
        if self._last >= 0:
            log.error("the %s: latest failure: %r", self.name, e)
        self._last, self._unlogged = now, 0


class HeadMembers:
    """The head's joined nodes: their links, joining, leaving, being declared dead (fenced),
    and the loop that finds the silent ones and tells everyone the table."""

    def __init__(self, server: NodeServer, spawn: Callable[..., Any]) -> None:
        self.server = server
        self.core = server.core
        self.spawn = spawn
        self.members: dict[bytes, PeerConn] = {}
        self.sent_version = -1
        self.errors = LoopErrors("cluster loop")

    def joined(self, peer: PeerConn, info: dict[str, Any]) -> bool:
        """A node joined on ``peer``; False if its id is fenced (the caller refuses it)."""
        core = self.core
        from .. import exceptions as exc

        try:
            entry = NodeEntry.from_wire({**info, "alive": True, "head": False})
        except ValueError as e:
            raise exc.ProtocolError(str(e)) from None
        if not core.cluster.join(entry):
            return False
        old = self.members.get(peer.node_id)
        self.members[peer.node_id] = peer
        if old is not None:
            old.closed = True
        log.info("node %s joined from %s", peer.node_id.hex()[:12], entry.address)
        self.broadcast()
        core.retry_infeasible()
        core.schedule()
        return True

    def left(self, peer: PeerConn) -> None:
        if self.members.get(peer.node_id) is not peer:
            return
        del self.members[peer.node_id]
        self.declare_dead(peer.node_id, "its connection closed")

    def declare_dead(self, node_id: bytes, why: str) -> None:
        """Fence ``node_id``: its work is retried elsewhere, its connection is closed after
        telling it so, and nothing it sends is taken any more."""
        newly = self.core.cluster.fence(node_id)
        peer = self.members.pop(node_id, None)
        if newly:
            log.warning("node %s declared dead (%s); it is fenced", node_id.hex()[:12], why)
            self.core.remote.node_died(node_id)
            self.broadcast()
        if peer is not None and not peer.closed:
            peer.send(ClusterState(self.core.cluster.to_wire()))
            self.spawn(peer.end_after_flush)

    def broadcast(self) -> None:
        self.sent_version = self.core.cluster.version
        msg = ClusterState(self.core.cluster.to_wire())
        for p in list(self.members.values()):
            p.send(msg)

    def refusal(self, node_id: bytes) -> Message:
        """What the head says to a fenced node: the table that lists it dead."""
        return ClusterState(self.core.cluster.to_wire())

    async def loop(self) -> None:
        """Refresh the head's own entry, declare silent nodes dead, tell the members."""
        timeout = self.server.config.gcs.node_timeout_s
        while True:
            await trio.sleep(TICK_S)
            try:
                self._tick(timeout)
            except Exception as e:
                self.errors.report(e)

    def _tick(self, timeout: float) -> None:
        core = self.core
        core.cluster.refresh_local(core.resources.total, core.resources.available)
        core.remote.expire_restored(time.monotonic())
        core.pgs.expire_restored(time.monotonic())
        for node_id in core.cluster.expired(timeout):
            self.declare_dead(node_id, f"it missed its heartbeats for {timeout:.1f} s")
        for node_id in [n for n in self.members if not core.cluster.is_alive(n)]:
            self.declare_dead(node_id, "the link to it failed")  # (``node_died`` from a link)
        if core.cluster.version != self.sent_version and self.members:
            self.broadcast()


def member_refusal(node_id: bytes) -> Message:
    """What a node other than the head says to a fenced node."""
    return RefusedMsg(f"node {node_id.hex()} was declared dead by the head (fenced); it must join again as a new node")


class MemberBeats:
    """A joined node: heartbeats to the head (on change, and every ``gcs.heartbeat_interval_s``),
    and the checks that keep its ``Lease`` (see the module header)."""

    def __init__(self, server: NodeServer, lease: Lease) -> None:
        self.server = server
        self.lease = lease
        self.errors = LoopErrors("heartbeat loop")
        self._last: Any = None
        self._last_at = 0.0
        self._link: Any = None
        self._checking: Any = None  # the link a ``membership`` check is in flight on
        self._retry_at = 0.0

    async def loop(self) -> None:
        while True:
            await trio.sleep(TICK_S)
            try:
                self._tick()
            except Exception as e:
                self.errors.report(e)

    def _tick(self) -> None:
        server, lease = self.server, self.lease
        lease.beat(time.monotonic())  # (after a stall, this finds the lease lapsed first)
        link = server.links.head_link
        if link is None or link.closed or not link.connected:
            lease.event("link_lost")
            self._last = None
            return
        if link is not self._link:  # a new connection to the head: a member once it says so
            self._link, self._last = link, None
            lease.event("link_lost")
            lease.event("rejoined")
            timeout = (link.welcome_info or {}).get("node_timeout_s")
            if isinstance(timeout, int | float) and timeout > 0:
                lease.lease_s = float(timeout) * LEASE_SHARE
        now = time.monotonic()
        core = server.core
        state = (dict(core.resources.total), dict(core.resources.available), dict(core.labels))
        lease.usable()  # (turns a lapsed lease SUSPECT)
        check = lease.state in (JOINING, SUSPECT) and self._checking is not link and now >= self._retry_at
        if check or state != self._last or now - self._last_at >= server.config.gcs.heartbeat_interval_s:
            link.send(Heartbeat(*state))
            self._last, self._last_at = state, now
        if check:  # after that heartbeat on the same link: a yes means it was not declared dead
            self._checking = link
            link.call("membership", {}, functools.partial(self._checked, link, now))

    def _checked(self, link: Any, sent_at: float, ok: bool, value: Any, error: str | None) -> None:
        if self._checking is link:
            self._checking = None
        if not ok:  # the link broke (the next one asks again), or the head could not answer
            self._retry_at = time.monotonic() + 1.0
            if not str(error).startswith("ConnectionError"):
                log.warning("the head did not answer the membership check: %s", error)
            return
        if value is True:
            self.lease.confirm(sent_at)
        else:
            self.server.fence("the head says it is not a member")
