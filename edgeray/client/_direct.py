"""Direct actor calls: a caller sends an actor's calls straight to the actor's worker.

Ray's direct actor transport, on one machine: the worker hosting an actor listens on a Unix socket
beside its node's (``worker/_direct_server.py: DirectServer``); a caller on the same machine asks the node where once
(``actor_direct``), connects (the cluster token authenticates it, as on the node's socket) and
sends each call as an ``Execute``; the worker answers with a ``TaskDone`` on the same connection.
A call's round trip then crosses two processes instead of three.

What stays with the node: calls with ObjectRef arguments whose small values the caller does not
have (the node resolves them; those it has travel with the call), actors that retry calls after
a crash (``max_task_retries``), actors on other nodes, and every call while the actor is being
created or restarted. ``ActorLanes`` keeps one caller's calls to one actor in
submission order across the two paths: it switches path only once the calls sent the other way
have finished, queueing (never blocking ``.remote()``) in between.

Results: inline results come back on the connection and live in the caller (like a small
``put``); the caller publishes one to its node only when its ref leaves the process
(``Promise`` first if the value is not back yet). Results too large to travel inline, or that
hold refs, are sealed on the node by the worker (``Publish``) with the caller as holder. When the
worker's connection closes, the calls in flight fail with ``ActorDiedError``, as in Ray for an
actor without ``max_task_retries``.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import exceptions as exc
from ..exceptions import ProtocolError
from ..object_store import serialize
from ..protocol import (
    CancelTask,
    Connection,
    Execute,
    Log,
    Role,
    TaskDone,
    encode_spec,
    return_ids,
)
from ..transport import UnixChannel

if TYPE_CHECKING:
    from ._host import CallerHost

log = logging.getLogger("edgeray.client")

RESOLVE_BACKOFF = (0.05, 2.0)  # seconds between asking the node for an actor's socket: first, most


# ====================================================================== the caller's side
class DirectChannel:
    """A caller's connection to a worker (an actor's, or one leased for tasks), with the calls
    sent on it not answered yet. ``on_done(done, spec)`` gets each answer (on the reader thread)
    and delivers its results; ``on_lost(calls)`` runs once the connection has closed, with the
    calls it never answered (task id -> spec)."""

    def __init__(
        self, client: CallerHost, path: str, on_done: Callable[[TaskDone, dict[str, Any]], None],
        on_lost: Callable[[dict[bytes, dict[str, Any]]], None],
    ) -> None:
        self._client = client
        self._on_done = on_done
        self._on_lost = on_lost
        self._chan = UnixChannel(path, client.max_frame)
        self._conn = Connection(Role.CLIENT, token=client.token, max_frame=client.max_frame)
        try:
            self._chan.send_frame(self._conn.hello("caller", os.getpid(), worker_id=client.worker_id))
            first = self._chan.receive_frame()
            if first is None:
                raise OSError("the worker closed the connection")
            self._conn.receive(first)
        except BaseException:
            self._chan.close()
            raise
        self.open = True
        self.inflight: dict[bytes, dict[str, Any]] = {}  # task id -> its spec
        self._reader = threading.Thread(target=self._read_loop, name="edgeray-direct-reader", daemon=True)
        self._reader.start()

    def send_call(self, spec: dict[str, Any], env: dict[str, str] | None = None) -> None:
        """Under the caller's lock for this worker (so calls leave in order). The payloads of
        its arguments travel with it (``spec["_deps"]``, resolved by the caller)."""
        deps = spec.pop("_deps", [])
        self.inflight[spec["tid"]] = spec
        try:
            self._chan.send_frame(self._conn.send(Execute(encode_spec(spec), deps, env)))
        except OSError:
            self.open = False  # the reader fails what is in flight, this call included

    def cancel(self, task_id: bytes, force: bool, recursive: bool) -> None:
        try:
            self._chan.send_frame(self._conn.send(CancelTask(task_id, force, recursive)))
        except OSError:
            pass

    def _read_loop(self) -> None:
        try:
            while True:
                data = self._chan.receive_frame()
                if data is None:
                    break
                msg = self._conn.receive(data)
                if isinstance(msg, Log):  # printed by a call of ours, ahead of its result
                    self._relay_log(msg)
                    continue
                if not isinstance(msg, TaskDone):
                    raise ProtocolError(f"unexpected {msg.TAG} from a worker")
                spec = self.inflight.pop(msg.task_id, None)  # (atomic: no lock)
                if spec is not None:
                    self._on_done(msg, spec)
        except Exception as e:
            if self.open:
                log.warning("edgeray: direct connection to a worker failed: %r", e)
        finally:
            self.open = False
            self._chan.close()
            calls, self.inflight = self.inflight, {}
            self._on_lost(calls)

    def _relay_log(self, msg: Log) -> None:
        """A driver prints it; a worker (its task called this one) hands it to its node, which
        sends it on to the job's driver."""
        client = self._client
        if client.role == "driver":
            client.log_output(msg)
            return
        try:
            client.send(msg)
        except exc.RaySystemError:
            pass

    def close(self) -> None:
        self.open = False
        self._chan.close()


