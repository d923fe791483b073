"""``edgeray.util.actor_pool``: Ray's ``ray.util.actor_pool`` module."""

from ._actor_pool import ActorPool

__all__ = ["ActorPool"]
