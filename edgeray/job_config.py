"""``edgeray.job_config``: Ray's ``ray.job_config`` module."""

from .api._job_config import JobConfig

__all__ = ["JobConfig"]
