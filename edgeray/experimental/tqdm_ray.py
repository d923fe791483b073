"""``edgeray.experimental.tqdm_ray.tqdm``: Ray's progress bar for tasks and actors, with Ray's
constructor and methods.

In a worker (as Ray's) a bar prints its state as one JSON line carrying ``RAY_TQDM_MAGIC`` (at
most every ``flush_interval_s``, and when it closes); the driver's log printer takes those lines
and draws the bars of all workers as one set of lines that update in place on a terminal, or
plain ``(name pid=N) desc: n/total unit`` lines when its stdout is not one
(``edgeray.api._progress_bars``). Outside a worker (or with ``file=``) a bar prints the plain
lines ``desc: n/total unit`` itself.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

__all__ = ["tqdm", "RAY_TQDM_MAGIC"]

#: marks a bar's state line in a worker's output (Ray's token: the driver's printer looks for it)
RAY_TQDM_MAGIC = "__ray_tqdm_magic_token__"


class tqdm:  # noqa: N801 (Ray's name)
    """``tqdm(iterable=None, desc=None, total=None, unit=None, position=None, flush_interval_s=None)``."""

    def __init__(
        self, iterable: Iterable[Any] | None = None, desc: str | None = None, total: int | None = None,
        unit: str | None = None, position: int | None = None, flush_interval_s: float | None = None,
        *, file: TextIO | None = None,
    ) -> None:
        if total is None and iterable is not None:
            try:
                total = len(iterable)  # type: ignore[arg-type]
            except (TypeError, AttributeError):
                total = None
        if total is not None and (isinstance(total, bool) or not isinstance(total, int) or total < 0):
            raise ValueError(f"total must be an integer >= 0 or None, got {total!r}")
        self._iterable = iterable
        self._desc = desc or ""
        self._total = total
        self._unit = unit or "it"
        self._x = 0
        self._position = position or 0
        self._flush_interval_s = 1.0 if flush_interval_s is None else float(flush_interval_s)
        self._file = file
        self._last_print: float | None = None
        self._closed = False
        self._uuid = uuid.uuid4().hex
        self._in_worker = file is None and bool(os.environ.get("EDGERAY_WORKER_ID"))

    # -- Ray's methods ---------------------------------------------------------------------
    def set_description(self, desc: str | None) -> None:
        self._desc = desc or ""
        self._print(force=False)

    def update(self, n: int = 1) -> None:
        if self._closed:
            raise RuntimeError("update() on a closed tqdm bar")
        self._x += n
        self._print(force=False)

    def refresh(self) -> None:
        self._print(force=True)

    def close(self) -> None:
        if not self._closed:
            self._closed = self._in_worker  # (a worker's last state says closed; plain lines do not)
            self._print(force=True)
            self._closed = True

    def __iter__(self) -> Iterator[Any]:
        if self._iterable is None:
            raise ValueError("No iterable provided")
        try:
            for item in self._iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __enter__(self) -> tqdm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- output ----------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return self._x

    @property
    def total(self) -> int | None:
        return self._total

    def line(self) -> str:
        """The progress line as printed: ``desc: n/total unit`` (``n unit`` without a total)."""
        done = f"{self._x}/{self._total}" if self._total is not None else str(self._x)
        return f"{self._desc + ': ' if self._desc else ''}{done} {self._unit}"

    def _print(self, force: bool) -> None:
        now = time.monotonic()
        if not force and self._last_print is not None and now - self._last_print < self._flush_interval_s:
            return
        self._last_print = now
        out = self._file if self._file is not None else sys.stdout
        print(self.state_line() if self._in_worker else self.line(), file=out, flush=True)

    def state_line(self) -> str:
        """The bar's state as a worker sends it to the driver (Ray's fields, and ``unit``)."""
        return json.dumps({
            "__magic_token__": RAY_TQDM_MAGIC, "x": self._x, "pos": self._position, "desc": self._desc,
            "total": self._total, "unit": self._unit, "pid": os.getpid(), "uuid": self._uuid,
            "closed": self._closed,
        })
