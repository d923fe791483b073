"""Ray API surface against a real node: the runtime context's older spellings, task names and
node labels, the deprecated placement_group= option."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def ray(module_home: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    import edgeray

    config = tmp_path_factory.mktemp("config") / "node.toml"
    config.write_text('[resources.labels]\n"zone" = "edge-1"\n')
    edgeray.init(num_cpus=2, _config_file=str(config))
    try:
        yield edgeray
    finally:
        edgeray.shutdown()


def _quiet_of(ray: Any) -> Any:
    def quiet(fn: Any) -> Any:  # (a local function: it travels into tasks by value)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return fn()

    return quiet


def test_id_properties_are_rays_older_spellings(ray) -> None:
    _quiet = _quiet_of(ray)
    ctx = ray.get_runtime_context()
    with pytest.warns(DeprecationWarning):
        node_id = ctx.node_id
    assert node_id == ctx.get_node_id() and node_id.hex() == ctx.get_node_id()
    assert node_id.binary() == bytes.fromhex(ctx.get_node_id()) and not node_id.is_nil()
    assert type(node_id).__name__ == "NodeID"
    job_id = _quiet(lambda: ctx.job_id)
    assert type(job_id).__name__ == "JobID" and job_id == ctx.get_job_id()
    assert _quiet(lambda: ctx.task_id) is None and _quiet(lambda: ctx.actor_id) is None  # a driver

    @ray.remote
    def in_task() -> tuple[Any, ...]:
        c = ray.get_runtime_context()
        return _quiet(lambda: (c.task_id, c.get_task_id(), c.actor_id, c.job_id))

    @ray.remote
    class Actor:
        def ids(self) -> tuple[Any, ...]:
            c = ray.get_runtime_context()
            return _quiet(lambda: (c.actor_id, c.get_actor_id(), c.task_id, c.get_task_id()))

    task_id, task_hex, actor_id, task_job = ray.get(in_task.remote())
    assert task_id == task_hex and task_id.hex() == task_hex and actor_id is None and task_job == job_id
    a = Actor.remote()
    actor_id, actor_hex, task_id, task_hex = ray.get(a.ids.remote())
    assert type(actor_id).__name__ == "ActorID" and actor_id == actor_hex == a._actor_id_hex
    assert task_id == task_hex and task_hex is not None


def test_get_leaves_out_keys_whose_value_is_none(ray) -> None:
    _quiet = _quiet_of(ray)
    ctx = ray.get_runtime_context()
    with pytest.warns(DeprecationWarning):
        info = ctx.get()
    assert set(info) == {"job_id", "node_id", "namespace"}  # a driver has no task or actor
    assert info["node_id"] == ctx.get_node_id() and info["job_id"] == ctx.get_job_id()

    @ray.remote
    def task() -> dict[str, Any]:
        return _quiet(lambda: ray.get_runtime_context().get())

    @ray.remote
    class Actor:
        def info(self) -> dict[str, Any]:
            return _quiet(lambda: ray.get_runtime_context().get())

    assert set(ray.get(task.remote())) == {"job_id", "node_id", "namespace", "task_id"}
    assert set(ray.get(Actor.remote().info.remote())) == {"job_id", "node_id", "namespace", "task_id", "actor_id"}


def test_task_names(ray) -> None:
    def _names() -> tuple[str | None, str | None]:
        c = ray.get_runtime_context()
        return c.get_task_name(), c.get_task_function_name()

    @ray.remote
    def plain() -> tuple[str | None, str | None]:
        return _names()

    @ray.remote
    class Sync:
        def __init__(self) -> None:
            self.at_init = _names()

        def name(self) -> tuple[str | None, str | None]:
            return _names()

        def init_names(self) -> tuple[str | None, str | None]:
            return self.at_init

    @ray.remote
    class Async:
        async def name(self) -> tuple[str | None, str | None]:
            return _names()

    here = __name__
    assert ray.get(plain.remote()) == ("plain", f"{here}.test_task_names.<locals>.plain")
    assert ray.get(plain.options(name="custom").remote())[0] == "custom"
    s = Sync.remote()
    name, function = ray.get(s.name.remote())  # (the class's qualname as it arrives in the worker)
    assert name == "Sync.name" and function.startswith(f"{here}.") and function.endswith("Sync.name")
    assert ray.get(s.name.options(name="renamed").remote())[0] == "renamed"
    assert ray.get(s.init_names.remote())[0] == "Sync.__init__"
    a = Async.remote()
    names = ray.get([a.name.remote() for _ in range(4)])
    assert len(set(names)) == 1 and names[0][0] == "Async.name" and names[0][1].endswith("Async.name")
    assert ray.get_runtime_context().get_task_name() is None  # a driver runs no task
    assert ray.get_runtime_context().get_task_function_name() is None


def test_task_id_in_async_actor_calls(ray) -> None:
    @ray.remote
    class Async:
        async def tid(self) -> str | None:
            return ray.get_runtime_context().get_task_id()

    a = Async.remote()
    refs = [a.tid.remote() for _ in range(3)]
    tids = ray.get(refs)
    assert tids == [r.task_id().hex() for r in refs]


def test_node_labels(ray) -> None:
    @ray.remote
    def labels() -> dict[str, str]:
        return ray.get_runtime_context().get_node_labels()

    assert ray.get_runtime_context().get_node_labels()["zone"] == "edge-1"
    assert ray.get(labels.remote())["zone"] == "edge-1"


@pytest.mark.filterwarnings("ignore:placement_group_bundle_index parameter is deprecated")
def test_deprecated_placement_group_option_is_honoured(ray) -> None:
    from edgeray.util.placement_group import placement_group, remove_placement_group

    @ray.remote(num_cpus=1)
    def pg_id() -> str | None:
        return ray.get_runtime_context().get_placement_group_id()

    @ray.remote(num_cpus=1)
    class InGroup:
        def pg_id(self) -> str | None:
            return ray.get_runtime_context().get_placement_group_id()

    pg = placement_group([{"CPU": 1}, {"CPU": 1}])
    ray.get(pg.ready(), timeout=30)
    try:
        with pytest.warns(DeprecationWarning, match="placement_group parameter is deprecated"):
            task = pg_id.options(placement_group=pg, placement_group_bundle_index=1)
        assert ray.get(task.remote(), timeout=30) == pg.id.hex()
        with pytest.warns(DeprecationWarning, match="placement_group parameter is deprecated"):
            actor = InGroup.options(placement_group=pg).remote()
        assert ray.get(actor.pg_id.remote(), timeout=30) == pg.id.hex()
        ray.kill(actor)
    finally:
        remove_placement_group(pg)


def test_metrics_and_tqdm_in_an_actor(ray) -> None:
    from edgeray.experimental.tqdm_ray import tqdm
    from edgeray.util.metrics import Counter

    served = Counter("served", tag_keys=("kind",))  # travels into the actor as its definition

    @ray.remote
    class Server:
        def serve(self, n: int) -> dict:
            bar = tqdm(desc="serving", total=n)
            for _ in range(n):
                served.inc(tags={"kind": "ok"})
                bar.update()
            bar.close()
            return {"samples": served._samples(), "line": bar.line()}

    out = ray.get(Server.remote().serve.remote(3))
    assert out == {"samples": {(("kind", "ok"),): 3.0}, "line": "serving: 3/3 it"}
    assert served._samples() == {}  # each process records its own


def test_invocation_decorators_are_honoured(ray) -> None:
    """``__ray_invocation_decorator__`` wraps the call of ``.remote()`` (Ray's test_decorated_function
    and test_decorated_method)."""

    def function_invocation_decorator(f):
        def new_f(args, kwargs):
            return f(args[::-1], {"d": 5}), kwargs  # the arguments reversed

        return new_f

    def f(a, b, c, d=None):
        return a, b, c, d

    f.__ray_invocation_decorator__ = function_invocation_decorator
    remote_f = ray.remote(f)
    ref, kwargs = remote_f.remote(1, 2, 3, d=4)
    assert kwargs == {"d": 4}
    assert ray.get(ref, timeout=30) == (3, 2, 1, 5)

    def method_invocation_decorator(f):
        def new_f_invocation(args, kwargs):
            return f([args[0], args[0]], {}), kwargs  # one argument made two; kwargs not sent

        return new_f_invocation

    def method_execution_decorator(f):
        def new_f_execution(self, b, c):
            return f(self, b + c)

        new_f_execution.__ray_invocation_decorator__ = method_invocation_decorator
        return new_f_execution

    @ray.remote
    class Actor:
        @method_execution_decorator
        def decorated_method(self, x):
            return x + 1

    a = Actor.remote()
    ref, extra = a.decorated_method.remote(3, kwarg=3)
    assert isinstance(ref, ray.ObjectRef) and extra == {"kwarg": 3}
    assert ray.get(ref, timeout=30) == 7  # 2 * 3 + 1

    @ray.remote
    def through(handle):  # the decorators travel with the handle
        ref, extra = handle.decorated_method.remote(5, kwarg=1)
        return ray.get(ref), extra

    assert ray.get(through.remote(a), timeout=30) == (11, {"kwarg": 1})
    ray.kill(a)
