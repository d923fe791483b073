"""The raylet: a node's resources, object directory, scheduler, task table and worker pool.

- ``_directory``: ``ObjectDirectory``, the object directory and read pins (entries, holders,
  pins, waiters, sealing, freeing, the leases processes read shared memory under), a part that
  owns its tables and acts through a ``Store`` and ``DirectoryEffects`` given at construction.
- ``_fetch``: ``Fetcher``, copying objects held by other nodes into this node's store (chunked).
- ``_forwarding``: ``Forwarding``, the tasks sent to other nodes and the objects they hold for us.
- ``_lineage``: ``Lineage``, the finished forwarded tasks kept (bounded) to recompute lost results.
- ``_objects``: ``ObjectTable``/``ObjectEntry``, the directory's reference-counted entries.
- ``_resources``: ``NodeResources``, resource pools in the plugins' units.
- ``_scheduler``: ``Scheduler``, the scheduler's pass (shape by shape, first in first out), acting
  through ``SchedulerEffects``.
- ``_task_table``: ``TaskTable``, where each task is (live, ready, running, infeasible) and the one
  retry decision.
- ``_worker_pool``: ``WorkerPool``, the workers' lifecycle table (illegal transitions raise),
  acting on the world through ``WorkerEffects``.

Rule: imports ``edgeray.protocol``, ``edgeray.object_store``, ``edgeray.plugins``,
``edgeray.config``, ``edgeray.exceptions``, trio and the standard library; never ``client``,
``worker`` or ``api``. The state classes are plain synchronous Python, driven by the node's
single Trio thread, so they are tested without any I/O.
"""

from ._directory import (
    DirectoryEffects,
    ObjectDirectory,
    error_payload,
    is_marker,
    lost_payload,
    marker_for,
)
from ._fetch import FetchEffects, Fetcher
from ._fetch import Link as FetchLink
from ._forwarding import ForwardEffects, Forwarding
from ._lineage import LINEAGE_LIMIT, Lineage
from ._objects import ObjectEntry, ObjectTable
from ._resources import GPU, NodeResources, from_units, to_units
from ._tasks import TaskSpec, validate_spec

__all__ = [
    "ObjectEntry",
    "ObjectTable",
    "ObjectDirectory",
    "Lineage",
    "Forwarding",
    "ForwardEffects",
    "Fetcher",
    "FetchEffects",
    "FetchLink",
    "LINEAGE_LIMIT",
    "DirectoryEffects",
    "error_payload",
    "lost_payload",
    "is_marker",
    "marker_for",
    "NodeResources",
    "GPU",
    "to_units",
    "from_units",
    "TaskSpec",
    "validate_spec",
]
