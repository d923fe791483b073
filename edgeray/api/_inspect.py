"""Control calls for tools that look at a cluster (the state API, the CLI): through this
process's session when it has one, else over a short-lived ``cli`` connection that is not a job.
"""

from __future__ import annotations

from typing import Any

from .._files import read_address, read_token, running_nodes
from ..client import CoreClient, try_current_client
from ._init import node_address


class NoNodeError(ConnectionError):
    """No running edgeray node could be found to ask."""


def _target(address: str | None) -> str:
    if address in (None, "auto"):
        info = read_address()
        if info is None:  # no node started with 'edgeray start': a node a driver embeds, if any
            embedded = [n for n in running_nodes() if n.get("unix")]
            info = embedded[-1] if embedded else None
        if info is None or not info.get("unix"):
            raise NoNodeError(
                "No running edgeray node found: call edgeray.init() first, start one with "
                "'edgeray start', or pass address=."
            )
        return str(info["unix"])
    return node_address(address)  # type: ignore[arg-type]


def query_node(method: str, args: dict[str, Any], address: str | None = None, timeout: float | None = None) -> Any:
    """One control call (``list``, ``status`` ...): answered by the node this process is connected
    to when ``address`` is None and a session is open, else by the node at ``address`` (None or
    "auto": the one started in this ``EDGERAY_HOME``)."""
    client = try_current_client() if address is None else None
    if client is not None:
        return client.call(method, args, timeout=timeout)
    client = CoreClient(_target(address), token=read_token(), role="cli")
    try:
        return client.call(method, args, timeout=timeout)
    finally:
        client.close()
