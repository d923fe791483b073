"""ObjectStore: create/seal/location/delete, reuse of freed space, a full store."""

from __future__ import annotations

import os

import numpy as np
import pytest

from edgeray.exceptions import ObjectStoreFullError, RayError
from edgeray.object_store import PAGE_SIZE, Arena, ObjectStore, deserialize, serialize


@pytest.fixture
def store(prefix):
    with Arena.create(prefix, 64 * PAGE_SIZE) as arena:
        yield ObjectStore(arena)


def oid(i: int) -> bytes:
    return i.to_bytes(4, "big") * 7  # 28 bytes, like Ray's ObjectID


def put(store: ObjectStore, object_id: bytes, value) -> None:
    so = serialize(value)
    off = store.create(object_id, so.nbytes)
    so.write_into(store.arena.write_view(off, so.nbytes))
    store.seal(object_id)


def get(store: ObjectStore, object_id: bytes):
    loc = store.location(object_id)
    assert loc is not None
    return deserialize(store.arena.read_view(*loc))


def test_lifecycle(store):
    assert len(store) == 0 and store.used == 0 and store.capacity == 64 * PAGE_SIZE
    off = store.create(oid(1), 100)
    assert off % PAGE_SIZE == 0
    assert len(store) == 1 and store.used == PAGE_SIZE
    assert store.location(oid(1)) is None and not store.contains(oid(1))  # not sealed yet
    store.arena.write_view(off, 5)[:] = b"12345"
    store.seal(oid(1))
    store.seal(oid(1))  # no-op
    assert store.contains(oid(1)) and oid(1) in store
    assert store.location(oid(1)) == (off, 100)
    assert bytes(store.arena.read_view(off, 5)) == b"12345"
    store.delete(oid(1))
    assert not store.contains(oid(1)) and len(store) == 0 and store.used == 0
    assert store.location(oid(1)) is None


def test_errors(store):
    store.create(oid(1), 10)
    with pytest.raises(ValueError, match="already exists"):
        store.create(oid(1), 10)
    with pytest.raises(KeyError):
        store.seal(oid(2))
    with pytest.raises(KeyError):
        store.delete(oid(2))
    with pytest.raises(ValueError):
        store.create(oid(3), -1)
    store.delete(oid(1))  # an unsealed object can be deleted (aborted)
    assert len(store) == 0


def test_values_round_trip(store):
    arr = np.arange(3000, dtype=np.int64)
    put(store, oid(1), {"a": arr, "s": "text"})
    put(store, oid(2), b"z" * 20_000)
    out = get(store, oid(1))
    np.testing.assert_array_equal(out["a"], arr)
    assert not out["a"].flags.writeable
    assert get(store, oid(2)) == b"z" * 20_000


def test_full_store_leaves_existing_objects_intact(store):
    values = {oid(i): np.full(PAGE_SIZE * 2, i, dtype=np.uint8) for i in range(15)}
    for k, v in values.items():
        put(store, k, v)
    used, locations = store.used, {k: store.location(k) for k in values}
    with pytest.raises(ObjectStoreFullError) as info:
        store.create(oid(99), 20 * PAGE_SIZE)
    msg = str(info.value)
    assert oid(99).hex() in msg and str(20 * PAGE_SIZE) in msg
    assert "largest contiguous free block" in msg
    assert isinstance(info.value, RayError)
    with pytest.raises(ObjectStoreFullError, match="larger than the whole object store"):
        store.create(oid(98), 65 * PAGE_SIZE)
    assert store.used == used and len(store) == 15
    assert not store.contains(oid(99))
    for k, v in values.items():
        assert store.location(k) == locations[k]
        np.testing.assert_array_equal(get(store, k), v)
    assert store.stats()["num_full_errors"] == 2
    put(store, oid(100), np.zeros(10))  # small ones still fit


def test_freed_space_is_reused(store):
    first = store.create(oid(1), 10 * PAGE_SIZE)
    store.seal(oid(1))
    store.delete(oid(1))
    assert store.create(oid(2), 10 * PAGE_SIZE) == first
    # filling the whole store works after many create/delete cycles
    store.delete(oid(2))
    for i in range(200):
        store.create(oid(i), 30 * PAGE_SIZE)
        store.create(oid(i + 1000), 34 * PAGE_SIZE)
        store.delete(oid(i))
        store.delete(oid(i + 1000))
    assert store.used == 0
    assert store.create(oid(5), 64 * PAGE_SIZE) == 0


def test_lru_order_and_stats(store):
    for i in range(4):
        store.create(oid(i), 10)
    store.seal(oid(2))
    store.seal(oid(0))
    store.seal(oid(1))
    assert list(store.lru()) == [oid(2), oid(0), oid(1)]
    store.location(oid(2))
    assert list(store.lru()) == [oid(0), oid(1), oid(2)]
    store.delete(oid(1))
    assert list(store.lru()) == [oid(0), oid(2)]
    stats = store.stats()
    assert stats["num_objects"] == 3 and stats["num_sealed"] == 2 and stats["num_unsealed"] == 1
    assert stats["used"] == 3 * PAGE_SIZE and stats["capacity"] == 64 * PAGE_SIZE
    assert stats["num_created"] == 4 and stats["num_deleted"] == 1
    assert stats["arena_kind"] == "shm"
    assert sorted(store.object_ids()) == sorted([oid(0), oid(2), oid(3)])
    assert "3 objects" in repr(store)


def test_store_on_file_arena(prefix, tmp_path):
    with Arena.create(prefix, 16 * PAGE_SIZE, fallback_dir=str(tmp_path), force_file=True) as a:
        store = ObjectStore(a)
        put(store, oid(1), list(range(100)))
        assert get(store, oid(1)) == list(range(100))
    assert not os.listdir(tmp_path)
