"""Rate-limited logging: what a hostile or broken peer can make the node say, said boundedly.

``LogLimiter(logger).warning(key, msg, *args)`` logs at most ``burst`` records per ``key`` in
each ``interval_s`` window; the first record of the next window says how many were left out.
Keys are whatever groups one kind of event ("refused-login", "protocol-error", ...). Standard
library only; not thread-safe (each node's event loop owns its limiter).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any


class LogLimiter:
    def __init__(self, logger: logging.Logger, *, burst: int = 3, interval_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.burst = burst
        self.interval_s = interval_s
        self._clock = clock
        self._windows: dict[str, list[float | int]] = {}  # key -> [window start, logged, dropped]

    def log(self, level: int, key: str, msg: str, *args: Any, exc_info: Any = None) -> bool:
        """Log unless ``key`` is over its budget; True if it was logged."""
        now = self._clock()
        w = self._windows.get(key)
        if w is None or now - w[0] >= self.interval_s:
            dropped = int(w[2]) if w is not None else 0
            w = self._windows[key] = [now, 0, 0]
            if len(self._windows) > 1024:  # keys are few; never let them grow without bound
                self._windows = {key: w}
            if dropped:
                self.logger.log(level, "(%d more like the next were not logged)", dropped)
        if w[1] >= self.burst:
            w[2] += 1
            return False
        w[1] += 1
        self.logger.log(level, msg, *args, exc_info=exc_info)
        return True

    def warning(self, key: str, msg: str, *args: Any) -> bool:
        return self.log(logging.WARNING, key, msg, *args)

    def error(self, key: str, msg: str, *args: Any, exc_info: Any = None) -> bool:
        return self.log(logging.ERROR, key, msg, *args, exc_info=exc_info)