def error_results(spec: dict[str, Any], error: BaseException) -> list[dict[str, Any]]:
    """Payloads that make every result of ``spec`` raise ``error``."""
    data = serialize(error).to_bytes()
    return [{"id": r, "data": data, "loc": None, "err": True, "refs": []} for r in return_ids(spec)]


class _Lane:
    """One caller process's calls to one actor: which path they take now, and what waits to
    switch."""

    def __init__(self, owner: ActorLanes, actor_id: bytes, name: str, unordered: bool) -> None:
        self.owner = owner
        self.actor_id = actor_id
        self.name = name
        #: the actor runs calls concurrently (async, threaded, concurrency groups): it promises
        #: no order, so a call takes the best path at once, never waiting for the calls sent
        #: the other way (which may wait on it: an asyncio.Event set by a later call)
        self.unordered = unordered
        self.lock = threading.RLock()
        self.mode = "node"
        self.inflight = 0  # calls sent on the current path and not finished
        # calls waiting for the switch: (direct, spec, refs that keep its arguments alive)
        self.queue: collections.deque[tuple[bool, dict[str, Any], list[Any]]] = collections.deque()
        self.chan: DirectChannel | None = None
        self.sticky_node = False  # a call whose end cannot be seen went via the node: stay there
        self.resolving = False
        self.next_resolve = 0.0
        self.backoff = RESOLVE_BACKOFF[0]


