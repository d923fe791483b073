"""Worker stdout/stderr, forwarded line by line to the driver as ``(name pid=N) line``.

Every write also goes, whole, to the worker's own stream (its ``worker-<id>.out`` or ``.err``,
block-buffered and rotated by size: ``edgeray._logfiles``); the
executor calls ``end_of_task`` after each task, which flushes the file if the task wrote to it
(one system call for a task that printed, none for one that did not)."""

from __future__ import annotations

import io
import os
import threading
from typing import Any, TextIO

from .._logfiles import RotatingFile


def log_file(kind: str, original: TextIO, fd: int) -> TextIO | io.TextIOBase:
    """Where the worker's ``kind`` stream (``out``, ``err``) is kept: its ``worker-<id>.<kind>``,
    rotated by the worker itself (``EDGERAY_WORKER_LOG``, ``EDGERAY_LOG_MAX_BYTES``,
    ``EDGERAY_LOG_BACKUP_COUNT`` from the node); ``original`` when the node named no file."""
    base = os.environ.get("EDGERAY_WORKER_LOG", "")
    if not base:
        return original
    original.flush()
    return RotatingFile(f"{base}.{kind}", int(os.environ.get("EDGERAY_LOG_MAX_BYTES", "0")),
                        int(os.environ.get("EDGERAY_LOG_BACKUP_COUNT", "0")), fd=fd)


class LogStream(io.TextIOBase):
    def __init__(self, executor: Any, stream: str, original: TextIO | io.TextIOBase) -> None:
        self._executor = executor
        self._stream = stream
        self._original = original
        self._buf = ""
        self._lock = threading.Lock()
        self.dirty = False  # written to since the file was last flushed

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        with self._lock:
            self._original.write(s)  # (``print`` writes its text and its newline separately)
            self.dirty = True
            self._buf += s
            if "\n" not in self._buf:
                return len(s)
            *lines, self._buf = self._buf.split("\n")
        self._executor.send_log(lines, self._stream)
        return len(s)

    def end_of_task(self) -> None:
        """A task ended: what it printed reaches the log file now."""
        if self.dirty:
            self.dirty = False
            try:
                self._original.flush()
            except Exception:
                pass

    def flush(self) -> None:
        with self._lock:
            rest, self._buf = self._buf, ""
            self.dirty = False
        if rest:
            self._executor.send_log([rest], self._stream)
        try:
            self._original.flush()
        except Exception:
            pass

    def fileno(self) -> int:
        return self._original.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._original, "encoding", "utf-8")
