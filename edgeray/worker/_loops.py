"""The event loops of an async actor: one per concurrency group, each on a thread of its own.

As in Ray, a group's calls (its async methods and its sync ones, which run on the loop's thread)
share that group's loop, limited by the group's ``max_concurrency``; the default group's limit
is the actor's ``max_concurrency``. A call that blocks its loop's thread (``time.sleep`` in an
``async def``) stalls its own group only.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

#: runs one call on its group's loop: ``run(call, group)``
RunCall = Callable[[Any, "GroupLoop"], Coroutine[Any, Any, None]]


class GroupLoop:
    """One group's asyncio loop, running on its own thread, with the semaphore that limits its
    calls. ``submit`` (from any thread) starts a call on it; ``on_end(task_id, call)`` runs once
    it ended, with ``call`` only if it was cancelled before it started (so it never ran: the
    coroutine of a task cancelled before its first step is closed without running)."""

    def __init__(self, name: str, limit: int, run: RunCall, on_end: Callable[[bytes, Any], None]) -> None:
        import asyncio  # (only async actors pay for it)

        self.name = name
        self._on_end = on_end
        self.loop = asyncio.new_event_loop()
        self.sem = asyncio.Semaphore(limit)
        self._run = run
        self._inbox: list[tuple[bytes, Any]] = []  # calls waiting for the loop to take them
        self._lock = threading.Lock()
        self._calls: dict[bytes, asyncio.Task[None]] = {}  # running (or waiting on ``sem``)
        thread = "actor-asyncio" if name == "_default" else f"actor-asyncio-{name}"
        threading.Thread(target=self._serve, name=thread, daemon=True).start()

    def _serve(self) -> None:
        import asyncio

        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def submit(self, task_id: bytes, call: Any) -> None:
        """Start ``call`` on this loop; one wake-up of the loop per batch of calls."""
        with self._lock:
            self._inbox.append((task_id, call))
            wake = len(self._inbox) == 1
        if wake:
            self.loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        with self._lock:
            batch, self._inbox = self._inbox, []
        for task_id, call in batch:
            task = self.loop.create_task(self._run(call, self))
            self._calls[task_id] = task
            task.add_done_callback(functools.partial(self._ended, task_id, call))

    def _ended(self, task_id: bytes, call: Any, task: asyncio.Task[None]) -> None:
        self._calls.pop(task_id, None)
        self._on_end(task_id, call if task.cancelled() else None)

    def cancel(self, task_id: bytes, not_running: Callable[[bytes], None]) -> None:
        """Cancel the call's coroutine, in the loop after any queued start of it (``call_soon``
        runs in order); ``not_running(task_id)`` if it is not there (finished already)."""
        self.loop.call_soon_threadsafe(self._cancel, task_id, not_running)

    def _cancel(self, task_id: bytes, not_running: Callable[[bytes], None]) -> None:
        task = self._calls.get(task_id)
        if task is not None:
            task.cancel()
        else:
            not_running(task_id)


class AsyncGroups:
    """Every group's loop of one async actor, and which loop each call went to."""

    def __init__(
        self, groups: dict[str, int], default_limit: int, run: RunCall, never_started: Callable[[Any], None],
    ) -> None:
        self._never_started = never_started  # gets each call cancelled before it started
        self._where: dict[bytes, GroupLoop] = {}  # calls not finished -> their loop
        self.default = GroupLoop("_default", default_limit, run, self._finished)
        self._loops = {"_default": self.default}
        for name, limit in groups.items():
            if name != "_default":
                self._loops[name] = GroupLoop(name, int(limit), run, self._finished)

    def submit(self, group: str, task_id: bytes, call: Any) -> None:
        """Run ``call`` on ``group``'s loop (an unknown group: the default one)."""
        gl = self._loops.get(group, self.default)
        self._where[task_id] = gl
        gl.submit(task_id, call)

    def _finished(self, task_id: bytes, never_started: Any) -> None:
        self._where.pop(task_id, None)
        if never_started is not None:
            self._never_started(never_started)

    def cancel(self, task_id: bytes, not_running: Callable[[bytes], None]) -> None:
        self._where.get(task_id, self.default).cancel(task_id, not_running)
