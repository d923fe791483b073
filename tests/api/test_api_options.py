"""The public API without a node: decorators, option validation, argument checks, ObjectRef basics."""

from __future__ import annotations

import pickle

import pytest

import edgeray
from edgeray.api._options import resource_request, validate_options


def test_not_initialized() -> None:
    assert not edgeray.is_initialized()


def test_remote_decorator_forms() -> None:
    @edgeray.remote
    def f(x):
        return x

    @edgeray.remote(num_cpus=2, num_returns=2)
    def g():
        return 1, 2

    @edgeray.remote
    class A:
        pass

    assert f.__name__ == "f" and g.__name__ == "g"
    assert type(A).__name__ == "ActorClass"
    with pytest.raises(TypeError):
        edgeray.remote(42)
    with pytest.raises(TypeError):
        edgeray.remote(f, num_cpus=1)
    with pytest.raises(TypeError):
        edgeray.remote(1, 2)
    with pytest.raises(TypeError):
        f(1)
    with pytest.raises(TypeError):
        A()


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"num_cpus": -1}, ValueError),
        ({"num_cpus": "2"}, TypeError),
        ({"num_cpus": True}, TypeError),
        ({"num_cpus": float("nan")}, TypeError),
        ({"num_cpus": 0.00001}, ValueError),
        ({"num_gpus": 1.5}, ValueError),
        ({"num_gpus": -0.5}, ValueError),
        ({"memory": 0.00001}, ValueError),
        ({"resources": {"x": 0.00001}}, ValueError),
        ({"resources": {"CPU": 1}}, ValueError),
        ({"resources": {"GPU": 1}}, ValueError),
        ({"resources": [1]}, TypeError),
        ({"num_returns": -1}, ValueError),
        ({"num_returns": 1.5}, ValueError),
        ({"max_retries": -2}, ValueError),
        ({"retry_exceptions": [1]}, TypeError),
        ({"no_such_option": 1}, ValueError),
        ({"max_concurrency": 2}, ValueError),  # an actor option, not a task option
        ({"runtime_env": {"pip": ["numpy"]}}, ValueError),  # refused, not ignored
        ({"runtime_env": {"env_vars": {"A": 1}}}, TypeError),
        ({"runtime_env": ["env_vars"]}, TypeError),
    ],
)
def test_task_option_errors(options: dict, error: type[Exception]) -> None:
    with pytest.raises(error):
        validate_options(dict(options), kind="task")

    @edgeray.remote
    def f():
        return 1

    with pytest.raises(error):
        f.options(**options)


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"max_concurrency": 0}, ValueError),
        ({"max_restarts": -2}, ValueError),
        ({"lifetime": "forever"}, ValueError),
        ({"name": 3}, TypeError),
        ({"name": ""}, ValueError),
        ({"get_if_exists": True}, ValueError),
        ({"concurrency_groups": {"io": 0}}, ValueError),
        ({"max_pending_calls": 0}, ValueError),
        ({"num_returns": 2}, ValueError),  # a task/method option, not an actor option
    ],
)
def test_actor_option_errors(options: dict, error: type[Exception]) -> None:
    @edgeray.remote
    class A:
        pass

    with pytest.raises(error):
        A.options(**options)


@pytest.mark.parametrize(
    "options",
    [
        {"num_cpus": 0.5},
        {"num_cpus": 0.0001},
        {"num_gpus": 0.25},
        {"num_gpus": 2},
        {"resources": {"special": 0.5}},
        {"num_returns": 0},
        {"max_retries": -1},
        {"retry_exceptions": [ValueError]},
        {"runtime_env": {"env_vars": {"A": "1"}}},
        {"name": "t"},
    ],
)
def test_valid_task_options(options: dict) -> None:
    validate_options(dict(options), kind="task")


def test_resource_request_defaults() -> None:
    assert resource_request({}, default_cpus=1.0) == {"CPU": 1.0}
    assert resource_request({"num_cpus": 0}, default_cpus=1.0) == {}
    assert resource_request({"num_gpus": 1, "resources": {"x": 2}}, default_cpus=1.0) == {
        "CPU": 1.0,
        "GPU": 1.0,
        "x": 2.0,
    }


def test_method_decorator() -> None:
    @edgeray.remote
    class A:
        @edgeray.method(num_returns=2)
        def two(self):
            return 1, 2

    with pytest.raises(ValueError):
        edgeray.method(num_cpus=1)


def test_wait_argument_checks_come_first() -> None:
    ref = edgeray.ObjectRef(b"\x01" * 20)
    with pytest.raises(TypeError):
        edgeray.wait(ref)
    with pytest.raises(ValueError):
        edgeray.wait([ref, ref])
    with pytest.raises(ValueError):
        edgeray.wait([ref], num_returns=0)
    with pytest.raises(ValueError):
        edgeray.wait([ref], num_returns=2)
    with pytest.raises(ValueError):
        edgeray.wait([ref], timeout=-1)
    with pytest.raises(TypeError):
        edgeray.wait([1])
    assert edgeray.wait([]) == ([], [])  # as Ray: nothing to wait for


def test_object_ref_basics_without_a_session() -> None:
    a = edgeray.ObjectRef(b"\x01" * 20)
    b = edgeray.ObjectRef(b"\x01" * 20)
    c = edgeray.ObjectRef(b"\x02" * 20)
    assert a == b and hash(a) == hash(b) and a != c
    assert a.hex() == "01" * 20 and a.binary() == b"\x01" * 20
    assert pickle.loads(pickle.dumps(a)) == a
    assert {a, b, c} == {a, c}
    tid = a.task_id()  # Ray's TaskID methods, and the hex string it always was
    assert tid == "01" * 16 and tid.hex() == "01" * 16 and tid.binary() == b"\x01" * 16


def test_arity_is_checked_at_remote_with_or_without_the_fast_path() -> None:
    """Plain positional signatures skip Signature.bind; every other call still binds."""
    import inspect

    from edgeray.api._remote import check_arity

    def plain(a, b):  # type: ignore[no-untyped-def]
        pass

    def rich(a, b=1, *rest, c, **kw):  # type: ignore[no-untyped-def]
        pass

    p, r = inspect.signature(plain), inspect.signature(rich)
    check_arity(p, (1, 2), {}, "plain")
    check_arity(p, (1,), {"b": 2}, "plain")
    for args, kwargs in [((1,), {}), ((1, 2, 3), {}), ((1, 2), {"b": 3}), ((), {"z": 1})]:
        with pytest.raises(TypeError, match="plain"):
            check_arity(p, args, kwargs, "plain")
    check_arity(r, (1,), {"c": 2}, "rich")
    check_arity(r, (1, 2, 3, 4), {"c": 2, "x": 5}, "rich")
    with pytest.raises(TypeError, match="rich"):
        check_arity(r, (1, 2), {}, "rich")  # c is keyword-only and required
