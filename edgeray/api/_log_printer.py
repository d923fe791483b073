"""The driver's printer of worker output: ``(name pid=N) line``, deduplicated as Ray does.

Ray's rules (``ray._private.ray_logging.LogDeduplicator``), on by default (``RAY_DEDUP_LOGS=1``;
``RAY_DEDUP_LOGS=0`` or ``EDGERAY_DEDUP_LOGS=0`` turns it off):

- a line's key is the line without its words that hold a number or a hex literal (so
  ``worker 3 ready`` and ``worker 7 ready`` are one key); a line whose key is empty, a progress
  bar's state line (``tqdm_ray``'s magic token) and a line matching
  ``RAY_DEDUP_LOGS_ALLOW_REGEX`` are always printed; a line matching ``RAY_DEDUP_LOGS_SKIP_REGEX``
  never is;
- the first line of a key is printed at once; the same key again from *another* worker within
  the window (``RAY_DEDUP_LOGS_AGG_WINDOW_S``, 5 s) is counted, not printed (from the same worker
  it is printed: only the scheduler's own messages are counted from one source);
- when the window has passed, a key counted more than once is printed once, its latest line with
  `` [repeated Nx across cluster]`` (the first time with a hint how to turn it off), and counting
  goes on; counted once, its latest line is printed as is. What is counted when the driver
  shuts down is printed then.

Unlike Ray, which checks the window only when new output arrives, a timer checks it too, so a
count is printed once its window has passed even if the workers have fallen silent. The
``[repeated ...]`` mark is coloured only when the stream is a terminal.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from ._progress_bars import BarDisplay

__all__ = ["LogBatch", "LogDeduplicator", "LogPrinter", "dedup_settings"]

#: the words that differ between workers: they are left out of a line's key
_NUMBERS = re.compile(r"(\d+|0x[0-9a-fA-F]+)")
#: the marker of a ``tqdm_ray`` state line (Ray's ``RAY_TQDM_MAGIC``)
TQDM_MAGIC = "__ray_tqdm_magic_token__"
#: the name the node's own messages (Ray's raylet's) come under: printed without a prefix
SCHEDULER = "scheduler"

_HINT = (" (edgeray deduplicates logs by default, as Ray does. Set RAY_DEDUP_LOGS=0 to disable log "
         "deduplication, or see RAY_DEDUP_LOGS_AGG_WINDOW_S, RAY_DEDUP_LOGS_ALLOW_REGEX and "
         "RAY_DEDUP_LOGS_SKIP_REGEX for more options.)")


@dataclass(slots=True)
class LogBatch:
    """Lines from one worker's stream: ``(name pid=N)`` is their prefix."""

    name: str
    pid: int
    stream: str
    lines: list[str]
    #: after a counted line: `` [repeated Nx across cluster]`` (coloured on a terminal)
    mark: str = ""


@dataclass(slots=True)
class _Seen:
    timestamp: float  # when the window of this key began
    count: int  # times seen since then, not printed
    line: str  # its latest line
    batch: LogBatch  # where that line came from (its lines unused)
    sources: set[int] = field(default_factory=set)


def canonical(line: str) -> str:
    """A line's dedup key: its words without those that hold a number or hex literal."""
    return " ".join(w for w in line.split() if not _NUMBERS.search(w))


