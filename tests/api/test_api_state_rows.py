"""The state API's schemas and filters, without a node: Ray's columns, filters and errors."""

from __future__ import annotations

import pytest

from edgeray.util.state import _rows
from edgeray.util.state.common import ActorState, NodeState, TaskState
from edgeray.util.state.exception import RayStateApiException

ROWS = [
    {"actor_id": "a1", "class_name": "Counter", "state": "ALIVE", "pid": 11, "is_detached": False},
    {"actor_id": "a2", "class_name": "Counter", "state": "DEAD", "pid": 12, "is_detached": True},
    {"actor_id": "a3", "class_name": "Other", "state": "ALIVE", "pid": None, "is_detached": False},
]


def test_columns_follow_rays_schema() -> None:
    assert {"actor_id", "class_name", "state", "job_id", "name", "node_id", "pid", "ray_namespace"} <= ActorState.base_columns()
    assert "death_cause" not in ActorState.base_columns() and "death_cause" in ActorState.columns()
    assert "state" in TaskState.filterable_columns() and "error_message" not in TaskState.filterable_columns()
    row = NodeState.from_row({"node_id": "n", "state": "ALIVE", "start_time_ms": 5}, detail=False)
    assert row.start_time_ms is None and row["state"] == "ALIVE" and row.get("node_id") == "n"
    assert NodeState.from_row({"start_time_ms": 5}, detail=True).start_time_ms == 5


@pytest.mark.parametrize(
    ("filters", "ids"),
    [
        ([("state", "=", "ALIVE")], ["a1", "a3"]),
        ([("state", "=", "alive")], ["a1", "a3"]),  # strings compare case-insensitively, as Ray's
        ([("state", "!=", "ALIVE")], ["a2"]),
        ([("class_name", "=", "Counter"), ("state", "=", "ALIVE")], ["a1"]),
        ([("pid", "=", "12")], ["a2"]),  # a CLI value is converted to the column's type
        ([("pid", "=", 11)], ["a1"]),
        ([], ["a1", "a2", "a3"]),
    ],
)
def test_filters(filters: list[tuple[str, str, object]], ids: list[str]) -> None:
    checked = _rows.check_filters(ActorState, filters)
    assert [r["actor_id"] for r in _rows.apply_filters(ROWS, checked)] == ids


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ([("death_cause", "=", "x")], "not supported. Supported filter columns"),
        ([("nope", "=", "x")], "not supported"),
        ([("state", "~", "ALIVE")], "Available predicates: =, !="),
        ([("state", "ALIVE")], "triple"),
    ],
)
def test_bad_filters_say_why(filters: list[tuple[str, str, object]], message: str) -> None:
    with pytest.raises(RayStateApiException, match=message):
        _rows.check_filters(ActorState, filters)


def test_node_rows_in_rays_columns() -> None:
    row = _rows.node_row({
        "NodeID": "ab", "Alive": False, "NodeManagerAddress": "10.0.0.2", "NodeManagerHostname": "edge-2",
        "IsHead": False, "Resources": {}, "Labels": {"zone": "z"},
    })
    assert row["state"] == "DEAD" and row["node_ip"] == "10.0.0.2" and row["labels"] == {"zone": "z"}
    assert row["is_head_node"] is False and row["node_name"] == "edge-2"
