"""Placeholders for top-level ObjectRef arguments inside a task's pickled (args, kwargs)."""

from __future__ import annotations

from typing import Any


class Dep:
    """Stands for the ``index``-th top-level dependency; the worker substitutes its value."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index

    def __reduce__(self) -> tuple[Any, ...]:
        return (Dep, (self.index,))


def substitute(args: list[Any], kwargs: dict[str, Any], values: list[Any]) -> tuple[list[Any], dict[str, Any]]:
    args = [values[a.index] if type(a) is Dep else a for a in args]
    if kwargs:
        kwargs = {k: (values[v.index] if type(v) is Dep else v) for k, v in kwargs.items()}
    return args, kwargs
