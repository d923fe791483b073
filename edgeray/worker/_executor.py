"""Runs what the node sends: tasks on the main thread; actors sync, threaded or on asyncio.

Sync single-threaded actors run calls on the main thread in arrival order (the node sends one
caller's calls in submission order). Threaded actors run each concurrency group's calls on a pool
of its own (the default group's: ``max_concurrency`` threads); async actors run each group's calls
on an asyncio loop of its own (``_loops``), on its own thread, limited by the group's semaphore.
"""

from __future__ import annotations

import contextvars
import inspect
import os
import queue
import signal
import sys
import threading
import time
from typing import Any, NamedTuple

from .. import exceptions as exc
from ..client import CoreClient
from ..client._context import CURRENT_TASK
from ..object_store import deserialize
from ..protocol import Execute, Log, Message, Publish, TaskDone, decode_spec, return_id
from ._args import substitute
from ._direct_server import DirectPeer, DirectServer
from ._exit import Leaving
from ._generators import GeneratorResults, Returns
from ._loops import AsyncGroups, GroupLoop
from ._output import LogStream, log_file
from ._process_env import SetupHooks, env_to_apply
from ._results import ResultWriter
from ._task_events import TaskEventBuffer
from ._threads import CallThreads

TASK, ACTOR_CREATE, ACTOR_CALL = 0, 1, 2


class _Run(NamedTuple):
    """An ``Execute`` with its spec decoded."""

    spec: dict[str, Any]
    deps: list[Any]
    env: dict[str, str] | None


def _pg_of(spec: dict[str, Any]) -> dict[str, Any] | None:
    """The placement-group strategy a task or actor runs under, if any."""
    s = spec["opts"].get("strategy")
    return s if isinstance(s, dict) and s.get("kind") == "PLACEMENT_GROUP" and s.get("pg_id") else None


