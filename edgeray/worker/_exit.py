"""How an actor leaves gracefully: ``exit_actor()`` and ``__ray_terminate__`` (the calling
method's caller gets ``ActorDiedError``, even if the user's code caught the exception), or a
SIGTERM from the node (its handles are all gone, or its job ended). Either way the actor's
``__ray_shutdown__`` runs, then its atexit handlers, then the process exits, as in Ray.

``Leaving`` is mixed into the ``Executor``, whose state it shares.
"""

from __future__ import annotations

import inspect
import os
import queue
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

from .. import exceptions as exc
from ..client._context import CURRENT_TASK
from ..protocol import TaskDone, return_id

if TYPE_CHECKING:
    from ..client import CoreClient
    from ._direct_server import DirectServer
    from ._loops import AsyncGroups
    from ._task_events import TaskEventBuffer


class ActorExit(SystemExit):
    """Raised by ``exit_actor()`` in a sync or threaded actor (a ``SystemExit``, as in Ray). The
    exit does not depend on it: the executor notes the request first, so an actor whose code
    catches it exits all the same once the call ends."""


class Leaving:
    """The exit path of an actor's executor (see the module's docstring)."""

    client: CoreClient | None
    actor: Any
    actor_name: str
    events: TaskEventBuffer
    _queue: queue.SimpleQueue[Any]
    _mode: str
    _groups: AsyncGroups | None  # an async actor's event loops
    _direct: DirectServer | None
    #: ``exit_actor()`` was called (the actor leaves once that call ends), and the one exit
    _exit_requested: bool = False
    _exit_lock: threading.Lock

    def _done(self, spec: dict[str, Any], done: TaskDone, error_type: str | None = None) -> None:
        raise NotImplementedError

    def _terminate(self) -> None:
        """``__ray_terminate__``: ``exit_actor()`` once the calls before it are done."""
        self.request_exit()
        raise ActorExit()

    def request_exit(self) -> bool:
        """``exit_actor()`` (from any thread): the actor leaves once the calling method ends,
        or now if no call of it runs (an asyncio task's, the constructor's). True for an
        async actor (whose ``exit_actor()`` raises ``AsyncioActorExit``, as in Ray)."""
        self._exit_requested = True
        if not self._in_call():  # (a call that asked leaves as it ends: its caller hears why)
            self._queue.put(None)
        return self._mode == "async"

    def _in_call(self) -> bool:
        if self._mode != "async":
            return CURRENT_TASK.get() is not None
        import asyncio

        try:
            task = asyncio.current_task()
        except RuntimeError:  # (not in the loop's thread)
            return False
        return task is not None and self._groups is not None and self._groups.runs(task)

    def install_exit_signal(self) -> None:
        """In an actor's main thread: SIGTERM (the node stopping an actor whose handles are all
        gone, or whose job ended) is a graceful exit: ``__ray_shutdown__``, then atexit handlers.
        (``SimpleQueue.put`` may be called from a signal handler.)"""
        signal.signal(signal.SIGTERM, lambda signum, frame: self._queue.put(None))

    def _exit_actor(self, spec: dict[str, Any] | None) -> None:
        """Leave: the method call that asked (``spec``) fails with ``ActorDiedError`` (Ray's
        caller sees the actor's death, not a value), the node learns why, then
        ``__ray_shutdown__`` and the atexit handlers run and the process exits. Runs once,
        from whichever thread gets here first."""
        client = self.client
        if not self._exit_lock.acquire(blocking=False):
            return  # another thread is leaving already
        aid = client.actor_id if client is not None else None
        if spec is not None and self._exit_requested and spec.get("method"):
            died = exc.ActorDiedError.for_actor(self.actor_name, aid.hex() if aid else "", exc.ActorDiedError.EXITED)
            self._fail_with(spec, died)
        self.events.flush()  # (the call that exited included)
        if client is not None and aid is not None and self._exit_requested:  # (a SIGTERM: the node knows)
            try:  # marked dead now, for the calls after it (the node does not kill us: we leave)
                client.call("kill_actor", {"actor_id": aid, "no_restart": True, "exiting": True}, timeout=5)
            except Exception:
                pass
        if self._direct is not None:
            self._direct.close()
        self._run_shutdown_hooks()
        sys.stdout.flush()
        os._exit(0)

    def _run_shutdown_hooks(self) -> None:
        """The actor's ``__ray_shutdown__`` (its error printed, not raised), then the atexit
        handlers (what ``sys.exit`` would run), as Ray does on a graceful exit."""
        import atexit

        hook = getattr(self.actor, "__ray_shutdown__", None)
        if callable(hook):
            try:
                result = hook()
                if inspect.iscoroutine(result) and self._groups is not None:
                    import asyncio

                    asyncio.run_coroutine_threadsafe(result, self._groups.default.loop).result()
            except BaseException as e:
                print(f"edgeray: {self.actor_name}.__ray_shutdown__ raised {e!r}", file=sys.stderr)
        try:
            atexit._run_exitfuncs()
        except BaseException:
            pass

    def _fail_with(self, spec: dict[str, Any], error: BaseException) -> None:
        """The call's results are ``error`` itself (a system error, not the user's: not wrapped
        in a ``RayTaskError``)."""
        client = self.client
        assert client is not None
        data = client.serialize(error)[0].to_bytes()
        tid = spec["tid"]
        payloads: list[dict[str, Any]] = [{"id": return_id(tid, i), "data": data, "loc": None, "err": True, "refs": []}
                    for i in range(1, max(spec["rets"], 1) + 1)]
        self._done(spec, TaskDone(tid, payloads, True, False, str(error)[-4000:]), "ACTOR_DIED")
