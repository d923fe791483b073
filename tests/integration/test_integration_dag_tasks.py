"""Ray DAGs of tasks against a real node: ``.bind()``/``execute()``, ``InputNode``,
``MultiOutputNode``, nested arguments (ported from Ray's ``python/ray/dag/tests/`` and the
examples of its "Lazy Computation Graphs with the Ray DAG API" page)."""

from __future__ import annotations

from typing import Any

import pytest

from edgeray.dag import InputNode, MultiOutputNode

pytestmark = pytest.mark.timeout(180)

RAY_INIT_KWARGS = {"num_cpus": 2}


@pytest.fixture(scope="module")
def ray(ray_module: Any) -> Any:
    return ray_module


@pytest.fixture(scope="module")
def Counter(ray: Any) -> Any:
    @ray.remote
    class Counter:
        def __init__(self, init_value: int = 0) -> None:
            self.i = init_value

        def inc(self) -> None:
            self.i += 1

        def get(self) -> int:
            return self.i

    return Counter


def _counted(ray: Any, ct: Any) -> tuple[Any, Any, Any, Any]:
    @ray.remote
    def a() -> int:
        ray.get(ct.inc.remote())
        return 2

    @ray.remote
    def b(x: int) -> int:
        ray.get(ct.inc.remote())
        return x * 2

    @ray.remote
    def c(x: int) -> int:
        ray.get(ct.inc.remote())
        return x + 1

    @ray.remote
    def d(x: int, y: int) -> int:
        ray.get(ct.inc.remote())
        return x + y

    return a, b, c, d


def test_doc_example_tasks(ray: Any) -> None:  # ray-dag.py: __dag_tasks_begin__
    @ray.remote
    def func(src: int, inc: int = 1) -> int:
        return src + inc

    a_ref = func.bind(1, inc=2)
    assert ray.get(a_ref.execute()) == 3
    b_ref = func.bind(a_ref, inc=3)
    assert ray.get(b_ref.execute()) == 6
    c_ref = func.bind(b_ref, inc=a_ref)
    assert ray.get(c_ref.execute()) == 9
    assert isinstance(c_ref.execute(), ray.ObjectRef)


def test_basic_task_dag_runs_a_node_used_twice_once(ray: Any, Counter: Any) -> None:
    # Ray's test_function_dag.py::test_basic_task_dag
    ct = Counter.remote()
    a, b, c, d = _counted(ray, ct)
    a_ref = a.bind()
    b_ref = b.bind(a_ref)
    c_ref = c.bind(a_ref)
    d_ref = d.bind(b_ref, c_ref)
    d1_ref = d.bind(d_ref, d_ref)
    d2_ref = d.bind(d1_ref, d_ref)
    dag = d.bind(d2_ref, d_ref)
    print(dag)
    assert ray.get(dag.execute()) == 28
    assert ray.get(ct.get.remote()) == 7  # seven distinct nodes, each run once
    assert ray.get(dag.execute()) == 28
    assert ray.get(ct.get.remote()) == 14  # and once more at each execute


def test_basic_task_dag_with_options(ray: Any, Counter: Any) -> None:
    # Ray's test_function_dag.py::test_basic_task_dag_with_options
    ct = Counter.remote()
    a, b, c, d = _counted(ray, ct)
    a_ref = a.bind()
    b_ref = b.options(name="b", num_returns=1).bind(a_ref)
    c_ref = c.options(name="c", max_retries=3).bind(a_ref)
    dag = d.options(name="d", num_cpus=2).bind(b_ref, c_ref)
    assert ray.get(dag.execute()) == 7
    assert ray.get(ct.get.remote()) == 4
    assert b_ref.get_options().get("name") == "b" and b_ref.get_options().get("num_returns") == 1
    assert c_ref.get_options().get("name") == "c" and c_ref.get_options().get("max_retries") == 3
    assert dag.get_options().get("name") == "d" and dag.get_options().get("num_cpus") == 2


