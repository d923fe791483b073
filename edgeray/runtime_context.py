"""``edgeray.runtime_context``: Ray's ``ray.runtime_context`` module."""

from .api import RuntimeContext, get_runtime_context

__all__ = ["RuntimeContext", "get_runtime_context"]
