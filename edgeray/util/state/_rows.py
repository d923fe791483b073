"""edgeray's ``list`` rows, in the columns of Ray's state API (the conversion is
``edgeray.protocol.state_rows``, which the node's dashboard uses too); filtering as Ray's (pure)."""

from __future__ import annotations

from typing import Any

from ...protocol.state_rows import (  # noqa: F401  (this module's names, as before)
    actor_row,
    job_row,
    node_row,
    object_row,
    placement_group_row,
    task_row,
    worker_row,
)
from .common import PREDICATES, StateSchema
from .exception import RayStateApiException


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
