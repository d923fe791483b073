"""``InputNode``: where a graph's input comes in (``with InputNode() as inp:``), and
``InputAttributeNode``: a part of it (``inp[0]``, ``inp["key"]``, ``inp.field``)."""

from __future__ import annotations

from typing import Any

from .constants import IN_CONTEXT_MANAGER
from .dag_node import DAGNode

_KEY_ERROR = "Please only use int index or str as first-level key to access fields of dag input."


class InputNode(DAGNode):
    """The input of a graph: ``dag.execute(x)`` passes ``x`` where the node was bound;
    ``dag.execute(1, 2, k=3)`` makes ``inp[0] == 1``, ``inp[1] == 2``, ``inp.k == inp["k"] == 3``.
    A single argument is passed as it is, so ``inp[0]``, ``inp["k"]`` and ``inp.k`` index it,
    or read its attribute. Use it as a context manager, once per graph."""

    _is_input_node = True

    def __init__(self, *args: Any, input_type: Any = None, _other_args_to_resolve: dict[str, Any] | None = None,
                 **kwargs: Any) -> None:
        if args or kwargs:
            raise ValueError("InputNode should not take any args or kwargs: the input is given to dag.execute(...).")
        #: (accessor, key) -> its node: ``inp.k`` reads an attribute of a single input, ``inp["k"]`` an item
        self.input_attribute_nodes: dict[tuple[str, int | str], InputAttributeNode] = {}
        self.input_type = input_type
        super().__init__([], {}, {}, dict(_other_args_to_resolve or {}))

    def _copy_impl(self, args: Any, kwargs: dict[str, Any], options: dict[str, Any], other: dict[str, Any]) -> DAGNode:
        return InputNode(_other_args_to_resolve=other)

    def _in_context_manager(self) -> bool:
        return bool(self._bound_other_args_to_resolve.get(IN_CONTEXT_MANAGER))

    def _run(
        self, args: Any, kwargs: dict[str, Any], other: dict[str, Any], dag_args: tuple[Any, ...],
        dag_kwargs: dict[str, Any],
    ) -> Any:
        if not other.get(IN_CONTEXT_MANAGER):
            raise AssertionError(
                "InputNode is a singleton instance that should be only used in context manager for dag building "
                "and execution: 'with InputNode() as inp: dag = f.bind(inp)', then dag.execute(value)."
            )
        if len(dag_args) == 1 and not dag_kwargs:
            return dag_args[0]
        return DAGInputData(*dag_args, **dag_kwargs)

    def set_context(self, key: str, val: Any) -> None:
        self._bound_other_args_to_resolve[key] = val

    def __enter__(self) -> InputNode:
        self.set_context(IN_CONTEXT_MANAGER, True)
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def __getattr__(self, key: str) -> Any:
        # only for names not found on the node itself: a field of the input
        nodes = self.__dict__.get("input_attribute_nodes")
        if nodes is None or (key.startswith("__") and key.endswith("__")):
            raise AttributeError(key)
        if ("__getattr__", key) not in nodes:
            nodes["__getattr__", key] = InputAttributeNode(self, key, "__getattr__")
        return nodes["__getattr__", key]

    def __getitem__(self, key: int | str) -> InputAttributeNode:
        if isinstance(key, bool) or not isinstance(key, int | str):
            raise AssertionError(f"{_KEY_ERROR} Got {key!r}.")
        nodes = self.input_attribute_nodes
        if ("__getitem__", key) not in nodes:
            nodes["__getitem__", key] = InputAttributeNode(self, key, "__getitem__")
        return nodes["__getitem__", key]

    def _body_str(self) -> str:
        return "__InputNode__"


class InputAttributeNode(DAGNode):
    """A part of a graph's input: an index or key (``inp[0]``, ``inp["k"]``) or an attribute
    (``inp.k``), read from the value given to ``execute``."""

    def __init__(self, dag_input_node: Any, key: int | str, accessor_method: str, input_type: str | None = None) -> None:
        self._dag_input_node = dag_input_node
        self._key = key
        self._accessor_method = accessor_method
        super().__init__([], {}, {}, {
            "dag_input_node": dag_input_node, "key": key, "accessor_method": accessor_method,
            "result_type_string": input_type,
        })

    def _copy_impl(self, args: Any, kwargs: dict[str, Any], options: dict[str, Any], other: dict[str, Any]) -> DAGNode:
        return InputAttributeNode(other["dag_input_node"], other["key"], other["accessor_method"],
                                  other["result_type_string"])

    def _run(
        self, args: Any, kwargs: dict[str, Any], other: dict[str, Any], dag_args: tuple[Any, ...],
        dag_kwargs: dict[str, Any],
    ) -> Any:
        value, key = other["dag_input_node"], other["key"]
        if isinstance(value, DAGInputData):
            return value[key]
        if isinstance(key, str) and other["accessor_method"] == "__getattr__":
            return getattr(value, key)
        return value[key]

    def _body_str(self) -> str:
        return f"[{self._key!r}]"


class DAGInputData:
    """The input of a graph executed with several arguments: ``[i]`` reads the i-th positional
    one, ``["k"]`` the keyword one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._args = list(args)
        self._kwargs = kwargs

    def __getitem__(self, key: int | str) -> Any:
        if isinstance(key, int) and not isinstance(key, bool):
            return self._args[key]
        if isinstance(key, str):
            return self._kwargs[key]
        raise ValueError(_KEY_ERROR)

    def __repr__(self) -> str:
        return f"DAGInputData(args={self._args!r}, kwargs={self._kwargs!r})"
