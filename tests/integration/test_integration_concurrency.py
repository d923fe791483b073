"""Actor concurrency as Ray's tests expect it: concurrency groups (each its own event loop or
threads), async actors with thousands of calls in flight, threaded actors' pools.

Ported from Ray's ``python/ray/tests/test_concurrency_group.py`` (public API only) and its
threaded-actor tests, with ``import edgeray as ray``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from waiting import wait_for

pytestmark = pytest.mark.timeout(180)

RAY_INIT_KWARGS = {"num_cpus": 2}


@pytest.fixture(scope="module")
def ray(ray_module):
    return ray_module


@pytest.fixture(scope="module")
def Signal(ray):
    """Ray's ``SignalActor``: ``wait()`` returns once ``send()`` was called."""

    @ray.remote(num_cpus=0)
    class Signal:
        def __init__(self) -> None:
            self.ready = asyncio.Event()
            self.waiting = 0

        async def send(self, clear: bool = False) -> None:
            self.ready.set()
            if clear:
                self.ready.clear()

        async def wait(self) -> None:
            self.waiting += 1
            await self.ready.wait()
            self.waiting -= 1

        async def waiters(self) -> int:
            return self.waiting

    return Signal


# --------------------------------------------------------------------------- concurrency groups


def test_groups_have_their_own_event_loops(ray) -> None:
    """Ray's test_basic: every group's methods, async or sync, run on that group's event loop
    and thread; the default group's loop is the one ``__init__`` sees; a call's
    ``.options(concurrency_group=...)`` picks another group."""
    import edgeray

    @ray.remote(concurrency_groups={"io": 2, "compute": 4})
    class AsyncActor:
        def __init__(self):
            self.loops: dict[str, Any] = {}
            self.default_loop = asyncio.get_event_loop()

        @edgeray.method(concurrency_group="io")
        async def f1(self):
            self.loops["f1"] = asyncio.get_event_loop()
            return threading.current_thread().ident

        @edgeray.method(concurrency_group="io")
        def f2(self):
            self.loops["f2"] = asyncio.get_event_loop()
            return threading.current_thread().ident

        @edgeray.method(concurrency_group="compute")
        def f3(self):
            self.loops["f3"] = asyncio.get_event_loop()
            return threading.current_thread().ident

        @edgeray.method(concurrency_group="compute")
        def f4(self):
            self.loops["f4"] = asyncio.get_event_loop()
            return threading.current_thread().ident

        def f5(self):
            assert asyncio.get_event_loop() is self.default_loop
            return threading.current_thread().ident

        @edgeray.method(concurrency_group="io")
        def same_loops(self):
            lp = self.loops
            return lp["f1"] is lp["f2"] and lp["f3"] is lp["f4"] and lp["f1"] is not lp["f3"]

    a = AsyncActor.remote()
    f1, f2, f3, f4 = ray.get([a.f1.remote(), a.f2.remote(), a.f3.remote(), a.f4.remote()])
    assert f1 == f2
    assert f3 == f4
    assert f1 != f3
    assert ray.get(a.same_loops.remote())
    f5 = ray.get(a.f5.remote())
    assert f5 not in (f1, f3)
    assert ray.get(a.f2.options(concurrency_group="compute").remote()) == f3
    ray.kill(a)


def test_async_methods_count_down_in_one_group(ray) -> None:
    """Ray's test_async_methods_in_concurrency_group: an Event made by a sync method of a group
    is awaited by that group's async methods."""
    import edgeray

    @ray.remote(concurrency_groups={"async": 3})
    class AsyncBatcher:
        def __init__(self):
            self.batch: list[int] = []
            self.event: asyncio.Event | None = None

        @edgeray.method(concurrency_group="async")
        def init_event(self):
            self.event = asyncio.Event()
            return True

        @edgeray.method(concurrency_group="async")
        async def add(self, x):
            self.batch.append(x)
            if len(self.batch) >= 3:
                self.event.set()
            else:
                await self.event.wait()
            return sorted(self.batch)

    a = AsyncBatcher.remote()
    assert ray.get(a.init_event.remote())
    refs = [a.add.remote(i) for i in (1, 2, 3)]
    assert ray.get(refs) == [[1, 2, 3]] * 3
    ray.kill(a)


