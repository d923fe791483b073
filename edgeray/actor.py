"""``edgeray.actor``: Ray's ``ray.actor`` names."""

from .api import ActorClass, ActorHandle, ActorMethod, exit_actor, method

__all__ = ["ActorClass", "ActorHandle", "ActorMethod", "exit_actor", "method"]
