"""``edgeray.util.queue``: Ray's ``ray.util.queue``, a FIFO queue kept by an actor.

Any task, actor or driver holding the ``Queue`` (it pickles as its actor handle) can put and
get; blocking calls wait in the actor without holding a thread (it is an async actor), with a
``timeout`` as in the standard library's ``queue.Queue``.
"""

from __future__ import annotations

import asyncio
import queue as _stdlib_queue
from collections.abc import Iterable
from typing import Any

from .. import api

__all__ = ["Empty", "Full", "Queue"]


class Empty(_stdlib_queue.Empty):
    """``get`` found the queue empty (non-blocking, or after its timeout)."""


class Full(_stdlib_queue.Full):
    """``put`` found the queue full (non-blocking, or after its timeout)."""


class _QueueActor:
    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self.queue: asyncio.Queue[Any] = asyncio.Queue(maxsize)

    async def qsize(self) -> int:
        return self.queue.qsize()

    async def empty(self) -> bool:
        return self.queue.empty()

    async def full(self) -> bool:
        return self.queue.full()

    async def put(self, item: Any, timeout: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self.queue.put(item), timeout)
        except TimeoutError:
            return False
        return True

    async def put_batch(self, items: list[Any], timeout: float | None = None) -> int:
        for i, item in enumerate(items):
            if not await self.put(item, timeout):
                return i
        return len(items)

    async def get(self, timeout: float | None = None) -> tuple[bool, Any]:
        try:
            return True, await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return False, None

    async def put_nowait(self, item: Any) -> bool:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            return False
        return True

    async def put_nowait_batch(self, items: list[Any]) -> bool:
        if self.maxsize > 0 and len(items) + self.queue.qsize() > self.maxsize:
            return False
        for item in items:
            self.queue.put_nowait(item)
        return True

    async def get_nowait(self) -> tuple[bool, Any]:
        try:
            return True, self.queue.get_nowait()
        except asyncio.QueueEmpty:
            return False, None

    async def get_nowait_batch(self, num_items: int) -> tuple[bool, list[Any]]:
        if num_items > self.queue.qsize():
            return False, []
        return True, [self.queue.get_nowait() for _ in range(num_items)]


class Queue:
    """A first-in first-out queue shared by tasks and actors (``maxsize <= 0``: unbounded).

    ``actor_options`` are ``.options()`` for the queue's actor (``num_cpus``, ``name``,
    ``lifetime``...). Blocking forms: ``put``/``get`` (``block``, ``timeout``), and the
    coroutines ``put_async``/``get_async``; ``*_nowait`` and the batch forms never wait.
    """

    def __init__(self, maxsize: int = 0, actor_options: dict[str, Any] | None = None) -> None:
        options = {"num_cpus": 0, **(actor_options or {})}
        self.maxsize = maxsize
        self.actor = api.remote(_QueueActor).options(**options).remote(maxsize)

    def __len__(self) -> int:
        return self.size()

    def size(self) -> int:
        return int(api.get(self.actor.qsize.remote()))

    def qsize(self) -> int:
        return self.size()

    def empty(self) -> bool:
        return bool(api.get(self.actor.empty.remote()))

    def full(self) -> bool:
        return bool(api.get(self.actor.full.remote()))

    # -- put --------------------------------------------------------------------------------
    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        """Add ``item``; waits for room when ``block`` (``Full`` after ``timeout`` seconds)."""
        if not block:
            return self.put_nowait(item)
        _check_timeout(timeout)
        if not api.get(self.actor.put.remote(item, timeout)):
            raise Full
        return None

    async def put_async(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if not block:
            if not await self.actor.put_nowait.remote(item):
                raise Full
            return
        _check_timeout(timeout)
        if not await self.actor.put.remote(item, timeout):
            raise Full

    def put_nowait(self, item: Any) -> None:
        if not api.get(self.actor.put_nowait.remote(item)):
            raise Full

    def put_nowait_batch(self, items: Iterable[Any]) -> None:
        """Add all of ``items`` or, if they do not all fit, none (``Full``)."""
        if not isinstance(items, Iterable):
            raise TypeError("Argument 'items' must be an Iterable")
        items = list(items)
        if not api.get(self.actor.put_nowait_batch.remote(items)):
            raise Full(f"Cannot add {len(items)} items to queue of size {self.qsize()} and maxsize {self.maxsize}.")

    # -- get --------------------------------------------------------------------------------
    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        """Remove and return the first item; waits when ``block`` (``Empty`` after ``timeout``)."""
        if not block:
            return self.get_nowait()
        _check_timeout(timeout)
        ok, item = api.get(self.actor.get.remote(timeout))
        if not ok:
            raise Empty
        return item

    async def get_async(self, block: bool = True, timeout: float | None = None) -> Any:
        if not block:
            ok, item = await self.actor.get_nowait.remote()
        else:
            _check_timeout(timeout)
            ok, item = await self.actor.get.remote(timeout)
        if not ok:
            raise Empty
        return item

    def get_nowait(self) -> Any:
        ok, item = api.get(self.actor.get_nowait.remote())
        if not ok:
            raise Empty
        return item

    def get_nowait_batch(self, num_items: int) -> list[Any]:
        """Remove and return ``num_items`` items, or none (``Empty``) if there are fewer."""
        if not isinstance(num_items, int):
            raise TypeError("Argument 'num_items' must be an int")
        if num_items < 0:
            raise ValueError("'num_items' must be nonnegative")
        ok, items = api.get(self.actor.get_nowait_batch.remote(num_items))
        if not ok:
            raise Empty(f"Cannot get {num_items} items from queue of size {self.qsize()}.")
        return list(items)

    def shutdown(self, force: bool = False, grace_period_s: int = 5) -> None:
        """Kill the queue's actor (items still in it are lost)."""
        if self.actor is not None:
            api.kill(self.actor)
        self.actor = None


def _check_timeout(timeout: float | None) -> None:
    if timeout is not None and timeout < 0:
        raise ValueError("'timeout' must be a non-negative number")
