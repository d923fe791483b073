"""``edgeray.util.state``: Ray's state API (``ray.util.state``): ``list_*``, ``get_*`` and
``summarize_*`` of actors, tasks, nodes, objects, placement groups, jobs and workers, with Ray's
``filters=[("state", "=", "ALIVE")]``, ``limit`` and ``detail``; rows are the dataclasses of
``edgeray.util.state.common``; errors are ``RayStateApiException``.
"""

from .api import (
    get_actor,
    get_node,
    get_objects,
    get_placement_group,
    get_task,
    get_worker,
    list_actors,
    list_jobs,
    list_nodes,
    list_objects,
    list_placement_groups,
    list_tasks,
    list_workers,
    summarize_actors,
    summarize_objects,
    summarize_tasks,
)

__all__ = [
    "get_actor",
    "get_node",
    "get_objects",
    "get_placement_group",
    "get_task",
    "get_worker",
    "list_actors",
    "list_jobs",
    "list_nodes",
    "list_objects",
    "list_placement_groups",
    "list_tasks",
    "list_workers",
    "summarize_actors",
    "summarize_objects",
    "summarize_tasks",
]
