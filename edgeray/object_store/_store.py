"""The node-side object table over an arena: create -> write -> seal -> read -> delete.

Synchronous and not thread-safe: it lives inside the node's single Trio thread. The node
hands out offsets; the creating process writes the bytes through its own mapping of the
arena, then the node seals the object and readers may map it.

Sealed objects are kept in least-recently-used order (``location`` touches an object), so
spilling (issue 3) can pick victims from ``lru()``; per-object state is one small record,
easy to extend with pins or a spilled location.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from edgeray.exceptions import ObjectStoreFullError

from ._allocator import Allocator
from ._arena import PAGE_SIZE, Arena

__all__ = ["ObjectStore"]


def _fmt(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    x, unit = n / 1024, "KiB"
    for bigger in ("MiB", "GiB"):
        if x < 1024:
            break
        x, unit = x / 1024, bigger
    return f"{x:.1f} {unit}"


class _Entry:
    __slots__ = ("offset", "size", "sealed")

    def __init__(self, offset: int, size: int) -> None:
        self.offset = offset
        self.size = size
        self.sealed = False


class ObjectStore:
    """Objects (by id, ``bytes``) stored at page-aligned offsets of one ``Arena``."""

    def __init__(self, arena: Arena) -> None:
        self.arena = arena
        self._alloc = Allocator(arena.capacity, alignment=PAGE_SIZE)
        self._objects: dict[bytes, _Entry] = {}
        self._lru: OrderedDict[bytes, None] = OrderedDict()  # sealed only, oldest first
        self._num_created = 0
        self._num_deleted = 0
        self._num_full = 0

    # --- sizes -----------------------------------------------------------------------------

    @property
    def capacity(self) -> int:
        return self._alloc.capacity

    @property
    def used(self) -> int:
        """Bytes taken by stored objects (created or sealed), each rounded up to a page."""
        return self._alloc.used

    def __len__(self) -> int:
        """Number of objects, sealed or not."""
        return len(self._objects)

    # --- lifecycle -------------------------------------------------------------------------

    def create(self, object_id: bytes, size: int) -> int:
        """Reserve ``size`` bytes for a new object; returns its offset in the arena.

        Raises ``ValueError`` if the id exists already and ``ObjectStoreFullError`` when no
        contiguous free space fits it (nothing stored is touched then).
        """
        if object_id in self._objects:
            raise ValueError(f"object {object_id.hex()} already exists in the object store")
        if size < 0:
            raise ValueError(f"object size must be >= 0, not {size}")
        offset = self._alloc.allocate(size)
        if offset is None:
            self._num_full += 1
            raise ObjectStoreFullError(self._full_message(object_id, size))
        self._objects[object_id] = _Entry(offset, size)
        self._num_created += 1
        return offset

    def _full_message(self, object_id: bytes, size: int) -> str:
        a = self._alloc
        if a.round_up(size) > a.capacity:
            return (
                f"Object {object_id.hex()} of {_fmt(size)} ({size} bytes) is larger than the "
                f"whole object store ({_fmt(a.capacity)}, {a.capacity} bytes); raise "
                f"object_store_memory to store it."
            )
        return (
            f"Failed to put object {object_id.hex()} of {_fmt(size)} ({size} bytes) in the "
            f"object store: {_fmt(a.used)} of {_fmt(a.capacity)} are used by "
            f"{len(self._objects)} objects, {_fmt(a.available)} are free and the largest "
            f"contiguous free block is {_fmt(a.largest_free())} ({a.largest_free()} bytes). "
            f"Free some ObjectRefs or raise object_store_memory."
        )

    def seal(self, object_id: bytes) -> None:
        """Mark the object complete and readable (sealing twice is a no-op); KeyError if unknown."""
        entry = self._objects.get(object_id)
        if entry is None:
            raise KeyError(f"no object {object_id.hex()} in the object store")
        if not entry.sealed:
            entry.sealed = True
            self._lru[object_id] = None

    def location(self, object_id: bytes) -> tuple[int, int] | None:
        """``(offset, size)`` of a sealed object (and mark it recently used), else None."""
        entry = self._objects.get(object_id)
        if entry is None or not entry.sealed:
            return None
        self._lru.move_to_end(object_id)
        return entry.offset, entry.size

    def contains(self, object_id: bytes) -> bool:
        """True if the object is stored and sealed."""
        entry = self._objects.get(object_id)
        return entry is not None and entry.sealed

    __contains__ = contains

    def delete(self, object_id: bytes) -> None:
        """Remove the object (sealed or still being written) and free its memory for reuse.

        KeyError if unknown. Readers that mapped it keep their (own) mappings; the node must
        only delete an object nobody reads any more.
        """
        entry = self._objects.pop(object_id, None)
        if entry is None:
            raise KeyError(f"no object {object_id.hex()} in the object store")
        if entry.sealed:
            del self._lru[object_id]
        self._alloc.free(entry.offset)
        self._num_deleted += 1

    # --- introspection ---------------------------------------------------------------------

    def lru(self) -> Iterator[bytes]:
        """Ids of sealed objects, least recently used first (for spilling)."""
        return iter(self._lru)

    def object_ids(self) -> list[bytes]:
        return list(self._objects)

    def stats(self) -> dict[str, Any]:
        a = self._alloc
        return {
            "capacity": a.capacity,
            "used": a.used,
            "available": a.available,
            "largest_free": a.largest_free(),
            "num_objects": len(self._objects),
            "num_sealed": len(self._lru),
            "num_unsealed": len(self._objects) - len(self._lru),
            "num_created": self._num_created,
            "num_deleted": self._num_deleted,
            "num_full_errors": self._num_full,
            "arena_kind": self.arena.kind,
            "arena_name": self.arena.name,
        }

    def __repr__(self) -> str:
        return (
            f"<ObjectStore {len(self._objects)} objects, {self.used}/{self.capacity} bytes, "
            f"arena={self.arena.name}>"
        )
