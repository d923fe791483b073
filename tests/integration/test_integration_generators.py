"""Generator tasks and actor methods: ``num_returns="streaming"`` (the default for a function
that yields), ``"dynamic"`` and a static count, as Ray's generators."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from waiting import wait_for_file

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def ray(ray_module):
    return ray_module


def test_a_generator_task_streams_refs_by_default(ray) -> None:
    @ray.remote
    def count(n: int) -> Any:
        for i in range(n):
            yield i * 10

    @ray.remote
    def add(*xs: int) -> int:
        return sum(xs)

    gen = count.remote(5)
    assert isinstance(gen, ray.ObjectRefGenerator)
    refs = list(gen)
    assert all(isinstance(r, ray.ObjectRef) for r in refs)
    assert ray.get(refs) == [0, 10, 20, 30, 40]
    assert ray.get(add.remote(*refs)) == 100  # the refs work as task arguments
    assert ray.get(gen.completed()) is not None
    assert list(count.remote(0)) == []

    async def consume() -> list[int]:
        return [await r async for r in count.remote(3)]

    assert asyncio.run(consume()) == [0, 10, 20]


def test_large_values_and_an_error_midway(ray) -> None:
    @ray.remote
    def arrays(n: int) -> Any:
        for i in range(n):
            yield np.full(300_000, i, dtype=np.int64)  # above the inline threshold: shared memory
        raise KeyError("after the arrays")

    gen = arrays.remote(3)
    got = [int(ray.get(next(gen))[0]) for _ in range(3)]
    assert got == [0, 1, 2]
    error = next(gen)  # (as in Ray: the error is in the next ref, raised by its get)
    with pytest.raises(KeyError, match="after the arrays"):
        ray.get(error)
    with pytest.raises(StopIteration):
        next(gen)


def test_dynamic_and_static_num_returns(ray) -> None:
    @ray.remote(num_returns="dynamic")
    def dynamic(n: int) -> Any:
        yield from range(n)

    @ray.remote(num_returns=3)
    def static() -> Any:
        yield from ("a", "b", "c")

    @ray.remote(num_returns="dynamic")
    def not_a_generator() -> int:
        return 1

    ref = dynamic.remote(4)
    assert isinstance(ref, ray.ObjectRef)
    inner = ray.get(ref)
    assert isinstance(inner, ray.DynamicObjectRefGenerator) and len(inner) == 4
    assert ray.get(list(inner)) == [0, 1, 2, 3]
    assert ray.get(static.remote()) == ["a", "b", "c"]
    with pytest.raises(TypeError, match="not a generator"):
        ray.get(not_a_generator.remote())


def test_actor_generator_methods(ray) -> None:
    @ray.remote
    class Source:
        def __init__(self) -> None:
            self.base = 100

        def stream(self, n: int) -> Any:
            for i in range(n):
                yield self.base + i

        @ray.method(num_returns="dynamic")
        def dynamic(self, n: int) -> Any:
            yield from range(n)

        def plain(self) -> int:
            return 7

    s = Source.remote()
    gen = s.stream.remote(3)
    assert isinstance(gen, ray.ObjectRefGenerator)
    assert ray.get(list(gen)) == [100, 101, 102]
    assert ray.get(list(ray.get(s.dynamic.remote(2)))) == [0, 1]
    assert ray.get(s.plain.remote()) == 7
    assert ray.get(list(s.stream.options(num_returns="streaming").remote(2))) == [100, 101]


def test_async_actor_generator_methods(ray) -> None:
    @ray.remote
    class AsyncSource:
        async def stream(self, n: int) -> Any:
            for i in range(n):
                await asyncio.sleep(0.001)
                yield i * 2

        async def broken(self) -> Any:
            yield "first"
            raise RuntimeError("async generator broke")

    s = AsyncSource.remote()  # (an actor whose only async methods are generators is async)
    assert ray.get(list(s.stream.remote(4))) == [0, 2, 4, 6]
    gen = s.broken.remote()
    assert ray.get(next(gen)) == "first"
    with pytest.raises(RuntimeError, match="async generator broke"):
        ray.get(next(gen))
    assert list(gen) == []


def test_an_error_midway_keeps_the_values_yielded_before_it(ray) -> None:
    """Ray's rule for every kind of generator: what was yielded stays; the error is in the rest."""

    @ray.remote
    def two_then_error() -> Any:
        yield "a"
        yield "b"
        raise ValueError("broke after two")

    refs = list(two_then_error.remote())  # streaming: the error is one more, last ref
    assert len(refs) == 3 and ray.get(refs[:2]) == ["a", "b"]
    with pytest.raises(ValueError, match="broke after two"):
        ray.get(refs[2])

    inner = ray.get(two_then_error.options(num_returns="dynamic").remote())  # likewise
    refs = list(inner)
    assert len(refs) == 3 and ray.get(refs[:2]) == ["a", "b"]
    with pytest.raises(ValueError, match="broke after two"):
        ray.get(refs[2])

    refs = two_then_error.options(num_returns=4).remote()  # an int: every result not yielded
    assert ray.get(refs[:2]) == ["a", "b"]
    for ref in refs[2:]:
        with pytest.raises(ValueError, match="broke after two"):
            ray.get(ref)


