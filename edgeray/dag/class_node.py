"""``ClassNode``: an actor class bound to its constructor's arguments (``Actor.bind(...)``), and
``ClassMethodNode``: a method call on it (``node.method.bind(...)``) or on an actor handle."""

from __future__ import annotations

from typing import Any

from .constants import BIND_INDEX_KEY, PARENT_CLASS_NODE_KEY, PREV_CLASS_METHOD_CALL_KEY
from .dag_node import DAGNode


class ClassNode(DAGNode):
    """An actor's creation in a graph: ``cls`` is the actor class (``@remote`` class), ``user_class``
    the class it was made from; executing the node creates the actor and returns its handle.
    ``node.method.bind(...)`` binds a call of one of its methods; calls bound on the same node
    run in the order they were bound."""

    def __init__(
        self, cls: Any, cls_args: Any, cls_kwargs: dict[str, Any] | None, cls_options: dict[str, Any] | None,
        other_args_to_resolve: dict[str, Any] | None = None, *, user_class: type | None = None,
    ) -> None:
        self._body = cls
        self._user_class = user_class if user_class is not None else cls
        self._last_call: ClassMethodNode | None = None
        super().__init__(cls_args, cls_kwargs, cls_options, other_args_to_resolve)
        if any(getattr(type(c), "_is_input_node", False) for c in self._get_all_child_nodes()):
            raise ValueError(
                "InputNode handles user dynamic input the the DAG, and cannot be used as args, kwargs, or "
                "other_args_to_resolve in ClassNode constructor because it is not available at class construction "
                "or binding time."
            )

    def _copy_impl(self, args: Any, kwargs: dict[str, Any], options: dict[str, Any], other: dict[str, Any]) -> DAGNode:
        return ClassNode(self._body, args, kwargs, options, other, user_class=self._user_class)

    def _run(
        self, args: Any, kwargs: dict[str, Any], other: dict[str, Any], dag_args: tuple[Any, ...],
        dag_kwargs: dict[str, Any],
    ) -> Any:
        return self._body.options(**self._bound_options).remote(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        # only for names not found on the node itself: a method of the actor
        user_class = self.__dict__.get("_user_class")
        if user_class is None or (name.startswith("__") and name.endswith("__")):
            raise AttributeError(name)
        if name == "bind" and not hasattr(user_class, "bind"):
            raise AttributeError(f".bind() cannot be used again on {type(self)} ")
        getattr(user_class, name)  # AttributeError: "type object 'Actor' has no attribute 'x'"
        return _UnboundClassMethodNode(self, name, {})

    def _body_str(self) -> str:
        return str(getattr(self._user_class, "__qualname__", self._user_class))


class _UnboundClassMethodNode:
    """``class_node.method``: ``.bind(...)`` it (after ``.options(...)``, if any)."""

    def __init__(self, actor: ClassNode, method_name: str, options: dict[str, Any]) -> None:
        self._actor = actor
        self._method_name = method_name
        self._options = options

    def bind(self, *args: Any, **kwargs: Any) -> ClassMethodNode:
        other = {PARENT_CLASS_NODE_KEY: self._actor, PREV_CLASS_METHOD_CALL_KEY: self._actor._last_call}
        node = ClassMethodNode(self._method_name, args, kwargs, self._options, other)
        self._actor._last_call = node
        return node

    def options(self, **options: Any) -> _UnboundClassMethodNode:
        return _UnboundClassMethodNode(self._actor, self._method_name, options)

    def __getattr__(self, name: str) -> Any:
        if name == "remote":
            raise AttributeError(
                ".remote() cannot be used on ClassMethodNodes. Use .bind() instead to express an symbolic actor call."
            )
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")


class ClassMethodNode(DAGNode):
    """An actor method call in a graph. Its actor (``other_args_to_resolve[PARENT_CLASS_NODE_KEY]``)
    is a ``ClassNode`` or an actor handle; the call bound before it on the same ``ClassNode``
    (``[PREV_CLASS_METHOD_CALL_KEY]``) is submitted first."""

    def __init__(
        self, method_name: str, method_args: Any, method_kwargs: dict[str, Any] | None,
        method_options: dict[str, Any] | None, other_args_to_resolve: dict[str, Any],
    ) -> None:
        self._method_name = method_name
        self._parent_class_node = other_args_to_resolve.get(PARENT_CLASS_NODE_KEY)
        self._prev_class_method_call = other_args_to_resolve.get(PREV_CLASS_METHOD_CALL_KEY)
        self._bind_index = other_args_to_resolve.get(BIND_INDEX_KEY)
        super().__init__(method_args, method_kwargs, method_options, other_args_to_resolve)

    def _copy_impl(self, args: Any, kwargs: dict[str, Any], options: dict[str, Any], other: dict[str, Any]) -> DAGNode:
        return ClassMethodNode(self._method_name, args, kwargs, options, other)

    def _run(
        self, args: Any, kwargs: dict[str, Any], other: dict[str, Any], dag_args: tuple[Any, ...],
        dag_kwargs: dict[str, Any],
    ) -> Any:
        method = getattr(other[PARENT_CLASS_NODE_KEY], self._method_name)
        if self._bound_options:
            method = method.options(**self._bound_options)
        return method.remote(*args, **kwargs)

    def get_method_name(self) -> str:
        return self._method_name

    def _body_str(self) -> str:
        return f"{self._method_name}()"
