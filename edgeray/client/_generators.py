"""Generator tasks: what ``.remote()`` gives for a task or actor method that yields.

``num_returns="dynamic"``: the task's one result is a ``DynamicObjectRefGenerator``, the refs of
the values it yielded, in order. ``num_returns="streaming"`` (Ray's default for a generator
function): ``.remote()`` returns an ``ObjectRefGenerator`` to iterate (``for``, ``async for``)
for those refs. The worker stores each value as it is yielded, but the refs reach the caller
once the generator is exhausted (Ray hands each one over as it is yielded). An error the
generator raises is one more, last ref, after those of the values it yielded before it (its
``get`` raises it), as in Ray.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._refs import ObjectRef

if TYPE_CHECKING:
    from ._client import CoreClient

T = TypeVar("T")


class DynamicObjectRefGenerator(Generic[T]):
    """The refs of what a generator task yielded (its result with ``num_returns="dynamic"``)."""

    def __init__(self, refs: list[ObjectRef]) -> None:
        self._refs = list(refs)

    def __iter__(self) -> Iterator[ObjectRef[T]]:
        return iter(self._refs)

    def __len__(self) -> int:
        return len(self._refs)

    def __repr__(self) -> str:
        return f"DynamicObjectRefGenerator({len(self._refs)} refs)"


class ObjectRefGenerator(Generic[T]):
    """What ``.remote()`` returns for a streaming generator task: iterate it for the refs of
    the values it yields. ``completed()`` is the ref of the task's end.

    As in Ray, ``wait`` takes it in its list (ready when its next ref is: here, once the task
    has ended, since its refs arrive then; and once every ref is taken, as Ray's end of the
    stream is) and ``get`` returns it as it is."""

    def __init__(self, ref: ObjectRef) -> None:
        self._ref = ref
        self._refs: list[ObjectRef] | None = None  # the task's refs, once it has ended
        self._taken = 0  # how many of them were handed out

    def completed(self) -> ObjectRef:
        return self._ref

    def _session(self) -> CoreClient:
        client = self._ref._client
        if client is None:
            raise RuntimeError("this ObjectRefGenerator is not bound to a session")
        return client

    def _next_ref(self) -> ObjectRef:
        """The ref whose readiness is that of the next item: the task's end until the refs are
        here (they come with it), then the next item's, then the end's again (all taken)."""
        refs = self._refs
        if refs is None or self._taken >= len(refs):
            return self._ref
        return refs[self._taken]

    def next_ready(self) -> bool:
        """Whether ``get(next(gen))`` would return (or raise) without waiting."""
        ref = self._next_ref()
        ready, _ = self._session().wait([ref], 1, 0)
        return bool(ready)

    def is_finished(self) -> bool:
        """Whether the task has ended and every ref it made has been taken."""
        if self._refs is None:
            if not self.next_ready():
                return False
            self._load()
        assert self._refs is not None
        return self._taken >= len(self._refs)

    def _load(self) -> None:
        self._refs = list(self._session().get([self._ref], None)[0])

    def _take(self) -> ObjectRef[T]:
        assert self._refs is not None
        if self._taken >= len(self._refs):
            raise StopIteration
        ref = self._refs[self._taken]
        self._taken += 1
        return ref

    def __iter__(self) -> ObjectRefGenerator[T]:
        return self

    def __next__(self) -> ObjectRef[T]:
        if self._refs is None:
            self._load()
        return self._take()

    def __aiter__(self) -> ObjectRefGenerator[T]:
        return self

    async def __anext__(self) -> ObjectRef[T]:
        if self._refs is None:
            self._refs = list(await self._ref)
        try:
            return self._take()
        except StopIteration:
            raise StopAsyncIteration from None

    def __repr__(self) -> str:
        return f"ObjectRefGenerator({self._ref.hex()})"


def generator_mode(num_returns: Any, is_generator: bool) -> str | None:
    """``"dynamic"`` / ``"streaming"`` for a call whose results a generator makes, else None."""
    if num_returns in ("dynamic", "streaming"):
        return str(num_returns)
    if is_generator and num_returns is None:
        return "streaming"
    return None


def wrap_generator_result(mode: str | None, ref: ObjectRef) -> Any:
    """What ``.remote()`` returns for a call in ``mode`` whose one result is ``ref``."""
    return ObjectRefGenerator(ref) if mode == "streaming" else ref
