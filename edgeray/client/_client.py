"""``CoreClient``: one process's connection to its node (the owner side of Ray's model)."""

from __future__ import annotations

import concurrent.futures
import itertools
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .. import exceptions as exc
from ..object_store import Arena, SerializedObject, serialize
from ..protocol import (
    Blocked,
    Call,
    CancelTask,
    Connection,
    Execute,
    Log,
    Message,
    ObjectReady,
    PutObject,
    RegisterFunction,
    Reply,
    Role,
    Shutdown,
    SubmitTask,
    Unblocked,
    Welcome,
    encode_spec,
    put_id,
)
from ..transport import connect_blocking
from ._direct import ActorLanes
from ._leases import TaskLeases
from ._ownership import Ownership
from ._refs import ObjectRef
from ._results import DirectResults
from ._submitter import Submitter
from ._values import Values, coalesce_ref_ops
from ._views import ViewLeases

log = logging.getLogger("edgeray.client")

#: Seconds an idle process may keep reference operations queued before sending them.
FLUSH_INTERVAL = 0.05
#: calls whose answers count resources: idle worker leases are returned before them
_VIEWS = frozenset({"available_resources", "cluster_resources", "status", "nodes", "list"})
#: How long a driver connected over a WebSocket tries to connect again after losing its node
#: (a head restarted on the same port); a Unix-socket path dies with its node, so never there.
RECONNECT_S = 30.0

_ERROR_TYPES: dict[str, type[BaseException]] = {
    "ValueError": ValueError,
    "TypeError": TypeError,
    "KeyError": KeyError,
    "ObjectStoreFullError": exc.ObjectStoreFullError,
    "ProtocolError": exc.ProtocolError,
}


class _Waiter:
    """Waits for ``remaining`` objects; hit once per object (from any reader thread), then runs
    ``callback`` or wakes ``wait``; with ``fail_fast`` (a ``get``), the first failed object
    wakes it at once (Ray's ``get`` raises the first error while other objects are still
    pending). Plain locks: an ``Event`` cost more than the rest of a get."""

    __slots__ = ("remaining", "callback", "fail_fast", "_mu", "_done")

    def __init__(self, remaining: int, callback: Callable[[], None] | None = None, fail_fast: bool = False) -> None:
        self.remaining = remaining
        self.callback = callback
        self.fail_fast = fail_fast
        self._mu = threading.Lock()
        self._done = threading.Lock()
        self._done.acquire()

    def hit(self, failed: bool = False) -> None:
        if self.remaining <= 0:  # (it only ever decreases) already woken: a wait on many
            return
        with self._mu:
            if self.remaining <= 0:
                return
            self.remaining = 0 if failed and self.fail_fast else self.remaining - 1
            fire = self.remaining == 0
        if fire:
            if self.callback is not None:
                self.callback()
            else:
                self._done.release()

    def wait(self, timeout: float | None) -> bool:
        return self._done.acquire(True, -1 if timeout is None else timeout)


class _CallFuture:
    """A call's reply: waited for (``event``), or handed to ``callback(ok, value)`` by the reader."""

    __slots__ = ("event", "reply", "callback")

    def __init__(self, callback: Callable[[bool, Any], None] | None = None) -> None:
        self.event = threading.Event()
        self.reply: Reply | None = None
        self.callback = callback

    def done(self, reply: Reply, closing: bool = False) -> None:
        """``closing``: we closed the connection, so a callback failing to send is no news."""
        self.reply = reply
        if self.callback is None:
            self.event.set()
            return
        try:
            self.callback(reply.ok, reply.value)
        except Exception:  # never the reader thread's problem
            if not closing:
                log.exception("edgeray: a reply callback failed")


