"""A worker's task events: the calls it runs for direct callers, reported to its node.

Direct actor calls and tasks on a leased worker never pass through the node, so the worker
tells it what they did, as Ray's workers do (task events, flushed every
``task_events_report_interval_ms``, 1 s): every ``REPORT_INTERVAL_S`` one ``TaskEvents`` message
with the calls finished since the last one (``FINISHED``, or ``FAILED`` with Ray's error type)
and those still held in a state not yet reported (``SUBMITTED_TO_WORKER`` while queued here,
``RUNNING`` once started). A call that starts and ends within one interval costs one event.
``EDGERAY_TASK_EVENTS=0`` turns reporting off (Ray: ``RAY_task_events_report_interval_ms=0``).

Thread-safety: ``accepted`` runs on the reader thread, ``started``/``finished`` on whichever
thread runs the call, ``report`` on the reporting thread. ``finished`` and ``report`` take one
lock: without it a call finishing while a report was being made could append its event to the
list that report had already taken and sent (the event was lost, and ``list tasks`` never showed
the task). The rest are single operations the interpreter makes atomic (dict set/pop/copy).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from ..protocol import Message, TaskEvents

log = logging.getLogger("edgeray.worker")

REPORT_INTERVAL_S = 1.0
MAX_EVENTS_PER_MESSAGE = 20_000


class TaskEventBuffer:
    def __init__(self, send: Callable[[Message], None], interval: float = REPORT_INTERVAL_S) -> None:
        self._send = send
        self._interval = interval
        self._done: list[list[Any]] = []  # events of calls finished since the last report
        self._held: dict[bytes, dict[str, Any]] = {}  # calls accepted, not finished: tid -> spec
        self._started: dict[bytes, float] = {}  # tid -> when it started
        self._reported: dict[bytes, str] = {}  # tid -> the state last reported for a held call
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.enabled = os.environ.get("EDGERAY_TASK_EVENTS", "1") != "0"

    def accepted(self, spec: dict[str, Any]) -> None:
        """A direct caller's call arrived (queued here until its turn)."""
        if not self.enabled:
            return
        self._held[spec["tid"]] = spec
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="edgeray-task-events", daemon=True)
            self._thread.start()

    def started(self, task_id: bytes) -> None:
        if task_id in self._held:
            self._started[task_id] = time.time()

    def finished(self, spec: dict[str, Any], error_type: str | None) -> None:
        tid = spec["tid"]
        with self._lock:
            if self._held.pop(tid, None) is None:
                return  # not a direct call (the node saw it), or reporting is off
            start = self._started.pop(tid, None)
            self._reported.pop(tid, None)
            self._done.append(_event(spec, "FAILED" if error_type else "FINISHED", error_type, start, time.time()))

    def report(self) -> list[TaskEvents]:
        """The messages to send now (none if nothing changed)."""
        with self._lock:
            events, self._done = self._done, []
            held = self._held.copy()
            now = time.time()
            reported = self._reported
            for tid, spec in held.items():
                start = self._started.get(tid)
                state = "RUNNING" if start is not None else "SUBMITTED_TO_WORKER"
                if reported.get(tid) != state:
                    reported[tid] = state
                    events.append(_event(spec, state, None, start, now))
            for tid in [t for t in reported if t not in held]:  # finished since
                reported.pop(tid, None)
        step = MAX_EVENTS_PER_MESSAGE
        return [TaskEvents(events[i:i + step]) for i in range(0, len(events), step)]

    def flush(self) -> None:
        for msg in self.report():
            try:
                self._send(msg)
            except Exception:  # the node's connection is gone: nobody to tell
                return

    def close(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.flush()
            except Exception:  # (one bad report must not end the reporting: later rows would be lost)
                log.exception("edgeray: reporting task events failed")


def _event(spec: dict[str, Any], state: str, error_type: str | None, start: float | None, at: float) -> list[Any]:
    return [spec["tid"], state, spec["kind"], spec["name"], spec["job"], spec.get("actor"), error_type, start, at]
