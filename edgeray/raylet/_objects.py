"""The node's object table: where each object's value is and who still references it.

Reference counting (Ray's rule: an object lives while any reference to it exists anywhere):

- ``holders``: the processes (peer ids) that hold at least one ObjectRef to it. A process says so
  with ``AddRef``/``DelRef`` when its local count goes 0→1 / 1→0; the owner of a task's return
  values and of a put holds them from the start; a process that disconnects drops all it held.
- ``pins``: references that live inside the system: a queued or running task's arguments
  (top-level and nested), and refs nested in another stored object (dropped when it is freed).

An object is freed once it has neither; its shared memory is then released for reuse.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

PENDING = 0
READY = 1


class ObjectEntry:
    __slots__ = ("id", "state", "payload", "holders", "pins", "waiters", "contained")

    def __init__(self, object_id: bytes) -> None:
        self.id = object_id
        self.state = PENDING
        self.payload: dict[str, Any] | None = None
        self.holders: set[bytes] = set()
        self.pins = 0
        self.waiters: list[Callable[[ObjectEntry], None]] = []
        self.contained: list[bytes] = []

    @property
    def ready(self) -> bool:
        return self.state == READY

    @property
    def size(self) -> int:
        p = self.payload
        if p is None:
            return 0
        if p.get("loc") is not None:
            return int(p["loc"][1])
        d = p.get("data")
        return len(d) if d else 0


class ObjectTable:
    """Entries plus reference counts; ``on_free(entry)`` releases an entry's memory."""

    def __init__(self, on_free: Callable[[ObjectEntry], None]) -> None:
        self.entries: dict[bytes, ObjectEntry] = {}
        self._on_free = on_free

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, object_id: bytes) -> ObjectEntry | None:
        return self.entries.get(object_id)

    def expect(self, object_id: bytes, holder: bytes | None) -> ObjectEntry:
        """An object that a task will produce (or a put in progress), held by ``holder``."""
        e = self.entries.get(object_id)
        if e is None:
            e = self.entries[object_id] = ObjectEntry(object_id)
        if holder is not None:
            e.holders.add(holder)
        return e

    def set_ready(self, payload: dict[str, Any]) -> ObjectEntry | None:
        """Store a value. Returns the entry, or None when nobody references it any more (the
        caller then releases the payload's memory)."""
        e = self.entries.get(payload["id"])
        if e is None:
            return None
        if e.state == READY:  # a duplicate (e.g. a retried task finishing twice): keep the first
            return e
        e.state = READY
        e.payload = payload
        refs = payload.get("refs") or []
        if refs:
            e.contained = list(refs)
            self.pin(refs)
        waiters, e.waiters = e.waiters, []
        for w in waiters:
            w(e)
        self._maybe_free(e)
        return e

    def when_ready(self, object_id: bytes, callback: Callable[[ObjectEntry], None]) -> bool:
        """Call ``callback(entry)`` once ready (now if it is). False if the object is unknown."""
        e = self.entries.get(object_id)
        if e is None:
            return False
        if e.state == READY:
            callback(e)
        else:
            e.waiters.append(callback)
        return True

    # -- references -----------------------------------------------------------------------
    def add_holder(self, ids: Iterable[bytes], holder: bytes) -> None:
        entries = self.entries
        for i in ids:
            e = entries.get(i)
            if e is not None:
                e.holders.add(holder)

    def remove_holder(self, ids: Iterable[bytes], holder: bytes) -> None:
        entries = self.entries
        for i in ids:
            e = entries.get(i)
            if e is not None:
                e.holders.discard(holder)
                self._maybe_free(e)

    def drop_holder_everywhere(self, holder: bytes) -> None:
        for e in list(self.entries.values()):
            if holder in e.holders:
                e.holders.discard(holder)
                self._maybe_free(e)

    def release(self, ids: Iterable[bytes]) -> None:
        """Free these entries if nothing references them (one created with no holder, whose
        creator is gone before sealing it)."""
        entries = self.entries
        for i in ids:
            e = entries.get(i)
            if e is not None:
                self._maybe_free(e)

    def pin(self, ids: Iterable[bytes]) -> None:
        entries = self.entries
        for i in ids:
            e = entries.get(i)
            if e is not None:
                e.pins += 1

    def unpin(self, ids: Iterable[bytes]) -> None:
        entries = self.entries
        for i in ids:
            e = entries.get(i)
            if e is not None:
                e.pins -= 1
                self._maybe_free(e)

    def _maybe_free(self, e: ObjectEntry) -> None:
        if e.holders or e.pins > 0 or e.waiters:
            return
        if self.entries.pop(e.id, None) is None:
            return
        self._on_free(e)
        if e.contained:
            self.unpin(e.contained)

    def stats(self) -> dict[str, int]:
        ready = sum(1 for e in self.entries.values() if e.state == READY)
        return {"objects": len(self.entries), "ready": ready, "bytes": sum(e.size for e in self.entries.values())}
