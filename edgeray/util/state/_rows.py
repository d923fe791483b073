"""edgeray's ``list`` rows, in the columns of Ray's state API; filtering as Ray's (pure)."""

from __future__ import annotations

from typing import Any

from .common import PREDICATES, StateSchema
from .exception import RayStateApiException


def _ms(seconds: Any) -> int | None:
    return int(float(seconds) * 1000) if isinstance(seconds, int | float) and not isinstance(seconds, bool) else None


def actor_row(r: dict[str, Any]) -> dict[str, Any]:
    return {**r, "ray_namespace": r.get("namespace"), "num_restarts": r.get("restarts")}


def task_row(r: dict[str, Any]) -> dict[str, Any]:
    return {
        **r, "attempt_number": r.get("attempt_number", 0), "func_or_class_name": r.get("name"),
        "language": "PYTHON", "start_time_ms": _ms(r.get("start_time")), "end_time_ms": _ms(r.get("end_time")),
    }


def node_row(r: dict[str, Any]) -> dict[str, Any]:
    alive = bool(r.get("Alive"))
    return {
        "node_id": r.get("NodeID"), "node_ip": r.get("NodeManagerAddress"), "is_head_node": bool(r.get("IsHead")),
        "state": "ALIVE" if alive else "DEAD", "state_message": None if alive else "the node is dead",
        "node_name": r.get("NodeManagerHostname") or r.get("NodeManagerAddress"),
        "resources_total": r.get("Resources") or {}, "labels": r.get("Labels") or {},
    }


def object_row(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "object_id": r.get("object_id"), "object_size": r.get("size"),
        "task_status": "PENDING" if r.get("where") == "pending" else "FINISHED", "attempt_number": 0,
        "reference_type": r.get("reference"), "call_site": "disabled", "type": None, "pid": None, "ip": None,
    }


def placement_group_row(r: dict[str, Any]) -> dict[str, Any]:
    bundles = r.get("bundles")
    if isinstance(bundles, dict):  # {index: resources} -> Ray's list of bundle records
        bundles = [
            {"bundle_id": f"{r.get('placement_group_id')}_{i}", "unit_resources": b}
            for i, b in sorted(bundles.items(), key=lambda kv: int(kv[0]))
        ]
    return {**r, "bundles": bundles, "stats": r.get("stats") or {}}


def job_row(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "job_id": r.get("job_id"), "submission_id": None, "entrypoint": "", "type": "DRIVER",
        "status": "RUNNING" if r.get("alive") else "SUCCEEDED", "message": None, "error_type": None,
        "driver_info": {"id": r.get("job_id"), "pid": r.get("driver_pid")}, "namespace": r.get("namespace"),
    }


def worker_row(r: dict[str, Any]) -> dict[str, Any]:
    alive = r.get("state") not in ("DEAD", "dead", "EXITED", "exited")
    return {
        "worker_id": r.get("worker_id"), "is_alive": alive, "worker_type": "WORKER",
        "exit_type": None if alive else "INTENDED_SYSTEM_EXIT", "node_id": r.get("node_id"),
        "ip": r.get("ip"), "pid": r.get("pid"),
    }


def _matches(value: Any, predicate: str, wanted: Any) -> bool:
    if isinstance(value, str) and isinstance(wanted, str):
        equal = value.lower() == wanted.lower()  # (Ray compares strings case-insensitively)
    elif value is None:
        equal = wanted is None or (isinstance(wanted, str) and wanted.lower() in ("none", "null", ""))
    elif isinstance(wanted, str) and isinstance(value, bool):
        equal = wanted.lower() in ("true", "1") if value else wanted.lower() in ("false", "0")
    elif isinstance(wanted, str) and isinstance(value, int | float):
        try:
            equal = type(value)(wanted) == value
        except ValueError:
            equal = False
    else:
        equal = value == wanted
    return equal if predicate == "=" else not equal


def check_filters(schema: type[StateSchema], filters: Any) -> list[tuple[str, str, Any]]:
    """Ray's filter triples ``(column, "=" | "!=", value)``, validated against ``schema``."""
    out = []
    for f in filters or []:
        if not isinstance(f, tuple | list) or len(f) != 3:
            raise RayStateApiException(f"A filter is a (column, predicate, value) triple, got {f!r}.")
        column, predicate, value = f
        if column not in schema.filterable_columns():
            raise RayStateApiException(
                f"The given filter column {column!r} is not supported. "
                f"Supported filter columns: {sorted(schema.filterable_columns())}"
            )
        if predicate not in PREDICATES:
            raise RayStateApiException(
                f"Unsupported filter predicate {predicate!r} is given. Available predicates: =, !=."
            )
        out.append((column, predicate, value))
    return out


def apply_filters(rows: list[dict[str, Any]], filters: list[tuple[str, str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if all(_matches(r.get(c), p, v) for c, p, v in filters)]
