"""Putting the values of a task's top-level ObjectRef arguments in place of their ``Dep``
placeholders (the caller's ``api/_remote.py: build_args`` put them in)."""

from __future__ import annotations

from typing import Any

from ..client._args import Dep


def substitute(args: list[Any], kwargs: dict[str, Any], values: list[Any]) -> tuple[list[Any], dict[str, Any]]:
    args = [values[a.index] if type(a) is Dep else a for a in args]
    if kwargs:
        kwargs = {k: (values[v.index] if type(v) is Dep else v) for k, v in kwargs.items()}
    return args, kwargs
