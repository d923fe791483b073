"""The raylet: a node's resources, object table, scheduler (``_scheduler.Scheduler``, acting
through ``SchedulerEffects``), task table (``_task_table.TaskTable``: where each task is, and the
one retry path) and worker pool (``_worker_pool.WorkerPool``, the workers' lifecycle table,
acting on the world through ``WorkerEffects``).

Rule: imports ``edgeray.protocol``, ``edgeray.object_store``, ``edgeray.plugins``,
``edgeray.config``, ``edgeray.exceptions``, trio and the standard library; never ``client``,
``worker`` or ``api``. The state classes are plain synchronous Python, driven by the node's
single Trio thread, so they are tested without any I/O.
"""

from ._objects import ObjectEntry, ObjectTable
from ._resources import GPU, NodeResources, from_units, to_units
from ._tasks import TaskSpec, validate_spec

__all__ = [
    "ObjectEntry",
    "ObjectTable",
    "NodeResources",
    "GPU",
    "to_units",
    "from_units",
    "TaskSpec",
    "validate_spec",
]
