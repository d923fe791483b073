"""The dashboard's data: the JSON of ``GET /api/...``, built from the rows of the node's ``list``
and ``status`` calls and converted to Ray's state-API columns by ``protocol.state_rows`` (the
functions ``edgeray.util.state`` uses), so a page and ``list_actors()`` show the same thing.

All of it is this node's view: on the head that is the cluster's nodes, actors, jobs and
placement groups (its GCS holds them); tasks are every live node's (asked as ``list tasks``
does, each within ``LIST_TIMEOUT_S``); objects are the ones this node holds.
Logs are the files in this node's session ``logs/`` directory, read by name (no paths).
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..plugins import from_unit_dict
from ..protocol import state_rows
from ..transport import HttpError, Request
from ._calls import task_rows_everywhere

if TYPE_CHECKING:
    from ._service import NodeServer

log = logging.getLogger("edgeray.node")

#: The most task rows one answer carries (the newest first).
MAX_TASK_ROWS = 500
#: The most bytes of a log one answer carries.
MAX_LOG_BYTES = 256 * 1024


def _list(server: NodeServer, kind: str) -> list[dict[str, Any]]:
    # (the ``list`` call's handler; it does not look at the calling peer)
    rows = server.calls.list_state(None, {"kind": kind})  # type: ignore[arg-type]
    return [r for r in rows if isinstance(r, dict)]


def _one(request: Request, name: str) -> str:
    values = request.query.get(name) or [""]
    return values[-1].strip()


def _meminfo() -> dict[str, int]:
    out = {}
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                key, _, rest = line.partition(":")
                out[key] = int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        return {}
    return out


def _host() -> dict[str, Any]:
    mem = _meminfo()
    try:
        load = list(os.getloadavg())
    except OSError:
        load = []
    return {"cpu_count": os.cpu_count() or 1, "load": load,
            "mem_total": mem.get("MemTotal", 0), "mem_available": mem.get("MemAvailable", 0)}


def cluster(server: NodeServer) -> dict[str, Any]:
    """Nodes alive and dead with their resources used/total, the cluster's totals, this node's
    object store and its machine's CPUs and memory."""
    core = server.core
    raws = {r["NodeID"]: r for r in core.nodes(server.address)}  # (refreshes this node's own entry too)
    nodes = []
    for n in core.cluster.nodes.values():
        row = state_rows.node_row(raws[n.node_id.hex()])
        row["resources_available"] = from_unit_dict(n.available) if n.alive else {}
        row["address"] = n.address
        row["this_node"] = n.node_id == core.node_id
        nodes.append(row)
    return {
        "node_id": core.node_id.hex(), "address": server.address, "is_head": bool(server.config.node.head),
        "nodes": nodes, "total": core.cluster_resources(), "available": core.available_resources(),
        "store": core.store.stats(), "objects": core.objects.stats(), "host": _host(),
        "workers": len(core.workers), "pending_tasks": len(core.ready),
        "infeasible": [{"name": t.spec["name"], "resources": t.spec["res"]} for t in core.infeasible if not t.done],
    }


def jobs(server: NodeServer) -> list[dict[str, Any]]:
    return [state_rows.job_row(r) for r in _list(server, "jobs")]


def actors(server: NodeServer) -> list[dict[str, Any]]:
    return [state_rows.actor_row(r) for r in _list(server, "actors")]


async def tasks(server: NodeServer, request: Request) -> dict[str, Any]:
    """State counts of every task, then the newest rows that match ``state``, ``name`` and
    ``job_id`` (each optional, compared without case; ``name`` as a substring)."""
    rows = [state_rows.task_row(r) for r in await task_rows_everywhere(server.core) if isinstance(r, dict)]
    counts = Counter(str(r.get("state")) for r in rows)
    state, name, job = _one(request, "state").upper(), _one(request, "name").lower(), _one(request, "job_id").lower()
    shown = [
        r for r in rows
        if (not state or str(r.get("state")).upper() == state)
        and (not name or name in str(r.get("name") or "").lower())
        and (not job or str(r.get("job_id") or "").lower().startswith(job))
    ]
    shown.sort(key=lambda r: r.get("start_time") or float("inf"), reverse=True)
    return {"counts": dict(sorted(counts.items())), "total": len(rows), "matching": len(shown),
            "rows": shown[:MAX_TASK_ROWS]}


def placement_groups(server: NodeServer) -> list[dict[str, Any]]:
    where = {r.pg_id.hex(): r.info()["bundles_to_node_id"] for r in server.core.gcs.pgs.values()}
    out = []
    for raw in _list(server, "placement-groups"):
        row = state_rows.placement_group_row(raw)
        nodes = where.get(str(row.get("placement_group_id")), {})
        for i, b in enumerate(row.get("bundles") or []):
            b["node_id"] = nodes.get(i)
        out.append(row)
    return out


def objects(server: NodeServer) -> dict[str, Any]:
    """``edgeray memory``: every object with its size, reference kind and place; the store's totals."""
    rows = sorted(_list(server, "objects"), key=lambda r: -int(r.get("size") or 0))
    return {"rows": [{**r, **state_rows.object_row(r)} for r in rows], "store": server.core.store.stats()}


def logs_dir(server: NodeServer) -> Path:
    return Path(server.session_dir) / "logs"


def log_files(server: NodeServer) -> dict[str, Any]:
    d = logs_dir(server)
    files = []
    for p in sorted(d.iterdir()) if d.is_dir() else []:
        try:
            st = p.stat()
        except OSError:
            continue
        if p.is_file():
            files.append({"name": p.name, "size": st.st_size, "mtime": st.st_mtime})
    return {"node_id": server.core.node_id.hex(), "dir": str(d), "files": files}


def log_read(server: NodeServer, request: Request) -> dict[str, Any]:
    """``name``'s bytes from ``offset`` (to follow it), or its last ``tail`` lines without one.
    ``name`` is a file directly in the logs directory; anything else is a 404."""
    name = _one(request, "name")
    d = logs_dir(server)
    path = d / name
    if not name or "/" in name or name in (".", "..") or not path.is_file():
        raise HttpError(404, f"no log file {name!r} in {d}")
    size = path.stat().st_size
    offset_arg = _one(request, "offset")
    with open(path, "rb") as f:
        if offset_arg:
            try:
                offset = int(offset_arg)
            except ValueError:
                raise HttpError(400, f"offset must be a whole number, got {offset_arg!r}") from None
            if offset > size or offset < 0:  # (rotated or truncated: start again)
                offset = 0
            f.seek(offset)
            data = f.read(MAX_LOG_BYTES)
            end = offset + len(data)
        else:
            tail = _tail_lines(request)
            start = max(0, size - MAX_LOG_BYTES)
            f.seek(start)
            data = f.read(size - start)
            end = start + len(data)
            lines = data.split(b"\n")
            if start and lines:
                lines = lines[1:]  # (a partial first line)
            keep = lines[-(tail + 1):] if lines and lines[-1] == b"" else lines[-tail:]
            data = b"\n".join(keep)
    return {"name": name, "offset": end, "size": size, "text": data.decode("utf-8", "replace")}


def _tail_lines(request: Request) -> int:
    raw = _one(request, "tail") or "1000"
    try:
        n = int(raw)
    except ValueError:
        raise HttpError(400, f"tail must be a whole number, got {raw!r}") from None
    if n <= 0:
        raise HttpError(400, f"tail must be positive, got {n}")
    return n
