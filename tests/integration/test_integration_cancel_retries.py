"""Cancellation in its three forms and task retries, with real worker processes (issue 6)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from waiting import wait_for, wait_for_exit, wait_for_file

from edgeray._files import pid_alive

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def ray1(ray_init):
    return ray_init(num_cpus=1)


def test_queued_task_never_runs_and_running_one_gets_keyboard_interrupt(ray1, tmp_path: Path) -> None:
    ray = ray1
    started, interrupted, ran = tmp_path / "started", tmp_path / "interrupted", tmp_path / "ran"

    @ray.remote
    def long_task():
        import time

        open(started, "w").write(str(os.getpid()))
        try:
            time.sleep(120)
        except KeyboardInterrupt:
            open(interrupted, "w").close()
            raise

    @ray.remote
    def never():
        open(ran, "w").close()

    running = long_task.remote()
    wait_for_file(started)
    queued = never.remote()  # the only CPU is busy: it waits
    ray.cancel(queued)
    with pytest.raises(ray.exceptions.TaskCancelledError):
        ray.get(queued, timeout=20)
    ray.cancel(running)
    with pytest.raises(ray.exceptions.TaskCancelledError):
        ray.get(running, timeout=20)
    # (the interrupt, not the 120 s sleep running out, ended it: no bound on the time needed)
    assert interrupted.exists(), "the running task did not see a KeyboardInterrupt"
    assert not ran.exists(), "the cancelled queued task ran"

    @ray.remote
    def pid():

        return os.getpid()

    assert ray.get(pid.remote(), timeout=20) == int(started.read_text())  # the worker lives on


def test_force_cancel_kills_the_worker(ray1, tmp_path: Path) -> None:
    ray = ray1
    started = tmp_path / "started"

    @ray.remote(max_retries=3)
    def stubborn():
        import time

        open(started, "w").write(str(os.getpid()))
        while True:
            try:
                time.sleep(60)
            except KeyboardInterrupt:
                pass  # ignores polite cancellation

    ref = stubborn.remote()
    wait_for_file(started)
    ray.cancel(ref, force=True)
    with pytest.raises(ray.exceptions.TaskCancelledError):
        ray.get(ref, timeout=20)
    wait_for_exit(int(started.read_text()))  # (else: the worker survived force=True)


def test_recursive_cancel_reaches_children_and_dependents_fail(ray_init, tmp_path: Path) -> None:
    ray = ray_init(num_cpus=2)
    child_started, child_interrupted = tmp_path / "child", tmp_path / "child-interrupted"

    @ray.remote
    def child():
        import time

        open(child_started, "w").close()
        try:
            time.sleep(120)
        except KeyboardInterrupt:
            open(child_interrupted, "w").close()
            raise

    @ray.remote
    def parent():
        import edgeray

        return edgeray.get(child.remote())

    @ray.remote
    def consumer(x):
        return x

    p = parent.remote()
    downstream = consumer.remote(p)
    wait_for_file(child_started)
    ray.cancel(p, recursive=True)
    with pytest.raises(ray.exceptions.TaskCancelledError):
        ray.get(p, timeout=20)
    with pytest.raises(ray.exceptions.TaskCancelledError):
        ray.get(downstream, timeout=20)
    wait_for_file(child_interrupted)


def test_recursive_force_cancel_frees_the_childrens_resources(ray_init, tmp_path: Path) -> None:
    ray = ray_init(num_cpus=3)

    @ray.remote(num_cpus=1)
    def child(i):
        import os
        import time

        (tmp_path / f"child-{i}").write_text(str(os.getpid()))
        time.sleep(600)

    @ray.remote(num_cpus=1, scheduling_strategy="SPREAD")  # (through the node, not a leased worker)
    def parent():
        import os

        import edgeray

        (tmp_path / "parent").write_text(str(os.getpid()))
        return edgeray.get([child.remote(i) for i in range(2)])

    p = parent.remote()
    for name in ("child-0", "child-1", "parent"):
        wait_for_file(tmp_path / name)
    pids = {int((tmp_path / name).read_text()) for name in ("child-0", "child-1", "parent")}
    ray.cancel(p, force=True, recursive=True)
    with pytest.raises(ray.exceptions.TaskCancelledError):
        ray.get(p, timeout=30)
    wait_for(lambda: not any(pid_alive(pid) for pid in pids), timeout=60, what="the three workers killed")

    def node_saw_them_exit() -> bool:
        from edgeray.client._context import current_client

        return not pids & {w["pid"] for w in current_client().call("list", {"kind": "workers"})}

    wait_for(node_saw_them_exit, timeout=60, what="the node to count the three workers gone")
    # every CPU back, and no more: the blocked parent's CPU, lent out, is not given back twice
    assert ray.available_resources().get("CPU") == 3.0


def test_cancel_async_actor_call_and_queued_actor_call(ray_init, tmp_path: Path) -> None:
    import asyncio

    ray = ray_init(num_cpus=1)
    started = tmp_path / "started"

    @ray.remote
    class Napper:
        async def nap(self):
            open(started, "w").close()
            await asyncio.sleep(60)

        async def quick(self):
            return "ok"

    a = Napper.remote()
    ray.get(a.quick.remote())
    call = a.nap.remote()
    wait_for_file(started)  # (cancels the call while it runs)
    ray.cancel(call)
    with pytest.raises(ray.exceptions.TaskCancelledError):
        ray.get(call, timeout=20)
    assert ray.get(a.quick.remote(), timeout=20) == "ok"


def test_retries_after_worker_death_then_worker_crashed_error(ray1, tmp_path: Path) -> None:
    ray = ray1
    marker = tmp_path / "died-once"

    @ray.remote(max_retries=2)
    def flaky():

        if not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(1)
        return "second attempt"

    assert ray.get(flaky.remote(), timeout=60) == "second attempt"

    @ray.remote(max_retries=0)
    def always_dies():

        os._exit(1)

    with pytest.raises(ray.exceptions.WorkerCrashedError):
        ray.get(always_dies.remote(), timeout=60)


def test_retry_exceptions(ray1, tmp_path: Path) -> None:
    ray = ray1
    counter = tmp_path / "attempts"

    @ray.remote(max_retries=3, retry_exceptions=True)
    def fails_twice():
        n = int(counter.read_text()) if counter.exists() else 0
        counter.write_text(str(n + 1))
        if n < 2:
            raise ValueError(f"attempt {n}")
        return n

    assert ray.get(fails_twice.remote(), timeout=60) == 2

    typed = tmp_path / "typed"

    @ray.remote(max_retries=3, retry_exceptions=[KeyError])
    def wrong_type():
        n = int(typed.read_text()) if typed.exists() else 0
        typed.write_text(str(n + 1))
        raise TypeError("not retried")

    with pytest.raises(TypeError):
        ray.get(wrong_type.remote(), timeout=60)
    assert typed.read_text() == "1"


def test_a_cancelled_async_call_that_returns_anyway_is_cancelled(ray_init, tmp_path: Path) -> None:
    """Ray's own example: the method catches ``CancelledError`` and returns; ``get`` still
    raises ``TaskCancelledError``."""
    import asyncio

    ray = ray_init(num_cpus=1)
    started, caught = tmp_path / "started", tmp_path / "caught"

    @ray.remote
    class Actor:
        async def f(self):
            open(started, "w").close()
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                open(caught, "w").close()
            return "the method's value"

    a = Actor.remote()
    ref = a.f.remote()
    wait_for_file(started)
    ray.cancel(ref)
    with pytest.raises(ray.exceptions.TaskCancelledError):
        ray.get(ref, timeout=20)
    assert caught.exists(), "the call never saw CancelledError"


def test_a_task_blocked_in_get_sees_keyboard_interrupt_is_canceled_and_may_return(ray_init, tmp_path: Path) -> None:
    ray = ray_init(num_cpus=2)
    started, seen = tmp_path / "started", tmp_path / "seen"

    @ray.remote
    def forever():
        import time

        time.sleep(120)

    @ray.remote
    def blocked(refs):
        import edgeray

        open(started, "w").close()
        try:
            edgeray.get(refs[0])
        except KeyboardInterrupt:
            seen.write_text(str(edgeray.get_runtime_context().is_canceled()))
            return "caught it"  # and returns: as in Ray, its value is the result
        return "finished"

    inner = forever.remote()
    ref = blocked.remote([inner])
    wait_for_file(started)
    ray.cancel(ref, recursive=False)
    assert ray.get(ref, timeout=20) == "caught it"  # (Ray's test_is_canceled_with_keyboard_interrupt)
    assert seen.read_text() == "True"
    ray.cancel(inner, force=True)


def test_a_sync_actor_call_checks_is_canceled(ray_init, tmp_path: Path) -> None:
    """A sync actor's running call is not interrupted; it can ask, and its ref is cancelled."""
    ray = ray_init(num_cpus=1)
    started = tmp_path / "started"

    @ray.remote
    class Actor:
        def __init__(self):
            self.saw = None

        def work(self):
            import time

            import edgeray

            open(started, "w").close()
            deadline = time.monotonic() + 60
            while not edgeray.get_runtime_context().is_canceled() and time.monotonic() < deadline:
                time.sleep(0.01)
            self.saw = edgeray.get_runtime_context().is_canceled()
            return "done"

        def saw_cancel(self):
            return self.saw

    a = Actor.remote()
    ref = a.work.remote()
    wait_for_file(started)
    ray.cancel(ref)
    with pytest.raises(ray.exceptions.TaskCancelledError):
        ray.get(ref, timeout=90)
    assert ray.get(a.saw_cancel.remote(), timeout=20) is True


