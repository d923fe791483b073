"""How a process's user metrics reach its node: a reporter per connected client.

A metric that records a value tells the reporter of the process's client (``note_recorded``),
which keeps it until its next report: every ``REPORT_INTERVAL_S`` a daemon thread sends what
changed since the last one in ``report_metrics`` calls (at most ``SERIES_PER_CALL`` series each):
a counter's increase, a gauge's new value, a histogram's new bucket counts, sum and count
(``node._user_metrics`` adds them up). A metric remembers what it sent (``Metric._sent``), so
one collected in between loses nothing it reported; what it recorded since is sent first, as
the reporter holds it until then. Without a client (no ``init()``), values stay in-process.

The reporter lives on the client it reports through (an attribute set on first use, which
``shutdown()`` flushes before it disconnects), and its thread ends once that client closes or
is no longer the process's.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from ..client import try_current_client

if TYPE_CHECKING:
    from .metrics import Metric

log = logging.getLogger("edgeray")

#: How often a process reports (Ray: ``metrics_report_interval_ms``, 10 s by default)
REPORT_INTERVAL_S = 1.0
SERIES_PER_CALL = 4096
_ATTR = "_edgeray_metrics_reporter"


def note_recorded(metric: Metric) -> None:
    """``metric`` recorded something: report it with the next batch, if connected."""
    client = try_current_client()
    if client is None:
        return
    reporter = getattr(client, _ATTR, None)
    if reporter is None:
        reporter = vars(client).setdefault(_ATTR, MetricsReporter(client))  # (atomic: one wins)
    reporter.track(metric)


class MetricsReporter:
    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._pending: dict[int, Metric] = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def track(self, metric: Metric) -> None:
        with self._lock:
            self._pending[id(metric)] = metric
            if self._thread is None or not self._thread.is_alive():  # (also: a forked copy of this process)
                self._thread = threading.Thread(target=self._loop, name="edgeray-metrics", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(REPORT_INTERVAL_S):
            if getattr(self._client, "_closed", False) or try_current_client() is not self._client:
                return
            try:
                self.flush()
            except Exception:  # (never let a report end the thread: say it, try again later)
                log.warning("edgeray: reporting user metrics failed", exc_info=True)

    def flush(self) -> None:
        """Send what changed since the last report now."""
        with self._lock:
            metrics, self._pending = list(self._pending.values()), {}
        batch: list[dict[str, Any]] = []
        count = 0
        for m in metrics:
            for entry in changes(m):
                batch.append(entry)
                count += len(entry["series"])
                if count >= SERIES_PER_CALL:
                    self._send(batch)
                    batch, count = [], 0
        if batch:
            self._send(batch)

    def _send(self, batch: list[dict[str, Any]]) -> None:
        self._client.call_async("report_metrics", {"metrics": batch}, _said)


def _said(ok: bool, value: Any) -> None:
    if not ok:
        log.debug("edgeray: the node refused a user metrics report: %s", value)


def changes(metric: Metric) -> list[dict[str, Any]]:
    """``report_metrics`` entries for what ``metric`` recorded since its last report (and
    marks it reported)."""
    kind = metric.kind
    series: list[dict[str, Any]] = []
    with metric._lock:
        for key, value in metric._values.items():
            before = metric._sent.get(key)
            tags = dict(key)
            if kind == "counter":
                if value > (before or 0.0):
                    series.append({"tags": tags, "value": value - (before or 0.0)})
            elif kind == "gauge":
                if value != before:
                    series.append({"tags": tags, "value": value})
            else:
                old = before or {"buckets": [0] * len(value["buckets"]), "sum": 0.0, "count": 0}
                if value["count"] > old["count"]:
                    series.append({"tags": tags, "buckets": [a - b for a, b in zip(value["buckets"], old["buckets"], strict=True)],
                                   "sum": value["sum"] - old["sum"], "count": value["count"] - old["count"]})
                value = {**value, "buckets": list(value["buckets"])}
            metric._sent[key] = value
    head: dict[str, Any] = {"name": metric._name, "kind": kind, "description": metric._description}
    if kind == "histogram":
        head["boundaries"] = sorted(float(b) for b in metric.boundaries)  # type: ignore[attr-defined]
    return [{**head, "series": series[i:i + SERIES_PER_CALL]} for i in range(0, len(series), SERIES_PER_CALL)]