def test_blocked_default_group_does_not_block_others(ray) -> None:
    """Ray's test_default_concurrency_group_does_not_block_others (ray#20475): an async method
    of the default group that blocks its thread leaves the other groups running."""
    import edgeray

    @ray.remote(concurrency_groups={"my_group": 1})
    class AsyncActor:
        async def f1(self):
            time.sleep(10000)
            return "never return"

        @edgeray.method(concurrency_group="my_group")
        def f2(self):
            return "ok"

    a = AsyncActor.remote()
    a.f1.remote()
    assert ray.get(a.f2.remote()) == "ok"
    ray.kill(a)


def test_blocked_group_does_not_block_others(ray) -> None:
    """Ray's test_blocking_group_does_not_block_others (ray#19593): a group whose thread is
    blocked leaves another group, and the default group, running."""
    import edgeray

    @ray.remote(concurrency_groups={"group1": 1, "group2": 1})
    class AsyncActor:
        def __init__(self):
            self.started = threading.Event()

        @edgeray.method(concurrency_group="group1")
        async def f1(self):
            self.started.set()
            time.sleep(10000)
            return "never return"

        @edgeray.method(concurrency_group="group2")
        def f2(self):
            return "ok"

        @edgeray.method(concurrency_group="group2")
        def f1_started(self):
            return self.started.is_set()

        async def default(self):
            return "default"

    a = AsyncActor.remote()
    a.f1.remote()
    a.f1.remote()
    wait_for(lambda: ray.get(a.f1_started.remote()), what="f1 to block group1")
    assert ray.get(a.f2.remote()) == "ok"
    assert ray.get(a.default.remote()) == "default"
    ray.kill(a)


def test_each_group_enforces_its_own_limit(ray) -> None:
    """A group's ``max_concurrency`` holds for its own calls only, the default group's is the
    actor's ``max_concurrency``; a call's ``.options(concurrency_group=...)`` counts against
    the group it names."""
    import edgeray

    @ray.remote(concurrency_groups={"io": 2, "compute": 3})
    class Probe:
        def __init__(self):
            self.running: dict[str, int] = {}
            self.peak: dict[str, int] = {}
            self.gate = threading.Event()  # (threads: every group's loop waits on it)

        async def _work(self, label):
            self.running[label] = self.running.get(label, 0) + 1
            self.peak[label] = max(self.peak.get(label, 0), self.running[label])
            while not self.gate.is_set():
                await asyncio.sleep(0.01)
            self.running[label] -= 1

        @edgeray.method(concurrency_group="io")
        async def io(self, label="io"):
            await self._work(label)

        @edgeray.method(concurrency_group="compute")
        async def compute(self):
            await self._work("compute")

        async def default(self):
            await self._work("default")

        @edgeray.method(concurrency_group="ctl")
        def state(self):
            return dict(self.running)

        @edgeray.method(concurrency_group="ctl")
        def open(self):
            self.gate.set()

        @edgeray.method(concurrency_group="ctl")
        def close(self):
            self.gate.clear()

        @edgeray.method(concurrency_group="ctl")
        def peaks(self):
            return dict(self.peak)

    p = Probe.options(max_concurrency=4, concurrency_groups={"io": 2, "compute": 3, "ctl": 1}).remote()
    refs = [p.io.remote() for _ in range(5)] + [p.compute.remote() for _ in range(6)] + [p.default.remote() for _ in range(7)]
    full = {"io": 2, "compute": 3, "default": 4}
    wait_for(lambda: ray.get(p.state.remote()) == full, what=f"every group to run {full}")
    ray.get(p.open.remote())
    ray.get(refs)
    assert ray.get(p.peaks.remote()) == full
    ray.get(p.close.remote())
    refs = [p.io.options(concurrency_group="compute").remote("io_in_compute") for _ in range(6)]
    wait_for(lambda: ray.get(p.state.remote()).get("io_in_compute") == 3, what="3 io calls running in compute")
    ray.get(p.open.remote())
    ray.get(refs)
    assert ray.get(p.peaks.remote())["io_in_compute"] == 3
    ray.kill(p)


