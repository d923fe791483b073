"""Built-in GCS storage backends (a plain edgeray plugin).

- ``memory``: dicts in the head's process; gone when it exits (the default, and the fastest).
- ``sqlite``: one SQLite file (``[gcs] sqlite_path``, default ``EDGERAY_HOME/gcs.sqlite3``), one
  table ``kv(tbl TEXT, key TEXT, value BLOB, PRIMARY KEY (tbl, key))``, WAL journal, one commit
  per write. Every write that returned survives kill -9 of the head; with
  ``[gcs] sqlite_synchronous = "FULL"`` it also survives power loss (an fsync per write).
  The file and its -wal/-shm side files are the user's only (0600), its directory 0700.

Both are safe to call from several threads (the GCS may run them in a worker thread).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator

from edgeray.config import Config
from edgeray.plugins import PersistenceBackend, hookimpl

__all__ = ["MemoryBackend", "SqliteBackend"]


def _check(table: str, key: str) -> None:
    if not isinstance(table, str) or not isinstance(key, str):
        raise TypeError(f"table and key must be strings, got {type(table).__name__}, {type(key).__name__}")


class MemoryBackend:
    """GCS tables in dicts (nothing survives the process)."""

    def __init__(self) -> None:
        self._tables: dict[str, dict[str, bytes]] = {}
        self._closed = False

    def _live(self) -> None:
        if self._closed:
            raise ValueError("the memory persistence backend is closed")

    def put(self, table: str, key: str, value: bytes) -> None:
        self._live()
        _check(table, key)
        self._tables.setdefault(table, {})[key] = bytes(value)

    def get(self, table: str, key: str) -> bytes | None:
        self._live()
        t = self._tables.get(table)
        return None if t is None else t.get(key)

    def delete(self, table: str, key: str) -> None:
        self._live()
        t = self._tables.get(table)
        if t is not None:
            t.pop(key, None)

    def scan(self, table: str) -> Iterator[tuple[str, bytes]]:
        self._live()
        return iter(list(self._tables.get(table, {}).items()))

    def close(self) -> None:
        self._closed = True


def _create_private(path: str) -> None:
    """Create the database file 0600 (its directory 0700) before SQLite opens it: SQLite gives
    its -wal, -shm and -journal files the database file's mode, and would create the database
    itself 0644 (less the umask), readable by every user."""
    parent = os.path.dirname(os.path.abspath(path))
    missing = []
    while not os.path.isdir(parent):
        missing.append(parent)
        parent = os.path.dirname(parent)
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(d, 0o700)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600))


class SqliteBackend:
    """GCS tables in one SQLite file; each write is committed before it returns."""

    def __init__(self, path: str | os.PathLike[str], synchronous: str = "NORMAL") -> None:
        self.path = os.fspath(path)
        if self.path != ":memory:":
            _create_private(self.path)
        self._lock = threading.Lock()
        # isolation_level=None: autocommit, so every statement is its own committed transaction.
        self._db: sqlite3.Connection | None = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        db = self._db
        db.execute("PRAGMA journal_mode=WAL")
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"sqlite synchronous must be OFF, NORMAL, FULL or EXTRA, got {synchronous!r}")
        db.execute(f"PRAGMA synchronous={synchronous.upper()}")
        db.execute(
            "CREATE TABLE IF NOT EXISTS kv (tbl TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, "
            "PRIMARY KEY (tbl, key)) WITHOUT ROWID"
        )

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise ValueError(f"the sqlite persistence backend ({self.path}) is closed")
        return self._db

    def put(self, table: str, key: str, value: bytes) -> None:
        _check(table, key)
        with self._lock:
            self._conn().execute(
                "INSERT OR REPLACE INTO kv (tbl, key, value) VALUES (?, ?, ?)", (table, key, bytes(value))
            )

    def get(self, table: str, key: str) -> bytes | None:
        with self._lock:
            row = self._conn().execute("SELECT value FROM kv WHERE tbl = ? AND key = ?", (table, key)).fetchone()
        return None if row is None else bytes(row[0])

    def delete(self, table: str, key: str) -> None:
        with self._lock:
            self._conn().execute("DELETE FROM kv WHERE tbl = ? AND key = ?", (table, key))

    def scan(self, table: str) -> Iterator[tuple[str, bytes]]:
        with self._lock:
            rows = self._conn().execute("SELECT key, value FROM kv WHERE tbl = ? ORDER BY key", (table,)).fetchall()
        return iter([(k, bytes(v)) for k, v in rows])

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def _memory(config: Config) -> PersistenceBackend:
    return MemoryBackend()


def _sqlite(config: Config) -> PersistenceBackend:
    return SqliteBackend(config.gcs.resolved_sqlite_path(), config.gcs.sqlite_synchronous)


@hookimpl
def edgeray_persistence_backends() -> dict[str, Callable[[Config], PersistenceBackend]]:
    return {"memory": _memory, "sqlite": _sqlite}
