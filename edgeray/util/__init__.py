"""``edgeray.util``: Ray's ``ray.util`` names: ``ActorPool``, ``queue.Queue``, scheduling strategies,
``list_named_actors``, ``get_node_ip_address``; the modules ``actor_pool``, ``accelerators`` and
``metrics``.

Rule: built on the public API only (``edgeray.api``, ``edgeray.client``'s ``ObjectRef``), like a
user's own library would be.
"""

from . import queue, scheduling_strategies
from ._actor_pool import ActorPool
from ._cluster import get_node_ip_address, list_named_actors
from .placement_group import (
    get_current_placement_group,
    get_placement_group,
    placement_group,
    placement_group_table,
    remove_placement_group,
)

__all__ = [
    "ActorPool",
    "get_current_placement_group",
    "get_node_ip_address",
    "get_placement_group",
    "list_named_actors",
    "placement_group",
    "placement_group_table",
    "queue",
    "remove_placement_group",
    "scheduling_strategies",
]