class CoreClient(DirectResults, Values):
    """Connects, authenticates, then serves the process: refs, objects, tasks, control calls.

    ``role`` is "driver" or "worker". A worker passes ``on_execute`` to receive ``Execute``.
    """

    def __init__(
        self,
        address: str,
        *,
        token: str | None,
        role: str,
        namespace: str | None = None,
        worker_id: bytes | None = None,
        embedded: bool = False,
        on_execute: Callable[[Execute], None] | None = None,
        on_cancel: Callable[[bytes, bool, bool], None] | None = None,
        log_to: Callable[[Log], None] | None = None,
        max_frame: int = 64 << 20,
    ) -> None:
        self.address = address
        self.role = role
        self._on_execute = on_execute
        self._on_cancel = on_cancel
        self._log_to = log_to or _print_log
        self._lock = threading.RLock()
        self._own = Ownership()  # what this process knows of the objects it references
        self.lanes = ActorLanes(self)
        self.leases = TaskLeases(self)
        self.submitter = Submitter(self, self.leases, self.lanes)  # the path of each call
        self._waiters: dict[bytes, list[_Waiter]] = {}
        self._pending_ref_ops: list[Message] = []  # queued (also from __del__), sent in order
        self._send_lock = threading.Lock()  # taking the queue and sending it is one step
        self._views = ViewLeases()
        self._id_prefix = os.urandom(8)
        self._empty_args: bytes | None = None
        self._id_counter = itertools.count(1)
        self._helpers: concurrent.futures.ThreadPoolExecutor | None = None
        self._calls: dict[int, _CallFuture] = {}
        self._next_req = 0
        self._registered_fns: set[bytes] = set()
        self._fn_pins: list[ObjectRef] = []
        self._closed = False
        self.tls = threading.local()  # current task id / name, per executing thread
        self.children: dict[bytes, list[bytes]] = {}  # a worker's running task -> tasks it submitted
        self.cancelled: set[bytes] = set()  # in a worker: its tasks cancelled (the executor's)
        self.actor_id: bytes | None = None
        #: in an actor's worker: asks its executor to leave (``exit_actor()``); True if async
        self.on_exit_actor: Callable[[], bool] | None = None
        self.gpu_ids: list[str] = []
        self.actor_resources: dict[str, float] = {}  # in an actor's worker: what it holds while it runs
        #: env_vars of the runtime env this process submits under (``init(runtime_env=)`` in a
        #: driver; in a worker, the running task's or the actor's): its tasks and actors inherit them
        self.inherited_env: dict[str, str] = {}

        self._token, self._max_frame, self._embedded = token, max_frame, embedded
        self._up = threading.Event()  # cleared while a driver reconnects to its node
        self._up.set()
        self._old_arenas: list[Arena] = []  # mapped before a reconnect: values read from them live on
        self._chan, self._conn, welcome = self._handshake(worker_id, namespace)
        self.worker_id: bytes = welcome.worker_id
        self.namespace: str = welcome.namespace
        self._welcomed(welcome)
        self._reader = threading.Thread(target=self._read_loop, name="edgeray-reader", daemon=True)
        self._reader.start()
        self._flusher = threading.Thread(target=self._flush_loop, name="edgeray-refs", daemon=True)
        self._flusher.start()

    def _handshake(self, worker_id: bytes | None, namespace: str | None) -> tuple[Any, Connection, Welcome]:
        chan = connect_blocking(self.address, token=self._token, max_frame=self._max_frame)
        conn = Connection(Role.CLIENT, token=self._token, max_frame=self._max_frame)
        info = {"hostname": socket.gethostname(), "embedded": self._embedded}
        chan.send_frame(conn.hello(self.role, os.getpid(), worker_id=worker_id, namespace=namespace, info=info))
        first = chan.receive_frame()
        if first is None:
            chan.close()
            raise exc.RaySystemError(f"the node at {self.address} closed the connection during the handshake")
        welcome = conn.receive(first)
        assert isinstance(welcome, Welcome)
        return chan, conn, welcome

    def _welcomed(self, welcome: Welcome) -> None:
        self.node_id: bytes = welcome.node_id
        self.job_id: bytes = welcome.job_id
        self.node_info: dict[str, Any] = welcome.info
        self.inline_threshold: int = int(welcome.info.get("inline_threshold", 100 * 1024))
        self.arena: Arena | None = None
        if welcome.arena is not None:
            try:
                self.arena = Arena.attach(welcome.arena)
            except OSError as e:
                log.warning("cannot map the node's shared memory (%s); objects travel inline", e)

    def _reconnect(self) -> None:
        """A driver whose node went away (a head restarted by its supervisor): connect to the
        same address again for up to ``RECONNECT_S``. Meanwhile sends wait; what was in flight
        has failed already, and objects that lived only on the old node are lost."""
        deadline = time.monotonic() + RECONNECT_S
        while not self._closed and time.monotonic() < deadline:
            try:
                chan, conn, welcome = self._handshake(None, self.namespace)
            except (OSError, exc.RaySystemError):
                time.sleep(0.2)
                continue
            with self._send_lock:
                if self.arena is not None:
                    self._old_arenas.append(self.arena)
                self._chan, self._conn = chan, conn
                self._welcomed(welcome)
                with self._lock:
                    self._registered_fns.clear()
                    self._own.reconnected()
                self._pending_ref_ops = []
            self._reader = threading.Thread(target=self._read_loop, name="edgeray-reader", daemon=True)
            self._reader.start()
            log.warning("edgeray: reconnected to the node at %s (job %s)", self.address, self.job_id.hex())
            self._up.set()
            return
        self._closed = True
        self._up.set()  # sends fail from now on

    def new_id(self) -> bytes:
        """A fresh 16-byte id (tasks, puts, actors): 8 random bytes drawn once per process, then
        a counter (a system call per id cost more than the rest of a submission)."""
        return self._id_prefix + next(self._id_counter).to_bytes(8, "big")

    # ================================================================== sending
    def send(self, msg: Message) -> None:
        """Send ``msg``, after any queued reference operations (in the order they happened)."""
        if not self._up.is_set():
            self._up.wait(RECONNECT_S + 1)
        with self._send_lock:
            frames = []
            if self._pending_ref_ops:
                with self._lock:
                    ops, self._pending_ref_ops = self._pending_ref_ops, []
                frames = [self._conn.send(m) for m in coalesce_ref_ops(ops)]
            frames.append(self._conn.send(msg))
            try:
                if len(frames) == 1:
                    self._chan.send_frame(frames[0])
                else:
                    self._chan.send_frames(frames)
            except OSError as e:
                raise exc.RaySystemError(f"lost the connection to the node at {self.address}: {e}") from None

    def flush_refs(self) -> None:
        """Send the queued reference operations now."""
        if not self._pending_ref_ops or self._closed:
            return
        with self._send_lock:
            with self._lock:
                ops, self._pending_ref_ops = self._pending_ref_ops, []
            if ops:
                try:
                    self._chan.send_frames([self._conn.send(m) for m in coalesce_ref_ops(ops)])
                except OSError:
                    pass

    def _flush_loop(self) -> None:
        """Reference operations queued by an idle process (a ``del ref``, a view collected)
        reach the node within ``FLUSH_INTERVAL`` even if nothing else is sent."""
        while not self._closed:
            time.sleep(FLUSH_INTERVAL)
            if self._pending_ref_ops:
                self.flush_refs()
            try:
                self.leases.tick()  # idle worker leases go back to the node
            except Exception:
                log.exception("edgeray: returning worker leases failed")

    def call(self, method: str, args: dict[str, Any] | None = None, timeout: float | None = None,
             on_late: Callable[[bool, Any], None] | None = None) -> Any:
        """A control-plane request; raises the node's error with its type where known.

        ``timeout``: ``GetTimeoutError`` when the node has not answered by then; a reply that
        comes later goes to ``on_late(ok, value)`` (e.g. to give back what it grants)."""
        if method in _VIEWS:
            self.leases.settle()  # (idle leases would count as used resources)
        fut = _CallFuture()
        with self._lock:
            self._next_req += 1
            req = self._next_req
            self._calls[req] = fut
        self.send(Call(req, method, args or {}))
        if not fut.event.wait(timeout):
            with self._lock:
                abandoned = self._calls.pop(req, None) is not None
                if abandoned and on_late is not None:
                    self._calls[req] = _CallFuture(on_late)
            if abandoned:
                raise exc.GetTimeoutError(f"the node did not answer {method} within {timeout}s")
            fut.event.wait()  # (the reply came just now: the reader is handing it over)
        reply = fut.reply
        assert reply is not None
        if not reply.ok:
            cls = _ERROR_TYPES.get(reply.error_type or "", exc.RaySystemError)
            raise cls(reply.error)
        return reply.value

    def call_async(self, method: str, args: dict[str, Any], callback: Callable[[bool, Any], None]) -> None:
        """A control-plane request whose reply goes to ``callback(ok, value)`` on the reader
        thread (which it must not block)."""
        fut = _CallFuture(callback)
        with self._lock:
            self._next_req += 1
            req = self._next_req
            self._calls[req] = fut
        try:
            self.send(Call(req, method, args))
        except exc.RaySystemError as e:
            with self._lock:
                self._calls.pop(req, None)
            callback(False, str(e))

    def run_in_helper(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on a helper thread (work the reader thread must not wait for)."""
        with self._lock:
            if self._helpers is None:
                self._helpers = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="edgeray-resolve")
        try:
            self._helpers.submit(fn)
        except RuntimeError:  # closed, or the interpreter is exiting: nothing waits for it now
            log.debug("edgeray: dropped work for a helper thread at exit")

    # ================================================================== receiving
    def _read_loop(self) -> None:
        chan, conn = self._chan, self._conn
        try:
            while True:
                data = chan.receive_frame()
                if data is None:
                    break
                msg = conn.receive(data)
                if isinstance(msg, ObjectReady):
                    self._object_ready(msg.payload)
                elif isinstance(msg, Execute):
                    assert self._on_execute is not None
                    self._on_execute(msg)
                elif isinstance(msg, Reply):
                    with self._lock:
                        fut = self._calls.pop(msg.req, None)
                    if fut is not None:
                        fut.done(msg, self._closed)
                elif isinstance(msg, Log):
                    self._log_to(msg)
                elif isinstance(msg, CancelTask) and self._on_cancel is not None:
                    self._on_cancel(msg.task_id, msg.force, msg.recursive)
                elif isinstance(msg, Shutdown):
                    log.error("edgeray: the node closed this connection: %s", msg.reason)
                    break
        except Exception as e:
            if not self._closed:
                log.error("edgeray: connection reader failed: %r", e)
        finally:
            self._connection_lost()

    def _connection_lost(self) -> None:
        was_closed = self._closed
        self._closed = True
        with self._lock:
            calls, self._calls = self._calls, {}
            waiting = list(self._waiters.items())
        for fut in calls.values():
            fut.done(Reply(0, False, None, "the connection to the node was lost", "RaySystemError"), was_closed)
        lost = exc.RaySystemError("the connection to the edgeray node was lost")
        for oid, _ in waiting:
            self._object_ready({"id": oid, "data": serialize(lost).to_bytes(), "loc": None, "err": True, "refs": []})
        if self.role == "worker" and not was_closed:
            os._exit(1)  # a worker without its node has nothing left to do
        if self.role == "driver" and not was_closed and self.address.startswith(("ws://", "wss://")):
            self._up.clear()
            self._closed = False
            log.warning("edgeray: lost the connection to the node at %s; reconnecting", self.address)
            threading.Thread(target=self._reconnect, name="edgeray-reconnect", daemon=True).start()

    def _object_ready(self, payload: dict[str, Any]) -> None:
        oid = payload["id"]
        if oid in self._own.direct_pending and self._published_result(payload):
            return
        with self._lock:
            if not self._own.ready(payload, self._waiters):
                return  # nobody here references it any more
            waiters = self._waiters.pop(oid, None)
        if waiters:
            failed = bool(payload.get("err"))
            for w in waiters:
                w.hit(failed)

    # ================================================================== put / get / wait
    def put(self, value: Any, *, _owner_hint: Any = None) -> ObjectRef:
        if isinstance(value, ObjectRef):
            raise TypeError("Calling 'put' on an ObjectRef is not allowed. Pass the value itself instead.")
        oid = put_id(self.new_id())
        so, contained = self.serialize(value)
        return self.store_serialized(oid, so, contained)

    def store_serialized(self, oid: bytes, so: SerializedObject, contained: list[bytes]) -> ObjectRef:
        if so.nbytes <= self.inline_threshold and not contained:
            data = so.to_bytes()
            with self._lock:
                self._own.put_local(oid, data)
            return ObjectRef(oid, self, _counted=False)
        payload = self.make_payload(oid, so, contained)
        with self._lock:
            self._own.put_published(oid, payload)
        self.send(PutObject(payload))
        return ObjectRef(oid, self, _counted=False)

    def make_payload(
        self, oid: bytes, so: SerializedObject, contained: list[bytes], written: list[bytes] | None = None
    ) -> dict[str, Any]:
        """Inline bytes when small or when the arena is not mapped, else shared memory.
        ``written``: objects this process created before and has written (not sealed yet:
        a task's earlier results), which the node may spill to make room for this one."""
        if so.nbytes <= self.inline_threshold or self.arena is None:
            return {"id": oid, "data": so.to_bytes(), "loc": None, "err": False, "refs": contained}
        args: dict[str, Any] = {"id": oid, "size": so.nbytes}
        if written:
            args["written"] = written
        offset = self.call("create_object", args)
        so.write_into(self.arena.write_view(offset, so.nbytes))
        return {"id": oid, "data": None, "loc": [offset, so.nbytes], "err": False, "refs": contained}

    def _missing(self, ids: Iterable[bytes]) -> list[bytes]:
        p = self._own.payloads
        return [i for i in ids if i not in p]

    def _subscribe(self, ids: list[bytes], expected: set[bytes] | None = None) -> None:
        with self._lock:
            msgs = self._own.subscribe(ids)
        for m in msgs:
            self.send(m)

    def wait_ready(self, ids: Sequence[bytes], num: int, timeout: float | None, fail_fast: bool = False) -> bool:
        """Block until ``num`` of ``ids`` (distinct) have payloads here; False on timeout. With
        ``fail_fast``, also return (True) as soon as one of them has failed."""
        p = self._own.payloads
        have = 0
        for i in ids:  # (wait's usual case: the first few are ready, no need to look further)
            if i in p:
                have += 1
                if have >= num:
                    return True
        with self._lock:
            missing = self._missing(ids)
            have = len(ids) - len(missing)
            if have >= num:
                return True
            waiter = _Waiter(num - have, fail_fast=fail_fast)
            for i in missing:
                self._waiters.setdefault(i, []).append(waiter)
        self._subscribe(missing)
        blocked = self._block()
        try:
            ok = waiter.wait(timeout)
        finally:
            if blocked:
                self._unblock()
        if waiter.remaining > 0 or len(missing) > 1:  # not registered on ids that came in: forget it
            waiters = self._waiters
            with self._lock:
                for i in missing:
                    lst = waiters.get(i)
                    if lst:
                        try:
                            lst.remove(waiter)
                        except ValueError:
                            continue
                        if not lst:
                            del waiters[i]
        return ok

    @property
    def token(self) -> str | None:
        return self._token

    @property
    def max_frame(self) -> int:
        return self._max_frame

    def log_output(self, msg: Log) -> None:
        self._log_to(msg)

    def hold(self, ids: list[bytes]) -> list[ObjectRef]:
        """New counted refs to ``ids``."""
        return [ObjectRef(i, self) for i in ids]

    def has_value(self, oid: bytes) -> bool:
        """Whether the payload of ``oid`` is here (``ObjectRef.done``)."""
        return oid in self._own.payloads

    def on_ready(self, oid: bytes, callback: Callable[[], None]) -> None:
        with self._lock:
            if oid in self._own.payloads:
                ready = True
            else:
                ready = False
                self._waiters.setdefault(oid, []).append(_Waiter(1, callback))
        if ready:
            callback()
        else:
            self._subscribe([oid])

    def run_off_reader(self, oid: bytes, fn: Callable[[], None]) -> None:
        """Run ``fn`` (which reads object ``oid``) now, unless this is the reader thread and the
        read needs a reply from the node (a shared-memory lease): then on a helper thread."""
        payload = self._own.payloads.get(oid)
        if threading.current_thread() is not self._reader or payload is None or payload.get("loc") is None:
            fn()
            return
        self.run_in_helper(fn)

    def current_job(self) -> bytes:
        """The job of the task running on this thread (a worker serves many jobs), else ours."""
        return getattr(self.tls, "job_id", None) or self.job_id

    def _block(self) -> bool:
        tid = getattr(self.tls, "task_id", None)
        if self.role == "worker" and tid is not None and self.actor_id is None:
            self.send(Blocked(tid))
            return True
        return False

    def _unblock(self) -> None:
        tid = getattr(self.tls, "task_id", None)
        if tid is not None:
            self.send(Unblocked(tid))

    def get(self, refs: Sequence[ObjectRef], timeout: float | None = None) -> list[Any]:
        deadline = None if timeout is None else time.monotonic() + timeout
        ids = [r._id for r in refs]
        missing = self._missing(ids)
        if missing:
            if len(missing) > 1:
                missing = list(dict.fromkeys(missing))  # (a ref given twice is waited for once)
            p = self._own.payloads
            if len(missing) < len(ids):  # one of those here failed already: Ray raises it now
                self._raise_first_error(ids)
            if not self.wait_ready(missing, len(missing), timeout, fail_fast=len(ids) > 1):
                raise exc.GetTimeoutError(f"Get timed out: some object(s) not ready after {timeout} seconds.")
            if any(i not in p for i in missing):  # woken by a failure
                self._raise_first_error(ids)
        p = self._own.payloads
        if deadline is None:
            return [self.deserialize_payload(p[i]) for i in ids]
        return [self.deserialize_payload(p[i], timeout=max(0.0, deadline - time.monotonic())) for i in ids]

    def _raise_first_error(self, ids: Sequence[bytes]) -> None:
        """Raise the error of the first of ``ids`` that failed (if one did)."""
        p = self._own.payloads
        for i in ids:
            payload = p.get(i)
            if payload is not None and payload.get("err"):
                self.deserialize_payload(payload)  # (raises it)

    def get_one(self, ref: ObjectRef, timeout: float | None = None) -> Any:
        return self.get([ref], timeout)[0]

    def wait(self, refs: Sequence[ObjectRef], num_returns: int, timeout: float | None, fetch_local: bool = True) -> tuple[list[ObjectRef], list[ObjectRef]]:
        ids = [r._id for r in refs]
        self.wait_ready(ids, num_returns, timeout)
        p = self._own.payloads
        ready: list[ObjectRef] = []
        not_ready: list[ObjectRef] = []
        for n, r in enumerate(refs):
            if len(ready) >= num_returns:
                not_ready.extend(refs[n:])
                break
            (ready if r._id in p else not_ready).append(r)
        return ready, not_ready

    # ================================================================== tasks
    def register_function(self, fn_id: bytes, blob: bytes, name: str, pins: list[ObjectRef]) -> None:
        if fn_id in self._registered_fns:
            return
        self._registered_fns.add(fn_id)
        self._fn_pins.extend(pins)  # refs captured by closures live as long as the job (Ray's rule)
        self.send(RegisterFunction(fn_id, blob, name))

    def submit(self, spec: dict[str, Any]) -> None:
        if spec["kind"] != 2 and self.leases.holding():
            self.leases.tick(all_idle=True)  # the node places it with our idle CPUs free again
        self.send(SubmitTask(encode_spec(spec)))

    def note_child(self, spec: dict[str, Any]) -> None:
        """A worker remembers the tasks its running task submits (a recursive cancel of it
        reaches them also where the node never saw them: on leased workers)."""
        parent = getattr(self.tls, "task_id", None)
        if parent is not None and self.role == "worker":
            self.children.setdefault(parent, []).append(spec["tid"])

    def cancel(self, task_id: bytes, force: bool, recursive: bool) -> None:
        """Ray's ``cancel`` of the task making ``task_id``'s results, wherever it was sent."""
        if not (self.lanes.cancel(task_id, force, recursive) or self.leases.cancel(task_id, force, recursive)):
            self.send(CancelTask(task_id, force, recursive))

    def fetch_function(self, fn_id: bytes) -> bytes:
        return self.call("get_function", {"fn_id": fn_id})

    # ================================================================== lifecycle
    def close(self) -> None:
        if self._closed:
            return
        if self._up.is_set():
            self.flush_refs()
        self._closed = True
        self._up.set()
        self.lanes.close()
        self.leases.close()
        self._chan.close()
        self._reader.join(timeout=2)
        if self._helpers is not None:
            self._helpers.shutdown(wait=False)
        if self.arena is not None:
            self.arena.close()
        for arena in self._old_arenas:
            arena.close()


def _print_log(msg: Log) -> None:
    out = sys.stderr if msg.stream == "err" else sys.stdout
    prefix = f"({msg.name} pid={msg.pid}) " if msg.name != "scheduler" else ""
    try:
        out.write("".join(f"{prefix}{line}\n" for line in msg.lines))
        out.flush()
    except (ValueError, OSError):
        pass
