"""Worker stdout/stderr, forwarded line by line to the driver as ``(name pid=N) line``."""

from __future__ import annotations

import io
import threading
from typing import Any, TextIO


class LogStream(io.TextIOBase):
    def __init__(self, executor: Any, stream: str, original: TextIO) -> None:
        self._executor = executor
        self._stream = stream
        self._original = original
        self._buf = ""
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        with self._lock:
            self._buf += s
            if "\n" not in self._buf:
                return len(s)
            *lines, self._buf = self._buf.split("\n")
        self._original.write(s)  # also keep it in the worker's log file
        self._executor.send_log(lines, self._stream)
        return len(s)

    def flush(self) -> None:
        with self._lock:
            rest, self._buf = self._buf, ""
        if rest:
            self._original.write(rest)
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
