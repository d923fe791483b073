"""The built-in GCS storage backends: memory and sqlite (durable across reopen and kill -9)."""

from __future__ import annotations

import os
import pathlib
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading

import pytest
from edgeray_builtins.persistence import MemoryBackend, SqliteBackend

from edgeray.plugins import PersistenceBackend

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(params=["memory", "sqlite"])
def backend(request, tmp_path):
    b = MemoryBackend() if request.param == "memory" else SqliteBackend(tmp_path / "gcs.sqlite3")
    yield b
    b.close()


def test_protocol(backend) -> None:
    assert isinstance(backend, PersistenceBackend)


def test_put_get_delete_scan(backend) -> None:
    assert backend.get("actors", "a") is None
    backend.put("actors", "b", b"2")
    backend.put("actors", "a", bytearray(b"1"))
    backend.put("kv", "a", memoryview(b"other table"))
    assert backend.get("actors", "a") == b"1" and isinstance(backend.get("actors", "a"), bytes)
    backend.put("actors", "a", b"1'")  # overwrite
    assert sorted(backend.scan("actors")) == [("a", b"1'"), ("b", b"2")]
    assert list(backend.scan("kv")) == [("a", b"other table")]
    assert list(backend.scan("empty")) == []
    backend.delete("actors", "a")
    backend.delete("actors", "missing")  # no error
    assert backend.get("actors", "a") is None
    assert list(backend.scan("actors")) == [("b", b"2")]
    backend.put("t", "", b"")  # empty key and value are fine
    assert backend.get("t", "") == b""


def test_scan_is_a_snapshot(backend) -> None:
    for i in range(10):
        backend.put("t", f"k{i}", b"x")
    for key, _ in backend.scan("t"):
        backend.delete("t", key)  # mutating while iterating is safe
    assert list(backend.scan("t")) == []


def test_closed(backend) -> None:
    backend.close()
    backend.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        backend.put("t", "k", b"v")


def test_bad_key_types(backend) -> None:
    with pytest.raises(TypeError):
        backend.put("t", 1, b"v")  # type: ignore[arg-type]


def test_threads(backend) -> None:
    def writer(n: int) -> None:
        for i in range(100):
            backend.put("t", f"{n}-{i}", b"v")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(list(backend.scan("t"))) == 400


def test_sqlite_persists_across_reopen(tmp_path) -> None:
    path = tmp_path / "sub" / "dir" / "gcs.sqlite3"  # parent directories are created
    b = SqliteBackend(path)
    b.put("named_actors", "counter", b"\x00\x01")
    b.put("kv", "x", b"y")
    b.delete("kv", "x")
    b.close()
    b = SqliteBackend(path)
    assert b.get("named_actors", "counter") == b"\x00\x01"
    assert b.get("kv", "x") is None
    b.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    cols = [r[1] for r in db.execute("PRAGMA table_info(kv)")]
    assert cols == ["tbl", "key", "value"]
    db.close()


def test_sqlite_survives_kill_9(tmp_path) -> None:
    path = tmp_path / "gcs.sqlite3"
    code = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {str(ROOT / "plugins")!r})
        sys.path.insert(0, {str(ROOT)!r})
        from edgeray_builtins.persistence import SqliteBackend
        b = SqliteBackend({str(path)!r})
        for i in range(200):
            b.put("jobs", f"job{{i:03d}}", str(i).encode())
        b.delete("jobs", "job000")
        os.kill(os.getpid(), signal.SIGKILL)  # no close, no cleanup
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    b = SqliteBackend(path)
    rows = list(b.scan("jobs"))
    b.close()
    assert len(rows) == 199 and rows[0] == ("job001", b"1") and rows[-1] == ("job199", b"199")


def test_sqlite_synchronous_setting(tmp_path) -> None:
    b = SqliteBackend(tmp_path / "a.db", "full")
    assert b._conn().execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    b.close()
    with pytest.raises(ValueError, match="synchronous"):
        SqliteBackend(tmp_path / "b.db", "sometimes")


def test_sqlite_default_path_in_edgeray_home(tmp_path, monkeypatch) -> None:
    from edgeray.config import load_config
    from edgeray.plugins import make_plugin_manager, persistence_backend

    monkeypatch.setenv("EDGERAY_HOME", str(tmp_path / "home"))
    b = persistence_backend(make_plugin_manager(entry_points=False), load_config(overrides={"gcs.storage": "sqlite"}))
    b.put("t", "k", b"v")
    b.close()
    assert os.path.exists(tmp_path / "home" / "gcs.sqlite3")
