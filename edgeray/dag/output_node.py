"""``MultiOutputNode``: several nodes as one graph's outputs."""

from __future__ import annotations

from typing import Any

from .dag_node import DAGNode


class MultiOutputNode(DAGNode):
    """The end of a graph with several outputs: ``MultiOutputNode([a, b]).execute()`` returns
    ``[ref_a, ref_b]``."""

    def __init__(self, args: list[Any] | tuple[Any, ...], other_args_to_resolve: dict[str, Any] | None = None) -> None:
        if isinstance(args, tuple):
            args = list(args)
        if not isinstance(args, list):
            raise ValueError(f"Invalid input type for `args`, {type(args)}: MultiOutputNode takes a list of nodes.")
        super().__init__(args, {}, {}, other_args_to_resolve)

    def _copy_impl(self, args: Any, kwargs: dict[str, Any], options: dict[str, Any], other: dict[str, Any]) -> DAGNode:
        return MultiOutputNode(args, other)

    def _run(
        self, args: Any, kwargs: dict[str, Any], other: dict[str, Any], dag_args: tuple[Any, ...],
        dag_kwargs: dict[str, Any],
    ) -> Any:
        return list(args)

    def _body_str(self) -> str:
        return "__MultiOutputNode__"