def test_options_reach_the_task(ray: Any) -> None:
    @ray.remote
    def name() -> str:
        return ray.get_runtime_context().get_task_name()

    @ray.remote(num_returns=2)
    def pair() -> tuple[int, int]:
        return 1, 2

    assert ray.get(name.options(name="from_options").bind().execute()) == "from_options"
    refs = pair.bind().execute()
    assert isinstance(refs, list) and ray.get(refs) == [1, 2]
    assert ray.get(pair.options(num_returns=1).bind().execute()) == (1, 2)


def test_invalid_task_options(ray: Any) -> None:  # Ray's test_function_dag.py::test_invalid_task_options
    @ray.remote
    def a() -> int:
        return 2

    @ray.remote
    def b(x: int) -> int:
        return x * 2

    a_ref = a.bind()
    assert ray.get(b.bind(a_ref).execute()) == 4
    with pytest.raises(ValueError, match="num_cpus"):
        invalid_dag = b.options(num_cpus=-1).bind(a_ref)
        ray.get(invalid_dag.execute())


def test_nested_args(ray: Any, Counter: Any) -> None:  # Ray's test_function_dag.py::test_nested_args
    ct = Counter.remote()

    @ray.remote
    def a() -> int:
        ray.get(ct.inc.remote())
        return 2

    @ray.remote
    def b(**kwargs: int) -> int:
        ray.get(ct.inc.remote())
        return kwargs["x"] * 2

    @ray.remote
    def c(**kwargs: int) -> int:
        ray.get(ct.inc.remote())
        return kwargs["x"] + 1

    @ray.remote
    def d(nested: dict[str, Any]) -> int:
        ray.get(ct.inc.remote())
        return ray.get(nested["x"]) + ray.get(nested["y"])

    a_ref = a.bind()
    dag = d.bind({"x": b.bind(x=a_ref), "y": c.bind(x=a_ref)})
    assert ray.get(dag.execute()) == 7
    assert ray.get(ct.get.remote()) == 4


def test_nested_nodes_arrive_as_refs_top_level_ones_as_values(ray: Any) -> None:
    @ray.remote
    def one() -> int:
        return 1

    @ray.remote
    def kinds(top: Any, in_list: list[Any], in_tuple: tuple[Any, ...]) -> list[str]:
        return [type(top).__name__, type(in_list[0]).__name__, type(in_tuple[0]).__name__,
                str(ray.get(in_list[0]) + ray.get(in_tuple[0]))]

    node = one.bind()
    assert ray.get(kinds.bind(node, [node], (node,)).execute()) == ["int", "ObjectRef", "ObjectRef", "2"]


def test_simple_func_with_input(ray: Any) -> None:  # Ray's test_input_node.py::test_simple_func
    @ray.remote
    def a(input: str) -> str:
        return f"{input} -> a"

    @ray.remote
    def b(a: str) -> str:
        return f"{a} -> b"

    with InputNode() as dag_input:
        dag = b.bind(a.bind(dag_input))
    assert ray.get(dag.execute("input")) == "input -> a -> b"
    assert ray.get(dag.execute("test")) == "test -> a -> b"


def test_func_dag_with_input(ray: Any) -> None:  # Ray's test_input_node.py::test_func_dag
    @ray.remote
    def a(user_input: int) -> int:
        return user_input

    @ray.remote
    def b(x: int) -> int:
        return x * 2

    @ray.remote
    def c(x: int) -> int:
        return x + 1

    @ray.remote
    def d(x: int, y: int) -> int:
        return x + y

    with InputNode() as dag_input:
        a_ref = a.bind(dag_input)
        d_ref = d.bind(b.bind(a_ref), c.bind(a_ref))
        dag = d.bind(d.bind(d.bind(d_ref, d_ref), d_ref), d_ref)
    assert ray.get(dag.execute(2)) == 28
    assert ray.get(dag.execute(3)) == 40


def test_doc_example_input_node(ray: Any) -> None:  # ray-dag.py: __dag_input_node_begin__
    @ray.remote
    def a(user_input: int) -> int:
        return user_input * 2

    @ray.remote
    def b(user_input: int) -> int:
        return user_input + 1

    @ray.remote
    def c(x: int, y: int) -> int:
        return x + y

    with InputNode() as dag_input:
        dag = c.bind(a.bind(dag_input), b.bind(dag_input))
    assert ray.get(dag.execute(2)) == 7
    assert ray.get(dag.execute(3)) == 10