def test_the_error_of_a_cancelled_task_is_rays(ray_init, tmp_path: Path) -> None:
    """As in Ray (its test_cancel.py): a task cancelled before it ran raises
    ``TaskCancelledError`` itself; one interrupted while it ran raises the error stored as its
    result, ``RayTaskError(TaskCancelledError)``, also a ``TaskCancelledError``; so does an
    async actor call cancelled while it ran."""
    import asyncio

    ray = ray_init(num_cpus=1)
    started = tmp_path / "started"

    @ray.remote
    def long_task():
        import time

        open(started, "w").close()
        time.sleep(120)

    @ray.remote
    class Napper:
        async def nap(self):
            open(started, "w").close()
            await asyncio.sleep(60)

    running = long_task.remote()
    wait_for_file(started)
    queued = long_task.remote()  # (the only CPU is busy)
    ray.cancel(queued)
    with pytest.raises(ray.exceptions.TaskCancelledError) as info:
        ray.get(queued, timeout=20)
    assert type(info.value) is ray.exceptions.TaskCancelledError
    ray.cancel(running)
    with pytest.raises(ray.exceptions.RayTaskError, match="TaskCancelledError") as info:
        ray.get(running, timeout=20)
    assert isinstance(info.value, ray.exceptions.TaskCancelledError)

    started.unlink()
    a = Napper.remote()
    call = a.nap.remote()
    wait_for_file(started)
    ray.cancel(call)
    with pytest.raises(ray.exceptions.TaskCancelledError):
        ray.get(call, timeout=20)


