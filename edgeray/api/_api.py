"""The module-level functions of the public API: get, put, wait, kill, cancel, views, context."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from ..client import ObjectRef, ObjectRefGenerator, current_client
from ._actor import ActorHandle
from ._init import auto_client


def _in_async_actor_loop() -> bool:
    try:
        import asyncio

        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def get(object_refs: Any, *, timeout: float | None = None) -> Any:
    """The value(s) of ``object_refs`` (one ref or a list), waiting up to ``timeout`` seconds."""
    client = auto_client()
    if timeout is not None and timeout < 0:
        raise ValueError("'timeout' must be a non-negative number or None.")
    if client.actor_id is not None and _in_async_actor_loop():
        warnings.warn(
            "Using blocking edgeray.get inside async actor method blocks the event loop; use 'await ref' instead.",
            RuntimeWarning, stacklevel=2,
        )
    if isinstance(object_refs, ObjectRef):
        return client.get([object_refs], timeout)[0]
    if isinstance(object_refs, ObjectRefGenerator):
        return object_refs  # (as Ray does: iterate it for its refs)
    if isinstance(object_refs, list | tuple):
        for r in object_refs:
            if not isinstance(r, ObjectRef):
                raise TypeError(f"get() expects ObjectRefs, got {type(r).__name__} in the list.")
        return client.get(list(object_refs), timeout)
    raise TypeError(f"get() expects an ObjectRef or a list of ObjectRefs, got {type(object_refs).__name__}.")


def put(value: Any, *, _owner: Any = None) -> ObjectRef:
    """Store ``value`` in the object store; returns its ``ObjectRef``."""
    return auto_client().put(value)


def wait(
    object_refs: Sequence[ObjectRef | ObjectRefGenerator], *, num_returns: int = 1, timeout: float | None = None,
    fetch_local: bool = True,
) -> tuple[list[Any], list[Any]]:
    """Split ``object_refs`` into (ready, not ready) once ``num_returns`` are ready or at ``timeout``.

    An ``ObjectRefGenerator`` in the list is ready when its next ref is (as in Ray)."""
    if isinstance(object_refs, ObjectRef | ObjectRefGenerator):
        raise TypeError("wait() expected a list of ObjectRef or ObjectRefGenerator, got a single "
                        f"{type(object_refs).__name__}")
    entries = list(object_refs)
    for r in entries:
        if not isinstance(r, ObjectRef | ObjectRefGenerator):
            raise TypeError(f"wait() expected a list of ObjectRef or ObjectRefGenerator, got {type(r).__name__} in it")
    # each entry by the ref that says it is ready (a generator's: that of its next item)
    refs = [r._next_ref() if isinstance(r, ObjectRefGenerator) else r for r in entries]
    if len({r._id for r in refs}) != len(refs):
        raise ValueError("Wait requires a list of unique object refs.")
    if not refs:
        return [], []  # (as Ray, before it checks num_returns)
    if isinstance(num_returns, bool) or not isinstance(num_returns, int) or num_returns < 1:
        raise ValueError(f"Invalid number of objects to return {num_returns}.")
    if num_returns > len(refs):
        raise ValueError("num_returns cannot be greater than the number of objects provided to wait().")
    if timeout is not None and timeout < 0:
        raise ValueError("'timeout' must be a non-negative number or None.")
    ready, not_ready = auto_client().wait(refs, num_returns, timeout, fetch_local)
    if not any(isinstance(r, ObjectRefGenerator) for r in entries):
        return ready, not_ready
    entry_of = {r._id: e for r, e in zip(refs, entries, strict=True)}
    return [entry_of[r._id] for r in ready], [entry_of[r._id] for r in not_ready]


def kill(actor: ActorHandle, *, no_restart: bool = True) -> None:
    """Kill an actor at once (its pending calls fail with ``ActorDiedError``)."""
    if not isinstance(actor, ActorHandle):
        raise ValueError(f"edgeray.kill() only supports actors; got {type(actor).__name__}.")
    auto_client().call("kill_actor", {"actor_id": actor._actor_id, "no_restart": no_restart})


def cancel(object_ref: ObjectRef | ObjectRefGenerator, *, force: bool = False, recursive: bool = True) -> None:
    """Cancel the task that makes ``object_ref`` (or a generator's): dropped if queued,
    interrupted if running."""
    if isinstance(object_ref, ObjectRefGenerator):
        object_ref = object_ref.completed()  # (as Ray: the generator's task)
    if not isinstance(object_ref, ObjectRef):
        raise TypeError(f"cancel() expects an ObjectRef or ObjectRefGenerator, got {type(object_ref).__name__}.")
    auto_client().cancel(object_ref.binary()[:16], force, recursive)


def get_actor(name: str, namespace: str | None = None) -> ActorHandle:
    """The handle of the named actor ``name`` (``ValueError`` if there is none)."""
    if not isinstance(name, str) or not name:
        raise ValueError("Please supply a non-empty value to get_actor")
    client = auto_client()
    r = client.call("get_actor", {"name": name, "namespace": namespace})
    return ActorHandle(r["actor_id"], r["meta"], None, client)


def nodes() -> list[dict[str, Any]]:
    return auto_client().call("nodes")


def cluster_resources() -> dict[str, float]:
    return auto_client().call("cluster_resources")


def available_resources() -> dict[str, float]:
    return auto_client().call("available_resources")


def get_gpu_ids() -> list[int | str]:
    """The GPU ids given to the current task or actor (from its ``CUDA_VISIBLE_DEVICES``)."""
    return [int(g) if g.isdigit() else g for g in current_client().gpu_ids]
