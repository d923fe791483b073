"""``ray.util.state.exception``: the error the state API raises."""

from __future__ import annotations


class RayStateApiException(Exception):
    """A state query failed: a bad filter or column, or the cluster could not be asked."""


class DataSourceUnavailable(RayStateApiException):
    """No running node could be reached for the query."""


__all__ = ["DataSourceUnavailable", "RayStateApiException"]
