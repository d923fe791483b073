"""edgeray.plugins data types: fixed-point resource arithmetic, validation, cluster views."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgeray.plugins import (
    ClusterView,
    Decision,
    NodeView,
    PersistenceBackend,
    ResourceSet,
    SchedulingRequest,
    Strategy,
    TaskEvent,
    add,
    fits,
    from_units,
    subtract,
    to_units,
    validate_resource_request,
)

amounts = st.integers(0, 10**9).map(lambda u: u / 10_000)  # values with at most 4 decimals
names = st.sampled_from(["CPU", "GPU", "memory", "a", "b"])
resource_dicts = st.dictionaries(names, amounts, max_size=5)


def test_units() -> None:
    assert to_units(1) == 10_000
    assert to_units(0.0001) == 1
    assert to_units(0.29) == 2900  # 0.29 * 10000 = 2899.9999999999995 in floats
    assert from_units(2900) == 0.29


def test_precision_arithmetic() -> None:
    assert add({"CPU": 0.1}, {"CPU": 0.2}) == {"CPU": 0.3}
    avail = {"CPU": 1.0}
    for _ in range(10):
        assert fits({"CPU": 0.1}, avail)
        avail = subtract(avail, {"CPU": 0.1})
    assert avail == {"CPU": 0.0}
    assert not fits({"CPU": 0.1}, avail)
    assert fits({"CPU": 0.0}, {})
    assert not fits({"GPU": 1}, {"CPU": 4})
    assert subtract({"CPU": 1}, {"CPU": 2, "x": 1}) == {"CPU": -1.0, "x": -1.0}  # may go negative


def test_resource_set() -> None:
    a = ResourceSet({"CPU": 0.1, "GPU": 0})
    assert a.to_dict() == {"CPU": 0.1}  # zeros dropped
    b = a + a + a
    assert b.get("CPU") == 0.3 and b.units == {"CPU": 3000}
    assert a <= b and not b <= a
    assert (b - b).is_empty() and not (b - b)
    assert ResourceSet({"CPU": 0.3}) == b and hash(ResourceSet({"CPU": 0.3})) == hash(b)
    assert ResourceSet.from_units({"CPU": 5}).get("CPU") == 0.0005
    assert "0.3" in repr(b)


@given(resource_dicts, resource_dicts)
def test_add_subtract_inverse(a: dict, b: dict) -> None:
    back = subtract(add(a, b), b)
    for k in set(a) | set(b):
        assert to_units(back.get(k, 0.0)) == to_units(a.get(k, 0.0))
    assert fits(b, add(a, b))
    assert ResourceSet(b) <= ResourceSet(a) + ResourceSet(b)


def test_validate_resource_request() -> None:
    assert validate_resource_request({"CPU": 1, "GPU": 0.5, "x": 0}) == {"CPU": 1.0, "GPU": 0.5}
    assert validate_resource_request({"GPU": 2.0, "a": 1.5}) == {"GPU": 2.0, "a": 1.5}
    assert validate_resource_request({"CPU": 0.33333}) == {"CPU": 0.3333}
    for bad, match in [
        ({"CPU": -1}, "cannot be negative"),
        ({"GPU": 1.5}, "GPU resource quantities >1 must be whole numbers"),
        ({"CPU": "1"}, "must be a number"),
        ({"CPU": True}, "must be a number"),
        ({"CPU": float("nan")}, "finite"),
        ({"CPU": 0.00001}, "cannot go beyond 0.0001"),
        ({"": 1}, "non-empty strings"),
        ([("CPU", 1)], "must be a dict"),
    ]:
        with pytest.raises(ValueError, match=match):
            validate_resource_request(bad)  # type: ignore[arg-type]


def node(node_id: str, total: dict, available: dict | None = None, alive: bool = True, **kw) -> NodeView:
    return NodeView(node_id, alive, total, total if available is None else available, **kw)


def test_node_view_and_cluster_view() -> None:
    a = node("a", {"CPU": 4, "memory": 100}, {"CPU": 1, "memory": 100}, is_local=True)
    b = node("b", {"CPU": 2, "GPU": 1}, {"CPU": 2, "GPU": 1})
    dead = node("d", {"CPU": 8}, alive=False)
    view = ClusterView((a, b, dead))
    assert view.local_node_id == "a" and view.local is a  # taken from is_local
    assert view.get("b") is b and view.get("zz") is None and len(view) == 3
    assert view.has_gpu_nodes and b.has_gpu and not a.has_gpu
    assert [n.node_id for n in view.alive_nodes()] == ["a", "b"]
    req = SchedulingRequest({"CPU": 2})
    assert [n.node_id for n in view.feasible_nodes(req)] == ["a", "b"]
    assert [n.node_id for n in view.available_nodes(req)] == ["b"]
    assert [n.node_id for n in view.feasible_nodes({"CPU": 8})] == []  # the dead node does not count
    assert a.utilization() == 0.75  # critical resource: CPU 3/4 used
    assert b.utilization() == 0.0
    assert b.utilization(["GPU"]) == 0.0
    assert node("g", {"GPU": 2}, {"GPU": 0.5}).utilization(["GPU"]) == 0.75
    assert ClusterView([a], "a").nodes == (a,)  # lists become tuples


def test_scheduling_request_and_decision() -> None:
    r = SchedulingRequest({"CPU": 0.5, "GPU": 0}, kind="actor")
    assert r.units == {"CPU": 5000} and not r.is_zero_resource_actor
    assert SchedulingRequest({}, kind="actor").is_zero_resource_actor
    assert not SchedulingRequest({}, kind="task").is_zero_resource_actor
    with pytest.raises(ValueError, match="kind"):
        SchedulingRequest({}, kind="job")  # type: ignore[arg-type]
    d = Decision.node("a")
    assert d.is_node and d.node_id == "a" and d.kind == Decision.NODE
    assert Decision.retry("busy").is_retry
    i = Decision.infeasible("too big")
    assert i.is_infeasible and not i.fatal and i.reason == "too big"
    assert Decision.infeasible("dead", fatal=True).fatal


def test_protocols_and_events() -> None:
    class S:
        name = "S"

        def decide(self, request, cluster):
            return Decision.retry()

    assert isinstance(S(), Strategy)
    assert not isinstance(object(), Strategy)

    class B:
        def put(self, table, key, value): ...
        def get(self, table, key): ...
        def delete(self, table, key): ...
        def scan(self, table): ...
        def close(self): ...

    assert isinstance(B(), PersistenceBackend)
    e = TaskEvent("submitted", "t1", name="f")
    assert e.timestamp > 0 and e.kind in TaskEvent.KINDS
