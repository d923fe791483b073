"""Actors over time (issue 4): detached and job-scoped lifetimes, restarts with retried calls,
``exit_actor``, ``max_pending_calls``, concurrency, and refs awaited from asyncio and Trio."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from waiting import wait_for

pytestmark = pytest.mark.timeout(240)

PY = sys.executable


@pytest.fixture
def cli_node(edgeray_home: str):
    r = subprocess.run([PY, "-m", "edgeray", "start", "--num-cpus", "2"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    try:
        yield edgeray_home
    finally:
        import edgeray

        edgeray.shutdown()
        subprocess.run([PY, "-m", "edgeray", "stop"], capture_output=True, timeout=60)


def run_driver(tmp_path: Path, name: str, code: str) -> str:
    script = tmp_path / f"{name}.py"
    script.write_text(textwrap.dedent(code))
    r = subprocess.run([PY, str(script)], capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert r.returncode == 0, f"{name} failed:\n{r.stdout}\n{r.stderr}"
    return r.stdout


CREATOR = """
import edgeray as ray
ray.init(address="auto", namespace="shared")

@ray.remote
class Store:
    def __init__(self):
        self.items = []
    def add(self, x):
        self.items.append(x)
        return len(self.items)
    def all(self):
        return self.items

detached = Store.options(name="kept", lifetime="detached").remote()
scoped = Store.options(name="scoped").remote()
print(ray.get(detached.add.remote("from driver 1")), ray.get(scoped.add.remote("x")))
ray.shutdown()
"""

FINDER = """
import edgeray as ray
ray.init(address="auto", namespace="shared")
kept = ray.get_actor("kept")
print(ray.get(kept.add.remote("from driver 2")), ray.get(kept.all.remote()))
try:
    ray.get_actor("scoped")
except ValueError:
    print("scoped actor is gone")
try:
    ray.get_actor("kept", namespace="elsewhere")
except ValueError:
    print("not in another namespace")