class LogDeduplicator:
    """Ray's ``LogDeduplicator``, for one stream (``deduplicate`` each batch, ``flush`` at the end)."""

    def __init__(self, window_s: float, allow_re: str | None, skip_re: str | None,
                 timesource: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self.allow_re = re.compile(allow_re) if allow_re else None
        self.skip_re = re.compile(skip_re) if skip_re else None
        self.recent: dict[str, _Seen] = {}
        self.now = timesource
        self._hinted = False

    def deduplicate(self, batch: LogBatch) -> list[LogBatch]:
        """What to print for ``batch``: its lines that are not counted, then any counts whose
        window has passed."""
        now = self.now()
        out = LogBatch(batch.name, batch.pid, batch.stream, [])
        for line in batch.lines:
            if TQDM_MAGIC in line or (self.allow_re is not None and self.allow_re.search(line)):
                out.lines.append(line)
                continue
            if self.skip_re is not None and self.skip_re.search(line):
                continue
            key = canonical(line)
            seen = self.recent.get(key)
            if not key:
                out.lines.append(line)
            elif seen is None:
                self.recent[key] = _Seen(now, 0, line, batch, {batch.pid})
                out.lines.append(line)
            else:
                seen.sources.add(batch.pid)
                if len(seen.sources) > 1 or batch.name == SCHEDULER:
                    seen.count, seen.line, seen.batch = seen.count + 1, line, batch
                else:
                    out.lines.append(line)
        return [out, *self.expire(now)]

    def expire(self, now: float | None = None) -> list[LogBatch]:
        """The counts whose window has passed (oldest first), as lines to print."""
        now = self.now() if now is None else now
        out: list[LogBatch] = []
        while self.recent:
            key, seen = next(iter(self.recent.items()))
            if now - seen.timestamp < self.window_s:
                break
            del self.recent[key]
            if seen.count > 1:
                out.append(self._counted(seen))
                seen.timestamp, seen.count = now, 0
                self.recent[key] = seen  # (counting goes on, in a new window)
            elif seen.count == 1:
                out.append(LogBatch(seen.batch.name, seen.batch.pid, seen.batch.stream, [seen.line]))
        return out

    def flush(self) -> list[LogBatch]:
        """Every count not yet printed; the deduplicator is empty afterwards."""
        out = [self._counted(s) if s.count > 1 else LogBatch(s.batch.name, s.batch.pid, s.batch.stream, [s.line])
               for s in self.recent.values() if s.count > 0]
        self.recent.clear()
        return out

    def _counted(self, seen: _Seen) -> LogBatch:
        mark = f" [repeated {seen.count}x across cluster]"
        if not self._hinted:
            self._hinted = True
            mark += _HINT
        return LogBatch(seen.batch.name, seen.batch.pid, seen.batch.stream, [seen.line], mark)


def _env(name: str, default: str) -> str:
    """``EDGERAY_<name>`` if set, else Ray's ``RAY_<name>``, else ``default``."""
    return os.environ.get(f"EDGERAY_{name}") or os.environ.get(f"RAY_{name}") or default


def dedup_settings() -> tuple[bool, float, str | None, str | None]:
    """``(on, window_s, allow_re, skip_re)`` from the environment (Ray's variables, or EDGERAY_'s)."""
    on = _env("DEDUP_LOGS", "1").strip().lower() not in ("0", "false", "no", "off")
    raw = _env("DEDUP_LOGS_AGG_WINDOW_S", "5")
    try:
        window = float(raw)
    except ValueError:
        raise ValueError(f"RAY_DEDUP_LOGS_AGG_WINDOW_S must be a number of seconds, got {raw!r}") from None
    return on, window, _env("DEDUP_LOGS_ALLOW_REGEX", "") or None, _env("DEDUP_LOGS_SKIP_REGEX", "") or None


class LogPrinter:
    """Prints the ``Log`` messages a driver receives (called from the client's threads); ``close``
    prints what is still counted. ``tqdm_ray``'s state lines go to the progress bars
    (``_progress_bars``), drawn below the other lines."""

    def __init__(self) -> None:
        on, window, allow, skip = dedup_settings()
        self._dedup = {s: LogDeduplicator(window, allow, skip) for s in ("out", "err")} if on else None
        self._bars = BarDisplay()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._timer: threading.Thread | None = None
        if self._dedup is not None:
            self._timer = threading.Thread(target=self._tick, args=(max(window, 0.05),),
                                           name="edgeray-log-dedup", daemon=True)
            self._timer.start()

    def __call__(self, msg: Any) -> None:
        batch = LogBatch(msg.name, msg.pid, msg.stream, list(msg.lines))
        with self._lock:
            batch.lines = self._take_tqdm(batch)
            batches = [batch] if self._dedup is None else self._dedup[batch.stream].deduplicate(batch)
            self._print(batches)

    def _take_tqdm(self, batch: LogBatch) -> list[str]:
        rest = []
        for line in batch.lines:
            if TQDM_MAGIC in line:
                self._bars.update(batch.name, line)
            else:
                rest.append(line)
        return rest

    def _print(self, batches: list[LogBatch]) -> None:
        if any(b.lines for b in batches):
            self._bars.hide()
            for b in batches:
                _write(b)
            self._bars.draw()

    def _tick(self, every: float) -> None:
        while not self._closed.wait(every):
            with self._lock:
                if self._dedup is not None:
                    for d in self._dedup.values():
                        self._print(d.expire())

    def close(self) -> None:
        """Print what is still counted and stop the timer."""
        self._closed.set()
        if self._timer is not None:
            self._timer.join()
        with self._lock:
            if self._dedup is not None:
                for d in self._dedup.values():
                    self._print(d.flush())
            self._bars.close()


def _write(batch: LogBatch) -> None:
    if not batch.lines:
        return
    out: TextIO = sys.stderr if batch.stream == "err" else sys.stdout
    prefix = f"({batch.name} pid={batch.pid}) " if batch.name != SCHEDULER else ""
    mark = batch.mark and (f"\x1b[32m{batch.mark}\x1b[0m" if _isatty(out) else batch.mark)
    text = "".join(f"{prefix}{line}{mark}\n" for line in batch.lines)
    try:
        out.write(text)
        out.flush()
    except (ValueError, OSError):
        pass


def _isatty(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (ValueError, OSError, AttributeError):
        return False
