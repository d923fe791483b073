"""``FunctionNode``: a remote function bound to its arguments (``f.bind(...)``)."""

from __future__ import annotations

from typing import Any

from .dag_node import DAGNode


class FunctionNode(DAGNode):
    """A task in a graph: ``func_body`` is the remote function, ``func_options`` its options
    (``@remote(...)`` and ``.options(...)`` merged); executing it submits the task."""

    def __init__(
        self, func_body: Any, func_args: Any, func_kwargs: dict[str, Any] | None, func_options: dict[str, Any] | None,
        other_args_to_resolve: dict[str, Any] | None = None,
    ) -> None:
        self._body = func_body
        super().__init__(func_args, func_kwargs, func_options, other_args_to_resolve)

    def _copy_impl(self, args: Any, kwargs: dict[str, Any], options: dict[str, Any], other: dict[str, Any]) -> DAGNode:
        return FunctionNode(self._body, args, kwargs, options, other)

    def _run(
        self, args: Any, kwargs: dict[str, Any], other: dict[str, Any], dag_args: tuple[Any, ...],
        dag_kwargs: dict[str, Any],
    ) -> Any:
        return self._body.options(**self._bound_options).remote(*args, **kwargs)

    def _body_str(self) -> str:
        return str(getattr(self._body, "__qualname__", self._body))