def test_doc_example_multi_output_node(ray: Any) -> None:  # ray-dag.py: __dag_multi_output_node_begin__
    @ray.remote
    def f(input: int) -> int:
        return input + 1

    with InputNode() as input_data:
        dag = MultiOutputNode([f.bind(input_data["x"]), f.bind(input_data["y"])])
    refs = dag.execute({"x": 1, "y": 2})
    assert isinstance(refs, list) and all(isinstance(r, ray.ObjectRef) for r in refs)
    assert ray.get(refs) == [2, 3]


class _Fields:
    def __init__(self, x: int, y: int) -> None:
        self.x = x
        self.y = y


def test_input_attributes(ray: Any) -> None:  # after Ray's test_input_node.py::test_input_attr_partial_access
    @ray.remote
    def combine(a: int, b: int, c: int, d: Any = None) -> int:
        return a + b + c + (d["deep"]["nested"] if d else 0)

    with InputNode() as inp:
        dag = combine.bind(inp[0], inp[1], inp.m3, inp.m4)
    assert ray.get(dag.execute(1, 2, m3=3, m4={"deep": {"nested": 4}})) == 10
    with InputNode() as inp:
        dag = combine.bind(inp.x, inp.y, 3)
    assert ray.get(dag.execute(_Fields(1, 2))) == 6
    with InputNode() as inp:
        dag = combine.bind(inp[0], inp[1], inp[2])
    assert ray.get(dag.execute([1, 2, 3])) == 6
    with InputNode() as inp:
        dag = combine.bind(inp["m1"], inp["m2"], inp["m3"])
    assert ray.get(dag.execute({"m1": 1, "m2": 2, "m3": 3})) == 6


def test_input_may_be_an_object_ref(ray: Any) -> None:
    @ray.remote
    def double(x: int) -> int:
        return 2 * x

    with InputNode() as inp:
        dag = double.bind(inp)
    assert ray.get(dag.execute(ray.put(21))) == 42
    assert ray.get(dag.execute(double.remote(5))) == 20


def test_doc_example_actor_reuse(ray: Any) -> None:  # ray-dag.py: __dag_actor_reuse_begin__
    @ray.remote
    class Worker:
        def __init__(self) -> None:
            self.forwarded = 0

        def forward(self, input_data: int) -> int:
            self.forwarded += 1
            return input_data + 1

        def num_forwarded(self) -> int:
            return self.forwarded

    worker = Worker.remote()
    with InputNode() as input_data:
        dag = MultiOutputNode([worker.forward.bind(input_data)])
    assert ray.get(dag.execute(1)) == [2]
    assert ray.get(dag.execute(2)) == [3]
    assert ray.get(dag.execute(3)) == [4]
    assert ray.get(worker.num_forwarded.remote()) == 3
    ray.kill(worker)


def test_a_long_chain_needs_no_deep_recursion(ray: Any) -> None:
    """Ray's executor recurses once per level (a few hundred levels exhaust Python's stack);
    edgeray's walks the graph in a loop."""

    @ray.remote
    def inc(x: int) -> int:
        return x + 1

    with InputNode() as inp:
        node = inp
        for _ in range(600):
            node = inc.bind(node)
    assert ray.get(node.execute(0)) == 600


def test_execute_can_keep_every_nodes_result(ray: Any) -> None:
    @ray.remote
    def inc(x: int) -> int:
        return x + 1

    with InputNode() as inp:
        first = inc.bind(inp)
        dag = inc.bind(first)
    assert ray.get(dag.execute(1, _ray_cache_refs=True)) == 3
    cache = dag.cache_from_last_execute
    assert cache[inp.get_stable_uuid()] == 1
    assert ray.get([cache[first.get_stable_uuid()], cache[dag.get_stable_uuid()]]) == [2, 3]
    dag.clear_cache()
    assert dag.cache_from_last_execute == {}
    assert ray.get(dag.execute(5)) == 7 and dag.cache_from_last_execute == {}
