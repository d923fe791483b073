"""``edgeray.util``: Ray's ``ray.util`` names: ``ActorPool``, ``queue.Queue``, scheduling strategies.

Rule: built on the public API only (``edgeray.api``, ``edgeray.client``'s ``ObjectRef``), like a
user's own library would be.
"""

from . import queue, scheduling_strategies
from ._actor_pool import ActorPool

__all__ = ["ActorPool", "queue", "scheduling_strategies"]
