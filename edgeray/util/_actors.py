"""``ray.util.list_named_actors``."""

from __future__ import annotations

from typing import Any

from ..api._init import auto_client


def list_named_actors(all_namespaces: bool = False) -> list[Any]:
    """The names of the live named actors in this job's namespace (Ray's order is unspecified;
    these are sorted), or, with ``all_namespaces``, ``{"name", "namespace"}`` dicts for all."""
    return auto_client().call("list_named_actors", {"all_namespaces": bool(all_namespaces)})
