"""``ObjectRef``: a reference to a (possibly future) object, counted for distributed GC.

Awaitable from asyncio and from Trio (the running library is detected with sniffio-free checks),
convertible to a ``concurrent.futures.Future`` with ``future()``.
"""

from __future__ import annotations

import concurrent.futures
import sys
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._context import current_client, try_current_client
from ._ids import TaskID

if TYPE_CHECKING:
    from ._client import CoreClient


T = TypeVar("T")


class ObjectRef(Generic[T]):
    """A reference to an object; ``ObjectRef[int]`` in annotations, as in Ray."""

    __slots__ = ("_id", "_client", "_removed", "__weakref__")

    def __init__(self, object_id: bytes, client: CoreClient | None = None, *, _counted: bool = True) -> None:
        self._id = object_id
        self._client = client
        if client is not None and _counted:
            client.incref(object_id)

    # -- identity -------------------------------------------------------------------------
    def binary(self) -> bytes:
        return self._id

    def hex(self) -> str:
        return self._id.hex()

    def task_id(self) -> TaskID:
        return TaskID(self._id[:16].hex())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ObjectRef) and other._id == self._id

    def __hash__(self) -> int:
        return hash(self._id)

    def __repr__(self) -> str:
        return f"ObjectRef({self._id.hex()})"

    def __del__(self) -> None:
        c = self._client
        if c is not None:
            try:
                c.decref(self._id)
            except Exception:  # interpreter shutdown
                pass

    # -- pickling outside edgeray's own serializer (e.g. plain pickle.dumps) ----------------
    def __reduce__(self) -> tuple[Any, ...]:
        c = self._client
        if c is not None:
            c.ensure_published(self._id)
        return (_rebuild, (self._id,))

    # -- futures --------------------------------------------------------------------------
    def future(self) -> concurrent.futures.Future[Any]:
        """A ``concurrent.futures.Future`` that completes with the value (or its error)."""
        client = self._client or current_client()
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def resolve() -> None:
            if fut.done():
                return
            try:
                fut.set_result(client.get_one(self, timeout=0))
            except BaseException as e:  # the remote error, raised by get
                fut.set_exception(e)

        client.on_ready(self._id, lambda: client.run_off_reader(self._id, resolve))
        return fut

    def __await__(self) -> Generator[Any, None, Any]:
        if "trio" in sys.modules and _in_trio():
            return (yield from _await_trio(self).__await__())
        import asyncio

        return (yield from asyncio.wrap_future(self.future()).__await__())

    # -- enough of the asyncio.Future interface for ``asyncio.wait([ref, ...])`` ------------
    def done(self) -> bool:
        client = self._client or current_client()
        return client.has_value(self._id)

    def cancelled(self) -> bool:
        return False

    def result(self) -> Any:
        return (self._client or current_client()).get_one(self, timeout=0)

    def exception(self) -> BaseException | None:
        try:
            self.result()
        except BaseException as e:  # the remote error is this "future"'s exception
            return e
        return None

    def add_done_callback(self, fn: Any, *, context: Any = None) -> None:
        """Call ``fn(self)`` in the running asyncio loop once the object is ready."""
        import asyncio

        loop = asyncio.get_running_loop()
        client = self._client or current_client()

        def ready() -> None:
            removed: set[Any] | None = getattr(self, "_removed", None)
            if not removed or fn not in removed:
                loop.call_soon_threadsafe(fn, self)

        client.on_ready(self._id, ready)

    def remove_done_callback(self, fn: Any) -> int:
        removed: set[Any] | None = getattr(self, "_removed", None)
        if removed is None:
            removed = set()
            self._removed = removed
        removed.add(fn)
        return 1

    def as_future(self) -> Any:
        """An ``asyncio.Future`` for this ref (Ray's ``as_future``)."""
        import asyncio

        return asyncio.wrap_future(self.future())


def _rebuild(object_id: bytes) -> ObjectRef:
    return ObjectRef(object_id, try_current_client())


def _in_trio() -> bool:
    import trio

    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        return False
    return True


async def _await_trio(ref: ObjectRef) -> Any:
    import trio

    client = ref._client or current_client()
    token = trio.lowlevel.current_trio_token()
    event = trio.Event()
    client.on_ready(ref._id, lambda: token.run_sync_soon(event.set))
    await event.wait()
    return client.get_one(ref, timeout=0)
