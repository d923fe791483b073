"""The node's HTTP pages (``http_router``) and its Prometheus metrics (``GET /metrics``).

Where the metrics come from: **each node serves its own**, as each Ray node's metrics agent
does (Prometheus scrapes every node; its ``instance`` label tells them apart), and the head
adds the cluster's gauges (``ray_cluster_active_nodes``, placement groups, actors, which its
GCS holds). We chose this over the head aggregating every node's numbers: a scrape then costs
one node's tables, never a round of calls across the cluster, a node's metrics do not go
missing while the head is down, and Prometheus sums across nodes as it does for Ray
(``sum(ray_tasks) by (State)``). User metrics (``edgeray.util.metrics``) are reported to the
node their process is connected to (``_user_metrics``).

Ray's names where Ray has one (its "System Metrics" page): ``ray_tasks{Name,State,IsRetry,
JobId}``, ``ray_actors{Name,State,JobId}``, ``ray_placement_groups{State}``,
``ray_resources{Name,State}`` (USED/AVAILABLE), ``ray_object_store_memory{Location,
ObjectState}``, ``ray_object_store_used_memory``, ``ray_object_store_available_memory``,
``ray_object_store_num_local_objects``, ``ray_scheduler_tasks{State}``,
``ray_scheduler_unscheduleable_tasks{Reason}``, ``ray_internal_num_processes_started``,
``ray_node_cpu_count``, ``ray_node_mem_total``/``_available``/``_used``,
``ray_cluster_active_nodes{node_type}``; edgeray's own as ``edgeray_*``.

Routes: ``GET /metrics`` (the cluster token as a bearer header) and ``GET /api/version``,
Ray's dashboard health check, which needs no token (it says nothing about the cluster); the
dashboard's (``_dashboard``).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import TYPE_CHECKING, Any

from ..transport import Response, Route, Router, bearer_ok
from ._dashboard import dashboard_routes
from ._exposition import CONTENT_TYPE, Family, render

if TYPE_CHECKING:
    from ._service import NodeServer

VERSION = "0.1.0"  # (edgeray's, as ``edgeray.__version__``: the node may not import the façade)


def http_router(server: NodeServer) -> Router:
    """The node's pages: ``(method, path) -> Route``."""
    return Router({
        **dashboard_routes(server),
        ("GET", "/metrics"): Route(lambda req: metrics_page(server)),
        ("GET", "/api/version"): Route(lambda req: version_page(server), public=True),
    }, server.token, bearer_ok)


def version_page(server: NodeServer) -> Response:
    """Ray's ``/api/version`` fields (its Jobs SDK asks it first); ``version`` is the API's."""
    body = {"version": "1", "ray_version": VERSION, "ray_commit": "", "session_name": server.node_id.hex(),
            "edgeray_version": VERSION}
    return Response(200, json.dumps(body).encode(), content_type="application/json")


def metrics_page(server: NodeServer) -> Response:
    families = node_families(server)
    taken = {f.name for f in families}
    families += server.user_metrics.exposition(taken)
    return Response(200, render(families).encode(), content_type=CONTENT_TYPE)


def node_families(server: NodeServer) -> list[Family]:
    core = server.core
    return [
        *_task_families(core),
        *_resource_families(core),
        *_store_families(core.store.stats()),
        *_gcs_families(core, server.config.node.head),
        *_host_families(),
    ]