def test_call_cancelled_while_waiting_for_its_group(ray) -> None:
    """A call queued behind its group's limit and cancelled there fails with
    ``TaskCancelledError``; the group goes on with the calls after it."""
    import edgeray

    @ray.remote(concurrency_groups={"one": 1})
    class Busy:
        def __init__(self):
            self.event = asyncio.Event()
            self.loop = None

        @edgeray.method(concurrency_group="one")
        async def hold(self):
            self.loop = asyncio.get_running_loop()
            await self.event.wait()
            return "held"

        @edgeray.method(concurrency_group="one")
        async def queued(self):
            return "ran"

        def is_running(self):
            return self.loop is not None

        def release(self):  # (the event belongs to the group's loop, on another thread)
            self.loop.call_soon_threadsafe(self.event.set)

    b = Busy.remote()
    held = b.hold.remote()
    wait_for(lambda: ray.get(b.is_running.remote()), what="hold() to run")
    victim = b.queued.remote()
    after = b.queued.remote()
    ray.cancel(victim)
    with pytest.raises(ray.exceptions.TaskCancelledError):
        ray.get(victim)
    ray.get(b.release.remote())
    assert ray.get([held, after]) == ["held", "ran"]
    ray.kill(b)


def test_threaded_actor_groups_keep_their_threads(ray) -> None:
    """Ray's TestThreadingLocalData: a sync actor with groups runs each group (and its default
    group) on threads of its own; a one-thread group sees its thread-local data again."""

    @ray.remote(concurrency_groups={"io": 1, "compute": 1})
    class Actor:
        def __init__(self):
            self.local = threading.local()

        def set_local(self, value):
            self.local.value = value
            return threading.current_thread().ident

        def get_local(self):
            return getattr(self.local, "value", None), threading.current_thread().ident

    a = Actor.remote()
    t_default = ray.get(a.set_local.remote("d"))
    t_io = ray.get(a.set_local.options(concurrency_group="io").remote("io"))
    t_compute = ray.get(a.set_local.options(concurrency_group="compute").remote("compute"))
    assert ray.get(a.get_local.remote()) == ("d", t_default)
    assert ray.get(a.get_local.options(concurrency_group="io").remote()) == ("io", t_io)
    assert ray.get(a.get_local.options(concurrency_group="compute").remote()) == ("compute", t_compute)
    assert len({t_default, t_io, t_compute}) == 3
    ray.kill(a)


def test_blocked_threaded_group_does_not_block_others(ray) -> None:
    """A sync actor's group blocked on its one thread leaves the default group and the other
    groups running."""
    import edgeray

    @ray.remote(concurrency_groups={"slow": 1, "fast": 1})
    class Actor:
        def __init__(self):
            self.release = threading.Event()
            self.started = threading.Event()

        @edgeray.method(concurrency_group="slow")
        def block(self):
            self.started.set()
            self.release.wait()
            return "released"

        @edgeray.method(concurrency_group="fast")
        def fast(self):
            return self.started.is_set()

        def default(self):
            self.release.set()
            return "default"

    a = Actor.remote()
    blocked = a.block.remote()
    wait_for(lambda: ray.get(a.fast.remote()), what="block() to start")
    assert ray.get(a.default.remote()) == "default"
    assert ray.get(blocked) == "released"
    ray.kill(a)


# --------------------------------------------------------------------------- many calls in flight


def test_async_actor_4000_calls_await_one_event(ray) -> None:
    """4,000 calls in flight on an async actor (max_concurrency=8000) all await one Event that
    the last call sets: every call must be let in, whichever path (node or direct) it took.
    (Calls may arrive in any order, as in Ray: some arrive after the Event is set.)"""

    @ray.remote
    class Waiter:
        def __init__(self):
            self.event = asyncio.Event()
            self.arrived = 0

        async def call(self, i, last):
            self.arrived += 1
            if last:
                self.event.set()
            await self.event.wait()
            return i

        async def count(self):
            return self.arrived

    n = 4000
    w = Waiter.options(max_concurrency=8000).remote()
    refs = [w.call.remote(i, i == n - 1) for i in range(n)]
    assert ray.get(refs) == list(range(n))
    assert ray.get(w.count.remote()) == n
    ray.kill(w)