def test_a_generator_yielding_more_or_fewer_values_than_num_returns(ray) -> None:
    @ray.remote(num_returns=2)
    def three() -> Any:
        yield from (1, 2, 3)

    @ray.remote(num_returns=3)
    def one() -> Any:
        yield "only"

    @ray.remote(num_returns=1)
    def single() -> Any:
        yield "it"

    assert ray.get(three.remote()) == [1, 2]  # the first two (Ray logs an error about the third)
    first, *rest = one.remote()
    assert ray.get(first) == "only"
    for ref in rest:
        with pytest.raises(ValueError, match="num_returns=3"):
            ray.get(ref)
    assert ray.get(single.remote()) == "it"


def test_wait_takes_a_generator_and_get_returns_it(ray, tmp_path) -> None:
    """Ray's ``wait`` takes an ``ObjectRefGenerator`` in its list: it is ready when its next
    ref is (and once every ref is taken, as Ray's end of the stream is); ``get`` of a generator
    returns it as it is."""
    go = tmp_path / "go"

    @ray.remote
    def gated(n: int) -> Any:
        import os
        import time

        while not os.path.exists(go):  # (held until the test lets it go)
            time.sleep(0.01)
        yield from range(n)

    @ray.remote
    def quick() -> str:
        return "q"

    gen = gated.remote(2)
    q = quick.remote()
    assert ray.get(gen) is gen
    with pytest.raises(TypeError, match="ObjectRefGenerator"):
        ray.wait(gen)
    assert ray.wait([gen], timeout=0) == ([], [gen])
    assert not gen.next_ready() and not gen.is_finished()
    assert ray.wait([gen, q], num_returns=1) == ([q], [gen])
    go.touch()
    assert ray.wait([gen, q], num_returns=2) == ([gen, q], [])
    assert gen.next_ready() and not gen.is_finished()
    assert ray.get(next(gen)) == 0
    assert ray.wait([gen]) == ([gen], [])
    assert ray.get(next(gen)) == 1
    assert ray.wait([gen]) == ([gen], [])  # all taken: the end of the stream is ready
    assert gen.is_finished()
    with pytest.raises(StopIteration):
        next(gen)


def test_cancel_takes_a_generator(ray, tmp_path) -> None:
    """Ray's ``cancel`` takes an ``ObjectRefGenerator``: its task is cancelled."""
    started = tmp_path / "started"

    @ray.remote
    def endless() -> Any:
        import time

        yield "first"
        open(started, "w").close()
        while True:
            time.sleep(0.05)

    gen = endless.remote()
    wait_for_file(started)
    ray.cancel(gen)
    with pytest.raises(ray.exceptions.TaskCancelledError):
        next(gen)
