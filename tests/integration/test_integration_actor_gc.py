"""Actor lifetimes as Ray's tests expect (issue 16): an actor goes when its last handle does
(handles in tasks, other actors and objects count; ``get_actor`` handles and detached actors do
not), ``__ray_shutdown__`` and atexit handlers run on a graceful exit, ``exit_actor()`` fails
the call that made it, and the death messages are Ray's."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from waiting import wait_for

pytestmark = pytest.mark.timeout(240)


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


def wait_for_text(path: Path, text: str) -> None:
    """Until ``path`` holds ``text`` (it may exist a moment before it is written)."""
    wait_for(lambda: path.exists() and path.read_text() == text, what=f"{path} to hold {text!r}")


def _pid_actor(ray):
    @ray.remote
    class Pid:
        def __init__(self, marker=None):
            self.marker = marker

        def pid(self):
            return os.getpid()

        def slow_pid(self, path):
            import time

            while not os.path.exists(path):  # (waits for the test's go-ahead, polling)
                time.sleep(0.01)
            return os.getpid()

        def __ray_shutdown__(self):
            if self.marker:
                Path(self.marker).write_text("shutdown")

    return Pid


# --------------------------------------------------------------------------- item 1: GC


def test_actor_goes_when_its_last_handle_does_after_the_calls_sent(ray, tmp_path: Path) -> None:
    Pid = _pid_actor(ray)
    marker = tmp_path / "shutdown"
    a = Pid.remote(str(marker))
    pid = ray.get(a.pid.remote())
    go = tmp_path / "go"
    sent = a.slow_pid.remote(str(go))  # already sent when the handle goes: it still runs
    del a
    gc.collect()
    go.write_text("")
    assert ray.get(sent, timeout=60) == pid
    wait_for(lambda: _gone(pid), timeout=60, what="the dropped actor's process to exit")
    assert marker.read_text() == "shutdown"  # a graceful exit: __ray_shutdown__ ran


def test_handles_in_tasks_actors_and_objects_keep_it_alive(ray, tmp_path: Path) -> None:
    Pid = _pid_actor(ray)

    @ray.remote
    def use(handle, path):
        import time

        import edgeray

        while not os.path.exists(path):  # (until the driver dropped its own handle)
            time.sleep(0.01)
        return edgeray.get(handle.pid.remote())

    @ray.remote
    class Holder:
        def keep(self, handles):
            self.handle = handles[0]

        def ask(self):
            import edgeray

            return edgeray.get(self.handle.pid.remote())

    a = Pid.remote()
    pid = ray.get(a.pid.remote())
    holder = Holder.remote()
    ray.get(holder.keep.remote([a]))
    boxed = ray.put({"actor": a})
    go = tmp_path / "go"
    task = use.remote(a, str(go))
    del a
    gc.collect()
    go.write_text("")
    assert ray.get(task, timeout=60) == pid  # the task's handle works
    assert ray.get(holder.ask.remote(), timeout=60) == pid  # so does the holder's
    ray.kill(holder)  # its handle goes with it; the one in the object still holds the actor
    inner = ray.get(boxed)["actor"]
    assert ray.get(inner.pid.remote(), timeout=60) == pid
    del inner, boxed
    gc.collect()
    wait_for(lambda: _gone(pid), timeout=60, what="the actor to go with the last handle (in an object)")


def test_detached_and_get_actor_handles(ray) -> None:
    Pid = _pid_actor(ray)
    kept = Pid.options(name="kept", lifetime="detached").remote()
    named = Pid.options(name="named").remote()
    kept_pid, named_pid = ray.get([kept.pid.remote(), named.pid.remote()])
    looked_up = ray.get_actor("named")  # (Ray: such a handle does not keep the actor)
    assert ray.get(looked_up.pid.remote()) == named_pid
    del kept, named
    gc.collect()
    # a named, non-detached actor is collected too (Ray's docs), its looked-up handle alive or not
    wait_for(lambda: _gone(named_pid), timeout=60, what="the named actor to be collected")
    with pytest.raises(ray.exceptions.ActorDiedError, match="all references to the actor were removed"):
        ray.get(looked_up.pid.remote(), timeout=60)
    again = ray.get_actor("kept")  # the detached one stays
    assert ray.get(again.pid.remote(), timeout=60) == kept_pid
    ray.kill(again)


# --------------------------------------------------------------------------- items 2-4: exits


@pytest.mark.parametrize("max_concurrency", [1, 3])
def test_exit_actor_fails_its_call_runs_atexit_and_names_the_cause(ray, tmp_path: Path, max_concurrency: int) -> None:
    import edgeray

    after = tmp_path / "after"

    @ray.remote
    class Quitter:
        def __init__(self, path):
            import atexit

            atexit.register(lambda: Path(path).write_text("atexit"))

        def bye(self, catch):
            try:
                edgeray.actor.exit_actor()
            except SystemExit:
                if not catch:
                    raise
            after.write_text("ran on")  # only reached when the exit was caught

        def ping(self):
            return "pong"

    for catch in (False, True):
        done = tmp_path / f"atexit-{catch}"
        q = Quitter.options(max_concurrency=max_concurrency).remote(str(done))
        assert ray.get(q.ping.remote()) == "pong"
        with pytest.raises(ray.exceptions.ActorDiedError, match=r"exit_actor\(\)"):
            ray.get(q.bye.remote(catch), timeout=60)
        wait_for_text(done, "atexit")
        with pytest.raises(ray.exceptions.ActorDiedError, match=r"exit_actor\(\)"):
            ray.get(q.ping.remote(), timeout=60)
    with pytest.raises(TypeError, match="non-actor worker"):
        edgeray.actor.exit_actor()


def test_exit_actor_in_init_and_from_an_asyncio_task(ray, tmp_path: Path) -> None:
    import edgeray

    @ray.remote
    class LeavesAtOnce:
        def __init__(self, path):
            import atexit

            atexit.register(lambda: Path(path).write_text("atexit"))
            edgeray.actor.exit_actor()

        def ping(self):
            return "pong"

    @ray.remote
    class Async:
        def __init__(self, path):
            import atexit

            atexit.register(lambda: Path(path).write_text("atexit"))

        async def start_exit(self):
            import asyncio

            async def leave():
                await asyncio.sleep(0)
                edgeray.actor.exit_actor()

            self.task = asyncio.get_running_loop().create_task(leave())

        async def ping(self):
            return "pong"

        async def bye_caught(self):
            try:
                edgeray.actor.exit_actor()
            except ray.exceptions.AsyncioActorExit:  # (Ray's, in an async actor) caught: it exits all the same
                pass

    first, second = tmp_path / "init", tmp_path / "async"
    a = LeavesAtOnce.remote(str(first))
    wait_for_text(first, "atexit")
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(a.ping.remote(), timeout=60)
    b = Async.remote(str(second))
    assert ray.get(b.ping.remote()) == "pong"
    ray.get(b.start_exit.remote(), timeout=60)
    wait_for_text(second, "atexit")
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(b.ping.remote(), timeout=60)
    third = tmp_path / "async-call"
    c = Async.remote(str(third))
    with pytest.raises(ray.exceptions.ActorDiedError, match=r"exit_actor\(\)"):
        ray.get(c.bye_caught.remote(), timeout=60)
    wait_for_text(third, "atexit")


def test_ray_shutdown_hook_and_atexit_on_terminate_not_on_kill(ray, tmp_path: Path) -> None:
    @ray.remote
    class Cleanup:
        def __init__(self, shutdown, atexit_path):
            import atexit

            self.shutdown = shutdown
            atexit.register(lambda: Path(atexit_path).write_text("atexit"))

        def __ray_shutdown__(self):
            Path(self.shutdown).write_text("shutdown")

        def pid(self):
            return os.getpid()

    shut, ate = tmp_path / "s1", tmp_path / "a1"
    c = Cleanup.remote(str(shut), str(ate))
    ray.get(c.pid.remote())
    c.__ray_terminate__.remote()
    wait_for_text(shut, "shutdown")
    wait_for_text(ate, "atexit")
    shut2, ate2 = tmp_path / "s2", tmp_path / "a2"
    k = Cleanup.remote(str(shut2), str(ate2))
    pid = ray.get(k.pid.remote())
    ray.kill(k)  # forced: no __ray_shutdown__, no atexit (Ray's docs)
    wait_for(lambda: _gone(pid), timeout=60, what="the killed actor to exit")
    assert not shut2.exists() and not ate2.exists()
    with pytest.raises(ray.exceptions.ActorDiedError, match="it was killed by `ray.kill`") as info:
        ray.get(k.pid.remote(), timeout=60)
    assert info.value.actor_id == k._actor_id.hex()
    assert str(info.value).startswith("The actor died unexpectedly before finishing this task.")


JOB_END = """
import os, sys
from pathlib import Path
import edgeray as ray
ray.init(address="auto")

