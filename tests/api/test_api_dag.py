"""Ray's DAG API (``edgeray.dag``) without a node: what ``.bind()`` builds, its accessors, the
graph walks and the errors Ray gives (ported from Ray's ``python/ray/dag/tests/``)."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

import edgeray as ray
from edgeray.dag import (
    PARENT_CLASS_NODE_KEY,
    PREV_CLASS_METHOD_CALL_KEY,
    ClassMethodNode,
    ClassNode,
    DAGNode,
    FunctionNode,
    InputAttributeNode,
    InputNode,
    MultiOutputNode,
)


@ray.remote
def a(*args: Any, **kwargs: Any) -> None:
    return None


@ray.remote
class Actor:
    def __init__(self, init_value: int = 0) -> None:
        self.i = init_value

    def inc(self, x: int) -> None:
        self.i += x

    def get(self) -> int:
        return self.i


def test_dag_is_reachable_as_rays_module() -> None:
    import edgeray.dag.class_node
    import edgeray.dag.dag_node
    import edgeray.dag.function_node
    import edgeray.dag.input_node
    import edgeray.dag.output_node

    assert ray.dag.InputNode is edgeray.dag.input_node.InputNode is InputNode
    assert ray.dag.MultiOutputNode is edgeray.dag.output_node.MultiOutputNode
    assert edgeray.dag.dag_node.DAGNode is DAGNode and edgeray.dag.function_node.FunctionNode is FunctionNode
    assert edgeray.dag.class_node.ClassNode is ClassNode


def test_bind_makes_nodes_of_rays_types() -> None:
    f = a.bind(1)
    c = Actor.bind(10)
    m = c.get.bind()
    assert isinstance(f, FunctionNode) and isinstance(f, DAGNode)
    assert isinstance(c, ClassNode) and isinstance(m, ClassMethodNode)
    with InputNode() as inp:
        assert isinstance(inp[0], InputAttributeNode) and isinstance(inp.x, InputAttributeNode)
        assert inp[0] is inp[0] and inp.x is inp.x and inp["x"] is not inp.x
    assert isinstance(MultiOutputNode([f, m]), DAGNode)


def test_node_accessors() -> None:  # Ray's test_function_dag.py::test_node_accessors
    tmp1, tmp2, tmp3 = a.bind(), a.bind(), a.bind()
    node = a.bind(1, tmp1, x=tmp2, y={"foo": tmp3})
    assert node.get_args() == (1, tmp1)
    assert node.get_kwargs() == {"x": tmp2, "y": {"foo": tmp3}}
    assert node._get_toplevel_child_nodes() == [tmp1, tmp2]
    assert node._get_all_child_nodes() == [tmp1, tmp2, tmp3]

    tmp4, tmp5 = a.bind(), a.bind()
    replace = {tmp1: tmp4, tmp2: tmp4, tmp3: tmp5}
    n2 = node._apply_and_replace_all_child_nodes(lambda x: replace[x])
    assert n2._get_all_child_nodes() == [tmp4, tmp5]
    assert n2.get_stable_uuid() == node.get_stable_uuid()
    assert node._get_all_child_nodes() == [tmp1, tmp2, tmp3]  # the original is unchanged


class _Holder:
    def __init__(self, inner: Any) -> None:
        self.inner = inner


def test_nodes_nested_in_any_object_are_found_and_replaced() -> None:
    t1, t2 = a.bind(), a.bind()
    holder = _Holder({"k": [t1, (t2,)]})
    node = a.bind(holder, [1, 2], {"plain": "x"})
    assert node._get_all_child_nodes() == [t1, t2]
    n2 = node._apply_and_replace_all_child_nodes(lambda n: "one" if n is t1 else "two")
    new_holder, plain_list, plain_dict = n2.get_args()
    assert new_holder.inner == {"k": ["one", ("two",)]}
    assert holder.inner["k"][0] is t1  # the bound value itself is not changed
    assert plain_list is node.get_args()[1] and plain_dict is node.get_args()[2]  # no node: not copied


def test_dag_options() -> None:  # Ray's test_function_dag.py::test_dag_options
    @ray.remote(num_gpus=100)
    def foo() -> None:
        pass

    assert foo.bind().get_options() == {"num_gpus": 100}
    assert foo.options(num_gpus=300).bind().get_options() == {"num_gpus": 300}
    assert foo.options(num_cpus=500).bind().get_options() == {"num_gpus": 100, "num_cpus": 500}

    @ray.remote
    def bar() -> None:
        pass

    assert bar.bind().get_options() == {}
    assert bar.options(num_gpus=100).bind().get_options() == {"num_gpus": 100}

    @ray.remote(num_gpus=100)
    class Foo:
        pass

    assert Foo.bind().get_options() == {"num_gpus": 100}
    assert Foo.options(num_gpus=300).bind().get_options() == {"num_gpus": 300}
    assert Foo.options(num_cpus=500).bind().get_options() == {"num_gpus": 100, "num_cpus": 500}

    @ray.remote
    class Bar:
        pass

    assert Bar.bind().get_options() == {}


def test_method_calls_bound_on_a_class_node_chain_in_bind_order() -> None:  # test_actor_options_complicated
    a1 = Actor.options(name="a1_v1").bind(10)
    a1.inc.options(name="v1").bind(2)
    a1.inc.options(name="v2").bind(4)
    get = a1.get.bind()
    other = get.get_other_args_to_resolve()
    assert other[PARENT_CLASS_NODE_KEY] is a1 and a1.get_options() == {"name": "a1_v1"}
    assert get.get_options() == {}
    assert other[PREV_CLASS_METHOD_CALL_KEY].get_options() == {"name": "v2"}
    first = other[PREV_CLASS_METHOD_CALL_KEY].get_other_args_to_resolve()[PREV_CLASS_METHOD_CALL_KEY]
    assert first.get_options() == {"name": "v1"} and first.get_args() == (2,)
    assert first.get_other_args_to_resolve()[PREV_CLASS_METHOD_CALL_KEY] is None


def test_serialize_is_refused() -> None:  # Ray's test_class_dag.py::test_serialize_warning
    node = DAGNode([], {}, {}, {})
    with pytest.raises(ValueError, match="DAGNode cannot be serialized"):
        pickle.dumps(node)
    with pytest.raises(ValueError, match="DAGNode cannot be serialized"):
        pickle.dumps(a.bind(1))


def test_unsupported_bind_and_remote() -> None:  # test_class_dag.py::test_unsupported_bind/_remote
    with pytest.raises(AttributeError, match=r"\.bind\(\) cannot be used again on"):
        Actor.bind().bind()
    with pytest.raises(AttributeError, match=r"\.remote\(\) cannot be used on ClassMethodNodes"):
        Actor.bind().get.remote()
    with pytest.raises(AttributeError, match="'Actor' has no attribute 'remote'"):
        Actor.bind().remote()
    with pytest.raises(AttributeError, match=r"\.remote\(\) cannot be used on"):
        a.bind().remote()
    with pytest.raises(AttributeError, match=r"\.bind\(\) cannot be used again on"):
        a.bind().bind()
    with pytest.raises(AttributeError, match="has no attribute 'no_such_method'"):
        Actor.bind().no_such_method.bind()


def test_input_node_takes_no_arguments() -> None:  # test_input_node.py::test_no_args_to_input_node
    with pytest.raises(ValueError, match="InputNode should not take any args or kwargs"):
        with InputNode(0) as dag_input:
            a.bind(dag_input)
    with pytest.raises(ValueError, match="InputNode should not take any args or kwargs"):
        with InputNode(key=1) as dag_input:
            a.bind(dag_input)


def test_input_node_keys_are_int_or_str() -> None:
    with pytest.raises(AssertionError, match="Please only use int index or str as first-level key"):
        with InputNode() as dag_input:
            Actor.bind(1).inc.bind(dag_input[(1, 2)])


def test_input_node_is_not_an_actor_constructor_argument() -> None:
    # Ray's test_input_node.py::test_invalid_input_node_as_class_constructor
    with pytest.raises(ValueError, match="cannot be used as args, kwargs, or other_args_to_resolve in ClassNode"):
        with InputNode() as dag_input:
            Actor.bind(dag_input)


def test_input_node_outside_its_with_block_is_refused_at_execute() -> None:
    # Ray's test_input_node.py::test_ensure_in_context_manager (checked before anything is submitted)
    node = InputNode()
    with pytest.raises(AssertionError, match="InputNode is a singleton instance that should be only used in context"):
        node.execute()
    dag = a.bind(InputNode())
    with pytest.raises(AssertionError, match="InputNode is a singleton instance that should be only used in context"):
        dag.execute()


def test_one_input_node_per_dag() -> None:
    # Ray's test_input_node.py::test_ensure_input_node_singleton: refused before any task is submitted
    with InputNode() as input_1:
        x = input_1[0]
    with InputNode() as input_2:
        dag = MultiOutputNode([x, input_2])
    with pytest.raises(AssertionError, match="Each DAG should only have one unique InputNode"):
        dag.execute(2)


def test_apply_recursive_visits_each_node_once() -> None:  # test_input_node.py::test_apply_recursive_caching
    node = InputNode()
    left, right = node, a.bind(node)
    for _ in range(10):
        left, right = a.bind(left, right), a.bind(left, right)
    counter = 0
    original = DAGNode.apply_recursive

    def counting(self: DAGNode, fn: Any) -> Any:
        nonlocal counter
        counter += 1
        return original(self, fn)

    DAGNode.apply_recursive = counting  # type: ignore[method-assign]
    try:
        seen: list[str] = []
        left.apply_recursive(lambda n: seen.append(n.get_stable_uuid()) or n)
    finally:
        DAGNode.apply_recursive = original  # type: ignore[method-assign]
    assert counter == 40
    assert len(seen) == len(set(seen)) == 21  # the InputNode, f(input), 9 layers of two, the top


def test_multi_output_node_takes_a_list() -> None:
    with pytest.raises(ValueError, match="Invalid input type"):
        MultiOutputNode(a.bind())  # type: ignore[arg-type]
    assert MultiOutputNode((a.bind(),)).get_args().__class__ is list


def test_compiled_graphs_are_refused_clearly() -> None:
    with InputNode() as inp:
        dag = a.bind(inp)
    with pytest.raises(NotImplementedError, match="compiled graphs .* not supported by edgeray.*execute"):
        dag.experimental_compile()


def test_printing_a_dag_shows_its_nodes() -> None:
    with InputNode() as inp:
        shared = a.bind(inp[0])
        dag = a.options(name="top").bind(shared, [shared], k=inp.x)
    text = str(dag)
    assert text.startswith(f"(FunctionNode, {dag.get_stable_uuid()})(")
    assert "options={'name': 'top'}" in text and "__InputNode__" in text and "['x']" in text
    assert text.count(f"(FunctionNode, {shared.get_stable_uuid()})") == 2  # printed once, then named
