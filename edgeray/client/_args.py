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
