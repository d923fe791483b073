"""Ray DAGs with actors against a real node: ``Actor.bind()``, ``node.method.bind()``, the order of
calls bound on one actor, handles as arguments (ported from Ray's ``test_class_dag.py`` and
``test_input_node.py``, and the actor example of its DAG page). Each test has its own session:
the actors a graph creates live until the job ends."""

from __future__ import annotations

from typing import Any

import pytest

from edgeray.dag import PARENT_CLASS_NODE_KEY, PREV_CLASS_METHOD_CALL_KEY, ClassNode, InputNode

pytestmark = pytest.mark.timeout(180)


def _actor(ray: Any) -> Any:
    @ray.remote
    class Actor:
        def __init__(self, init_value: int) -> None:
            self.i = init_value

        def inc(self, x: int) -> None:
            self.i += x

        def get(self) -> int:
            return self.i

    return Actor


def _model(ray: Any) -> Any:
    @ray.remote
    class Model:
        def __init__(self, weight: float) -> None:
            self.weight = weight

        def forward(self, input: float) -> float:
            return self.weight * input

    return Model


def test_basic_actor_dag(ray: Any) -> None:  # Ray's test_class_dag.py::test_basic_actor_dag (and its docs)
    Actor = _actor(ray)

    @ray.remote
    def combine(x: int, y: int) -> int:
        return x + y

    a1 = Actor.bind(10)
    res = a1.get.bind()
    print(res)
    assert ray.get(res.execute()) == 10

    a2 = Actor.bind(10)
    a1.inc.bind(2)
    a1.inc.bind(4)
    a2.inc.bind(6)
    dag = combine.bind(a1.get.bind(), a2.get.bind())
    print(dag)
    assert ray.get(dag.execute()) == 32  # the calls bound on a1 and a2 run first, in bind order


def test_class_node_execute_returns_a_new_actor_each_time(ray: Any) -> None:
    Actor = _actor(ray)
    node = Actor.bind(5)
    assert isinstance(node, ClassNode)
    h1, h2 = node.execute(), node.execute()
    assert isinstance(h1, ray.actor.ActorHandle) and h1 != h2
    ray.get(h1.inc.remote(1))
    assert ray.get([h1.get.remote(), h2.get.remote()]) == [6, 5]


def test_class_as_class_constructor_arg(ray: Any) -> None:  # Ray's test_class_dag.py
    Actor = _actor(ray)

    @ray.remote
    class OuterActor:
        def __init__(self, inner_actor: Any) -> None:
            self.inner_actor = inner_actor

        def inc(self, x: int) -> None:
            self.inner_actor.inc.remote(x)

        def get(self) -> int:
            return ray.get(self.inner_actor.get.remote())

    outer = OuterActor.bind(Actor.bind(10))
    outer.inc.bind(2)
    dag = outer.get.bind()
    assert ray.get(dag.execute()) == 12


def test_class_as_function_constructor_arg(ray: Any) -> None:  # Ray's test_class_dag.py
    Actor = _actor(ray)

    @ray.remote
    def f(actor_handle: Any) -> int:
        assert isinstance(actor_handle, ray.actor.ActorHandle), actor_handle
        return ray.get(actor_handle.get.remote())

    assert ray.get(f.bind(Actor.bind(10)).execute()) == 10


def test_actor_dag_options(ray: Any) -> None:
    # Ray's test_class_dag.py::test_basic_actor_dag_constructor_options, test_actor_method_options
    Actor = _actor(ray)
    a1 = Actor.options(name="Actor", namespace="test", max_pending_calls=10).bind(10)
    assert a1.get_options().get("name") == "Actor"
    assert a1.get_options().get("namespace") == "test"
    assert a1.get_options().get("max_pending_calls") == 10
    handle = a1.execute()
    assert ray.get(ray.get_actor("Actor", namespace="test").get.remote()) == 10  # the options were applied
    del handle  # the actor goes with its last handle (named ones too, as in Ray): the name is free again

    def name_free() -> bool:
        try:
            ray.get_actor("Actor", namespace="test")
        except ValueError:
            return True
        return False

    from waiting import wait_for

    wait_for(name_free, 60, "the named DAG actor to be collected")
    assert ray.get(a1.get.bind().execute()) == 10

    @ray.remote
    class Named:
        def task_name(self) -> str:
            return ray.get_runtime_context().get_task_name()

    method = Named.bind().task_name.options(name="actor_method_options").bind()
    assert method.get_options().get("name") == "actor_method_options"
    assert ray.get(method.execute()) == "actor_method_options"


def test_basic_actor_dag_constructor_invalid_options(ray: Any) -> None:  # Ray's test_class_dag.py
    Actor = _actor(ray)
    with pytest.raises(ValueError, match="num_cpus"):
        a1 = Actor.options(num_cpus=-1).bind(10)
        ray.get(a1.get.bind().execute())


