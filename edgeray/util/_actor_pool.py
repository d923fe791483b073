"""``ActorPool``: Ray's ``ray.util.ActorPool``, a fixed set of actors fed with work in turn."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .. import api
from ..client import ObjectRef

__all__ = ["ActorPool"]

Submit = Callable[[Any, Any], ObjectRef]


class ActorPool:
    """Runs ``fn(actor, value)`` on whichever actor of ``actors`` is idle.

    ``fn`` must submit one actor call and return its ``ObjectRef`` (``lambda a, v:
    a.work.remote(v)``). Results come back in submission order (``map``, ``get_next``) or as
    they finish (``map_unordered``, ``get_next_unordered``); values wait while every actor is
    busy.
    """

    def __init__(self, actors: Iterable[Any]) -> None:
        self._idle_actors = list(actors)
        self._future_to_actor: dict[ObjectRef, tuple[int, Any]] = {}
        self._index_to_future: dict[int, ObjectRef] = {}
        self._next_task_index = 0
        self._next_return_index = 0
        self._pending_submits: list[tuple[Submit, Any]] = []

    # -- mapping ----------------------------------------------------------------------------
    def map(self, fn: Submit, values: Iterable[Any]) -> Iterator[Any]:
        """Results of ``fn`` over ``values``, in the order of ``values``. As in Ray, the values
        are submitted now (as far as actors are idle; the rest as they free up), before the
        returned iterator is read."""
        self._drain()
        for v in values:
            self.submit(fn, v)
        return self._results(self.get_next)

    def map_unordered(self, fn: Submit, values: Iterable[Any]) -> Iterator[Any]:
        """Results of ``fn`` over ``values``, as they finish (submitted now, as ``map``)."""
        self._drain()
        for v in values:
            self.submit(fn, v)
        return self._results(self.get_next_unordered)

    def _results(self, next_result: Callable[[], Any]) -> Iterator[Any]:
        while self.has_next():
            yield next_result()

    def _drain(self) -> None:
        """Forget results of an earlier submission that were never read (as Ray's ``map`` does);
        their actors take new work after finishing the old call."""
        self._idle_actors.extend(actor for _, actor in self._future_to_actor.values())
        self._future_to_actor.clear()
        self._index_to_future.clear()
        self._pending_submits.clear()
        self._next_return_index = self._next_task_index

    # -- one at a time ----------------------------------------------------------------------
    def submit(self, fn: Submit, value: Any) -> None:
        """Schedule ``fn(actor, value)`` on an idle actor, or when one becomes idle."""
        if self._idle_actors:
            actor = self._idle_actors.pop()
            ref = fn(actor, value)
            if not isinstance(ref, ObjectRef):
                raise TypeError(f"ActorPool functions must return the ObjectRef of an actor call, not {type(ref).__name__}")
            self._future_to_actor[ref] = (self._next_task_index, actor)
            self._index_to_future[self._next_task_index] = ref
            self._next_task_index += 1
        else:
            self._pending_submits.append((fn, value))

    def has_next(self) -> bool:
        """Whether any result is still to be returned."""
        return bool(self._future_to_actor) or bool(self._pending_submits)

    def get_next(self, timeout: float | None = None, ignore_if_timedout: bool = False) -> Any:
        """The next result in submission order (``TimeoutError`` after ``timeout`` seconds)."""
        if not self.has_next():
            raise StopIteration("No more results to get")
        if self._next_return_index >= self._next_task_index:
            raise ValueError("It is not allowed to call get_next() after get_next_unordered().")
        ref = self._index_to_future[self._next_return_index]
        ready, _ = api.wait([ref], timeout=timeout)
        if not ready and not ignore_if_timedout:
            raise TimeoutError("Timed out waiting for result")
        del self._index_to_future[self._next_return_index]
        self._next_return_index += 1
        self._return_actor(ref)
        if not ready:
            raise TimeoutError(f"Timed out waiting for result. The task {ref} has been ignored.")
        return api.get(ref)

    def get_next_unordered(self, timeout: float | None = None, ignore_if_timedout: bool = False) -> Any:
        """Whichever result finishes first (``TimeoutError`` after ``timeout`` seconds)."""
        if not self.has_next():
            raise StopIteration("No more results to get")
        ready, _ = api.wait(list(self._future_to_actor), num_returns=1, timeout=timeout)
        if not ready:
            raise TimeoutError("Timed out waiting for result")
        ref = ready[0]
        index, _ = self._future_to_actor[ref]
        self._index_to_future.pop(index, None)
        self._next_return_index = max(self._next_return_index, index + 1)
        self._return_actor(ref)
        return api.get(ref)

    def _return_actor(self, ref: ObjectRef) -> None:
        _, actor = self._future_to_actor.pop(ref)
        self._idle_actors.append(actor)
        if self._pending_submits:
            self.submit(*self._pending_submits.pop(0))

    # -- the actors -------------------------------------------------------------------------
    def has_free(self) -> bool:
        """Whether an actor is idle (and no value waits for one)."""
        return bool(self._idle_actors) and not self._pending_submits

    def pop_idle(self) -> Any | None:
        """Take an idle actor out of the pool (None if none is idle)."""
        return self._idle_actors.pop() if self.has_free() else None

    def push(self, actor: Any) -> None:
        """Add an actor to the pool (it must not be in it already)."""
        busy = [a for _, a in self._future_to_actor.values()]
        if actor in self._idle_actors or actor in busy:
            raise ValueError("Actor already belongs to current ActorPool")
        self._idle_actors.append(actor)
        if self._pending_submits:
            self.submit(*self._pending_submits.pop(0))
