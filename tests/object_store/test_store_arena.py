"""Arena: shared memory and file backends, views, on_release, attach, stale cleanup."""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
import subprocess
import sys

import numpy as np
import pytest
from waiting import wait_for

from edgeray.object_store import PAGE_SIZE, Arena, _arena, cleanup_stale, deserialize, serialize

MiB = 2**20


def test_create_shm_and_unlink(prefix):
    with Arena.create(prefix, 4 * MiB) as arena:
        assert arena.kind == "shm"
        assert arena.name.startswith(f"{prefix}_{os.getpid()}_")
        assert os.path.exists(os.path.join("/dev/shm", arena.name))
        spec = arena.spec
        assert spec == {"kind": "shm", "name": arena.name, "path": arena.path, "capacity": 4 * MiB}
        assert all(isinstance(v, str | int) for v in spec.values())
        # sparse: nothing allocated until touched
        assert os.stat(arena.path).st_blocks * 512 < MiB
    assert not os.path.exists(os.path.join("/dev/shm", arena.name))
    assert arena.closed


def test_write_then_read(prefix):
    with Arena.create(prefix, 4 * MiB) as arena:
        w = arena.write_view(PAGE_SIZE, 11)
        assert not w.readonly
        w[:] = b"hello arena"
        r = arena.read_view(PAGE_SIZE, 11)
        assert r.readonly and bytes(r) == b"hello arena"
        with pytest.raises(TypeError):
            r[0] = 1
        # unaligned offsets work too
        r2 = arena.read_view(PAGE_SIZE + 6, 5)
        assert bytes(r2) == b"arena"
        assert arena.read_view(0, 0).nbytes == 0
        with pytest.raises(ValueError, match="outside"):
            arena.write_view(4 * MiB - 10, 11)
        with pytest.raises(ValueError, match="outside"):
            arena.read_view(-1, 5)
        del w, r, r2


def test_views_survive_close_and_unlink(prefix, view_kind):
    arena = Arena.create(prefix, MiB)
    arena.write_view(0, 3)[:] = b"abc"
    r = arena.read_view(0, 3, **view_kind)
    r2 = arena.read_view(0, 3, lambda: None, **view_kind)
    arena.close()
    arena.unlink()
    arena.unlink()  # idempotent
    arena.close()
    assert bytes(r) == bytes(r2) == b"abc"
    with pytest.raises(ValueError, match="closed"):
        arena.write_view(0, 1)


def test_close_with_live_write_view(prefix):
    arena = Arena.create(prefix, MiB)
    w = arena.write_view(0, 10)
    arena.close()  # the mapping stays until the view goes
    w[:3] = b"xyz"
    del w
    arena.unlink()


@pytest.fixture(params=["ctypes", "mmap", "mmap-populate"])
def view_kind(request, monkeypatch):
    """read_view's two ways of exporting memory: ctypes windows, or mappings of its own."""
    if request.param == "mmap":
        monkeypatch.setattr(_arena, "_ctypes", None)
    return {"populate": True} if request.param == "mmap-populate" else {}


def test_on_release_fires_after_the_last_numpy_array(prefix, view_kind):
    calls = []
    with Arena.create(prefix, 4 * MiB) as arena:
        arena.write_view(2 * PAGE_SIZE, 1000)[:] = bytes(range(250)) * 4
        view = arena.read_view(2 * PAGE_SIZE, 1000, on_release=lambda: calls.append(1), **view_kind)
        arr = np.frombuffer(view, dtype=np.uint8)
        part = arr[100:200]
        sub = view[10:20]
        del view
        gc.collect()
        assert calls == []
        del arr
        gc.collect()
        assert calls == []
        assert part[0] == 100 and not part.flags.writeable
        del part
        gc.collect()
        assert calls == []
        del sub
        assert calls == [1]  # refcounting frees it at once
        gc.collect()
        assert calls == [1]
        # a view nobody holds on to is released at once
        arena.read_view(0, 10, on_release=lambda: calls.append(2), **view_kind)
        assert calls == [1, 2]
        # views near the end of the arena and views of nothing
        arena.write_view(4 * MiB - 3, 3)[:] = b"end"
        end = arena.read_view(4 * MiB - 3, 3, on_release=lambda: calls.append(3), **view_kind)
        assert bytes(end) == b"end"
        whole = arena.read_view(0, 4 * MiB, on_release=lambda: calls.append(4), **view_kind)
        assert whole.nbytes == 4 * MiB and bytes(whole[-3:]) == b"end"
        empty = arena.read_view(5, 0, on_release=lambda: calls.append(5), **view_kind)
        assert empty.nbytes == 0
        del end, whole, empty
        assert calls == [1, 2, 3, 4, 5]