@pytest.mark.parametrize("force", [False, True])
def test_recursive_cancel_frees_both_cpus_for_a_task_that_needs_them(ray_init, tmp_path: Path, force: bool) -> None:
    """Ray's test_recursive_cancel: a parent busy (not blocked in get) and the child it
    submitted hold both CPUs; cancelling the parent (recursive, polite or forced) cancels both,
    and a task that needs the two CPUs then runs."""
    ray = ray_init(num_cpus=2)

    @ray.remote(num_cpus=1)
    def inner():
        import time

        open(tmp_path / "inner", "w").close()
        while True:
            time.sleep(0.05)

    @ray.remote(num_cpus=1)
    def outer():
        import time

        _ = inner.remote()
        open(tmp_path / "outer", "w").close()
        while True:
            time.sleep(0.05)

    @ray.remote(num_cpus=2)
    def many_resources():
        return True

    outer_ref = outer.remote()
    wait_for_file(tmp_path / "outer")
    wait_for_file(tmp_path / "inner")
    many = many_resources.remote()
    assert ray.wait([many], timeout=0.5) == ([], [many])  # (both CPUs are held)
    ray.cancel(outer_ref, force=force)
    with pytest.raises((ray.exceptions.TaskCancelledError, ray.exceptions.WorkerCrashedError)):
        ray.get(outer_ref, timeout=30)
    assert ray.get(many, timeout=60) is True
