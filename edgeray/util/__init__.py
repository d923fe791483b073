"""``edgeray.util``: Ray's ``ray.util`` names (scheduling strategies; more with issues 4 and 5)."""

from . import scheduling_strategies

__all__ = ["scheduling_strategies"]