def test_actor_options_complicated(ray: Any) -> None:  # Ray's test_class_dag.py
    Actor = _actor(ray)

    @ray.remote
    def combine(x: int, y: int) -> int:
        return x + y

    a1 = Actor.options(name="a1_v0").bind(10)
    res = a1.get.options(name="v1").bind()
    assert ray.get(res.execute()) == 10
    assert a1.get_options().get("name") == "a1_v0" and res.get_options().get("name") == "v1"

    a1 = Actor.options(name="a1_v1").bind(10)
    a2 = Actor.options(name="a2_v0").bind(10)
    a1.inc.options(name="v1").bind(2)
    a1.inc.options(name="v2").bind(4)
    a2.inc.options(name="v3").bind(6)
    dag = combine.options(name="v4").bind(a1.get.bind(), a2.get.bind())
    assert ray.get(dag.execute()) == 32
    test_a1, test_a2 = dag.get_args()
    assert test_a2.get_options() == {}
    assert test_a2.get_other_args_to_resolve()[PARENT_CLASS_NODE_KEY].get_options().get("name") == "a2_v0"
    assert test_a2.get_other_args_to_resolve()[PREV_CLASS_METHOD_CALL_KEY].get_options().get("name") == "v3"
    assert test_a1.get_other_args_to_resolve()[PARENT_CLASS_NODE_KEY].get_options().get("name") == "a1_v1"
    prev = test_a1.get_other_args_to_resolve()[PREV_CLASS_METHOD_CALL_KEY]
    assert prev.get_options().get("name") == "v2"
    assert prev.get_other_args_to_resolve()[PREV_CLASS_METHOD_CALL_KEY].get_options().get("name") == "v1"


def test_pass_actor_handle(ray: Any) -> None:  # Ray's test_class_dag.py::test_pass_actor_handle
    @ray.remote
    class Actor:
        def ping(self) -> str:
            return "hello"

    @ray.remote
    def caller(handle: Any) -> str:
        assert isinstance(handle, ray.actor.ActorHandle), handle
        return ray.get(handle.ping.remote())

    assert ray.get(caller.bind(Actor.bind()).execute()) == "hello"


def test_dynamic_pipeline(ray: Any) -> None:  # Ray's test_class_dag.py::test_dynamic_pipeline
    @ray.remote
    class Model:
        def __init__(self, arg: str) -> None:
            self.arg = arg

        def forward(self, x: int) -> str:
            return self.arg + str(x)

    @ray.remote
    class ModelSelection:
        def is_even(self, x: int) -> bool:
            return x % 2 == 0

    @ray.remote
    def pipeline(x: int, m1: Any, m2: Any, selection: Any) -> str:
        sel = selection.is_even.remote(x)
        result = m1.forward.remote(x) if ray.get(sel) else m2.forward.remote(x)
        return ray.get(result)

    m1, m2, selection = Model.bind("Even: "), Model.bind("Odd: "), ModelSelection.bind()
    assert ray.get(pipeline.bind(20, m1, m2, selection).execute()) == "Even: 20"
    assert ray.get(pipeline.bind(21, m1, m2, selection).execute()) == "Odd: 21"


def test_class_method_input(ray: Any) -> None:  # Ray's test_input_node.py::test_class_method_input
    Model = _model(ray)

    @ray.remote
    class FeatureProcessor:
        def __init__(self, scale: float) -> None:
            self.scale = scale

        def process(self, input: int) -> float:
            return input * self.scale

    with InputNode() as dag_input:
        feature = FeatureProcessor.bind(0.5).process.bind(dag_input)
        dag = Model.bind(4).forward.bind(feature)
    assert ray.get(dag.execute(2)) == 4
    assert ray.get(dag.execute(6)) == 12


def test_multi_class_method_input(ray: Any) -> None:  # Ray's test_input_node.py
    Model = _model(ray)

    @ray.remote
    def combine(m1: float, m2: float) -> float:
        return m1 + m2

    with InputNode() as dag_input:
        m1_output = Model.bind(2).forward.bind(dag_input)
        m2_output = Model.bind(3).forward.bind(dag_input)
        dag = combine.bind(m1_output, m2_output)
    assert ray.get(dag.execute(1)) == 5
    assert ray.get(dag.execute(2)) == 10


def test_func_class_mixed_input_and_the_inputs_docstring_example(ray: Any) -> None:
    # Ray's test_input_node.py::test_func_class_mixed_input, and InputNode's docstring
    Model = _model(ray)

    @ray.remote
    def model_func(input: int) -> int:
        return input * 2

    @ray.remote
    def combine(a: float, b: float) -> float:
        return a + b

    with InputNode() as dag_input:
        m1_output = Model.bind(3).forward.bind(dag_input)
        m2_output = model_func.bind(dag_input)
    dag = combine.bind(m1_output, m2_output)
    assert ray.get(dag.execute(2)) == 10
    assert ray.get(dag.execute(3)) == 15

    with InputNode() as dag_input:
        ray_dag = combine.bind(Model.bind(1).forward.bind(dag_input[0]), Model.bind(2).forward.bind(dag_input.x))
    assert ray.get(ray_dag.execute(1, x=2)) == 5


def test_methods_bound_on_an_actor_handle(ray: Any) -> None:
    # the DAG page's actor reuse, with several calls: each execute calls the same actor again
    Actor = _actor(ray)
    handle = Actor.remote(0)
    with InputNode() as inp:
        dag = handle.get.bind()
        step = handle.inc.bind(inp)
    for x in (1, 2, 3):
        ray.get(step.execute(x))
    assert ray.get(dag.execute()) == 6