@pytest.mark.parametrize(
    "kind, options",
    [("async", {}), ("threaded", {"max_concurrency": 2}), ("threaded", {"concurrency_groups": {"open": 1}})],
    ids=["async", "threaded", "groups"],
)
def test_unordered_actor_call_overtakes_calls_sent_via_the_node(ray, kind, options) -> None:
    """A call to an actor that runs calls concurrently, sent via the node (an ObjectRef nested
    in its arguments), waits for a later call sent on the direct connection: that one must not
    be held back until the first finishes (as calls to an in-order actor are)."""
    from edgeray.client._context import current_client

    class AsyncGate:
        def __init__(self):
            self.event = asyncio.Event()

        async def wait(self, nested):
            await self.event.wait()
            return "waited"

        async def open(self):
            self.event.set()
            return "opened"

        async def ping(self):
            return True


    class ThreadedGate:
        def __init__(self):
            self.event = threading.Event()

        def wait(self, nested):
            self.event.wait()
            return "waited"

        def open(self):
            self.event.set()
            return "opened"

        def ping(self):
            return True

    cls = AsyncGate if kind == "async" else ThreadedGate
    g = ray.remote(cls).options(**options).remote()
    lane = wait_for(lambda: ray.get(g.ping.remote()) and current_client().lanes._lanes[g._actor_id])
    wait_for(lambda: ray.get(g.ping.remote()) and lane.chan is not None and lane.chan.open,
             what="the direct connection to the actor")
    first = g.wait.remote([ray.put("nested")])  # a nested ref: via the node
    group = "open" if "concurrency_groups" in options else None  # (the default one is busy)
    assert ray.get(g.open.options(concurrency_group=group).remote()) == "opened"
    assert ray.get(first) == "waited"
    ray.kill(g)


# --------------------------------------------------------------------------- threaded actors


def test_threaded_actor_pool_has_max_concurrency_threads(ray) -> None:
    """A threaded actor runs up to ``max_concurrency`` calls at once, each on a thread of a
    pool of that size (a blocked call holds its thread, as in Ray), and each call's runtime
    context is its own."""
    import edgeray

    @ray.remote(max_concurrency=3, concurrency_groups={"ctl": 1})
    class Pool:
        def __init__(self):
            self.lock = threading.Lock()
            self.running = 0
            self.peak = 0
            self.threads: set[int] = set()
            self.gate = threading.Event()

        def work(self):
            ctx = edgeray.get_runtime_context()
            with self.lock:
                self.running += 1
                self.peak = max(self.peak, self.running)
                self.threads.add(threading.get_ident())
            self.gate.wait()
            with self.lock:
                self.running -= 1
            return ctx.get_task_id(), ctx.get_actor_id(), edgeray.get_runtime_context().get_task_id()

        @edgeray.method(concurrency_group="ctl")
        def state(self):
            return self.running, self.peak, len(self.threads)

        @edgeray.method(concurrency_group="ctl")
        def open(self):
            self.gate.set()

    p = Pool.remote()
    refs = [p.work.remote() for _ in range(6)]
    wait_for(lambda: ray.get(p.state.remote())[0] == 3, what="three calls running")
    ray.get(p.open.remote())
    results = ray.get(refs)
    assert ray.get(p.state.remote()) == (0, 3, 3)
    for ref, (task_id, actor_id, again) in zip(refs, results, strict=True):
        assert task_id == again == ref.task_id().hex()
        assert actor_id == p._actor_id.hex()
    ray.kill(p)


def test_threads_of_a_pool_live_on(ray, Signal) -> None:
    """Ray's test_multiple_threads_in_same_group: the threads of a threaded actor stay alive
    between calls, so their thread-local data does too; calls block in ``get`` on each."""

    @ray.remote
    class Actor:
        def __init__(self, signal, n):
            self.local = threading.local()
            self.signal = signal
            self.data: dict[int, int] = {}
            self.n = n

        def set_local(self, value):
            assert not hasattr(self.local, "value")
            self.local.value = value
            self.data[threading.get_ident()] = value
            ray.get(self.signal.wait.remote())

        def check_local(self):
            assert len(self.data) == self.n
            assert self.local.value == self.data[threading.get_ident()]
            ray.get(self.signal.wait.remote())

    n = 5
    signal = Signal.remote()
    a = Actor.options(max_concurrency=n).remote(signal, n)
    refs = [a.set_local.remote(i) for i in range(n)]
    wait_for(lambda: ray.get(signal.waiters.remote()) == n, what=f"{n} calls waiting")
    ray.get(signal.send.remote(clear=True))
    ray.get(refs)
    refs = [a.check_local.remote() for _ in range(n)]
    wait_for(lambda: ray.get(signal.waiters.remote()) == n, what=f"{n} calls waiting")
    ray.get(signal.send.remote())
    ray.get(refs)
    ray.kill(a)
    ray.kill(signal)
