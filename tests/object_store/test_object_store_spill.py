"""Spilling in the ObjectStore: LRU victims, pins, restore, bytes from disk, crash leftovers."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from edgeray.exceptions import ObjectStoreFullError
from edgeray.object_store import (
    PAGE_SIZE,
    Arena,
    ObjectStore,
    SpillDir,
    cleanup_stale_spill,
    deserialize,
    serialize,
)

BLOCK = 4 * PAGE_SIZE  # each test object fills exactly this many bytes


@pytest.fixture
def spill(tmp_path):
    d = SpillDir(str(tmp_path / "spill"))
    yield d
    d.close()


@pytest.fixture
def store(prefix, spill):
    with Arena.create(prefix, 4 * BLOCK) as arena:  # room for four objects
        yield ObjectStore(arena, spill)


def oid(i: int) -> bytes:
    return i.to_bytes(4, "big") * 5


def put(store: ObjectStore, i: int) -> None:
    data = np.full(BLOCK, i % 256, dtype=np.uint8).tobytes()
    off = store.create(oid(i), BLOCK)
    store.arena.write_view(off, BLOCK)[:] = data
    store.seal(oid(i))


def value_at(store: ObjectStore, i: int) -> int:
    loc = store.location(oid(i))
    assert loc is not None, f"object {i} is not in memory"
    view = store.arena.read_view(*loc)
    assert all(b == i % 256 for b in (view[0], view[BLOCK // 2], view[-1]))
    return view[0]


def test_least_recently_used_objects_spill_first(store, spill) -> None:
    for i in range(4):
        put(store, i)
    value_at(store, 0)  # touch 0: now 1 is the least recently used
    put(store, 4)
    assert store.is_spilled(oid(1))
    assert not any(store.is_spilled(oid(i)) for i in (0, 2, 3, 4))
    assert os.listdir(spill.path) == [oid(1).hex()]
    st = store.stats()
    assert st["num_spills"] == 1 and st["spilled_bytes"] == BLOCK and st["used"] == 4 * BLOCK
    assert store.describe(oid(1)) == {"where": "spilled", "size": BLOCK, "pins": 0}


def test_restore_brings_it_back_and_spills_another(store, spill) -> None:
    for i in range(5):
        put(store, i)  # 0 spilled
    assert store.read_bytes(oid(0)) == bytes([0]) * BLOCK  # readable from disk as it is
    off, size = store.restore(oid(0))
    assert size == BLOCK and value_at(store, 0) == 0
    assert store.is_spilled(oid(1))  # the next least recently used made room
    assert oid(0).hex() not in os.listdir(spill.path)
    assert store.stats()["num_restores"] == 1
    assert store.restore(oid(0)) == (off, size)  # in memory already: just its place


def test_pinned_objects_are_never_spilled(store) -> None:
    for i in range(4):
        put(store, i)
        store.pin(oid(i))
    with pytest.raises(ObjectStoreFullError, match="mapped by readers"):
        put(store, 4)
    assert all(value_at(store, i) == i for i in range(4))  # nothing lost or corrupted
    store.unpin(oid(2))
    put(store, 4)
    assert store.is_spilled(oid(2)) and value_at(store, 4) == 4


def test_delete_of_a_spilled_object_removes_its_file(store, spill) -> None:
    for i in range(5):
        put(store, i)
    store.delete(oid(0))
    assert os.listdir(spill.path) == [] and store.stats()["spilled_bytes"] == 0
    assert not store.contains(oid(0))


def test_without_spill_dir_a_full_store_raises(prefix) -> None:
    with Arena.create(prefix, 2 * BLOCK) as arena:
        store = ObjectStore(arena)
        put(store, 0)
        put(store, 1)
        with pytest.raises(ObjectStoreFullError, match="spilling is disabled"):
            put(store, 2)
        assert value_at(store, 0) == 0 and value_at(store, 1) == 1


def test_object_bigger_than_the_store_does_not_spill_everything(store) -> None:
    for i in range(3):
        put(store, i)
    with pytest.raises(ObjectStoreFullError, match="larger than the whole object store"):
        store.create(oid(9), 5 * BLOCK)
    assert store.stats()["num_spills"] == 0


def test_spill_failure_is_a_clean_full_error(store, spill) -> None:
    for i in range(4):
        put(store, i)
    spill.close()  # the directory vanished (disk gone): spilling fails
    with pytest.raises(ObjectStoreFullError):
        put(store, 4)
    assert all(value_at(store, i) == i for i in range(4))


def test_numpy_value_survives_a_spill_round_trip(store) -> None:
    arr = np.arange(BLOCK // 16, dtype=np.float64)
    so = serialize(arr)
    off = store.create(oid(100), so.nbytes)
    so.write_into(store.arena.write_view(off, so.nbytes))
    store.seal(oid(100))
    for i in range(4):
        put(store, i)
    assert store.is_spilled(oid(100))
    assert np.array_equal(deserialize(store.read_bytes(oid(100))), arr)
    loc = store.restore(oid(100))
    assert np.array_equal(deserialize(store.arena.read_view(*loc)), arr)


def test_cleanup_stale_spill_removes_only_dead_sessions(tmp_path) -> None:
    root = tmp_path / "spill"
    live = SpillDir(str(root))
    dead_pid = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True).stdout.strip()
    dead = root / f"edgeray_{dead_pid}_abcd1234"
    dead.mkdir()
    (dead / "00ff").write_bytes(b"x")
    assert cleanup_stale_spill(str(root)) == [dead.name]
    assert not dead.exists() and os.path.isdir(live.path)
    live.close()
    assert not os.path.exists(live.path)
