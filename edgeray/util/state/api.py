"""``ray.util.state``'s functions: ``list_*``, ``get_*`` and ``summarize_*`` over the rows the
node's ``list`` call returns, with Ray's filters, limit and detail.

``address`` None means this process's session (or, without one, the node started in this
``EDGERAY_HOME``); a ``ws://`` or ``HOST:PORT`` address asks that node over a connection that is
not a job. ``timeout`` bounds each query (Ray's default 30 s).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from ...api._inspect import NoNodeError, query_node
from . import _rows
from .common import (
    DEFAULT_LIMIT,
    DEFAULT_RPC_TIMEOUT,
    ActorState,
    JobState,
    NodeState,
    ObjectState,
    PlacementGroupState,
    StateSchema,
    TaskState,
    WorkerState,
)
from .exception import DataSourceUnavailable, RayStateApiException

#: kind -> (the node's ``list`` kind, the schema, how a node row becomes Ray's columns)
RESOURCES: dict[str, tuple[str, type[StateSchema], Callable[[dict[str, Any]], dict[str, Any]]]] = {
    "actors": ("actors", ActorState, _rows.actor_row),
    "tasks": ("tasks", TaskState, _rows.task_row),
    "nodes": ("nodes", NodeState, _rows.node_row),
    "objects": ("objects", ObjectState, _rows.object_row),
    "placement_groups": ("placement-groups", PlacementGroupState, _rows.placement_group_row),
    "jobs": ("jobs", JobState, _rows.job_row),
    "workers": ("workers", WorkerState, _rows.worker_row),
}


def _fetch(resource: str, address: str | None, timeout: float) -> list[dict[str, Any]]:
    kind, _, convert = RESOURCES[resource]
    try:
        rows = query_node("list", {"kind": kind}, address, timeout=timeout)
    except NoNodeError as e:
        raise DataSourceUnavailable(str(e)) from None
    except (ConnectionError, OSError) as e:
        raise DataSourceUnavailable(f"Failed to query the {resource} of the cluster: {e}") from e
    if not isinstance(rows, list):
        raise RayStateApiException(f"The node answered the {resource} query with {type(rows).__name__}.")
    return [convert(r) for r in rows if isinstance(r, dict)]


def list_resource(
    resource: str,
    address: str | None = None,
    filters: list[tuple[str, str, Any]] | None = None,
    limit: int = DEFAULT_LIMIT,
    timeout: int = DEFAULT_RPC_TIMEOUT,
    detail: bool = False,
) -> list[Any]:
    """The rows of one kind, filtered, at most ``limit`` of them (the newest where rows are
    ordered by time), each a schema object of ``common``."""
    if resource not in RESOURCES:
        raise RayStateApiException(f"Unknown resource {resource!r}: one of {', '.join(RESOURCES)}.")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise RayStateApiException(f"limit must be an int >= 0, got {limit!r}.")
    schema = RESOURCES[resource][1]
    checked = _rows.check_filters(schema, filters)
    rows = _rows.apply_filters(_fetch(resource, address, timeout), checked)
    if len(rows) > limit:
        rows = rows[-limit:] if limit else []
    return [schema.from_row(r, detail) for r in rows]


def list_actors(address: str | None = None, filters: list[tuple[str, str, Any]] | None = None,
                limit: int = DEFAULT_LIMIT, timeout: int = DEFAULT_RPC_TIMEOUT, detail: bool = False,
                raise_on_missing_output: bool = True, _explain: bool = False) -> list[ActorState]:
    return list_resource("actors", address, filters, limit, timeout, detail)


def list_tasks(address: str | None = None, filters: list[tuple[str, str, Any]] | None = None,
               limit: int = DEFAULT_LIMIT, timeout: int = DEFAULT_RPC_TIMEOUT, detail: bool = False,
               raise_on_missing_output: bool = True, _explain: bool = False) -> list[TaskState]:
    return list_resource("tasks", address, filters, limit, timeout, detail)


def list_nodes(address: str | None = None, filters: list[tuple[str, str, Any]] | None = None,
               limit: int = DEFAULT_LIMIT, timeout: int = DEFAULT_RPC_TIMEOUT, detail: bool = False,
               raise_on_missing_output: bool = True, _explain: bool = False) -> list[NodeState]:
    return list_resource("nodes", address, filters, limit, timeout, detail)


def list_objects(address: str | None = None, filters: list[tuple[str, str, Any]] | None = None,
                 limit: int = DEFAULT_LIMIT, timeout: int = DEFAULT_RPC_TIMEOUT, detail: bool = False,
                 raise_on_missing_output: bool = True, _explain: bool = False) -> list[ObjectState]:
    return list_resource("objects", address, filters, limit, timeout, detail)


def list_placement_groups(address: str | None = None, filters: list[tuple[str, str, Any]] | None = None,
                          limit: int = DEFAULT_LIMIT, timeout: int = DEFAULT_RPC_TIMEOUT, detail: bool = False,
                          raise_on_missing_output: bool = True, _explain: bool = False) -> list[PlacementGroupState]:
    return list_resource("placement_groups", address, filters, limit, timeout, detail)


def list_jobs(address: str | None = None, filters: list[tuple[str, str, Any]] | None = None,
              limit: int = DEFAULT_LIMIT, timeout: int = DEFAULT_RPC_TIMEOUT, detail: bool = False,
              raise_on_missing_output: bool = True, _explain: bool = False) -> list[JobState]:
    return list_resource("jobs", address, filters, limit, timeout, detail)


def list_workers(address: str | None = None, filters: list[tuple[str, str, Any]] | None = None,
                 limit: int = DEFAULT_LIMIT, timeout: int = DEFAULT_RPC_TIMEOUT, detail: bool = False,
                 raise_on_missing_output: bool = True, _explain: bool = False) -> list[WorkerState]:
    return list_resource("workers", address, filters, limit, timeout, detail)


def _get(resource: str, column: str, id: str, address: str | None, timeout: int) -> list[Any]:
    if not isinstance(id, str):
        raise RayStateApiException(f"The id must be a hex string, got {type(id).__name__}.")
    return list_resource(resource, address, [(column, "=", id)], 1 << 62, timeout, detail=True)


def get_actor(id: str, address: str | None = None, timeout: int = DEFAULT_RPC_TIMEOUT,
              _explain: bool = False) -> ActorState | None:
    found = _get("actors", "actor_id", id, address, timeout)
    return found[0] if found else None  # type: ignore[no-any-return]


def get_task(id: Any, address: str | None = None, timeout: int = DEFAULT_RPC_TIMEOUT,
             _explain: bool = False) -> list[TaskState] | None:
    """The attempts of a task (an id string, or the ``ObjectRef`` it returns), None if unknown."""
    str_id = id if isinstance(id, str) else id.task_id().hex()
    return _get("tasks", "task_id", str_id, address, timeout) or None


def get_node(id: str, address: str | None = None, timeout: int = DEFAULT_RPC_TIMEOUT,
             _explain: bool = False) -> NodeState | None:
    found = _get("nodes", "node_id", id, address, timeout)
    return found[0] if found else None  # type: ignore[no-any-return]


def get_placement_group(id: str, address: str | None = None, timeout: int = DEFAULT_RPC_TIMEOUT,
                        _explain: bool = False) -> PlacementGroupState | None:
    found = _get("placement_groups", "placement_group_id", id, address, timeout)
    return found[0] if found else None  # type: ignore[no-any-return]


def get_worker(id: str, address: str | None = None, timeout: int = DEFAULT_RPC_TIMEOUT,
               _explain: bool = False) -> WorkerState | None:
    found = _get("workers", "worker_id", id, address, timeout)
    return found[0] if found else None  # type: ignore[no-any-return]


def get_objects(id: str, address: str | None = None, timeout: int = DEFAULT_RPC_TIMEOUT,
                _explain: bool = False) -> list[ObjectState]:
    return _get("objects", "object_id", id, address, timeout)


def summarize_tasks(address: str | None = None, timeout: int = DEFAULT_RPC_TIMEOUT,
                    raise_on_missing_output: bool = True, _explain: bool = False) -> dict[str, Any]:
    """Tasks grouped by function name with their counts per state (Ray's ``TaskSummaries``)."""
    rows = _fetch("tasks", address, timeout)
    summary: dict[str, dict[str, Any]] = {}
    for r in rows:
        name = r.get("func_or_class_name") or r.get("name") or "?"
        entry = summary.setdefault(name, {"func_or_class_name": name, "type": r.get("type"), "state_counts": Counter()})
        entry["state_counts"][r.get("state")] += 1
    for entry in summary.values():
        entry["state_counts"] = dict(entry["state_counts"])
    actor_tasks = [r for r in rows if r.get("type") == "ACTOR_TASK"]
    return {"cluster": {
        "summary": summary, "total_tasks": len(rows), "total_actor_tasks": len(actor_tasks),
        "total_actor_scheduled": sum(1 for r in rows if r.get("type") == "ACTOR_CREATION_TASK"),
        "summary_by": "func_name",
    }}


def summarize_actors(address: str | None = None, timeout: int = DEFAULT_RPC_TIMEOUT,
                     raise_on_missing_output: bool = True, _explain: bool = False) -> dict[str, Any]:
    """Actors grouped by class with their counts per state (Ray's ``ActorSummaries``)."""
    rows = _fetch("actors", address, timeout)
    summary: dict[str, dict[str, Any]] = {}
    for r in rows:
        name = r.get("class_name") or "?"
        entry = summary.setdefault(name, {"class_name": name, "state_counts": Counter()})
        entry["state_counts"][r.get("state")] += 1
    for entry in summary.values():
        entry["state_counts"] = dict(entry["state_counts"])
    return {"cluster": {"summary": summary, "total_actors": len(rows), "summary_by": "class"}}


def summarize_objects(address: str | None = None, timeout: int = DEFAULT_RPC_TIMEOUT,
                      raise_on_missing_output: bool = True, _explain: bool = False) -> dict[str, Any]:
    """Objects by call site (edgeray records none: all under "disabled", as Ray without
    ``RAY_record_ref_creation_sites``), with sizes and counts per state and reference type."""
    rows = _fetch("objects", address, timeout)
    size_mb = sum(int(r.get("object_size") or 0) for r in rows) / (1 << 20)
    per_site = {
        "total_objects": len(rows), "total_size_mb": size_mb, "total_num_workers": None, "total_num_nodes": None,
        "task_state_counts": dict(Counter(r.get("task_status") for r in rows)),
        "ref_type_counts": dict(Counter(r.get("reference_type") for r in rows)),
    }
    return {"cluster": {
        "summary": {"disabled": per_site} if rows else {}, "total_objects": len(rows),
        "total_size_mb": size_mb, "callsite_enabled": False, "summary_by": "callsite",
    }}
