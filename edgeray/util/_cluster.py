"""``ray.util.list_named_actors`` and ``ray.util.get_node_ip_address``."""

from __future__ import annotations

from typing import Any

from ..api._init import auto_client


def list_named_actors(all_namespaces: bool = False) -> list[Any]:
    """The names of the live named actors in this job's namespace (Ray's order is unspecified;
    these are sorted), or, with ``all_namespaces``, ``{"name", "namespace"}`` dicts for all."""
    return auto_client().call("list_named_actors", {"all_namespaces": bool(all_namespaces)})


def get_node_ip_address() -> str:
    """The address of the node this process runs on, as its other nodes reach it (Ray's
    ``NodeManagerAddress``)."""
    client = auto_client()
    here = client.node_id.hex()
    for node in client.call("nodes"):
        if node.get("NodeID") == here:
            return str(node["NodeManagerAddress"])
    raise RuntimeError(f"this process's node {here} is not among the cluster's nodes")
