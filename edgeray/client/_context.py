"""The process's connection to its node.

A process talks to exactly one node through one ``CoreClient`` (Ray's global worker, minus the
4,000 lines): it is set by ``init()`` in a driver and by the worker's main in a worker, and read
by ``ObjectRef`` (un)pickling and the public API. This is the one deliberate process-wide slot.
"""

from __future__ import annotations

import threading
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from ..exceptions import RaySystemError

if TYPE_CHECKING:
    from ._client import CoreClient


#: The call running in this context, set by the worker around each one: (its task spec, the code
#: it runs: the task's function or the actor's class, None while an actor is constructed). A
#: context variable (a key, not state), so each call of an async actor sees its own even though
#: they share one thread. Read by ``get_runtime_context()``.
CURRENT_TASK: ContextVar[tuple[dict[str, Any], Any] | None] = ContextVar("edgeray_current_task", default=None)


class _Slot:
    __slots__ = ("client", "lock")

    def __init__(self) -> None:
        self.client: CoreClient | None = None
        self.lock = threading.RLock()


_SLOT = _Slot()


def set_current_client(client: CoreClient | None) -> None:
    _SLOT.client = client


def try_current_client() -> CoreClient | None:
    return _SLOT.client


def current_client() -> CoreClient:
    c = _SLOT.client
    if c is None:
        raise RaySystemError("edgeray is not initialized: call edgeray.init() first")
    return c


def init_lock() -> threading.RLock:
    return _SLOT.lock