ray.kill(kept)
ray.shutdown()
"""


def test_detached_actor_outlives_its_driver_and_scoped_one_does_not(cli_node, tmp_path: Path) -> None:
    assert run_driver(tmp_path, "creator", CREATOR).split() == ["1", "1"]
    out = run_driver(tmp_path, "finder", FINDER).splitlines()
    assert out[0] == "2 ['from driver 1', 'from driver 2']"
    assert "scoped actor is gone" in out and "not in another namespace" in out


# --------------------------------------------------------------------------- restarts


def test_crashed_actor_restarts_and_retried_calls_complete(ray, tmp_path: Path) -> None:
    marker = str(tmp_path / "crashed")

    @ray.remote(max_restarts=-1, max_task_retries=-1)
    class Worker:
        def __init__(self):
            import os

            self.pid = os.getpid()
            self.calls = 0

        def step(self, i):
            import os

            self.calls += 1
            if i == 7 and not os.path.exists(marker):
                open(marker, "w").close()
                os._exit(1)  # dies mid-stream, with later calls queued behind this one
            return i, self.pid

    w = Worker.remote()
    refs = [w.step.remote(i) for i in range(20)]
    results = ray.get(refs, timeout=60)
    assert [i for i, _ in results] == list(range(20))
    pids = [pid for _, pid in results]
    assert len(set(pids)) == 2, "the actor did not restart in a new process"
    assert pids.index(pids[-1]) <= 7 + 1, "calls after the crash ran on the new process"
    assert ray.get(w.step.remote(100))[0] == 100


def test_calls_queued_behind_a_crashing_call_run_before_its_retry(ray) -> None:
    @ray.remote(max_restarts=2, max_task_retries=-1)
    class Crashy:
        def crash(self):
            import os

            os._exit(1)

        def pid(self):
            import os

            return os.getpid()

    a = Crashy.remote()
    first = ray.get(a.pid.remote(), timeout=60)
    crash = a.crash.remote()
    pid = a.pid.remote()  # queued behind the crash: it runs on the restarted actor
    second = ray.get(pid, timeout=60)
    assert second != first
    # the crashing call is retried after it, kills each restart, and fails once they are spent
    with pytest.raises(ray.exceptions.ActorDiedError):
        ray.get(crash, timeout=60)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] == "Z"  # exited, not yet reaped
    except OSError:
        return True


@pytest.mark.parametrize("how", ["kill", "crash"])
def test_child_actor_dies_with_the_parent_actor_that_created_it(ray, how: str) -> None:
    from waiting import wait_for

    @ray.remote
    class Child:
        def pid(self):
            import os

            return os.getpid()

    @ray.remote
    class Parent:
        def __init__(self):
            self.child = Child.remote()
            self.kept = Child.options(lifetime="detached", name="kept-child").remote()

        def children(self):
            import edgeray

            return self.child, edgeray.get(self.child.pid.remote()), edgeray.get(self.kept.pid.remote())

        def crash(self):
            import os

            os._exit(1)

    parent = Parent.remote()
    child, child_pid, kept_pid = ray.get(parent.children.remote(), timeout=60)
    if how == "kill":
        ray.kill(parent)
    else:
        parent.crash.remote()
    wait_for(lambda: _gone(child_pid), timeout=60, what="the child actor's process to exit")
    with pytest.raises(ray.exceptions.ActorDiedError):
        ray.get(child.pid.remote(), timeout=60)
    kept = ray.get_actor("kept-child")  # a detached child is nobody's: it stays
    assert ray.get(kept.pid.remote(), timeout=60) == kept_pid
    ray.kill(kept)


def test_without_task_retries_the_crashing_call_fails_and_the_actor_restarts(ray) -> None:
    @ray.remote(max_restarts=1)
    class Fragile:
        def __init__(self):
            self.n = 0

        def crash(self):
            import os

            os._exit(1)

        def incr(self):
            self.n += 1
            return self.n

    f = Fragile.remote()
    assert ray.get(f.incr.remote()) == 1
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(f.crash.remote())
    assert ray.get(f.incr.remote(), timeout=30) == 1  # constructor re-ran: fresh state
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(f.crash.remote())
    with pytest.raises(ray.exceptions.ActorDiedError):  # max_restarts spent
        ray.get(f.incr.remote(), timeout=30)


def test_kill_with_restart_allowed_restarts_it(ray) -> None:
    @ray.remote(max_restarts=1)
    class Pid:
        def pid(self):
            import os

            return os.getpid()

    a = Pid.remote()
    first = ray.get(a.pid.remote())
    ray.kill(a, no_restart=False)

    def restarted_pid() -> int | None:
        try:
            return ray.get(a.pid.remote(), timeout=30)
        except ray.exceptions.RayActorError:
            return None

    second = wait_for(restarted_pid, what="the restarted actor to answer")
    assert second != first
    ray.kill(a)  # no_restart=True by default: gone for good
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(a.pid.remote(), timeout=30)


def test_exit_actor_ends_it_after_the_call(ray) -> None:
    import edgeray

    @ray.remote
    class Quitter:
        def bye(self):
            edgeray.actor.exit_actor()

        def ping(self):
            return "pong"

    q = Quitter.remote()
    assert ray.get(q.ping.remote()) == "pong"
    q.bye.remote()
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(q.ping.remote(), timeout=30)


def test_max_pending_calls(ray) -> None:
    @ray.remote(max_pending_calls=2)
    class Slow:
        def work(self):
            import time

            time.sleep(0.3)
            return 1

    s = Slow.remote()
    a, b = s.work.remote(), s.work.remote()
    with pytest.raises(ray.exceptions.PendingCallsLimitExceeded):
        s.work.remote()
    assert ray.get([a, b]) == [1, 1]

    def admitted() -> bool:  # the handle hears of the results a moment after get returns them
        try:
            ref = s.work.remote()
        except ray.exceptions.PendingCallsLimitExceeded:
            return False
        assert ray.get(ref) == 1
        return True

    wait_for(admitted, what="a third call to be admitted once the two are done")


# --------------------------------------------------------------------------- concurrency


def test_async_actor_runs_calls_concurrently(ray) -> None:
    """Each call returns only once ``n`` calls have been inside the actor at the same time."""

    @ray.remote
    class Sleeper:
        def __init__(self):
            self.inside = self.most = 0

        async def nap(self, n):
            self.inside += 1
            self.most = max(self.most, self.inside)
            try:
                for _ in range(6000):  # (60 s: then it reports that the others never came in)
                    if self.most >= n:
                        return 1
                    await asyncio.sleep(0.01)
                return 0
            finally:
                self.inside -= 1

    s = Sleeper.remote()
    ray.get(s.nap.remote(1))  # started
    assert ray.get([s.nap.remote(4) for _ in range(4)], timeout=120) == [1] * 4


def test_threaded_actor_uses_max_concurrency_threads(ray) -> None:
    @ray.remote(max_concurrency=3)
    class Threaded:
        def __init__(self):
            import threading

            self.all_in = threading.Barrier(3)

        def ping(self):
            return "pong"

        def run(self):
            import threading

            self.all_in.wait(timeout=60)  # (breaks, and raises, unless three calls run at once)
            return threading.get_ident()

    t = Threaded.remote()
    ray.get(t.ping.remote())
    idents = ray.get([t.run.remote() for _ in range(3)], timeout=120)
    assert len(set(idents)) == 3


def test_busy_concurrency_group_does_not_block_another(ray, tmp_path: Path) -> None:
    import edgeray

    @ray.remote(concurrency_groups={"io": 1, "compute": 1})
    class Grouped:
        def __init__(self):
            self.log = []

        @edgeray.method(concurrency_group="io")
        async def slow_io(self, gate):
            import os

            self.log.append("in")
            for _ in range(6000):  # until the test opens the gate (60 s at most)
                if os.path.exists(gate):
                    break
                await asyncio.sleep(0.01)
            self.log.append("out")
            return "io"

        @edgeray.method(concurrency_group="io")
        async def nap_io(self):
            await asyncio.sleep(1.5)
            return "io"

        @edgeray.method(concurrency_group="compute")
        async def quick(self):
            return "compute"

        @edgeray.method(concurrency_group="compute")
        async def seen(self):
            return list(self.log)

    gate = tmp_path / "gate"
    g = Grouped.remote()
    ray.get(g.quick.remote())
    slow = g.slow_io.remote(str(gate))
    wait_for(lambda: ray.get(g.seen.remote()) == ["in"], what="the first io call to start")
    # the io call is still held at its gate: the compute group answered while the io one was busy
    assert ray.get(g.quick.remote()) == "compute"
    assert ray.wait([slow], timeout=0)[0] == [], "the io call was not busy"
    gate.touch()
    assert ray.get(slow, timeout=60) == "io"
    # the io group's limit of 1 holds: a second io call waits for the first (two 1.5 s naps
    # one after the other; a lower bound, which a busy machine cannot break)
    first = g.nap_io.remote()
    t1 = time.monotonic()
    assert ray.get(g.nap_io.remote(), timeout=60) == "io" and ray.get(first, timeout=60) == "io"
    assert time.monotonic() - t1 >= 2.5


def test_blocking_get_in_an_async_actor_warns(ray, capfd) -> None:
    @ray.remote
    class A:
        async def blocking(self, refs):
            import edgeray

            return edgeray.get(refs[0])

    a = A.remote()
    assert ray.get(a.blocking.remote([ray.put(5)])) == 5
    err: list[str] = []

    def warned() -> bool:
        err.append(capfd.readouterr().err)
        return "blocks the event loop" in "".join(err)

    wait_for(warned, what="the warning that a blocking get blocks the event loop")


# --------------------------------------------------------------------------- futures and loops


def test_refs_awaited_in_a_trio_nursery(ray) -> None:
    import trio

    @ray.remote
    def square(x):
        return x * x

    results: dict[int, int] = {}

    async def one(i: int) -> None:
        results[i] = await square.remote(i)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            for i in range(10):
                nursery.start_soon(one, i)

    trio.run(main)
    assert results == {i: i * i for i in range(10)}


def test_asyncio_gather_and_sync_api_from_the_loops_thread_pool(ray) -> None:
    @ray.remote
    def add(a, b):
        return a + b

    async def main() -> tuple[list[int], int]:
        many = await asyncio.gather(*[add.remote(i, 1) for i in range(5)])
        loop = asyncio.get_running_loop()
        blocking = await loop.run_in_executor(None, lambda: ray.get(add.remote(20, 22)))
        return many, blocking

    assert asyncio.run(main()) == ([1, 2, 3, 4, 5], 42)


INIT_IN_LOOPS = """
import asyncio
import trio
import edgeray as ray

