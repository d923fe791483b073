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
from typing import Any, Generic, TypeVar

from ._refs import ObjectRef

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
    the values it yields. ``completed()`` is the ref of the task's end."""

    def __init__(self, ref: ObjectRef) -> None:
        self._ref = ref
        self._it: Iterator[ObjectRef] | None = None

    def completed(self) -> ObjectRef:
        return self._ref

    def __iter__(self) -> ObjectRefGenerator[T]:
        return self

    def __next__(self) -> ObjectRef[T]:
        if self._it is None:
            client = self._ref._client
            if client is None:
                raise RuntimeError("this ObjectRefGenerator is not bound to a session")
            self._it = iter(client.get([self._ref], None)[0])
        return next(self._it)

    def __aiter__(self) -> ObjectRefGenerator[T]:
        return self

    async def __anext__(self) -> ObjectRef[T]:
        if self._it is None:
            self._it = iter(await self._ref)
        try:
            return next(self._it)
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