def test_many_release_callbacks_each_fire_once(prefix, view_kind):
    counts = [0] * 200
    with Arena.create(prefix, 8 * MiB) as arena:
        views = []
        for i in range(200):

            def release(i=i):
                counts[i] += 1

            views.append(arena.read_view(i * 1000, 1 + i * 37, on_release=release, **view_kind))
        arena.close()  # views outlive the arena's own mapping
        assert bytes(views[-1][:4]) == bytes(4)
        assert counts == [0] * 200
        del views
        gc.collect()
        assert counts == [1] * 200


def test_numpy_zero_copy_through_arena(prefix):
    arr = np.arange(50_000, dtype=np.float32)
    so = serialize({"x": arr, "tag": "t"})
    released = []
    with Arena.create(prefix, 4 * MiB) as arena:
        so.write_into(arena.write_view(PAGE_SIZE, so.nbytes))
        view = arena.read_view(PAGE_SIZE, so.nbytes, on_release=lambda: released.append(1))
        out = deserialize(view)
        assert out["tag"] == "t"
        np.testing.assert_array_equal(out["x"], arr)
        assert np.shares_memory(out["x"], np.frombuffer(view, dtype=np.uint8))
        assert not out["x"].flags.writeable
        assert out["x"].ctypes.data % 64 == 0
        x = out["x"]
        del out, view
        assert released == []
        del x
        assert released == [1]