class ActorLanes:
    """Per client: every actor it calls directly, and the order of its calls to each."""

    def __init__(self, client: CallerHost) -> None:
        self._client = client
        self._lanes: dict[bytes, _Lane] = {}
        self._lock = threading.Lock()
        self._closed = False
        #: ``EDGERAY_DIRECT_CALLS=0`` sends every actor call via the node (to compare, or debug)
        self.enabled = os.environ.get("EDGERAY_DIRECT_CALLS", "1") != "0"

    def submit(
        self, actor_id: bytes, name: str, spec: dict[str, Any], direct: bool, keep: list[Any], *, unordered: bool = False,
    ) -> None:
        """Send one call, directly when ``direct`` (it needs nothing the node must resolve) and
        a connection is open, else via the node; after every earlier call of this caller unless
        the actor is ``unordered`` (runs calls concurrently). ``keep``: refs to its arguments,
        held while it waits here (the node pins them once it has the call)."""
        with self._lock:
            lane = self._lanes.get(actor_id)
            if lane is None:
                lane = self._lanes[actor_id] = _Lane(self, actor_id, name, unordered)
        if direct:
            self._client.expect_direct(return_ids(spec))
        with lane.lock:
            if direct and (lane.chan is None or not lane.chan.open) and not lane.sticky_node:
                self._resolve(lane)
            switching = not (lane.mode == self._path(lane, direct) or lane.inflight == 0)
            if not lane.unordered and (lane.queue or switching):
                lane.queue.append((direct, spec, keep))
                return
            self._send(lane, direct, spec)

    def _path(self, lane: _Lane, direct: bool) -> str:
        chan = lane.chan
        return "direct" if direct and chan is not None and chan.open and not lane.sticky_node else "node"

    def _send(self, lane: _Lane, direct: bool, spec: dict[str, Any]) -> None:
        lane.mode = mode = self._path(lane, direct)
        rets = return_ids(spec)
        if mode == "direct":
            assert lane.chan is not None
            lane.inflight += 1
            lane.chan.send_call(spec)
            return
        spec.pop("_deps", None)  # the node resolves the arguments itself
        self._client.submit(spec)
        if direct:
            self._client.direct_to_node(rets)
        if rets:
            lane.inflight += 1
            self._client.on_ready(rets[0], lambda: self.completed(lane))
        else:
            lane.sticky_node = True  # its end is invisible here: never switch back

    def completed(self, lane: _Lane) -> None:
        """One call on the lane's current path finished: send what waited for the switch."""
        with lane.lock:
            lane.inflight -= 1
            while lane.queue:
                direct, spec, _keep = lane.queue[0]
                if lane.mode != self._path(lane, direct) and lane.inflight > 0:
                    break
                lane.queue.popleft()
                try:
                    self._send(lane, direct, spec)
                except Exception as e:  # (the node's connection is gone): the call fails, the rest go on
                    self._fail(spec, e)

    def _fail(self, spec: dict[str, Any], error: BaseException) -> None:
        self._client.expect_direct(return_ids(spec))
        self._client.direct_results(error_results(spec, exc.RaySystemError(f"could not send {spec['name']}: {error}")))

    # -- finding the actor's worker -------------------------------------------------------
    def _resolve(self, lane: _Lane) -> None:
        """Ask the node (without waiting) where the actor's worker listens; connect if it says."""
        now = time.monotonic()
        if lane.resolving or now < lane.next_resolve or self._closed:
            return
        lane.resolving = True
        self._client.call_async("actor_direct", {"actor_id": lane.actor_id}, lambda ok, value: self._resolved(lane, ok, value))

    def _resolved(self, lane: _Lane, ok: bool, value: Any) -> None:
        path = value.get("path") if ok and isinstance(value, dict) else None
        if not isinstance(path, str):
            self._retry_later(lane)
            return
        self._client.run_in_helper(lambda: self._connect(lane, path))

    def _connect(self, lane: _Lane, path: str) -> None:
        try:
            made: list[DirectChannel] = []  # (its reader may report a loss before it is returned)
            chan = DirectChannel(
                self._client, path, lambda done, _spec: self._answered(lane, done), lambda calls: self._lost(lane, made, calls)
            )
            made.append(chan)
        except (OSError, exc.RayError, ProtocolError) as e:
            log.debug("no direct connection to actor %s: %r", lane.actor_id.hex(), e)
            if isinstance(e, FileNotFoundError) and not os.path.isdir(os.path.dirname(path)):
                self.enabled = False  # the worker's socket is on another machine: stop asking
            self._retry_later(lane)
            return
        with lane.lock:
            lane.resolving = False
            lane.backoff = RESOLVE_BACKOFF[0]
            if self._closed:
                chan.close()
                return
            lane.chan = chan

    def _retry_later(self, lane: _Lane) -> None:
        with lane.lock:
            lane.resolving = False
            lane.next_resolve = time.monotonic() + lane.backoff
            lane.backoff = min(lane.backoff * 2, RESOLVE_BACKOFF[1])

    def _answered(self, lane: _Lane, done: TaskDone) -> None:
        self._client.direct_results(done.results)
        self.completed(lane)

    def _lost(self, lane: _Lane, made: list[DirectChannel], calls: dict[bytes, dict[str, Any]]) -> None:
        """The actor's worker went away: the calls it had not answered fail."""
        with lane.lock:
            if lane.chan is not None and lane.chan in made:
                lane.chan = None
        if calls:
            error = self.death_error(lane)
            for spec in calls.values():
                self._client.direct_results(error_results(spec, error))
                self.completed(lane)

    def death_error(self, lane: _Lane) -> BaseException:
        """The error of calls in flight when the worker's connection closed: the node's account
        of the death where it has one already."""
        cause = "The actor is dead because its worker's connection closed while this call was in flight."
        try:
            info = self._client.call("actor_state", {"actor_id": lane.actor_id}, timeout=2)
            if isinstance(info, dict) and info.get("death_cause"):
                cause = str(info["death_cause"])
        except Exception:
            pass
        return exc.ActorDiedError.for_actor(lane.name, lane.actor_id.hex(), cause)

    # -- the rest --------------------------------------------------------------------------
    def cancel(self, task_id: bytes, force: bool, recursive: bool) -> bool:
        """Send a cancellation to the worker running a direct call; False if none does."""
        with self._lock:
            lanes = list(self._lanes.values())
        for lane in lanes:
            chan = lane.chan
            if chan is not None and task_id in chan.inflight:
                chan.cancel(task_id, force, recursive)
                return True
        return False

    def close(self) -> None:
        self._closed = True
        with self._lock:
            lanes = list(self._lanes.values())
        for lane in lanes:
            chan = lane.chan
            if chan is not None:
                chan.close()

