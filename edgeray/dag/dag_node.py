"""``DAGNode``: a bound call (its arguments, options and the other nodes it needs), and the
executor that runs a graph of them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from ._scan import Scanner

T = TypeVar("T")


class DAGNode:
    """A node of a Ray task graph: a type (function call, actor creation, method call, input),
    its bound arguments (values, nodes, nodes nested in values) and its ``.options()``.

    ``execute()`` runs the graph below this node, each node once, children before parents."""

    def __init__(
        self, args: Any, kwargs: dict[str, Any] | None, options: dict[str, Any] | None,
        other_args_to_resolve: dict[str, Any] | None,
    ) -> None:
        self._bound_args: Any = args if args is not None else ()
        self._bound_kwargs: dict[str, Any] = kwargs or {}
        self._bound_options: dict[str, Any] = options or {}
        self._bound_other_args_to_resolve: dict[str, Any] = other_args_to_resolve or {}
        #: the same across copies of this node (Ray's: its key in the executor's cache)
        self._stable_uuid = uuid.uuid4().hex
        #: stable uuid -> what each node of the graph gave, after ``execute(_ray_cache_refs=True)``
        self.cache_from_last_execute: dict[str, Any] = {}

    # ------------------------------------------------------------------ accessors (Ray's)

    def get_args(self) -> Any:
        """The node's bound positional arguments."""
        return self._bound_args

    def get_kwargs(self) -> dict[str, Any]:
        """A copy of the node's bound keyword arguments."""
        return self._bound_kwargs.copy()

    def get_options(self) -> dict[str, Any]:
        """A copy of the node's options (those of ``.options()`` and of ``@remote(...)``)."""
        return self._bound_options.copy()

    def get_other_args_to_resolve(self) -> dict[str, Any]:
        """A copy of what the node needs besides its arguments (e.g. a method node's actor)."""
        return self._bound_other_args_to_resolve.copy()

    def get_stable_uuid(self) -> str:
        return self._stable_uuid

    def experimental_compile(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            "Ray's compiled graphs (DAGNode.experimental_compile) are not supported by edgeray. "
            "Run the graph with dag.execute(...), which submits its tasks and actor calls as usual."
        )

    # ------------------------------------------------------------------ children

    def _bound(self) -> tuple[Any, dict[str, Any], dict[str, Any]]:
        return self._bound_args, self._bound_kwargs, self._bound_other_args_to_resolve

    def _get_toplevel_child_nodes(self) -> list[DAGNode]:
        """The nodes passed directly as arguments (or other args), not nested in values."""
        children: list[DAGNode] = []
        for value in (*self._bound_args, *self._bound_kwargs.values(), *self._bound_other_args_to_resolve.values()):
            if isinstance(value, DAGNode) and not any(value is c for c in children):
                children.append(value)
        return children

    def _get_all_child_nodes(self) -> list[DAGNode]:
        """Every node this one's arguments hold, however deeply nested, each once."""
        return Scanner(DAGNode).find(self._bound())

    def _apply_and_replace_all_child_nodes(self, fn: Callable[[DAGNode], Any]) -> DAGNode:
        """A copy of this node with each child ``c`` replaced by ``fn(c)`` (one level only)."""
        scanner = Scanner(DAGNode)
        table: dict[int, Any] = {}

        def once(node: DAGNode) -> Any:
            if id(node) not in table:
                table[id(node)] = fn(node)
            return table[id(node)]

        args, kwargs, other = scanner.replace(self._bound(), once)
        return self._copy(args, kwargs, self.get_options(), other)

    def apply_recursive(self, fn: Callable[[DAGNode], T]) -> T:
        """Apply ``fn`` to each node of the graph bottom-up (each node once; a node's arguments
        already hold what ``fn`` returned for its children). Recursive, as Ray's: ``execute``
        walks the graph without recursion."""
        if not isinstance(fn, _CachingFn):
            fn = _CachingFn(fn)
        elif self._stable_uuid in fn.cache:
            return fn.cache[self._stable_uuid]
        return fn(self._apply_and_replace_all_child_nodes(lambda node: node.apply_recursive(fn)))

    # ------------------------------------------------------------------ execution

    def execute(self, *args: Any, _ray_cache_refs: bool = False, **kwargs: Any) -> Any:
        """Run the graph under this node with ``args``/``kwargs`` as its ``InputNode``'s value:
        an ``ObjectRef`` (a list of them for a ``MultiOutputNode``, an actor handle for a
        ``ClassNode``). ``_ray_cache_refs``: keep what every node gave in
        ``cache_from_last_execute`` (by stable uuid), as Ray does."""
        scanner = Scanner(DAGNode)
        results: dict[int, Any] = {}
        order = _post_order(self, scanner)
        inputs = _Inputs()
        for node in order:  # before anything is submitted
            inputs.check(node)
        for node in order:
            bound_args, bound_kwargs, other = scanner.replace(node._bound(), lambda n: results[id(n)])
            results[id(node)] = node._run(bound_args, bound_kwargs, other, args, kwargs)
        if _ray_cache_refs:
            self.cache_from_last_execute = {node._stable_uuid: results[id(node)] for node in order}
        return results[id(self)]

    async def get_object_refs_from_last_execute(self) -> dict[str, Any]:
        """What each node gave at the last ``execute(_ray_cache_refs=True)``, by stable uuid."""
        return dict(self.cache_from_last_execute)

    def clear_cache(self) -> None:
        self.cache_from_last_execute = {}

    def _execute_impl(self, *args: Any, **kwargs: Any) -> Any:
        """Run this node alone, its bound arguments already resolved (Ray's executor hook)."""
        return self._run(self._bound_args, self._bound_kwargs, self._bound_other_args_to_resolve, args, kwargs)

    def _run(
        self, args: Any, kwargs: dict[str, Any], other: dict[str, Any], dag_args: tuple[Any, ...],
        dag_kwargs: dict[str, Any],
    ) -> Any:
        """Submit this node with its children's results in ``args``/``kwargs``/``other``."""
        raise NotImplementedError(f"{type(self).__name__} cannot be executed")

    # ------------------------------------------------------------------ copies, printing

    def _copy_impl(self, args: Any, kwargs: dict[str, Any], options: dict[str, Any], other: dict[str, Any]) -> DAGNode:
        return DAGNode(args, kwargs, options, other)

    def _copy(self, args: Any, kwargs: dict[str, Any], options: dict[str, Any], other: dict[str, Any]) -> DAGNode:
        instance = self._copy_impl(args, kwargs, options, other)
        instance._stable_uuid = self._stable_uuid
        return instance

    def _body_str(self) -> str:
        return ""

    def __str__(self) -> str:
        return _Formatter().node(self, 0)

    def __repr__(self) -> str:
        return f"({type(self).__name__}, {self._stable_uuid})"

    def __reduce__(self) -> Any:
        # never captured in a task or pickled by mistake (Ray's rule): execute the graph instead
        raise ValueError(f"DAGNode cannot be serialized. DAGNode: {self!r}; run it with .execute().")

    def __getattr__(self, name: str) -> Any:
        # only for names not found on the node itself
        if name == "bind":
            raise AttributeError(f".bind() cannot be used again on {type(self)} ")
        if name == "remote":
            raise AttributeError(
                f".remote() cannot be used on {type(self)}. To execute the task graph for this node, use .execute()."
            )
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")


