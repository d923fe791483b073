"""The threads of a threaded actor (``max_concurrency`` > 1, or concurrency groups)."""

from __future__ import annotations

import queue
import threading
from typing import Any


class CallThreads:
    """Up to ``n`` threads running ``run(item)`` for submitted items, started as needed.

    Lighter than ``ThreadPoolExecutor`` (no future per call): one ``SimpleQueue`` that idle
    threads block on, which is all a threaded actor needs."""

    def __init__(self, n: int, run: Any, name: str) -> None:
        self._n = max(1, n)
        self._run = run
        self._name = name
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._pending = 0
        self._lock = threading.Lock()

    def submit(self, item: Any) -> None:
        with self._lock:
            self._pending += 1  # items queued and not yet taken by a thread
            spawn = self._pending > self._idle and len(self._threads) < self._n
            if spawn:
                t = threading.Thread(target=self._loop, name=f"{self._name}-{len(self._threads)}", daemon=True)
                self._threads.append(t)
        self._queue.put(item)
        if spawn:
            t.start()

    def _loop(self) -> None:
        q, run, lock = self._queue, self._run, self._lock
        while True:
            with lock:
                self._idle += 1
            item = q.get()
            with lock:
                self._idle -= 1
                self._pending -= 1
            run(item)