@ray.remote
class Cleanup:
    def __init__(self, path):
        self.path = path
    def __ray_shutdown__(self):
        Path(self.path).write_text("shutdown")
    def pid(self):
        return os.getpid()

c = Cleanup.remote(sys.argv[1])
print(ray.get(c.pid.remote()))
"""


@pytest.fixture
def cli_node(edgeray_home: str):
    r = subprocess.run([sys.executable, "-m", "edgeray", "start", "--num-cpus", "2"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    try:
        yield edgeray_home
    finally:
        subprocess.run([sys.executable, "-m", "edgeray", "stop"], capture_output=True, timeout=60)


def test_ray_shutdown_hook_runs_when_the_job_ends(cli_node, tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent(JOB_END))
    marker = tmp_path / "shutdown"
    r = subprocess.run([sys.executable, str(script), str(marker)], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ))
    assert r.returncode == 0, r.stderr
    pid = int(r.stdout.split()[-1])
    wait_for_text(marker, "shutdown")
    wait_for(lambda: _gone(pid), timeout=60, what="the job's actor to exit")


# --------------------------------------------------------------------------- item 5


def test_actor_whose_argument_never_resolves_fails_its_callers_when_its_owner_dies(ray) -> None:
    """Ray's ``test_actor_owner_worker_dies_before_dependency_ready``: an actor created by
    another actor, its constructor's argument a call that never answers; the owner exits, and
    a call on the actor (from a third party holding its handle) fails instead of hanging."""

    @ray.remote
    class Gate:
        async def wait(self):
            import asyncio

            await asyncio.Event().wait()  # never answers

    @ray.remote
    class Dependent:
        def __init__(self, dep):
            self.dep = dep

        def f(self):
            return self.dep

    @ray.remote
    class Owner:
        def pid(self):
            return os.getpid()

        def create(self):
            self.gate = Gate.options(lifetime="detached", name="gate").remote()
            self.actor = Dependent.remote(self.gate.wait.remote())
            return [self.actor]

        def die(self):
            os._exit(0)

    @ray.remote
    class Caller:
        def call(self, handles):
            import edgeray

            return edgeray.get(handles[0].f.remote())

        def ping(self):
            return True

    owner = Owner.remote()
    pid = ray.get(owner.pid.remote())
    handles = ray.get(owner.create.remote(), timeout=60)
    caller = Caller.remote()
    call = caller.call.remote(handles)
    owner.die.remote()
    wait_for(lambda: _gone(pid), timeout=60, what="the owner to exit")
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(call, timeout=60)
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(handles[0].f.remote(), timeout=60)
    assert ray.get(caller.ping.remote(), timeout=60)
    ray.kill(ray.get_actor("gate"))


# --------------------------------------------------------------------------- across nodes


def test_across_nodes_a_far_handle_keeps_the_actor_and_a_far_actor_stays(tmp_path: Path) -> None:
    """An actor on the creator's node lives while a handle on another node does; one placed on
    another node is not collected by handle count (see docs/ray-compatibility.md), only with its job."""
    import edgeray as ray
    from edgeray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "resources": {"near": 2}})
    try:
        c.add_node(num_cpus=1, resources={"far": 2})
        ray.init(address=c.address)
        c.wait_for_nodes()
        Pid = _pid_actor(ray)

        @ray.remote(resources={"far": 1})
        class Holder:
            def keep(self, handles):
                self.handle = handles[0]

            def drop(self):
                import gc

                self.handle = None
                gc.collect()

            def ask(self):
                import edgeray

                return edgeray.get(self.handle.pid.remote())

        near = Pid.options(resources={"near": 1}).remote()
        far = Pid.options(resources={"far": 1}, name="far").remote()
        near_pid, far_pid = ray.get([near.pid.remote(), far.pid.remote()], timeout=60)
        holder = Holder.remote()
        ray.get(holder.keep.remote([near]), timeout=60)
        del near
        gc.collect()
        assert ray.get(holder.ask.remote(), timeout=60) == near_pid  # the far handle keeps it
        del far
        gc.collect()
        ray.get(holder.drop.remote(), timeout=60)
        wait_for(lambda: _gone(near_pid), timeout=60, what="the actor to go with its last (far) handle")
        again = ray.get_actor("far")  # dropped before the near one went, and still there
        assert ray.get(again.pid.remote(), timeout=60) == far_pid
        ray.kill(again)
        ray.kill(holder)
    finally:
        if ray.is_initialized():
            ray.shutdown()
        c.shutdown()