def test_400mb_array_round_trip(prefix):
    arr = np.ones(400 * MiB // 8, dtype=np.float64)
    so = serialize(arr)
    assert so.nbytes < arr.nbytes + PAGE_SIZE
    with Arena.create(prefix, 512 * MiB) as arena:
        so.write_into(arena.write_view(0, so.nbytes))
        view = arena.read_view(0, so.nbytes)
        out = deserialize(view)
        assert out.shape == arr.shape and out.dtype == arr.dtype
        assert np.shares_memory(out, np.frombuffer(view, dtype=np.uint8))
        assert not out.flags.writeable
        assert out.min() == 1.0 and out.max() == 1.0  # equal data (arr is all ones)
        del out, view


def test_populate_read_view(prefix):
    with Arena.create(prefix, MiB) as arena:
        arena.write_view(0, 4)[:] = b"data"
        assert bytes(arena.read_view(0, 4, populate=True)) == b"data"


def test_force_file(tmp_path, prefix, caplog):
    with caplog.at_level(logging.WARNING, logger="edgeray.object_store"):
        arena = Arena.create(prefix, 2 * MiB, fallback_dir=str(tmp_path), force_file=True)
    with arena:
        assert arena.kind == "file"
        assert os.path.dirname(arena.path) == str(tmp_path)
        assert os.stat(arena.path).st_mode & 0o777 == 0o600
        arena.write_view(0, 4)[:] = b"file"
        with Arena.attach(arena.spec) as other:
            assert not other.owner
            assert bytes(other.read_view(0, 4)) == b"file"
        assert os.path.exists(arena.path)  # a non-owner does not unlink
    assert not os.path.exists(arena.path)
    assert [r.getMessage() for r in caplog.records if "file" in r.getMessage()]


def test_falls_back_when_shm_is_absent(tmp_path, prefix, caplog):
    with caplog.at_level(logging.WARNING, logger="edgeray.object_store"):
        arena = Arena.create(
            prefix, MiB, shm_dir=str(tmp_path / "nope"), fallback_dir=str(tmp_path)
        )
    with arena:
        assert arena.kind == "file"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "falls back" in warnings[0].getMessage()
    assert "not available" in warnings[0].getMessage()


def test_falls_back_when_shm_is_too_small(tmp_path, prefix, caplog, monkeypatch):
    monkeypatch.setattr(_arena, "_shm_room", lambda d: 64 * MiB)
    with caplog.at_level(logging.WARNING, logger="edgeray.object_store"):
        arena = Arena.create(prefix, 100 * MiB, fallback_dir=str(tmp_path))
    with arena:
        assert arena.kind == "file"
        assert os.stat(arena.path).st_size == 100 * MiB
    assert any("less than" in r.getMessage() for r in caplog.records)


def test_stdlib_backend_without_posix_ipc(prefix, monkeypatch):
    monkeypatch.setattr(_arena, "posix_ipc", None)
    with Arena.create(prefix, MiB) as arena:
        assert arena.kind == "shm" and arena.backend == "_posixshmem"
        arena.write_view(0, 2)[:] = b"ok"
        with Arena.attach(arena.spec) as other:
            assert bytes(other.read_view(0, 2)) == b"ok"


def test_attach_errors(prefix, tmp_path):
    with pytest.raises(FileNotFoundError):
        Arena.attach({"kind": "shm", "name": f"{prefix}_1_dead", "path": "", "capacity": 10})
    with pytest.raises(ValueError, match="kind"):
        Arena.attach({"kind": "tape", "name": "x", "path": "", "capacity": 10})
    with Arena.create(prefix, MiB) as arena:
        spec = dict(arena.spec, capacity=2 * MiB)
        with pytest.raises(ValueError, match="holds"):
            Arena.attach(spec)
    with pytest.raises(ValueError):
        Arena.create(prefix, 0)


CHILD = """
import hashlib, json, sys
from edgeray.object_store import Arena
for spec in json.loads(sys.argv[1]):
    with Arena.attach(spec) as arena:
        data = bytes(arena.read_view(8192, 100_000))
        arena.write_view(0, 5)[:] = b"child"
        print(hashlib.sha256(data).hexdigest())
"""


def test_attach_from_child_process(prefix, tmp_path, child):
    payload = os.urandom(100_000)
    with (
        Arena.create(prefix, MiB) as shm,
        Arena.create(prefix, MiB, fallback_dir=str(tmp_path), force_file=True) as f,
    ):
        for arena in (shm, f):
            arena.write_view(8192, len(payload))[:] = payload
        out = child(CHILD, json.dumps([shm.spec, f.spec])).split()
        assert out == [hashlib.sha256(payload).hexdigest()] * 2
        assert bytes(shm.read_view(0, 5)) == b"child"
        assert bytes(f.read_view(0, 5)) == b"child"


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_cleanup_stale(prefix, tmp_path):
    import _posixshmem

    pid = dead_pid()
    dead_name = f"{prefix}_{pid}_0123abcd"
    fd = _posixshmem.shm_open("/" + dead_name, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
    os.close(fd)
    fallback = tmp_path / "spill"
    fallback.mkdir()
    (fallback / f"{prefix}_{pid}_ff").write_bytes(b"x")
    (fallback / f"{prefix}_notapid_ff").write_bytes(b"x")
    (fallback / "unrelated").write_bytes(b"x")
    try:
        with Arena.create(prefix, MiB) as alive:
            removed = cleanup_stale(prefix, fallback_dirs=[str(fallback), str(tmp_path / "no")])
            assert sorted(removed) == sorted([dead_name, f"{prefix}_{pid}_ff"])
            assert os.path.exists(alive.path)  # our own segment stays
            assert not os.path.exists(f"/dev/shm/{dead_name}")
            assert sorted(p.name for p in fallback.iterdir()) == sorted(
                [f"{prefix}_notapid_ff", "unrelated"]
            )
            assert cleanup_stale(prefix, fallback_dirs=[str(fallback)]) == []
    finally:
        if os.path.exists(f"/dev/shm/{dead_name}"):
            os.unlink(f"/dev/shm/{dead_name}")


def test_zombie_counts_as_dead():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    try:

        def a_zombie() -> bool:
            with open(f"/proc/{p.pid}/stat", "rb") as f:
                return f.read().rsplit(b")", 1)[1].split()[0] == b"Z"

        wait_for(a_zombie, what="the child to exit, not reaped")
        assert not _arena._pid_alive(p.pid)
    finally:
        p.wait()
    assert _arena._pid_alive(os.getpid())
    assert _arena._pid_alive(1)
    assert not _arena._pid_alive(0)
