"""Finding the nodes in a node's arguments, however deeply nested, and putting values in their place.

Lists, tuples, dicts and sets are walked directly; any other object is looked into by pickling it
(Ray's ``_PyObjScanner`` does the same), with the nodes and edgeray's own objects (refs, handles)
kept out of the pickle stream, so they are found, or passed through untouched, but never copied.
A container or object with no node inside is returned as it is.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable
from typing import Any

import cloudpickle

_ATOMIC = frozenset({int, float, complex, bool, str, bytes, bytearray, type(None), range, type(Ellipsis)})
_CONTAINERS = frozenset({list, tuple, set, frozenset, dict})


def _opaque(obj: Any) -> bool:
    """Objects never looked into: edgeray's own (refs, handles, remote functions), plain arrays."""
    module = getattr(type(obj), "__module__", "") or ""
    if module.startswith("edgeray.") and not module.startswith("edgeray.dag."):
        return True
    if module == "numpy":
        dtype = getattr(obj, "dtype", None)
        return not getattr(dtype, "hasobject", True)
    return False


class _Pickler(cloudpickle.Pickler):
    def __init__(self, file: io.BytesIO, kind: type) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.kind = kind
        self.nodes: list[Any] = []
        self.kept: list[Any] = []

    def persistent_id(self, obj: Any) -> Any:  # noqa: D102 - pickle's hook
        if isinstance(obj, self.kind):
            self.nodes.append(obj)
            return ("n", len(self.nodes) - 1)
        if type(obj) not in _ATOMIC and _opaque(obj):
            self.kept.append(obj)
            return ("k", len(self.kept) - 1)
        return None


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, values: list[Any], kept: list[Any]) -> None:
        super().__init__(file)
        self.values = values
        self.kept = kept

    def persistent_load(self, pid: Any) -> Any:  # noqa: D102 - pickle's hook
        tag, index = pid
        return self.values[index] if tag == "n" else self.kept[index]


def _pickled(obj: Any, kind: type) -> tuple[_Pickler, io.BytesIO] | None:
    """``obj`` pickled with its nodes kept aside, or None when it has none (or cannot be pickled)."""
    buf = io.BytesIO()
    pickler = _Pickler(buf, kind)
    try:
        pickler.dump(obj)
    except Exception:  # not picklable: then it cannot carry nodes to a task either
        return None
    return (pickler, buf) if pickler.nodes else None


class Scanner:
    """Finds nodes of type ``kind`` in a value, and rebuilds the value with replacements."""

    def __init__(self, kind: type) -> None:
        self.kind = kind

    def find(self, value: Any) -> list[Any]:
        """The distinct nodes in ``value``, in the order they first appear."""
        found: dict[int, Any] = {}
        self._find(value, found, set())
        return list(found.values())

    def _find(self, value: Any, found: dict[int, Any], seen: set[int]) -> None:
        t = type(value)
        if t in _ATOMIC:
            return
        if isinstance(value, self.kind):
            found.setdefault(id(value), value)
        elif t in _CONTAINERS:
            if id(value) in seen:  # a container that holds itself
                return
            seen.add(id(value))
            for item in value.items() if t is dict else value:
                self._find(item, found, seen)
        elif not _opaque(value):
            pickled = _pickled(value, self.kind)
            for node in pickled[0].nodes if pickled else ():
                found.setdefault(id(node), node)

    def replace(self, value: Any, fn: Callable[[Any], Any]) -> Any:
        """``value`` with each node ``n`` in it replaced by ``fn(n)`` (containers rebuilt only
        where a node was replaced)."""
        t = type(value)
        if t in _ATOMIC:
            return value
        if isinstance(value, self.kind):
            return fn(value)
        if t in _CONTAINERS:
            items = list(value.items()) if t is dict else list(value)
            new = [self.replace(item, fn) for item in items]
            if all(a is b for a, b in zip(new, items, strict=True)):
                return value
            return t(new)
        if _opaque(value):
            return value
        pickled = _pickled(value, self.kind)
        if pickled is None:
            return value
        pickler, buf = pickled
        done: dict[int, Any] = {}
        values = [done[id(n)] if id(n) in done else done.setdefault(id(n), fn(n)) for n in pickler.nodes]
        buf.seek(0)
        return _Unpickler(buf, values, pickler.kept).load()