class _CachingFn:
    """``apply_recursive``'s function, applied once per node (by stable uuid)."""

    def __init__(self, fn: Callable[[DAGNode], Any]) -> None:
        self.fn = fn
        self.cache: dict[str, Any] = {}
        self.inputs = _Inputs()

    def __call__(self, node: DAGNode) -> Any:
        if node._stable_uuid not in self.cache:
            self.cache[node._stable_uuid] = self.fn(node)
        self.inputs.check(node)
        return self.cache[node._stable_uuid]


class _Inputs:
    """Checks that a graph has one ``InputNode`` at most (Ray's rule: every node that takes the
    graph's input takes it from the same one)."""

    def __init__(self) -> None:
        self.uuid: str | None = None

    def check(self, node: DAGNode) -> None:
        if not getattr(type(node), "_is_input_node", False):
            return
        if self.uuid is None:
            self.uuid = node._stable_uuid
        elif self.uuid != node._stable_uuid:
            raise AssertionError("Each DAG should only have one unique InputNode.")


def _post_order(root: DAGNode, scanner: Scanner) -> list[DAGNode]:
    """The graph's nodes, each once, every node after the nodes it needs (no recursion, so a
    long chain of nodes cannot exhaust Python's stack)."""
    order: list[DAGNode] = []
    visited: set[int] = set()
    stack: list[tuple[DAGNode, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        children = scanner.find(node._bound())
        stack.extend((c, False) for c in reversed(children) if id(c) not in visited)
    return order


class _Formatter:
    """A node as Ray prints it: its type, uuid, body, arguments and options, children indented;
    a node already printed appears as ``(Type, uuid)`` only."""

    def __init__(self) -> None:
        self.printed: set[int] = set()

    def node(self, node: DAGNode, depth: int) -> str:
        if id(node) in self.printed:
            return repr(node)
        self.printed.add(id(node))
        pad = "    " * (depth + 1)
        lines = [
            f"{repr(node)}(",
            f"{pad}body={node._body_str()}",
            f"{pad}args={self.value(node._bound_args, depth + 1)}",
            f"{pad}kwargs={self.value(node._bound_kwargs, depth + 1)}",
            f"{pad}options={node._bound_options!r}",
            f"{pad}other_args_to_resolve={self.value(node._bound_other_args_to_resolve, depth + 1)}",
            "    " * depth + ")",
        ]
        return "\n".join(lines)

    def value(self, value: Any, depth: int) -> str:
        if isinstance(value, DAGNode):
            return self.node(value, depth)
        if type(value) in (list, tuple):
            inner = ", ".join(self.value(v, depth) for v in value)
            return f"[{inner}]" if type(value) is list else f"({inner}{',' if len(value) == 1 else ''})"
        if type(value) is dict:
            return "{" + ", ".join(f"{k!r}: {self.value(v, depth)}" for k, v in value.items()) + "}"
        return repr(value)
