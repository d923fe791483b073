"""``@edgeray.remote`` and ``@edgeray.remote(**options)``."""

from __future__ import annotations

import inspect
from typing import Any

from ._actor import ActorClass
from ._options import ACTOR_OPTIONS, TASK_OPTIONS
from ._remote import RemoteFunction


def _make(obj: Any, options: dict[str, Any]) -> Any:
    if inspect.isclass(obj):
        return ActorClass(obj, options)
    if callable(obj):
        return RemoteFunction(obj, options)
    raise TypeError("The @edgeray.remote decorator must be applied to a function or a class.")


class RemoteArgumentsError(TypeError, AssertionError):
    """``@remote`` used wrongly: a ``TypeError``, and the ``AssertionError`` Ray raises for it."""


def remote(*args: Any, **options: Any) -> Any:
    """Make a function a remote task, or a class an actor (Ray's ``@ray.remote``)."""
    if len(args) == 1 and not options and callable(args[0]):
        return _make(args[0], {})
    if args or not options:  # Ray asserts: no arguments at all, or keyword options only
        raise RemoteArgumentsError(
            "The @edgeray.remote decorator must be applied either with no arguments and no parentheses, "
            "for example '@edgeray.remote', or it must be applied using some of the arguments in the list "
            f"{sorted(TASK_OPTIONS | ACTOR_OPTIONS)}, for example '@edgeray.remote(num_returns=2, "
            "resources={\"CustomResource\": 1})'."
        )
    return lambda obj: _make(obj, options)