def _task_families(core: Any) -> list[Family]:
    tasks = Family("ray_tasks", "gauge", "Current number of tasks (remote functions and actor calls) by state.")
    counts = Counter((r["name"], r["state"], r["job_id"]) for r in core.task_rows())
    for (name, state, job), n in sorted(counts.items()):
        tasks.add(float(n), Name=name, State=state, IsRetry="0", JobId=job)
    workers = Family("edgeray_worker_processes", "gauge", "Worker processes of this node by state.")
    for state, n in sorted(Counter(w.state for w in core.workers.values()).items()):
        workers.add(float(n), State=state.upper())
    stats = core.stats
    return [
        tasks,
        Family("ray_scheduler_tasks", "gauge", "Tasks waiting for scheduling or running on this node, by state.")
        .add(float(len(core.ready)), State="Waiting").add(float(len(core.running)), State="Executing"),
        Family("ray_scheduler_unscheduleable_tasks", "gauge", "Tasks that cannot be scheduled, by reason.")
        .add(float(sum(1 for t in core.infeasible if not t.done)), Reason="Infeasible"),
        Family("ray_internal_num_processes_started", "gauge", "Worker processes started by this node.")
        .add(float(stats.get("workers_started", 0))),
        workers,
        Family("edgeray_tasks_submitted", "counter", "Tasks submitted to this node.").add(float(stats.get("tasks_submitted", 0))),
        Family("edgeray_tasks_finished", "counter", "Tasks finished on this node (via the node or on a direct lease).")
        .add(float(stats.get("tasks_finished", 0) + stats.get("direct_tasks_finished", 0))),
        Family("edgeray_task_retries", "counter", "Task attempts retried on this node.").add(float(stats.get("task_retries", 0))),
        Family("edgeray_worker_deaths", "counter", "Worker processes of this node that died.").add(float(stats.get("workers_died", 0))),
    ]


def _resource_families(core: Any) -> list[Family]:
    total, available = core.resources.snapshot_total(), core.resources.snapshot_available()
    f = Family("ray_resources", "gauge", "Logical resources of this node, USED and AVAILABLE.")
    for name in sorted(total):
        free = available.get(name, 0.0)
        f.add(float(total[name] - free), Name=name, State="USED").add(float(free), Name=name, State="AVAILABLE")
    return [f]


def _store_families(s: dict[str, Any]) -> list[Family]:
    location = "MMAP_SHM" if s.get("arena_kind", "shm") == "shm" else "MMAP_DISK"
    return [
        Family("ray_object_store_memory", "gauge", "Object store memory in bytes, by location.")
        .add(float(s["used"]), Location=location, ObjectState="SEALED")
        .add(float(s.get("spilled_bytes", 0)), Location="SPILLED", ObjectState="SEALED"),
        Family("ray_object_store_used_memory", "gauge", "Bytes of the object store in use.").add(float(s["used"])),
        Family("ray_object_store_available_memory", "gauge", "Bytes of the object store free.").add(float(s["available"])),
        Family("ray_object_store_num_local_objects", "gauge", "Objects in this node's store.").add(float(s["num_objects"])),
        Family("edgeray_object_store_spills", "counter", "Objects spilled to disk.").add(float(s.get("num_spills", 0))),
        Family("edgeray_object_store_restores", "counter", "Spilled objects read back.").add(float(s.get("num_restores", 0))),
    ]


def _gcs_families(core: Any, head: bool) -> list[Family]:
    actors = Family("ray_actors", "gauge", "Current number of actors by state.")
    counts = Counter((a.class_name, a.state, a.job_id.hex()) for a in core.gcs.actors.values() if not a.stub)
    for (name, state, job), n in sorted(counts.items()):
        actors.add(float(n), Name=name, State=state, JobId=job)
    pgs = Family("ray_placement_groups", "gauge", "Current number of placement groups by state.")
    for state, n in sorted(Counter(r.state for r in core.gcs.pgs.values()).items()):
        pgs.add(float(n), State=state)
    out = [actors, pgs]
    if head:
        out.append(Family("ray_cluster_active_nodes", "gauge", "Healthy nodes in the cluster.")
                   .add(float(len(core.cluster.alive_ids())), node_type="node"))
    return out


def _host_families() -> list[Family]:
    out = [Family("ray_node_cpu_count", "gauge", "CPU cores of this machine.").add(float(os.cpu_count() or 1))]
    mem = _meminfo()
    if mem:
        total, free = mem.get("MemTotal", 0), mem.get("MemAvailable", 0)
        out += [
            Family("ray_node_mem_total", "gauge", "Physical memory of this machine, bytes.").add(float(total)),
            Family("ray_node_mem_available", "gauge", "Physical memory available, bytes.").add(float(free)),
            Family("ray_node_mem_used", "gauge", "Physical memory in use, bytes.").add(float(total - free)),
        ]
    return out


def _meminfo() -> dict[str, int]:
    """``/proc/meminfo`` in bytes (Linux); empty elsewhere."""
    try:
        with open("/proc/meminfo") as f:
            lines = f.read().splitlines()
    except OSError:
        return {}
    out = {}
    for line in lines:
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            out[key] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    return out
