"""An arena bigger than the free space of its file system (issue 15).

The arena is sparse: its pages get storage when first written. Without a reservation, an
offset handed out for an object whose pages the file system cannot back is a SIGBUS waiting
for the writer. The store reserves the pages of every block it hands out (once: pages stay
reserved when the block is freed and reused), and a block that cannot be backed is an
``ObjectStoreFullError`` that names the file system.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from mounts import small_tmpfs

from edgeray.exceptions import ObjectStoreFullError
from edgeray.object_store import Arena, ObjectStore, SpillDir

MiB = 1 << 20
FS_SIZE = 16 * MiB
CAPACITY = 64 * MiB


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path / "small_fs", FS_SIZE) as mnt:
        yield mnt


@pytest.fixture
def arena(small_fs: Path, prefix: str) -> Iterator[Arena]:
    with Arena.create(prefix, CAPACITY, fallback_dir=str(small_fs), force_file=True) as a:
        yield a


def fill(store: ObjectStore, oid: bytes, size: int, byte: int) -> None:
    """Create, write every byte of, and seal an object.

    The bytes go in with ``pwrite`` on the arena's file rather than through the mapping: a page
    the file system cannot back is then an ``OSError(ENOSPC)`` that fails this test, not a
    SIGBUS that would kill the test run (the integration test writes through mappings)."""
    offset = store.create(oid, size)
    fd = os.open(store.arena.path, os.O_WRONLY)
    try:
        assert os.pwrite(fd, bytes([byte]) * size, offset) == size
    finally:
        os.close(fd)
    store.seal(oid)


def test_a_create_the_file_system_cannot_back_is_store_full(arena: Arena, small_fs: Path) -> None:
    store = ObjectStore(arena)
    fill(store, b"a", 8 * MiB, 1)
    with pytest.raises(ObjectStoreFullError, match="free") as info:
        store.create(b"b", 12 * MiB)  # within the capacity, beyond the file system's room
    assert str(small_fs) in str(info.value)
    assert b"b" not in store and store.describe(b"b") is None
    assert store.used == 8 * MiB  # nothing was taken, nothing stored was touched
    assert store.read_bytes(b"a") == b"\x01" * 8 * MiB
    assert store.stats()["num_full_errors"] == 1


def test_freed_reserved_memory_is_reused(arena: Arena) -> None:
    store = ObjectStore(arena)
    fill(store, b"a", 8 * MiB, 1)
    with pytest.raises(ObjectStoreFullError):
        store.create(b"b", 12 * MiB)
    store.delete(b"a")
    fill(store, b"b", 12 * MiB, 2)  # a's reserved pages and 4 MiB more: fits now
    assert store.read_bytes(b"b")[-1] == 2
    for i in range(5):  # the same pages again and again: no room needed beyond them
        store.delete(b"b")
        fill(store, b"b", 12 * MiB, 3 + i)


def test_spilling_makes_room_in_the_reserved_pages(arena: Arena, tmp_path: Path) -> None:
    spill = SpillDir(str(tmp_path / "spill"))
    try:
        store = ObjectStore(arena, spill)
        fill(store, b"a", 6 * MiB, 1)
        fill(store, b"b", 6 * MiB, 2)
        fill(store, b"c", 6 * MiB, 3)  # no room on the file system: a is spilled, c takes its pages
        assert store.is_spilled(b"a") and not store.is_spilled(b"c")
        assert store.read_bytes(b"a") == b"\x01" * 6 * MiB
        assert store.read_bytes(b"c") == b"\x03" * 6 * MiB
        for oid in (b"a", b"b", b"c"):
            store.delete(oid)
    finally:
        spill.close()


def test_an_object_the_file_system_can_never_hold_spills_nothing(arena: Arena, tmp_path: Path) -> None:
    spill = SpillDir(str(tmp_path / "spill"))
    try:
        store = ObjectStore(arena, spill)
        fill(store, b"a", 4 * MiB, 1)
        with pytest.raises(ObjectStoreFullError, match="free"):
            store.create(b"huge", 32 * MiB)  # more than the whole file system
        assert store.stats()["num_spills"] == 0 and not store.is_spilled(b"a")
        store.delete(b"a")
    finally:
        spill.close()
