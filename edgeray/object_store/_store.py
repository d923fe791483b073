"""The node-side object table over an arena: create -> write -> seal -> read -> delete.

Synchronous and not thread-safe: it lives inside the node's single Trio thread. The node
hands out offsets; the creating process writes the bytes through its own mapping of the
arena, then the node seals the object and readers may map it.

Spilling: when an object does not fit, the least recently used sealed objects that no process
has mapped (``pin``/``unpin`` count the readers holding a view) are written to a ``SpillDir``
and their memory is reused; ``restore`` brings one back (spilling others if it must) and
``read_bytes`` reads a spilled object without restoring it. An object's offset therefore
changes over its life: ask ``location`` each time, never keep it. Without a ``SpillDir`` (or
when every object is pinned) a create that does not fit raises ``ObjectStoreFullError``, and
nothing already stored is touched.

Backing: the arena is sparse, and its file system may hold less than its capacity (a small
/dev/shm, a ``fallback_dir`` on a full disk), so a block is *reserved* (``Arena.reserve``)
before its offset is handed out: a writer can then never be killed by SIGBUS for lack of
space. Freed blocks keep their storage and the allocator reuses touched memory first, so only
the part of the arena above ``_backed`` (a high-water mark: everything below it has storage)
is ever reserved, once; repeated puts cost no system call. A block the file system cannot back
is refused like one that does not fit: spilling may free backed blocks to take instead, and
otherwise the create raises ``ObjectStoreFullError`` naming the file system.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from edgeray.exceptions import ObjectStoreFullError

from ._allocator import Allocator
from ._arena import PAGE_SIZE, Arena
from ._spill import SpillDir

__all__ = ["ObjectStore"]

logger = logging.getLogger("edgeray.object_store")


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
    __slots__ = ("offset", "size", "sealed", "pins", "spilled")

    def __init__(self, offset: int, size: int) -> None:
        self.offset = offset  # meaningless while spilled
        self.size = size
        self.sealed = False
        self.pins = 0  # readers holding a view: never spilled while > 0
        self.spilled: str | None = None  # the spill file, when the object is not in memory


class ObjectStore:
    """Objects (by id, ``bytes``) stored at page-aligned offsets of one ``Arena``."""

    def __init__(self, arena: Arena, spill: SpillDir | None = None) -> None:
        self.arena = arena
        self.spill = spill
        self._alloc = Allocator(arena.capacity, alignment=PAGE_SIZE)
        self._objects: dict[bytes, _Entry] = {}
        self._lru: OrderedDict[bytes, None] = OrderedDict()  # sealed and in memory, oldest first
        self._num_created = 0
        self._num_deleted = 0
        self._num_full = 0
        self._num_spilled = 0
        self._num_restored = 0
        self._spilled_bytes = 0  # bytes currently on disk
        self._backed = 0  # every byte of the arena below this has its storage (reserved)
        self._no_room: OSError | None = None  # why the last block could not be backed

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
        offset = self._allocate(object_id, size)
        self._objects[object_id] = _Entry(offset, size)
        self._num_created += 1
        return offset

    def _allocate(self, object_id: bytes, size: int) -> int:
        """An offset for ``size`` bytes, spilling unpinned objects (LRU first) if needed."""
        alloc = self._alloc
        need = alloc.round_up(size)
        self._no_room = None
        offset = self._place(need)
        if offset is None and self.spill is not None and need <= alloc.capacity and self._may_fit(need):
            for victim in [oid for oid in self._lru if self._objects[oid].pins == 0]:
                try:
                    self._spill_one(victim)
                except OSError as e:  # disk full, directory gone: stop spilling, fail this create
                    logger.error("spilling object %s failed: %s", victim.hex(), e)
                    break
                if alloc.largest_free() >= need:
                    offset = self._place(need)
                    if offset is not None:
                        break
        if offset is None:
            self._num_full += 1
            raise ObjectStoreFullError(self._full_message(object_id, size))
        return offset

    def _place(self, need: int) -> int | None:
        """A block of ``need`` bytes whose storage is reserved, or None (no free block fits, or
        the file system cannot back it: ``_no_room`` says why)."""
        offset = self._alloc.allocate(need)
        if offset is None:
            return None
        end = offset + need
        if end > self._backed:
            try:
                self.arena.reserve(self._backed, end - self._backed)
            except OSError as e:
                self._alloc.free(offset)
                self._no_room = e
                return None
            self._backed = end
        return offset

    def _may_fit(self, need: int) -> bool:
        """Whether spilling can make room for ``need`` bytes: not when the file system could
        not back them even with all of the arena's reserved memory free."""
        if self._no_room is None:
            return True
        room = self.arena.free_space()
        return room is None or need <= self._backed + room

    def _spill_one(self, object_id: bytes) -> None:
        assert self.spill is not None
        entry = self._objects[object_id]
        entry.spilled = self.spill.write(object_id, self.arena.write_view(entry.offset, entry.size))
        del self._lru[object_id]
        self._alloc.free(entry.offset)
        self._num_spilled += 1
        self._spilled_bytes += entry.size

    def _full_message(self, object_id: bytes, size: int) -> str:
        a = self._alloc
        if self._no_room is not None:
            room = self.arena.free_space()
            return (
                f"Failed to put object {object_id.hex()} of {_fmt(size)} ({size} bytes) in the "
                f"object store: the file system holding it ({os.path.dirname(self.arena.path)}) has "
                f"{'an unknown amount' if room is None else _fmt(room)} free "
                f"({self._no_room.strerror}); the store's capacity is {_fmt(a.capacity)}, but only "
                f"what that file system holds can be used ({_fmt(a.used)} used, {_fmt(self._backed)} "
                f"backed). Free space there, free some ObjectRefs, or lower "
                f"object_store.memory to what that file system can hold."
            )
        if a.round_up(size) > a.capacity:
            return (
                f"Object {object_id.hex()} of {_fmt(size)} ({size} bytes) is larger than the "
                f"whole object store ({_fmt(a.capacity)}, {a.capacity} bytes); raise "
                f"object_store_memory to store it."
            )
        pinned = sum(1 for e in self._objects.values() if e.pins and e.spilled is None)
        why = (
            "spilling is disabled"
            if self.spill is None
            else f"the other objects in memory are in use ({pinned} mapped by readers) or still being written"
        )
        return (
            f"Failed to put object {object_id.hex()} of {_fmt(size)} ({size} bytes) in the "
            f"object store: {_fmt(a.used)} of {_fmt(a.capacity)} are used by "
            f"{len(self._lru)} objects in memory, {_fmt(a.available)} are free and the largest "
            f"contiguous free block is {_fmt(a.largest_free())} ({a.largest_free()} bytes); "
            f"{why}. Free some ObjectRefs, raise object_store_memory or enable spilling."
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
        """``(offset, size)`` of a sealed object in memory (marked recently used), else None."""
        entry = self._objects.get(object_id)
        if entry is None or not entry.sealed or entry.spilled is not None:
            return None
        self._lru.move_to_end(object_id)
        return entry.offset, entry.size

    def contains(self, object_id: bytes) -> bool:
        """True if the object is stored and sealed (in memory or spilled)."""
        entry = self._objects.get(object_id)
        return entry is not None and entry.sealed

    def is_spilled(self, object_id: bytes) -> bool:
        entry = self._objects.get(object_id)
        return entry is not None and entry.spilled is not None

    def restore(self, object_id: bytes) -> tuple[int, int]:
        """Bring a spilled object back into memory (spilling others if needed).

        Returns its new ``(offset, size)``; a resident object just gives its location.
        ``ObjectStoreFullError`` when no room can be made (it stays spilled, still readable
        with ``read_bytes``); KeyError if unknown.
        """
        entry = self._entry(object_id)
        if entry.spilled is None:
            loc = self.location(object_id)
            if loc is None:
                raise KeyError(f"object {object_id.hex()} is not sealed")
            return loc
        assert self.spill is not None
        offset = self._allocate(object_id, entry.size)
        try:
            self.spill.read_into(entry.spilled, self.arena.write_view(offset, entry.size))
        except BaseException:
            self._alloc.free(offset)
            raise
        self.spill.remove(entry.spilled)
        entry.spilled = None
        entry.offset = offset
        self._lru[object_id] = None
        self._num_restored += 1
        self._spilled_bytes -= entry.size
        return offset, entry.size

    def read_bytes(self, object_id: bytes) -> bytes:
        """A copy of a sealed object's bytes, from memory or from its spill file."""
        entry = self._entry(object_id)
        if entry.spilled is not None:
            assert self.spill is not None
            return self.spill.read(entry.spilled)
        return bytes(self.arena.write_view(entry.offset, entry.size))

    def pin(self, object_id: bytes, n: int = 1) -> None:
        """A reader maps the object: it stays in memory (is never spilled) until unpinned."""
        entry = self._objects.get(object_id)
        if entry is not None:
            entry.pins += n

    def unpin(self, object_id: bytes, n: int = 1) -> None:
        entry = self._objects.get(object_id)
        if entry is not None:
            entry.pins = max(0, entry.pins - n)

    def _entry(self, object_id: bytes) -> _Entry:
        entry = self._objects.get(object_id)
        if entry is None:
            raise KeyError(f"no object {object_id.hex()} in the object store")
        return entry

    __contains__ = contains

    def delete(self, object_id: bytes) -> None:
        """Remove the object (sealed or still being written) and free its memory for reuse.

        KeyError if unknown. Readers that mapped it keep their (own) mappings; the node must
        only delete an object nobody reads any more.
        """
        entry = self._objects.pop(object_id, None)
        if entry is None:
            raise KeyError(f"no object {object_id.hex()} in the object store")
        if entry.spilled is not None:
            assert self.spill is not None
            self.spill.remove(entry.spilled)
            self._spilled_bytes -= entry.size
        else:
            if entry.sealed:
                del self._lru[object_id]
            self._alloc.free(entry.offset)
        self._num_deleted += 1

    # --- introspection ---------------------------------------------------------------------

    def lru(self) -> Iterator[bytes]:
        """Ids of sealed objects in memory, least recently used first (spilling order)."""
        return iter(self._lru)

    def describe(self, object_id: bytes) -> dict[str, Any] | None:
        """Where an object is: ``{"where": "shared_memory"|"spilled"|"creating", "size", "pins"}``."""
        entry = self._objects.get(object_id)
        if entry is None:
            return None
        where = "spilled" if entry.spilled is not None else ("shared_memory" if entry.sealed else "creating")
        return {"where": where, "size": entry.size, "pins": entry.pins}

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
            "num_sealed": sum(1 for e in self._objects.values() if e.sealed),
            "num_unsealed": sum(1 for e in self._objects.values() if not e.sealed),
            "num_in_memory": len(self._lru),
            "num_spilled_now": sum(1 for e in self._objects.values() if e.spilled is not None),
            "spilled_bytes": self._spilled_bytes,
            "num_spills": self._num_spilled,
            "num_restores": self._num_restored,
            "spill_dir": self.spill.path if self.spill is not None else None,
            "num_created": self._num_created,
            "num_deleted": self._num_deleted,
            "num_full_errors": self._num_full,
            "backed": self._backed,
            "arena_kind": self.arena.kind,
            "arena_name": self.arena.name,
        }

    def __repr__(self) -> str:
        return (
            f"<ObjectStore {len(self._objects)} objects, {self.used}/{self.capacity} bytes, "
            f"arena={self.arena.name}>"
        )
