"""Worker leases: a caller sends its plain tasks straight to pool workers the node lent it.

Ray's lease-based task submission, on one machine. For tasks that need nothing from the node
(no GPUs, the default scheduling strategy, no placement group, no refs nested in arguments,
top-level ObjectRef arguments only if their values are small and here: they travel with the
task, as in Ray's caller-side dependency resolution), the caller asks its node for a worker
(``lease_worker``, without waiting); the node lends an idle pool worker and holds the task
shape's resources (CPUs, custom resources, memory) for as long as the lease lasts. A shape the
node can never hold (a custom resource it lacks) is not asked for again: such tasks go via the
node, which places them elsewhere. The caller then sends each task to the worker's direct
socket (``DirectChannel``), up to ``DEPTH`` at a time per worker, queueing the rest here while
a lease is being asked for; the worker answers on the same connection. A task's round trip
then crosses two processes instead of three.

Leases go back (``return_lease``) once idle for ``LINGER_S``, or past ``MAX_AGE_S`` (so one busy
caller cannot keep the node's workers from others for long), and before the caller asks the
node for a view of its resources, so ``available_resources()`` does not count idle leases.
When the node lends nothing (no idle worker, or tasks already wait there), the tasks go via
the node as before. A leased worker that dies takes its tasks with it: they are sent via the
node again, with one retry fewer (Ray's ``max_retries``), or fail with ``WorkerCrashedError``.
"""

from __future__ import annotations

import collections
import logging
import math
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from .. import exceptions as exc
from ..protocol import TaskDone, TaskEvents, return_ids
from ._direct import DirectChannel, error_results

if TYPE_CHECKING:
    from ._host import CallerHost

log = logging.getLogger("edgeray.client")

#: a task shape: its resources as sorted (name, amount) pairs
Shape = tuple[tuple[str, float], ...]

DEPTH = 1  # tasks in flight per leased worker (Ray's default): the others wait here for a free one
LINGER_S = 0.1  # an idle lease goes back after this long
MAX_AGE_S = 1.0  # a lease takes no new task after this long (the node lends it again if free)
REFUSED_S = 0.05  # after a refusal, ask again for that shape no sooner than this
SETTLE_S = 0.5  # a view waits this long at most for the leases asked for
STALL_S = 0.2  # tasks waiting here while no leased worker finished one for this long go via the node


class _Lease:
    __slots__ = ("worker_id", "chan", "env", "inflight", "since", "idle_since", "returned")

    def __init__(self, worker_id: bytes, env: dict[str, str] | None) -> None:
        self.worker_id = worker_id
        self.chan: DirectChannel | None = None
        self.env = env
        self.inflight = 0
        self.since = self.idle_since = time.monotonic()
        self.returned = False


