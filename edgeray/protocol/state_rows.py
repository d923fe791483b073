"""The rows of the node's ``list`` call in the columns of Ray's state API (pure functions).

Shared by ``edgeray.util.state`` (Ray's ``list_*``) and the node's dashboard (its ``/api/...``
JSON), so both show the same columns for the same rows.
"""

from __future__ import annotations

from typing import Any


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
