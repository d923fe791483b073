"""``edgeray.util.metrics``: Ray's custom metrics, ``Counter``, ``Gauge`` and ``Histogram``.

Same constructors, tags and checks as Ray's. Each metric records its values in this process
(``_samples()`` reads them, per tag set); a process connected to a node (a driver after
``init()``, any worker) reports what changed to that node every ``REPORT_INTERVAL_S``
(``_metrics_report``), which serves it on ``/metrics`` as Ray names it: ``ray_<name>``.
"""

from __future__ import annotations

import bisect
import re
import threading
import warnings
from typing import Any

from ._metrics_report import note_recorded

__all__ = ["Counter", "Gauge", "Histogram"]

# Prometheus' metric name syntax
_VALID_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")

TagSet = tuple[tuple[str, str], ...]


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"value must be int or float, got {type(value)}.")
    return float(value)


class Metric:
    """What the three metric kinds share: a name, a description, tag keys, default tags."""

    kind = ""  # as the node's ``report_metrics`` call names it

    def __init__(self, name: str, description: str = "", tag_keys: tuple[str, ...] | None = None) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError("Empty name is not allowed. Please provide a metric name.")
        self._discard = not _VALID_NAME.match(name)
        if self._discard:  # (Ray too keeps such a metric but records nothing)
            warnings.warn(
                f"Invalid metric name: {name}. Metric will be discarded and data will not be collected or "
                "published. Metric names can only contain letters, numbers, _, and :. Metric names cannot "
                "start with numbers.", UserWarning, stacklevel=3,
            )
        self._name = name
        self._description = description
        self._tag_keys: tuple[str, ...] = tag_keys or ()
        if not isinstance(self._tag_keys, tuple):
            raise TypeError(f"tag_keys should be a tuple type, got: {type(self._tag_keys)}")
        for key in self._tag_keys:
            if not isinstance(key, str):
                raise TypeError(f"Tag keys must be str, got {type(key)}.")
        self._default_tags: dict[str, str] = {}
        self._lock = threading.Lock()
        self._values: dict[TagSet, Any] = {}
        self._sent: dict[TagSet, Any] = {}  # what the node was told (``_metrics_report``)

    def set_default_tags(self, default_tags: dict[str, str]) -> Metric:
        """Tags every record uses unless it gives its own; returns the metric itself."""
        for key, value in default_tags.items():
            if key not in self._tag_keys:
                raise ValueError(f"Unrecognized tag key {key}.")
            if not isinstance(value, str):
                raise TypeError(f"Tag values must be str, got {type(value)}.")
        self._default_tags = dict(default_tags)
        return self

    @property
    def info(self) -> dict[str, Any]:
        return {"name": self._name, "description": self._description, "tag_keys": self._tag_keys,
                "default_tags": self._default_tags}

    def _tags(self, tags: dict[str, str] | None) -> TagSet | None:
        """The full tag set of one record (None: a discarded metric records nothing)."""
        final = dict(self._default_tags)
        if tags:
            for value in tags.values():
                if not isinstance(value, str):
                    raise TypeError(f"Tag values must be str, got {type(value)}.")
            final.update(tags)
        missing = [k for k in self._tag_keys if k not in final]
        if missing:
            raise ValueError(f"Missing value for tag key(s): {','.join(missing)}.")
        return None if self._discard else tuple(sorted(final.items()))

    def _samples(self) -> dict[TagSet, Any]:
        """What was recorded, per tag set (a copy)."""
        with self._lock:
            return {k: (dict(v) if isinstance(v, dict) else v) for k, v in self._values.items()}

    def __reduce__(self) -> tuple[Any, ...]:  # a metric travels as its definition, as in Ray
        return (type(self), (self._name, self._description, self._tag_keys))


class Counter(Metric):
    """A cumulative count that only goes up."""

    kind = "counter"

    def inc(self, value: int | float = 1.0, tags: dict[str, str] | None = None) -> None:
        amount = _number(value)
        if amount <= 0:
            raise ValueError(f"value must be >0, got {value}")
        key = self._tags(tags)
        if key is not None:
            with self._lock:
                self._values[key] = self._values.get(key, 0.0) + amount
            note_recorded(self)


class Gauge(Metric):
    """The last value set."""

    kind = "gauge"

    def set(self, value: int | float | None, tags: dict[str, str] | None = None) -> None:
        if value is None:
            return
        number = _number(value)
        key = self._tags(tags)
        if key is not None:
            with self._lock:
                self._values[key] = number
            note_recorded(self)


class Histogram(Metric):
    """Observed values counted in buckets with upper ``boundaries``."""

    kind = "histogram"

    def __init__(self, name: str, description: str = "", boundaries: list[float] | None = None,
                 tag_keys: tuple[str, ...] | None = None) -> None:
        super().__init__(name, description, tag_keys)
        if not boundaries:
            raise ValueError("boundaries argument should be provided when using the Histogram class. e.g., "
                             'Histogram("name", boundaries=[1.0, 2.0])')
        for i, boundary in enumerate(boundaries):
            if boundary <= 0:
                raise ValueError(f"Invalid `boundaries` argument at index {i}, {boundaries}. "
                                 "Use positive values for the arguments.")
        self.boundaries = list(boundaries)

    def observe(self, value: int | float, tags: dict[str, str] | None = None) -> None:
        number = _number(value)
        key = self._tags(tags)
        if key is None:
            return
        bucket = bisect.bisect_left(sorted(self.boundaries), number)  # (the last: above every boundary)
        with self._lock:
            entry = self._values.setdefault(key, {"buckets": [0] * (len(self.boundaries) + 1), "sum": 0.0, "count": 0})
            entry["buckets"][bucket] += 1
            entry["sum"] += number
            entry["count"] += 1
        note_recorded(self)

    def _samples(self) -> dict[TagSet, Any]:
        with self._lock:
            return {k: {**v, "buckets": list(v["buckets"])} for k, v in self._values.items()}

    @property
    def info(self) -> dict[str, Any]:
        return {**super().info, "boundaries": self.boundaries}

    def __reduce__(self) -> tuple[Any, ...]:
        return (Histogram, (self._name, self._description, self.boundaries, self._tag_keys))