class TaskLeases:
    """Per client: its leased workers, by task shape (its resources), and the tasks waiting
    for one."""

    def __init__(self, client: CallerHost) -> None:
        self._client = client
        self._lock = threading.RLock()
        self._leases: dict[Shape, list[_Lease]] = {}
        self._queue: dict[Shape, collections.deque[dict[str, Any]]] = {}
        self._asking: set[Shape] = set()
        self._asked = threading.Condition(self._lock)  # notified when an ask is answered
        self._refused_until: dict[Shape, float] = {}
        self._progress: dict[Shape, float] = {}  # shape -> when its queue last moved (or began)
        self._running: dict[bytes, _Lease] = {}  # task id -> the lease it was sent on
        self._held: dict[bytes, list[Any]] = {}  # task id -> refs to its arguments, until it ends
        self._force_cancelled: set[bytes] = set()
        self._closed = False
        self.enabled = os.environ.get("EDGERAY_DIRECT_CALLS", "1") != "0"
        self.sent = 0  # tasks sent to leased workers, ever

    @staticmethod
    def shape(spec: dict[str, Any]) -> Shape | None:
        """The key of a task that may go to a leased worker, or None (it goes via the node).
        Its top-level ObjectRef arguments are the caller's to check (``inline_payloads``)."""
        res = spec["res"]
        if spec["nested"] or res.get("GPU"):
            return None
        opts = spec["opts"]
        if opts.get("strategy") is not None or opts.get("max_calls"):  # (the node counts max_calls)
            return None
        return tuple(sorted((k, float(v)) for k, v in res.items() if v))

    def submit(self, spec: dict[str, Any], key: Shape, args: list[Any]) -> None:
        """Send a task to a leased worker, queue it for one being asked for, or (none lent) via
        the node. ``args``: refs to its ObjectRef arguments, held until it ends (a retry via the
        node needs them there)."""
        self._client.expect_direct(return_ids(spec))
        back: list[_Lease] = []
        with self._lock:
            if args:
                self._held[spec["tid"]] = args
            if self._send(key, spec):
                return
            usable = self._usable(key)
            back = [] if usable else self._retire(key)
            if usable or key in self._asking or time.monotonic() >= self._refused_until.get(key, 0):
                q = self._queue.get(key)
                if not q:
                    q = self._queue[key] = collections.deque()
                    self._progress[key] = time.monotonic()
                q.append(spec)
                if key not in self._asking and time.monotonic() >= self._refused_until.get(key, 0):
                    self._ask(key)
                spec = {}
        for lease in back:
            self._give_back(lease)
        if spec:
            self._via_node(spec)

    def _usable(self, key: Shape) -> list[_Lease]:
        now = time.monotonic()
        return [
            x for x in self._leases.get(key, ())
            if x.chan is not None and x.chan.open and not x.returned and now - x.since <= MAX_AGE_S
        ]

    def _retire(self, key: Shape) -> list[_Lease]:
        """Under the lock: take out the idle leases that may take no more tasks (to give back)."""
        leases = self._leases.get(key, [])
        idle = [x for x in leases if x.inflight == 0]
        for x in idle:
            leases.remove(x)
        return idle

    def _send(self, key: Shape, spec: dict[str, Any]) -> bool:
        """Under the lock: on the least busy usable lease, if one has room."""
        best = None
        for lease in self._usable(key):
            if lease.inflight < DEPTH and (best is None or lease.inflight < best.inflight):
                best = lease
        if best is None:
            return False
        assert best.chan is not None
        best.inflight += 1
        self.sent += 1
        self._running[spec["tid"]] = best
        best.chan.send_call(spec, best.env)
        return True

    def _via_node(self, spec: dict[str, Any]) -> None:
        spec.pop("_deps", None)  # the node resolves the arguments itself
        try:
            self._client.submit(spec)
            self._client.direct_to_node(return_ids(spec))
        finally:
            self._ended(spec["tid"])  # the node pins the arguments from now on

    def _ended(self, tid: bytes) -> None:
        """A task left this process's hands (ended, failed here, or went via the node): drop
        the refs to its arguments held for it."""
        with self._lock:
            args = self._held.pop(tid, None)
        del args  # (outside the lock: dropping refs takes the client's)

    # -- asking for and returning leases --------------------------------------------------
    def _ask(self, key: Shape) -> None:
        self._asking.add(key)
        self._client.call_async("lease_worker", {"res": dict(key)}, lambda ok, value: self._answered(key, ok, value))

    def _ask_answered(self, key: Shape) -> None:
        """Under the lock."""
        self._asking.discard(key)
        self._asked.notify_all()  # (``settle`` waits for this)

    def _answered(self, key: Shape, ok: bool, value: Any) -> None:
        if ok and isinstance(value, dict) and isinstance(value.get("path"), str) and isinstance(value.get("worker_id"), bytes):
            self._client.run_in_helper(lambda: self._connect(key, value))
            return
        if ok and isinstance(value, dict) and value.get("never"):
            self.enabled = False  # not on the node's machine (a remote driver): never ask again
        unfit = ok and isinstance(value, dict) and bool(value.get("unfit"))
        with self._lock:
            self._ask_answered(key)
            # (a shape the node can never hold: never again, its tasks go via the node)
            self._refused_until[key] = math.inf if unfit else time.monotonic() + REFUSED_S
            # refused: what waits goes via the node (which may start a worker), unless the
            # workers leased already take it (``tick`` asks again, and sends it via the node
            # if they stall: their tasks may wait for it)
            waiting = [] if self._usable(key) and not self._stalled(key) else self._take_queue(key)
        for spec in waiting:
            self._via_node(spec)

    def _connect(self, key: Shape, grant: dict[str, Any]) -> None:
        lease = _Lease(grant["worker_id"], grant.get("env"))
        try:
            lease.chan = DirectChannel(
                self._client, grant["path"], lambda done, spec: self._done(key, lease, done, spec),
                lambda calls: self._lost(key, lease, calls),
            )
        except (OSError, exc.RayError) as e:
            log.debug("cannot reach leased worker: %r", e)
            if isinstance(e, FileNotFoundError) and not os.path.isdir(os.path.dirname(grant["path"])):
                self.enabled = False  # its socket is on another machine: stop asking
            self._give_back(lease)
            self._answered(key, False, None)
            return
        with self._lock:
            self._ask_answered(key)
            if self._closed:
                lease.chan.close()
                return
            self._leases.setdefault(key, []).append(lease)
            self._drain(key)
            if self._queue.get(key):  # more waiting than it takes: ask for another worker
                self._ask(key)

    def _take_queue(self, key: Shape) -> list[dict[str, Any]]:
        q = self._queue.pop(key, None)
        self._progress.pop(key, None)
        return list(q) if q else []

    def _stalled(self, key: Shape) -> bool:
        return time.monotonic() - self._progress.get(key, time.monotonic()) >= STALL_S

    def _drain(self, key: Shape) -> None:
        q = self._queue.get(key)
        if q:
            self._progress[key] = time.monotonic()
        while q and self._send(key, q[0]):
            q.popleft()
        if q is not None and not q:
            del self._queue[key]
            self._progress.pop(key, None)

    def _done(self, key: Shape, lease: _Lease, done: TaskDone, spec: dict[str, Any]) -> None:
        # the lease is idle again before the result is delivered: a caller that got every result
        # and then asks for a view finds it idle, and returns it first
        with self._lock:
            self._running.pop(done.task_id, None)
            args = self._held.pop(done.task_id, None)  # dropped below, outside the lock
            lease.inflight -= 1
            if lease.inflight == 0:
                lease.idle_since = time.monotonic()
            self._drain(key)
            back = [] if lease in self._usable(key) or lease.inflight else self._retire(key)
            if self._queue.get(key) and not self._usable(key) and key not in self._asking:
                self._ask(key)  # every lease is too old: a fresh one
        if done.failed and done.retryable and int(spec["opts"].get("max_retries", 3)) != 0:
            self._retry(spec, done.task_id)  # retry_exceptions: again (via the node), one retry fewer
        else:
            self._client.direct_results(done.results)
        del args
        for x in back:
            self._give_back(x)

    def _lost(self, key: Shape, lease: _Lease, calls: dict[bytes, dict[str, Any]]) -> None:
        """The leased worker died (or went away): its tasks go via the node, one retry fewer."""
        with self._lock:
            leases = self._leases.get(key, [])
            if lease in leases:
                leases.remove(lease)
            for tid in calls:
                self._running.pop(tid, None)
            waiting = self._take_queue(key) if not self._usable(key) and key not in self._asking else []
        for tid, spec in calls.items():
            self._retry(spec, tid, lease.worker_id)
        for spec in waiting:
            self._via_node(spec)

    def _retry(self, spec: dict[str, Any], tid: bytes, died: bytes | None = None) -> None:
        try:
            self._retry_or_fail(spec, tid, died)
        finally:
            self._ended(tid)

    def _retry_or_fail(self, spec: dict[str, Any], tid: bytes, died: bytes | None) -> None:
        """``died``: the leased worker that died running it (None: the task failed there)."""
        if tid in self._force_cancelled:
            self._force_cancelled.discard(tid)
            err: BaseException = exc.TaskCancelledError(f"Task {spec['name']} ({tid.hex()}) was cancelled (force=True).")
            self._report_failed(spec, "TASK_CANCELLED")
            self._client.direct_results(error_results(spec, err))
            return
        opts = spec["opts"]
        left = int(opts.get("max_retries", 3))
        if left == 0 and died is not None:
            self._fail_crashed(spec, died)
            return
        if left == 0:
            err = exc.WorkerCrashedError(f"The worker running {spec['name']} died unexpectedly; no retries left (max_retries=0).")
            self._report_failed(spec, "WORKER_DIED")
            self._client.direct_results(error_results(spec, err))
            return
        retry = {**spec, "opts": {**opts, "max_retries": left - 1 if left > 0 else left}}
        try:
            self._via_node(retry)
        except exc.RaySystemError as e:
            self._client.direct_results(error_results(spec, e))

    def _fail_crashed(self, spec: dict[str, Any], worker_id: bytes) -> None:
        """The task's leased worker died and it has no retries left: it fails with
        ``OutOfMemoryError`` if the node's memory monitor killed the worker (the node says so),
        else with ``WorkerCrashedError``."""
        crashed = exc.WorkerCrashedError(f"The worker running {spec['name']} died unexpectedly; no retries left (max_retries=0).")

        def answered(ok: bool, cause: Any) -> None:
            err: BaseException = crashed
            if ok and isinstance(cause, str):
                err = exc.OutOfMemoryError(f"{cause} No retries left (max_retries=0).")
            self._report_failed(spec, "OUT_OF_MEMORY" if err is not crashed else "WORKER_DIED")
            self._client.direct_results(error_results(spec, err))

        try:
            self._client.call_async("worker_exit_cause", {"worker_id": worker_id}, answered)
        except exc.RaySystemError:
            self._report_failed(spec, "WORKER_DIED")
            self._client.direct_results(error_results(spec, crashed))

    def _report_failed(self, spec: dict[str, Any], error_type: str) -> None:
        """Tell the node (for ``list tasks``) that a task failed with its leased worker: that
        worker may have died before its own task events reported the task at all (Ray's owner
        reports its tasks' states too). A retried task goes via the node, which records it."""
        now = time.time()
        event = [spec["tid"], "FAILED", spec["kind"], spec["name"], spec["job"], spec.get("actor"), error_type, None, now]
        try:
            self._client.send(TaskEvents([event], owner=True))
        except Exception:  # the node is gone too: nobody to tell
            log.debug("could not report the failed task %s", spec["tid"].hex())

    def _give_back(self, lease: _Lease) -> None:
        """Return an idle lease to the node, and close its connection."""
        lease.returned = True
        try:
            self._client.call_async("return_lease", {"worker_id": lease.worker_id}, lambda ok, value: None)
        except Exception:
            pass
        if lease.chan is not None:
            lease.chan.close()

    def holding(self) -> bool:
        """Whether this process holds any lease now."""
        return bool(self._leases)

    def settle(self) -> None:
        """Before a view of the node's resources: wait (``SETTLE_S`` at most) for the leases
        asked for to be answered, then return every idle lease, so the view counts none of
        this caller's idle workers as used."""
        with self._lock:
            if self._asking:
                self._asked.wait_for(lambda: not self._asking or self._closed, SETTLE_S)
        self.tick(all_idle=True)

    def tick(self, *, all_idle: bool = False) -> None:
        """Return the leases idle for ``LINGER_S`` (every idle one with ``all_idle``) or too old
        and idle. Called by the client's flusher, and before it asks the node for views."""
        now = time.monotonic()
        back: list[_Lease] = []
        stalled: list[dict[str, Any]] = []
        with self._lock:
            for key, q in list(self._queue.items()):  # tasks waiting here: another worker, or the node
                if not q or key in self._asking:
                    continue
                if self._stalled(key) or not self._usable(key):
                    stalled.extend(self._take_queue(key))
                elif now >= self._refused_until.get(key, 0):
                    self._ask(key)
            for key, leases in list(self._leases.items()):
                for lease in list(leases):
                    if lease.inflight == 0 and (all_idle or now - lease.idle_since >= LINGER_S or now - lease.since > MAX_AGE_S):
                        leases.remove(lease)
                        back.append(lease)
                if not leases:
                    del self._leases[key]
        for lease in back:
            self._give_back(lease)
        for spec in stalled:
            self._via_node(spec)

    # -- the rest --------------------------------------------------------------------------
    def cancel(self, task_id: bytes, force: bool, recursive: bool) -> bool:
        """Cancel a task sent to a leased worker or waiting for one; False if it is neither."""
        with self._lock:
            for q in self._queue.values():
                for spec in q:
                    if spec["tid"] == task_id:
                        q.remove(spec)
                        err = exc.TaskCancelledError(f"Task {spec['name']} ({task_id.hex()}) was cancelled.")
                        self._client.direct_results(error_results(spec, err))
                        self._ended(task_id)
                        return True
            lease = self._running.get(task_id)
            if lease is None or lease.chan is None:
                return False
            if force:
                self._force_cancelled.add(task_id)
            lease.chan.cancel(task_id, force, recursive)
            return True

    def close(self) -> None:
        self._closed = True
        with self._lock:
            leases = [x for v in self._leases.values() for x in v]
            self._leases.clear()
        for lease in leases:
            if lease.chan is not None:
                lease.chan.close()
