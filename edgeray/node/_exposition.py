"""Prometheus' text exposition format 0.0.4, sans-I/O: metric families in, text out.

A ``Family`` is one ``# HELP``/``# TYPE`` block: its kind (``counter``, ``gauge``,
``histogram``) and its samples, each a label set and a value (for a histogram, the per-bucket
counts, the sum and the count, rendered as cumulative ``_bucket{le=...}``, ``_sum``, ``_count``).
A counter's samples are named ``<name>_total``, as Prometheus' own client names them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_BAD = re.compile(r"[^a-zA-Z0-9_]")

Labels = tuple[tuple[str, str], ...]


@dataclass
class HistogramValue:
    boundaries: list[float]
    buckets: list[int]  # per bucket (not cumulative); one more than the boundaries: above them all
    sum: float = 0.0
    count: int = 0


@dataclass
class Family:
    name: str
    kind: str  # "counter", "gauge" or "histogram"
    help: str = ""
    samples: list[tuple[Labels, Any]] = field(default_factory=list)

    def add(self, value: Any, **labels: str) -> Family:
        self.samples.append((tuple(labels.items()), value))
        return self


def label_name(key: str) -> str:
    """``key`` as a Prometheus label name (characters outside ``[a-zA-Z0-9_]`` become ``_``)."""
    name = _LABEL_BAD.sub("_", key) or "_"
    if name[0].isdigit():
        name = "_" + name
    return "_" + name if name.startswith("__") else name  # (``__`` is Prometheus' own)


def _escape(value: str, quote: bool) -> str:
    value = value.replace("\\", "\\\\").replace("\n", "\\n")
    return value.replace('"', '\\"') if quote else value


def _number(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v))


def _labels(labels: Labels, extra: tuple[str, str] | None = None) -> str:
    pairs = list(labels) + ([extra] if extra else [])
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v, True)}"' for k, v in pairs) + "}"


def render(families: list[Family]) -> str:
    """The exposition text of ``families`` (in order; each name once)."""
    out: list[str] = []
    for f in families:
        name = f.name + "_total" if f.kind == "counter" else f.name
        out.append(f"# HELP {name} {_escape(f.help, False)}")
        out.append(f"# TYPE {name} {f.kind}")
        for labels, value in f.samples:
            if f.kind == "histogram":
                out.extend(_histogram_lines(name, labels, value))
            else:
                out.append(f"{name}{_labels(labels)} {_number(value)}")
    return "\n".join(out) + "\n"


def _histogram_lines(name: str, labels: Labels, h: HistogramValue) -> list[str]:
    lines, total = [], 0
    for bound, n in zip([*h.boundaries, math.inf], h.buckets, strict=True):
        total += n
        lines.append(f"{name}_bucket{_labels(labels, ('le', _number(bound)))} {_number(total)}")
    lines.append(f"{name}_sum{_labels(labels)} {_number(h.sum)}")
    lines.append(f"{name}_count{_labels(labels)} {_number(h.count)}")
    return lines
