"""Log files rotated by size, as Ray keeps them (``[log] max_bytes``, ``backup_count``).

A worker's stdout and stderr are ``worker-<id>.out`` and ``.err`` in its node's ``logs/``; the
node's own log is ``node.log`` in the home directory. When a file would grow past ``max_bytes`` it
becomes ``<name>.1`` (``.1`` becomes ``.2`` ...; at most ``backup_count`` backups, the oldest
dropped), and a new file is started, as Python's ``RotatingFileHandler`` (which Ray uses) does.

**The process that writes a file rotates it** (not the node reading a pipe): a worker already sees
every line it prints (its ``LogStream`` forwards them to the drivers), so it writes them to the
file itself with no extra copy through the node, and no line waits on a node that is busy or
gone. Rotation happens only between lines, so no line is split across two files, and the new
file is ``dup2``'d onto the process's file descriptor (1 or 2): what is written below Python (a
C extension, ``faulthandler``, a crash's traceback) lands in the current file too. Nothing is
lost: lines are only ever moved to a backup, never truncated, until there are more than
``backup_count`` backups.
"""

from __future__ import annotations

import io
import os
import threading

__all__ = ["RotatingFile", "rotate_names", "open_private_append"]


def open_private_append(path: str) -> int:
    """A log file's descriptor, opened for appending; created 0600 (only the user reads it)."""
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)


def rotate_names(path: str, backup_count: int) -> None:
    """``path.(n-1)`` -> ``path.n`` ... ``path`` -> ``path.1``; the oldest beyond ``backup_count`` goes."""
    for i in range(backup_count - 1, 0, -1):
        src = f"{path}.{i}"
        if os.path.exists(src):
            os.replace(src, f"{path}.{i + 1}")
    if os.path.exists(path):
        os.replace(path, f"{path}.1")


class RotatingFile(io.TextIOBase):
    """A text stream to ``path``, rotated by size between lines; ``fd`` (1, 2 or None) follows it.

    ``max_bytes`` 0 or ``backup_count`` 0: never rotated (as ``RotatingFileHandler``)."""

    def __init__(self, path: str, max_bytes: int, backup_count: int, fd: int | None = None,
                 line_buffering: bool = False) -> None:
        if max_bytes < 0 or backup_count < 0:
            raise ValueError(f"max_bytes and backup_count must be >= 0, got {max_bytes}, {backup_count}")
        self.path = path
        self.max_bytes = max_bytes
        self.backup_count = backup_count
        self._fd = fd
        self._line_buffering = line_buffering
        self._lock = threading.RLock()
        self._at_line_start = True
        self._open()

    def _open(self) -> None:
        raw = open_private_append(self.path)
        if self._fd is not None and raw != self._fd:
            os.dup2(raw, self._fd, inheritable=True)
        self._size = os.fstat(raw).st_size
        self._file = open(raw, "w", buffering=1 if self._line_buffering else -1,  # noqa: SIM115
                          encoding="utf-8", errors="backslashreplace", closefd=True)

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        if not s:
            return 0
        with self._lock:
            n = len(s.encode("utf-8", "backslashreplace")) if not s.isascii() else len(s)
            if (self._at_line_start and self.max_bytes and self.backup_count
                    and self._size > 0 and self._size + n > self.max_bytes):
                self._rotate()
            self._file.write(s)
            self._size += n
            self._at_line_start = s.endswith("\n")
        return len(s)

    def _rotate(self) -> None:
        self._file.flush()
        self._file.close()
        rotate_names(self.path, self.backup_count)
        self._open()

    def flush(self) -> None:
        with self._lock:
            self._file.flush()

    def fileno(self) -> int:
        return self._fd if self._fd is not None else self._file.fileno()

    def close(self) -> None:
        with self._lock:
            self._file.close()
        super().close()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"