class Executor(Leaving):
    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[_Run | None] = queue.SimpleQueue()
        self._fns: dict[bytes, Any] = {}
        self._setup_hooks = SetupHooks(self._function)  # (the job setup hooks run in this process)
        self._actor_pg: dict[str, Any] | None = None  # the group this actor lives in
        self.client: CoreClient | None = None
        self.actor: Any = None
        self.actor_name = ""
        self._mode = "sync"
        self._pools: dict[str, CallThreads] = {}
        self._groups: AsyncGroups | None = None  # an async actor's event loops
        self._method_groups: dict[str, str] = {}
        # cancellation: the task the main thread runs, whether it is inside user code now,
        # and the ids cancelled
        self._running_tid: bytes | None = None
        self._in_user_code = False
        self._interrupted: bytes | None = None  # the task a cancel's KeyboardInterrupt was raised in
        self._cancelled: set[bytes] = set()
        self._replies: dict[bytes, DirectPeer] = {}  # direct calls: who gets their TaskDone
        self._direct: DirectServer | None = None
        self.events = TaskEventBuffer(self._send_to_node)  # what direct calls did, for the node
        # the caller of the direct call running in this context: what it prints goes to it
        # (ahead of its result, on the same connection), not round the node
        self._log_peer: contextvars.ContextVar[DirectPeer | None] = contextvars.ContextVar("log_peer", default=None)
        self._out: tuple[LogStream, ...] = ()
        self.generators: GeneratorResults | None = None
        self.pid = os.getpid()
        self.current_name = ""
        self.current_job = b"\x00" * 4
        # ``exit_actor()`` was called (the actor leaves once that call ends), and the one exit
        self._exit_requested = False
        self._exit_lock = threading.Lock()

    def attach(self, client: CoreClient) -> None:
        self.client = client
        client.cancelled = self._cancelled
        client.on_exit_actor = self.request_exit
        self.generators = GeneratorResults(client, self._task_error)
        self._listen_direct()  # for callers it is lent to (and, once it hosts one, its actor's)
        self._out = (LogStream(self, "out", log_file("out", sys.stdout, 1)),
                     LogStream(self, "err", log_file("err", sys.stderr, 2)))
        sys.stdout, sys.stderr = self._out  # type: ignore[assignment]

    def _send_to_node(self, msg: Message) -> None:
        c = self.client
        if c is not None and not c._closed:
            c.send(msg)

    def send_log(self, lines: list[str], stream: str) -> None:
        msg = Log(self.current_job, self.current_name or "worker", self.pid, lines, stream)
        peer = self._log_peer.get()
        if peer is not None and not peer.closed:
            peer.send(msg)
            return
        c = self.client
        if c is not None and not c._closed:
            try:
                c.send(msg)
            except Exception:
                pass

    def _end_output(self) -> None:
        for out in self._out:
            if out.dirty:
                out.end_of_task()

    # -- the main thread ------------------------------------------------------------------
    def enqueue(self, execute: Execute, reply: DirectPeer | None = None) -> None:
        """Called by the reader thread for each ``Execute`` (of a direct call: ``reply``)."""
        msg = _Run(decode_spec(execute.spec, trusted=True), execute.deps, execute.env)
        if reply is not None:  # an actor's call, or a task for the caller this worker is lent to
            actor_id = getattr(self.client, "actor_id", None)
            kind = msg.spec["kind"]
            if not ((kind == ACTOR_CALL and msg.spec["actor"] == actor_id) or (kind == TASK and actor_id is None)):
                reply.send(TaskDone(msg.spec["tid"], [], True, False, "not a call for this worker"))
                return
            self._replies[msg.spec["tid"]] = reply
            self.events.accepted(msg.spec)
        kind = msg.spec["kind"]
        if kind == ACTOR_CALL and self._mode != "sync":
            self._dispatch_concurrent(msg)
        else:
            self._queue.put(msg)

    def run_forever(self) -> None:
        q = self._queue
        while True:
            msg = q.get()
            if msg is None:  # an exit asked for outside a call (SIGTERM, an asyncio task's)
                self._exit_actor(None)
                return
            self.execute(msg)

    # -- one task -------------------------------------------------------------------------
    def execute(self, msg: _Run) -> None:
        spec = msg.spec
        kind = spec["kind"]
        client = self.client
        assert client is not None
        tls = client.tls
        tls.task_id = spec["tid"]
        tls.job_id = spec["job"]
        tls.pg_current = self._actor_pg if kind == ACTOR_CALL else _pg_of(spec)
        tls.resources = spec["res"] if kind == TASK else None  # (an actor's: client.actor_resources)
        self.current_job = spec["job"]
        if kind == TASK:
            self.current_name = spec["name"]
        if spec["tid"] in self._cancelled:  # cancelled while it waited here
            tls.task_id = None
            self._fail(spec, exc.TaskCancelledError(f"Task {spec['name']} was cancelled."))
            return
        CURRENT_TASK.set((spec, type(self.actor) if self.actor is not None else None))
        if msg.env:
            os.environ.update(env_to_apply(msg.env, spec["opts"].get("env_vars")))
            client.gpu_ids = [g for g in msg.env.get("CUDA_VISIBLE_DEVICES", "").split(",") if g]
        undo_env = self._enter_runtime_env(spec) if kind != ACTOR_CALL else None
        self.events.started(spec["tid"])
        peer = self._replies.get(spec["tid"])
        log_to = self._log_peer.set(peer) if peer is not None else None
        try:
            if kind != ACTOR_CALL:  # the job's worker_process_setup_hook, once per process
                self._setup_hooks.before(spec["opts"].get("env_vars"))
            if kind == TASK:
                fn = self._function(spec["fn"])
                CURRENT_TASK.set((spec, fn))
                args, kwargs = self._args(msg)
                self._running_tid = spec["tid"]
                self._in_user_code = True
                try:
                    result = self._collect(spec, fn(*args, **kwargs))
                finally:
                    self._in_user_code = False
                    self._running_tid = None
            elif kind == ACTOR_CREATE:
                # what this pooled worker ran for its lease holders is reported now: an actor's
                # worker may be killed (ray.kill) before its next report, and those rows lost
                self.events.flush()
                self._create_actor(msg)
                result = None
            else:
                method = self._actor_method(spec["method"])
                args, kwargs = self._args(msg)
                result = self._collect(spec, method(*args, **kwargs))
                if inspect.iscoroutine(result):  # an async method on a sync-mode actor
                    import asyncio

                    result = asyncio.run(result)
        except BaseException as e:  # the user's error, reported to the caller
            if not self._exit_requested:
                self._fail(spec, e)
                return
        finally:
            tls.task_id = None
            CURRENT_TASK.set(None)
            client.children.pop(spec["tid"], None)
            if undo_env is not None:
                self._leave_runtime_env(undo_env)
            self._end_output()
            if log_to is not None:
                self._log_peer.reset(log_to)
        if self._exit_requested:  # (also when the user's code caught the exit_actor() exception)
            self._exit_actor(spec)
            return
        self._finish(spec, result)

    def _enter_runtime_env(self, spec: dict[str, Any]) -> tuple[dict[str, str | None], dict[str, str]] | None:
        """Set a task's or actor's runtime_env ``env_vars`` (merged with what it inherited when
        it was submitted) in this process's environment; what it submits inherits them. An
        actor's stay for its lifetime; for a task, returns what undoes them once it ends."""
        env = spec["opts"].get("env_vars")
        if not isinstance(env, dict) or not env:
            return None
        env = {k: v for k, v in env.items() if isinstance(k, str) and isinstance(v, str)}
        client = self.client
        assert client is not None
        undo = ({k: os.environ.get(k) for k in env}, client.inherited_env)
        os.environ.update(env)
        client.inherited_env = env
        return undo if spec["kind"] == TASK else None

    def _leave_runtime_env(self, undo: tuple[dict[str, str | None], dict[str, str]]) -> None:
        saved, inherited = undo
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        assert self.client is not None
        self.client.inherited_env = inherited

    def _function(self, fn_id: bytes) -> Any:
        fn = self._fns.get(fn_id)
        if fn is None:
            client = self.client
            assert client is not None
            blob = self._fetch_function(client, fn_id)
            # refs captured by the function's closure are pinned by its job (the driver), not
            # by every worker that caches the function: they load as unbound, uncounted refs
            fn = self._fns[fn_id] = deserialize(blob, client.load_borrowed_ref)
        return fn

    @staticmethod
    def _fetch_function(client: CoreClient, fn_id: bytes) -> bytes:
        """The code of ``fn_id`` from the node. A direct caller registered it on its own
        connection to the node, which may not have read it yet: wait a moment for it."""
        deadline = time.monotonic() + 5
        while True:
            try:
                return client.fetch_function(fn_id)
            except Exception as e:
                if "never registered" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.005)

    def _args(self, msg: _Run) -> tuple[list[Any], dict[str, Any]]:
        client = self.client
        assert client is not None
        try:
            args, kwargs = deserialize(msg.spec["args"], client._load_ref)
        except BaseException:
            for p in msg.deps:
                client.return_lease(p)
            raise
        if msg.deps:
            values: list[Any] = []
            error: BaseException | None = None
            for p in msg.deps:  # shared-memory arguments arrive leased: read or give back each
                if error is not None:
                    client.return_lease(p)
                    continue
                try:
                    values.append(client.deserialize_payload(p, leased=True))
                except BaseException as e:  # a failed argument: the call raises its error
                    error = e
            if error is not None:
                raise error
            args, kwargs = substitute(args, kwargs, values)
        return args, kwargs

    def _collect(self, spec: dict[str, Any], result: Any) -> Any:
        assert self.generators is not None
        return self.generators.collect(spec, result)

    def _finish(self, spec: dict[str, Any], result: Any) -> None:
        client = self.client
        assert client is not None
        tid = spec["tid"]
        if tid in self._cancelled:
            if spec["kind"] == TASK and self._interrupted == tid:
                self._cancelled.discard(tid)  # it caught the KeyboardInterrupt and returned: Ray keeps its value
            else:  # cancelled while it ran (an actor call), or as it returned: cancelled all the same
                if isinstance(result, Returns):
                    result.stored.drop()
                self._fail(spec, exc.TaskCancelledError(f"Task {spec['name']} was cancelled."))
                return
        if isinstance(result, Returns):  # a generator's, stored as it yielded them
            stored = result.stored
            if result.failed is not None:
                data = self._error_data(spec, result.failed)[1]
                while len(stored) < spec["rets"]:
                    stored.add_error(data)
            self._done(spec, TaskDone(tid, stored.payloads))
            return
        stored = ResultWriter(client, tid)
        try:
            for v in self._values(spec, result):
                stored.add(v)
        except Exception as e:
            stored.drop()
            self._fail(spec, e)
            return
        self._done(spec, TaskDone(tid, stored.payloads))

    @staticmethod
    def _values(spec: dict[str, Any], result: Any) -> list[Any]:
        """A task's ``num_returns`` results, from what it returned."""
        n = spec["rets"]
        if n == 1:
            return [result]
        if n == 0:
            return []
        if not isinstance(result, tuple | list) or len(result) != n:
            raise ValueError(
                f"Task {spec['name']} has num_returns={n} but returned "
                f"{type(result).__name__} {'of length ' + str(len(result)) if isinstance(result, tuple | list) else ''}".rstrip()
            )
        return list(result)

    def _done(self, spec: dict[str, Any], done: TaskDone, error_type: str | None = None) -> None:
        """Report a finished task: to the node, or to the caller of a direct call (results it
        cannot take inline are sealed on the node for it first, with ``Publish``), whose end
        the node then learns from this worker's task events."""
        client = self.client
        assert client is not None
        peer = self._replies.pop(spec["tid"], None)
        if peer is None:
            client.send(done)
            return
        big = [p for p in done.results if p.get("loc") is not None or p.get("refs")]
        if big:
            client.send(Publish(spec["owner"], big))
            done.results = [{"id": p["id"], "published": True} if p in big else p for p in done.results]
        peer.send(done)
        self.events.finished(spec, error_type)

    def _fail(self, spec: dict[str, Any], error: BaseException) -> None:
        client = self.client
        assert client is not None
        tid = spec["tid"]
        if tid in self._cancelled:  # the KeyboardInterrupt / CancelledError we caused
            # (as in Ray, stored as the task's error: get raises RayTaskError(TaskCancelledError);
            # one cancelled before it ran is a plain TaskCancelledError, from the node or caller)
            self._cancelled.discard(tid)
            error = exc.TaskCancelledError(f"Task {spec['name']} ({tid.hex()}) was cancelled.")
        error_type = "TASK_CANCELLED" if isinstance(error, exc.TaskCancelledError) else "TASK_EXECUTION_EXCEPTION"
        err, data = self._error_data(spec, error)
        retryable = _retryable(spec["opts"].get("retry_exceptions"), error)
        self._done(spec, TaskDone(tid, _error_payloads(spec, data), True, retryable, err.traceback_str[-4000:]), error_type)

    def _task_error(self, spec: dict[str, Any], error: BaseException) -> exc.RayTaskError:
        return exc.RayTaskError.from_exception(error, spec["name"], self.pid, "127.0.0.1")

    def _error_data(self, spec: dict[str, Any], error: BaseException) -> tuple[exc.RayTaskError, bytes]:
        """The error the caller gets for ``error``, and its bytes."""
        client = self.client
        assert client is not None
        err = self._task_error(spec, error)
        try:
            return err, client.serialize(err)[0].to_bytes()
        except Exception as e:  # the user's exception itself cannot be pickled: Ray's RayError
            why = e.__cause__ or e  # (pickle's own words, not our "Could not serialize ...")
            cause = exc.RayError(f"The original cause of the RayTaskError ({type(err.cause)}) isn't serializable: "
                                 f"{why}. Overwriting the cause to a RayError.")
            err = exc.RayTaskError(spec["name"], err.traceback_str, cause, self.pid, err.ip)
            return err, client.serialize(err)[0].to_bytes()

    # -- actors ---------------------------------------------------------------------------
    def _create_actor(self, msg: _Run) -> None:  # the creation task returns None
        spec = msg.spec
        client = self.client
        assert client is not None
        cls = self._function(spec["fn"])
        args, kwargs = self._args(msg)
        self.actor_name = self.current_name = spec["name"]
        client.actor_id = spec["actor"]
        client.actor_resources = dict(spec["res"])
        opts = spec["opts"]
        self._actor_pg = _pg_of(spec)
        is_async = any(inspect.iscoroutinefunction(m) or inspect.isasyncgenfunction(m)
                       for _, m in inspect.getmembers(cls, inspect.isfunction))
        groups: dict[str, int] = dict(opts.get("concurrency_groups") or {})
        max_conc = opts.get("max_concurrency")
        for name, m in inspect.getmembers(cls, inspect.isfunction):
            g = getattr(m, "__edgeray_concurrency_group__", None)
            if g:
                self._method_groups[name] = g
        if is_async:
            import asyncio  # (only async actors pay for it: ~50 ms)

            self._mode = "async"
            self._groups = AsyncGroups(groups, int(max_conc or 1000), self._run_async, self._cancelled_unstarted)
            asyncio.set_event_loop(self._groups.default.loop)  # what __init__ sees, as in Ray
        elif (max_conc and max_conc > 1) or groups:
            self._mode = "threaded"
            self._pools["_default"] = CallThreads(int(max_conc or 1), self.execute, "actor")
            for g, n in groups.items():
                self._pools[g] = CallThreads(int(n), self.execute, f"actor-{g}")
        self.install_exit_signal()
        self.actor = cls(*args, **kwargs)
        self.current_name = _log_name(self.actor, self.actor_name)
        self._listen_direct()

    def _listen_direct(self) -> None:
        """Take direct calls from callers on this machine (the node tells them where)."""
        path = os.environ.get("EDGERAY_DIRECT_SOCKET")
        client = self.client
        if not path or client is None or self._direct is not None:
            return
        try:
            self._direct = DirectServer(
                path, token=client.token, worker_id=client.worker_id, max_frame=client.max_frame,
                on_execute=self.enqueue, on_cancel=self.cancel_from,
            )
        except OSError as e:  # calls keep coming via the node
            print(f"edgeray: no direct calls for this actor ({e})", file=sys.stderr)

    def _group_of(self, spec: dict[str, Any]) -> str:
        g = spec["opts"].get("concurrency_group") or self._method_groups.get(spec["method"] or "")
        return g or "_default"

    # -- cancellation (called by the reader thread) -------------------------------------
    def install_cancel_signal(self) -> None:
        """Main thread: SIGUSR1 raises KeyboardInterrupt in a task being cancelled."""
        signal.signal(signal.SIGUSR1, self._on_cancel_signal)

    def _on_cancel_signal(self, signum: int, frame: Any) -> None:
        if self._in_user_code and self._running_tid in self._cancelled:
            self._interrupted = self._running_tid
            raise KeyboardInterrupt(f"task {self._running_tid.hex()} was cancelled")  # type: ignore[union-attr]

    def cancel(self, task_id: bytes) -> None:
        """Interrupt a running task (``KeyboardInterrupt``) or async-actor call (its coroutine)."""
        if self._groups is not None:  # (an async actor) its coroutine, in its loop
            self._cancelled.add(task_id)
            self._groups.cancel(task_id, self._cancelled.discard)
        elif self._running_tid == task_id:
            self._cancelled.add(task_id)
            os.kill(os.getpid(), signal.SIGUSR1)
        else:  # not started yet (queued here): it fails as cancelled when its turn comes
            self._cancelled.add(task_id)

    def cancel_from(self, task_id: bytes, force: bool, recursive: bool) -> None:
        """A cancellation from the node or a direct caller. ``recursive`` also cancels the tasks
        it submitted; ``force`` (only a direct caller sends it) on the task running here ends
        this process, as the node does with a worker it runs a task on (the caller reports it)."""
        client = self.client
        if recursive and client is not None:
            for child in client.children.get(task_id, ()):
                try:
                    client.cancel(child, force, True)
                except Exception:
                    pass
        if force and self._running_tid == task_id and self.actor is None:
            os._exit(1)
        self.cancel(task_id)

    def _dispatch_concurrent(self, msg: _Run) -> None:
        group = self._group_of(msg.spec)
        if self._groups is not None:
            self._groups.submit(group, msg.spec["tid"], msg)
        else:
            pool = self._pools.get(group) or self._pools["_default"]
            pool.submit(msg)

    def _cancelled_unstarted(self, msg: _Run) -> None:
        """An async-actor call cancelled before its coroutine started."""
        self._fail(msg.spec, exc.TaskCancelledError(f"Task {msg.spec['name']} was cancelled."))

    async def _run_async(self, msg: _Run, group: GroupLoop) -> None:
        """One call of an async actor, on its group's loop once the group has room for it."""
        spec = msg.spec
        sem = group.sem
        try:
            await sem.acquire()
        except BaseException as e:  # cancelled while it waited for its turn
            self._fail(spec, e)
            return
        try:
            self.events.started(spec["tid"])
            peer = self._replies.get(spec["tid"])
            if peer is not None:  # (this asyncio task's own context)
                self._log_peer.set(peer)
            CURRENT_TASK.set((spec, type(self.actor)))  # (this call's own context: an asyncio task's)
            try:
                args, kwargs = self._args(msg)
                result = self._actor_method(spec["method"])(*args, **kwargs)
                if inspect.isawaitable(result):
                    result = await result
                if inspect.isasyncgen(result) and spec["opts"].get("generator"):
                    assert self.generators is not None
                    result = await self.generators.collect_async(spec, result)
                else:
                    result = self._collect(spec, result)
            except BaseException as e:
                if not self._exit_requested:
                    self._fail(spec, e)
                    return
            finally:
                self._end_output()
            if self._exit_requested:
                self._exit_actor(spec)
                return
            self._finish(spec, result)
        finally:
            sem.release()

    def _actor_method(self, name: str) -> Any:
        """The actor's method ``name``, or one every actor has (``__ray_ready__``,
        ``__ray_terminate__``)."""
        if name == "__ray_ready__":
            return lambda: True
        if name == "__ray_terminate__":
            return self._terminate
        return getattr(self.actor, name)

def _error_payloads(spec: dict[str, Any], data: bytes) -> list[dict[str, Any]]:
    """Each result of the task of ``spec`` as the error whose bytes are ``data``."""
    tid = spec["tid"]
    return [{"id": return_id(tid, i), "data": data, "loc": None, "err": True, "refs": []}
            for i in range(1, max(spec["rets"], 1) + 1)]



def _retryable(retry_exceptions: Any, error: BaseException) -> bool:
    if isinstance(retry_exceptions, bytes):  # a pickled list of exception types
        retry_exceptions = deserialize(retry_exceptions)
    if retry_exceptions is True:
        return isinstance(error, Exception)
    if isinstance(retry_exceptions, list | tuple):
        return any(isinstance(error, t) for t in retry_exceptions if isinstance(t, type))
    return False


def _log_name(actor: Any, class_name: str) -> str:
    """What prefixes an actor's output: its ``repr()`` when its class defines ``__repr__`` (Ray's
    way to tell actors of one class apart in the driver's output), else the class name."""
    if type(actor).__repr__ is object.__repr__:
        return class_name
    try:
        text = repr(actor)
    except Exception:  # a broken __repr__ must not fail the actor
        return class_name
    return text[:1000] if isinstance(text, str) and text else class_name
