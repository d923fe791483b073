"""``@edgeray.remote`` and ``@edgeray.remote(**options)``."""

from __future__ import annotations

import inspect
from typing import Any

from ._actor import ActorClass
from ._remote import RemoteFunction


def _make(obj: Any, options: dict[str, Any]) -> Any:
    if inspect.isclass(obj):
        return ActorClass(obj, options)
    if callable(obj):
        return RemoteFunction(obj, options)
    raise TypeError("The @edgeray.remote decorator must be applied to a function or a class.")


def remote(*args: Any, **options: Any) -> Any:
    """Make a function a remote task, or a class an actor (Ray's ``@ray.remote``)."""
    if len(args) == 1 and not options and callable(args[0]):
        return _make(args[0], {})
    if args:
        raise TypeError(
            "The @edgeray.remote decorator must be applied either with no arguments and no parentheses, "
            "or with only keyword arguments, e.g. @edgeray.remote(num_cpus=1)."
        )
    return lambda obj: _make(obj, options)