@ray.remote
def f(x):
    return x + 1

async def in_asyncio():
    ray.init(num_cpus=1)
    value = await f.remote(1)
    ray.shutdown()
    return value

async def in_trio():
    ray.init(num_cpus=1)
    value = await f.remote(2)
    ray.shutdown()
    return value

print(asyncio.run(in_asyncio()), trio.run(in_trio))
"""


def test_init_inside_running_asyncio_and_trio_loops(tmp_path: Path) -> None:
    assert run_driver(tmp_path, "loops", INIT_IN_LOOPS).split() == ["2", "3"]


# --------------------------------------------------------------------------- utilities


def test_actor_pool(ray) -> None:
    from edgeray.util import ActorPool

    @ray.remote
    class Doubler:
        def double(self, v):
            import time

            time.sleep(0.01 * (v % 3))
            return 2 * v

    pool = ActorPool([Doubler.remote(), Doubler.remote()])
    assert list(pool.map(lambda a, v: a.double.remote(v), range(8))) == [2 * v for v in range(8)]
    assert sorted(pool.map_unordered(lambda a, v: a.double.remote(v), range(8))) == [2 * v for v in range(8)]
    for v in (10, 20, 30):
        pool.submit(lambda a, v: a.double.remote(v), v)
    assert pool.has_next() and not pool.has_free()
    assert [pool.get_next(), pool.get_next(), pool.get_next()] == [20, 40, 60]
    assert not pool.has_next()
    with pytest.raises(StopIteration):
        pool.get_next()
    idle = pool.pop_idle()
    assert idle is not None
    pool.push(idle)
    with pytest.raises(ValueError, match="already belongs"):
        pool.push(idle)


def test_queue_blocking_nonblocking_async_and_across_tasks(ray) -> None:
    from edgeray.util.queue import Empty, Full, Queue

    q = Queue(maxsize=2)
    assert q.empty() and not q.full() and len(q) == 0
    q.put(1)
    q.put_nowait(2)
    assert q.full() and q.qsize() == 2
    with pytest.raises(Full):
        q.put(3, timeout=0.2)
    with pytest.raises(Full):
        q.put_nowait(3)
    assert q.get() == 1 and q.get_nowait() == 2
    with pytest.raises(Empty):
        q.get(timeout=0.2)
    with pytest.raises(Empty):
        q.get(block=False)
    q.put_nowait_batch([5, 6])
    with pytest.raises(Full):
        q.put_nowait_batch([7])
    assert q.get_nowait_batch(2) == [5, 6]

    async def use_async() -> int:
        await q.put_async(41)
        return await q.get_async() + 1

    assert asyncio.run(use_async()) == 42

    @ray.remote
    def consumer(queue, n):
        return [queue.get(timeout=30) for _ in range(n)]

    out = consumer.remote(q, 5)
    for i in range(5):
        q.put(i, timeout=30)  # blocks while the queue is full, until the consumer takes items
    assert ray.get(out) == list(range(5))
    q.shutdown()
