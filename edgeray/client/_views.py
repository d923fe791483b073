"""Which shared-memory objects this process is reading, and the leases that allow it.

An object's place in the node's arena changes when the node spills it to disk and restores it,
so a process may only read it through a *lease*: a payload whose ``loc`` the node handed out
for reading (an ``Execute`` argument, or the answer to ``map_object``). While a lease is held
the node keeps the object in memory at that place. The process returns its leases (one
``Unmap``) when the last view it built over the object is collected.

``ViewLeases`` is the bookkeeping only; it never sends anything (release callbacks run inside
the garbage collector, where sending could interleave frames), it just says what to return.
"""

from __future__ import annotations

import threading

__all__ = ["ViewLeases"]


class ViewLeases:
    """Per object: live views, leases held, and where the leased object is."""

    __slots__ = ("_lock", "_views", "_leases", "_locs")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._views: dict[bytes, int] = {}
        self._leases: dict[bytes, int] = {}
        self._locs: dict[bytes, tuple[int, int]] = {}

    def open(self, object_id: bytes, leased_loc: list[int] | None) -> tuple[int, int] | None:
        """Start a view. ``leased_loc``: a lease just received with the payload.

        Returns where to read, or None when no lease is held (ask the node for one, then call
        ``open`` again with it). A returned place counts as an open view until ``close``.
        """
        with self._lock:
            if leased_loc is not None:
                self._leases[object_id] = self._leases.get(object_id, 0) + 1
                self._locs[object_id] = (int(leased_loc[0]), int(leased_loc[1]))
            loc = self._locs.get(object_id)
            if loc is not None:
                self._views[object_id] = self._views.get(object_id, 0) + 1
            return loc

    def close(self, object_id: bytes) -> int:
        """End a view; returns the number of leases to give back now (0 while views remain)."""
        with self._lock:
            n = self._views.get(object_id, 0) - 1
            if n > 0:
                self._views[object_id] = n
                return 0
            self._views.pop(object_id, None)
            self._locs.pop(object_id, None)
            return self._leases.pop(object_id, 0)

    def reading(self) -> dict[bytes, int]:
        """Objects with live views, and how many (for introspection and tests)."""
        with self._lock:
            return dict(self._views)
