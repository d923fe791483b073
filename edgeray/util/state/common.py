"""``ray.util.state.common``: the rows of the state API, as Ray's dataclasses.

Each schema is a dataclass whose fields are Ray's column names, declared with ``state_column``
(filterable or not, shown only with ``detail=True`` or always). A row also reads like the dict it
was in older Ray releases (``row["state"]``, ``row.get("pid")``), as Ray's own rows do. Columns
edgeray does not record are None.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

#: Ray's default ``limit`` and ``timeout`` for the state API
DEFAULT_LIMIT = 100
DEFAULT_RPC_TIMEOUT = 30

SupportedFilterType = str | bool | int | float
PREDICATES = ("=", "!=")


def state_column(*, filterable: bool, detail: bool = False, default: Any = None) -> Any:
    """A dataclass field carrying Ray's column metadata (``filterable``, ``detail``)."""
    return field(default=default, metadata={"filterable": filterable, "detail": detail})


class StateSchema:
    """Ray's ``StateSchema``: column lists from the field metadata, dict-like access."""

    #: what ``summarize_*`` groups by, where the kind has a summary
    summary_key: ClassVar[str] = ""

    @classmethod
    def list_columns(cls, detail: bool = True) -> list[str]:
        return [f.name for f in fields(cls) if detail or not f.metadata.get("detail", False)]  # type: ignore[arg-type]

    @classmethod
    def columns(cls) -> set[str]:
        return set(cls.list_columns(detail=True))

    @classmethod
    def base_columns(cls) -> set[str]:
        return set(cls.list_columns(detail=False))

    @classmethod
    def detail_columns(cls) -> set[str]:
        return cls.columns()

    @classmethod
    def filterable_columns(cls) -> set[str]:
        return {f.name for f in fields(cls) if f.metadata.get("filterable", False)}  # type: ignore[arg-type]

    @classmethod
    def from_row(cls, row: dict[str, Any], detail: bool) -> StateSchema:
        keep = cls.columns() if detail else cls.base_columns()
        return cls(**{k: row.get(k) for k in keep})

    def asdict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload, no-any-return]

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def __setitem__(self, key: str, value: Any) -> None:
        setattr(self, key, value)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)


@dataclass
class ActorState(StateSchema):
    actor_id: str = state_column(filterable=True)
    class_name: str = state_column(filterable=True)
    state: str = state_column(filterable=True)
    job_id: str = state_column(filterable=True)
    name: str | None = state_column(filterable=True)
    node_id: str | None = state_column(filterable=True)
    pid: int | None = state_column(filterable=True)
    ray_namespace: str | None = state_column(filterable=True)
    serialized_runtime_env: str | None = state_column(filterable=False, detail=True)
    required_resources: dict[str, Any] | None = state_column(filterable=False, detail=True)
    death_cause: dict[str, Any] | None = state_column(filterable=False, detail=True)
    is_detached: bool | None = state_column(filterable=False, detail=True)
    placement_group_id: str | None = state_column(filterable=True, detail=True)
    repr_name: str | None = state_column(filterable=True, detail=True)
    num_restarts: int | None = state_column(filterable=False, detail=True)


@dataclass
class TaskState(StateSchema):
    task_id: str = state_column(filterable=True)
    attempt_number: int | None = state_column(filterable=True)
    name: str = state_column(filterable=True)
    state: str = state_column(filterable=True)
    job_id: str = state_column(filterable=True)
    actor_id: str | None = state_column(filterable=True)
    type: str = state_column(filterable=True)
    func_or_class_name: str | None = state_column(filterable=True)
    parent_task_id: str | None = state_column(filterable=True)
    node_id: str | None = state_column(filterable=True)
    worker_id: str | None = state_column(filterable=True)
    worker_pid: int | None = state_column(filterable=True)
    error_type: str | None = state_column(filterable=True)
    language: str | None = state_column(filterable=False, detail=True)
    required_resources: dict[str, Any] | None = state_column(filterable=False, detail=True)
    placement_group_id: str | None = state_column(filterable=True, detail=True)
    error_message: str | None = state_column(filterable=False, detail=True)
    start_time_ms: int | None = state_column(filterable=False, detail=True)
    end_time_ms: int | None = state_column(filterable=False, detail=True)


@dataclass
class NodeState(StateSchema):
    node_id: str = state_column(filterable=True)
    node_ip: str = state_column(filterable=True)
    is_head_node: bool = state_column(filterable=True)
    state: str = state_column(filterable=True)
    state_message: str | None = state_column(filterable=False)
    node_name: str = state_column(filterable=True)
    resources_total: dict[str, float] = state_column(filterable=False)
    labels: dict[str, str] = state_column(filterable=False)
    start_time_ms: int | None = state_column(filterable=False, detail=True)
    end_time_ms: int | None = state_column(filterable=False, detail=True)


@dataclass
class PlacementGroupState(StateSchema):
    placement_group_id: str = state_column(filterable=True)
    name: str = state_column(filterable=True)
    creator_job_id: str = state_column(filterable=True)
    state: str = state_column(filterable=True)
    bundles: list[dict[str, Any]] | None = state_column(filterable=False, detail=True)
    is_detached: bool | None = state_column(filterable=True, detail=True)
    stats: dict[str, Any] | None = state_column(filterable=False, detail=True)


@dataclass
class ObjectState(StateSchema):
    object_id: str = state_column(filterable=True)
    object_size: int = state_column(filterable=True)
    task_status: str = state_column(filterable=True)
    attempt_number: int | None = state_column(filterable=True)
    reference_type: str = state_column(filterable=True)
    call_site: str | None = state_column(filterable=True)
    type: str | None = state_column(filterable=True)
    pid: int | None = state_column(filterable=True)
    ip: str | None = state_column(filterable=True)


@dataclass
class WorkerState(StateSchema):
    worker_id: str = state_column(filterable=True)
    is_alive: bool = state_column(filterable=True)
    worker_type: str = state_column(filterable=True)
    exit_type: str | None = state_column(filterable=True)
    node_id: str = state_column(filterable=True)
    ip: str = state_column(filterable=True)
    pid: int = state_column(filterable=True)
    exit_detail: str | None = state_column(filterable=False, detail=True)


@dataclass
class JobState(StateSchema):
    job_id: str | None = state_column(filterable=True)
    submission_id: str | None = state_column(filterable=True)
    entrypoint: str | None = state_column(filterable=False)
    type: str = state_column(filterable=True)
    status: str = state_column(filterable=True)
    message: str | None = state_column(filterable=False)
    error_type: str | None = state_column(filterable=False)
    driver_info: dict[str, Any] | None = state_column(filterable=False)
    namespace: str | None = state_column(filterable=False, detail=True)
    start_time: int | None = state_column(filterable=False, detail=True)
    end_time: int | None = state_column(filterable=False, detail=True)
    metadata: dict[str, str] | None = state_column(filterable=False, detail=True)
    runtime_env: dict[str, Any] | None = state_column(filterable=False, detail=True)
    driver_exit_code: int | None = state_column(filterable=False, detail=True)


__all__ = [
    "DEFAULT_LIMIT",
    "DEFAULT_RPC_TIMEOUT",
    "ActorState",
    "JobState",
    "NodeState",
    "ObjectState",
    "PlacementGroupState",
    "StateSchema",
    "SupportedFilterType",
    "TaskState",
    "WorkerState",
    "state_column",
]
