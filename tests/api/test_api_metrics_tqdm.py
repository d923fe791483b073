"""``edgeray.util.metrics`` and ``edgeray.experimental.tqdm_ray``: Ray's constructors, checks and
methods, recording in-process (no node)."""

from __future__ import annotations

import io
import pickle

import pytest

from edgeray.experimental.tqdm_ray import tqdm
from edgeray.util.metrics import Counter, Gauge, Histogram


def test_counter_records_per_tag_set() -> None:
    c = Counter("requests", description="served", tag_keys=("route",))
    assert c.set_default_tags({"route": "/"}) is c
    c.inc()
    c.inc(2.5)
    c.inc(tags={"route": "/a"})
    assert c._samples() == {(("route", "/"),): 3.5, (("route", "/a"),): 1.0}
    assert c.info == {"name": "requests", "description": "served", "tag_keys": ("route",),
                      "default_tags": {"route": "/"}}
    with pytest.raises(ValueError, match="value must be >0"):
        c.inc(0)
    with pytest.raises(TypeError, match="value must be int or float"):
        c.inc("1")  # type: ignore[arg-type]


def test_gauge_keeps_the_last_value() -> None:
    g = Gauge("temperature", tag_keys=("room",))
    g.set(20, tags={"room": "a"})
    g.set(21.5, tags={"room": "a"})
    g.set(None, tags={"room": "a"})  # a no-op, as in Ray
    g.set(-3, tags={"room": "b"})
    assert g._samples() == {(("room", "a"),): 21.5, (("room", "b"),): -3.0}


def test_histogram_buckets() -> None:
    h = Histogram("latency", boundaries=[1.0, 10.0])
    for v in (0.5, 1.0, 5, 50):
        h.observe(v)
    assert h._samples() == {(): {"buckets": [2, 1, 1], "sum": 56.5, "count": 4}}
    assert h.info["boundaries"] == [1.0, 10.0]
    with pytest.raises(ValueError, match="boundaries argument should be provided"):
        Histogram("h")
    with pytest.raises(ValueError, match="Invalid `boundaries` argument at index 1"):
        Histogram("h", boundaries=[1.0, 0.0])


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: Counter(""), ValueError, "Empty name"),
        (lambda: Counter("c", tag_keys=["a"]), TypeError, "tag_keys should be a tuple"),  # type: ignore[arg-type]
        (lambda: Counter("c", tag_keys=(1,)), TypeError, "Tag keys must be str"),  # type: ignore[arg-type]
        (lambda: Counter("c", tag_keys=("a",)).set_default_tags({"b": "x"}), ValueError, "Unrecognized tag key b"),
        (lambda: Counter("c", tag_keys=("a",)).set_default_tags({"a": 1}), TypeError, "Tag values must be str"),
        (lambda: Counter("c", tag_keys=("a", "b")).inc(tags={"a": "x"}), ValueError, r"Missing value for tag key\(s\): b"),
        (lambda: Gauge("g", tag_keys=("a",)).set(1, tags={"a": 2}), TypeError, "Tag values must be str"),
    ],
)
def test_rays_checks(make: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        make()  # type: ignore[operator]


def test_invalid_names_warn_and_record_nothing() -> None:
    with pytest.warns(UserWarning, match="Invalid metric name: 1bad"):
        c = Counter("1bad")
    c.inc()
    assert c._samples() == {}


def test_metrics_travel_as_their_definition() -> None:
    h = Histogram("h", "d", boundaries=[1.0], tag_keys=("k",))
    h.observe(3, tags={"k": "v"})
    back = pickle.loads(pickle.dumps(h))
    assert back.info == {**h.info, "default_tags": {}} and back._samples() == {}


def test_tqdm_prints_progress_lines() -> None:
    out = io.StringIO()
    bar = tqdm(desc="work", total=3, flush_interval_s=0, file=out)
    bar.update()
    bar.update(2)
    bar.set_description("done")
    bar.close()
    bar.close()  # once only
    assert out.getvalue().splitlines() == ["work: 1/3 it", "work: 3/3 it", "done: 3/3 it", "done: 3/3 it"]
    with pytest.raises(RuntimeError):
        bar.update()


def test_tqdm_over_an_iterable() -> None:
    out = io.StringIO()
    items = list(tqdm(range(4), unit="rows", flush_interval_s=3600, file=out))
    assert items == [0, 1, 2, 3]
    # the first update prints, the rest wait for the interval; close prints the end
    assert out.getvalue().splitlines() == ["1/4 rows", "4/4 rows"]
    with pytest.raises(ValueError, match="total"):
        tqdm(total=-1)
