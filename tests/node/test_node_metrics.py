"""The node's metrics, sans-I/O: the exposition text (parsed back by Prometheus' own parser),
the user-metrics store (added up across reports, bounded against a flood of series, a name's
kind fixed by its first report), and the client side's reports of what changed."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from edgeray.exceptions import ProtocolError
from edgeray.node._exposition import Family, HistogramValue, label_name, render
from edgeray.node._user_metrics import UserMetrics
from edgeray.protocol._calls import check_call
from edgeray.util._metrics_report import changes
from edgeray.util.metrics import Counter, Gauge, Histogram


def _parse(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for family in text_string_to_metric_families(text):
        out[family.name] = (family.type, {(s.name, frozenset(s.labels.items())): s.value for s in family.samples})
    return out


def test_exposition_parses_back() -> None:
    text = render([
        Family("ray_tasks", "gauge", "tasks\nby state").add(3.0, Name='we"ird\\name\n', State="FINISHED"),
        Family("edgeray_done", "counter", "done").add(7.0),
        Family("ray_lat", "histogram", "ms", [((("op", "get"),), HistogramValue([1.0, 10.0], [1, 1, 1], 55.5, 3))]),
    ])
    parsed = _parse(text)
    assert parsed["ray_tasks"] == ("gauge", {("ray_tasks", frozenset({("Name", 'we"ird\\name\n'), ("State", "FINISHED")})): 3.0})
    assert parsed["edgeray_done"] == ("counter", {("edgeray_done_total", frozenset()): 7.0})
    kind, samples = parsed["ray_lat"]
    assert kind == "histogram"
    assert samples[("ray_lat_bucket", frozenset({("op", "get"), ("le", "10.0")}))] == 2
    assert samples[("ray_lat_bucket", frozenset({("op", "get"), ("le", "+Inf")}))] == 3
    assert samples[("ray_lat_count", frozenset({("op", "get")}))] == 3


def test_label_names() -> None:
    assert [label_name(k) for k in ("ok", "a-b", "1x", "__x", "")] == ["ok", "a_b", "_1x", "___x", "_"]


def _report(store: UserMetrics, name: str, kind: str, series: list[dict[str, Any]], **extra: Any) -> dict[str, int]:
    entry = {"name": name, "kind": kind, "series": series, **extra}
    check_call("report_metrics", {"metrics": [entry]})  # what the node would accept
    return store.report([entry])


def test_user_metrics_add_up_across_reports() -> None:
    store = UserMetrics()
    _report(store, "hits", "counter", [{"tags": {"k": "a"}, "value": 2.0}])
    _report(store, "hits", "counter", [{"tags": {"k": "a"}, "value": 3.0}, {"tags": {"k": "b"}, "value": 1.0}])
    _report(store, "temp", "gauge", [{"tags": {}, "value": 20.0}])
    _report(store, "temp", "gauge", [{"tags": {}, "value": -4.5}])
    for _ in range(2):
        _report(store, "lat", "histogram", [{"tags": {}, "buckets": [1, 0, 2], "sum": 30.0, "count": 3}],
                boundaries=[1.0, 10.0])
    parsed = _parse(render(store.exposition(set())))
    assert parsed["ray_hits"][1] == {("ray_hits_total", frozenset({("k", "a")})): 5.0,
                                     ("ray_hits_total", frozenset({("k", "b")})): 1.0}
    assert parsed["ray_temp"][1] == {("ray_temp", frozenset()): -4.5}
    assert parsed["ray_lat"][1][("ray_lat_count", frozenset())] == 6


def test_a_flood_of_series_is_bounded_and_counted() -> None:
    store = UserMetrics(max_series=100, max_families=3)
    for i in range(10):
        _report(store, "flood", "counter", [{"tags": {"id": str(i * 100 + j)}, "value": 1.0} for j in range(100)])
    assert store.num_series == 100 and store.dropped == 900
    _report(store, "flood", "counter", [{"tags": {"id": "0"}, "value": 1.0}])  # a known series still counts
    assert store.families["ray_flood"].series[(("id", "0"),)] == 2.0
    _report(store, "flood", "gauge", [{"tags": {"id": "0"}, "value": 1.0}])  # another kind: refused
    for name in ("b", "c", "d", "e"):
        _report(store, name, "gauge", [])
    assert len(store.families) == 3 and store.dropped == 901
    assert ("edgeray_user_metrics_dropped_total", frozenset()) in _parse(render(store.exposition(set())))[
        "edgeray_user_metrics_dropped"][1]


def test_user_metrics_do_not_shadow_the_nodes() -> None:
    store = UserMetrics()
    _report(store, "tasks", "gauge", [{"tags": {}, "value": 1.0}])
    assert [f.name for f in store.exposition({"ray_tasks"})] == ["edgeray_user_metrics_dropped"]


@pytest.mark.parametrize("entry", [
    {"name": "x", "kind": "summary", "series": []},
    {"name": "x", "kind": "gauge", "series": [{"tags": {"k": 1}, "value": 1.0}]},
    {"name": "x", "kind": "gauge", "series": [{"tags": {}, "value": float("nan")}]},
    {"name": "x", "kind": "gauge", "series": [{"tags": {}, "value": 1.0}] * 4097},
    {"name": "x" * 300, "kind": "gauge", "series": []},
    {"kind": "gauge", "series": []},
])
def test_report_metrics_arguments_are_checked(entry: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError):
        check_call("report_metrics", {"metrics": [entry]})


def test_reports_say_what_changed() -> None:
    c = Counter("c", tag_keys=("k",))
    c.inc(2, tags={"k": "a"})
    assert changes(c) == [{"name": "c", "kind": "counter", "description": "", "series": [{"tags": {"k": "a"}, "value": 2.0}]}]
    assert changes(c) == []  # nothing new: nothing sent
    c.inc(1, tags={"k": "a"})
    assert changes(c)[0]["series"] == [{"tags": {"k": "a"}, "value": 1.0}]
    g = Gauge("g")
    g.set(3)
    assert changes(g)[0]["series"] == [{"tags": {}, "value": 3.0}]
    g.set(3)
    assert changes(g) == []
    h = Histogram("h", boundaries=[10.0, 1.0])
    h.observe(5)
    h.observe(50)
    first = changes(h)[0]
    assert first["boundaries"] == [1.0, 10.0] and first["series"] == [{"tags": {}, "buckets": [0, 1, 1], "sum": 55.0, "count": 2}]
    h.observe(0.5)
    assert changes(h)[0]["series"] == [{"tags": {}, "buckets": [1, 0, 0], "sum": 0.5, "count": 1}]
