"""User metrics (``edgeray.util.metrics``) reported to this node by its workers and drivers,
kept for ``/metrics`` and bounded.

A process sends, every ``REPORT_INTERVAL_S`` or so, a batch (the ``report_metrics`` call, its
shape checked by ``protocol._calls``): per metric its name, kind, description (and a
histogram's boundaries) and, per tag set, what changed since its last report: a counter's
increase, a gauge's value, a histogram's new bucket counts, sum and count. So the node keeps one
value per series (metric and tag set), whichever process it came from: counters and histograms
add up across processes (and outlive them, as a Prometheus counter must), a gauge is the value
set last. What a process reported is not kept per process, so a worker's death changes nothing.

Bounded: at most ``max_series`` series and ``max_families`` metrics; a report beyond them is
dropped (and counted: ``edgeray_user_metrics_dropped_total``), logged once in a while. A metric
whose kind or boundaries differ from the first report of its name is refused the same way.

Names: as Ray exports them, ``ray_<name>`` (a counter's samples ``ray_<name>_total``); tag
keys become label names (``_exposition.label_name``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from .._ratelimit import LogLimiter
from ._exposition import NAME, Family, HistogramValue, Labels, label_name

log = logging.getLogger("edgeray.node")

MAX_SERIES = 10_000
MAX_FAMILIES = 1_000
PREFIX = "ray_"


@dataclass
class _Stored:
    kind: str
    help: str
    boundaries: list[float]
    series: dict[Labels, Any] = field(default_factory=dict)


class UserMetrics:
    def __init__(self, max_series: int = MAX_SERIES, max_families: int = MAX_FAMILIES) -> None:
        self.max_series, self.max_families = max_series, max_families
        self.families: dict[str, _Stored] = {}
        self.num_series = 0
        self.dropped = 0
        self._log = LogLimiter(log)

    def report(self, metrics: list[dict[str, Any]]) -> dict[str, int]:
        """Take one batch (already of the call's shape); says how many series it dropped."""
        before = self.dropped
        for m in metrics:
            self._one(m)
        if self.dropped > before:
            self._log.warning("user-metrics", "dropped %d user metric series (at most %d series of %d metrics, "
                              "kinds and boundaries fixed by a name's first report)",
                              self.dropped - before, self.max_series, self.max_families)
        return {"dropped": self.dropped - before}

    def _one(self, m: dict[str, Any]) -> None:
        name, kind = PREFIX + m["name"], m["kind"]
        series = m.get("series", [])
        boundaries = sorted(float(b) for b in m.get("boundaries", []))
        stored = self.families.get(name)
        if stored is None:
            if not NAME.match(name) or len(self.families) >= self.max_families or (kind == "histogram" and not boundaries):
                self.dropped += len(series)
                return
            stored = self.families[name] = _Stored(kind, m.get("description", ""), boundaries)
        elif stored.kind != kind or (kind == "histogram" and stored.boundaries != boundaries):
            self.dropped += len(series)
            return
        for s in series:
            labels = tuple(sorted((label_name(k), v) for k, v in s.get("tags", {}).items()))
            if labels not in stored.series:
                if self.num_series >= self.max_series:
                    self.dropped += 1
                    continue
                self.num_series += 1
                stored.series[labels] = HistogramValue(boundaries, [0] * (len(boundaries) + 1)) if kind == "histogram" else 0.0
            self._apply(stored, labels, s)

    def _apply(self, stored: _Stored, labels: Labels, s: dict[str, Any]) -> None:
        if stored.kind == "gauge":
            stored.series[labels] = float(s.get("value", 0.0))
        elif stored.kind == "counter":
            stored.series[labels] += max(float(s.get("value", 0.0)), 0.0)  # (a counter only goes up)
        else:
            h: HistogramValue = stored.series[labels]
            buckets = s.get("buckets", [])
            if len(buckets) != len(h.buckets):
                self.dropped += 1
                return
            h.buckets = [a + b for a, b in zip(h.buckets, buckets, strict=True)]
            h.sum += float(s.get("sum", 0.0))
            h.count += int(s.get("count", 0))

    def exposition(self, taken: set[str]) -> list[Family]:
        """The families for ``/metrics``, but for names in ``taken`` (the node's own)."""
        out = []
        for name, stored in self.families.items():
            if name in taken or name + "_total" in taken:
                continue
            out.append(Family(name, stored.kind, stored.help, list(stored.series.items())))
        out.append(Family("edgeray_user_metrics_dropped", "counter",
                          "User metric series this node dropped: over its bounds, or of a conflicting kind.",
                          [((), float(self.dropped))]))
        return out
