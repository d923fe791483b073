"""``timeline()``: Ray's Chrome-tracing dump of the tasks that ran, from the task events."""

from __future__ import annotations

import json
from typing import Any

from ._init import auto_client


def timeline(filename: str | None = None) -> list[dict[str, Any]] | None:
    """The tasks and actor calls that ran (started and ended) as Chrome trace events
    (``chrome://tracing`` or Perfetto): one complete event (``"ph": "X"``) each, per node and
    worker process, timed in microseconds. Written to ``filename`` as JSON when given (and
    None returned, as Ray), else returned. Calls that skipped the node reach it within about
    a second, as in Ray."""
    events = trace_events(auto_client().call("list", {"kind": "tasks"}))
    if filename is None:
        return events
    with open(filename, "w") as f:
        json.dump(events, f)
    return None


def trace_events(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of ``list tasks`` that started and ended, as Chrome trace complete events."""
    events: list[dict[str, Any]] = []
    for row in rows:
        start, end = row.get("start_time"), row.get("end_time")
        if start is None or end is None:
            continue
        events.append({
            "cat": "task:execute",
            "name": row.get("name") or "task",
            "pid": f"Node {str(row.get('node_id') or '')[:12]}",
            "tid": f"Worker {row.get('worker_pid')}",
            "ph": "X",
            "ts": float(start) * 1e6,
            "dur": max(0.0, float(end) - float(start)) * 1e6,
            "args": {k: row.get(k) for k in ("task_id", "type", "state", "job_id", "actor_id", "error_type")},
        })
    events.sort(key=lambda e: e["ts"])
    return events
