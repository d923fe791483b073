"""Direct actor calls: a caller on the actor's machine sends calls to the actor's worker itself.

Each test checks what a user sees (values, order, errors, freed objects) and, where it matters,
that the call really went directly (the caller's lane to the actor has an open connection), so a
regression to the node path cannot pass unnoticed.
"""

from __future__ import annotations

import gc
import os
import socket
import time
from typing import Any

import numpy as np
import pytest
from waiting import wait_for, wait_for_gone

pytestmark = pytest.mark.timeout(120)

RAY_INIT_KWARGS = {"num_cpus": 2}


@pytest.fixture(scope="module")
def ray(ray_module):
    return ray_module


@pytest.fixture(scope="module")
def Log(ray):
    @ray.remote
    class Log:
        def __init__(self) -> None:
            self.items: list[Any] = []

        def add(self, x: Any) -> int:
            self.items.append(x)
            return len(self.items)

        def items_(self) -> list[Any]:
            return list(self.items)

        def slow(self, x: Any, s: float) -> Any:
            time.sleep(s)
            return x

        def big(self, n: int) -> np.ndarray:
            return np.arange(n, dtype=np.int64)

        def holding(self, x: Any) -> list[Any]:
            return [ray.put(x)]

        def fail(self) -> None:
            raise KeyError("boom")

        def pid(self) -> int:
            return os.getpid()

        def die(self, after_s: float = 0.0) -> None:
            time.sleep(after_s)
            os._exit(1)

    return Log


def client():
    from edgeray.client._context import current_client

    return current_client()


def lane_of(handle: Any) -> Any:
    return client().lanes._lanes.get(handle._actor_id)


def direct_now(ray: Any, handle: Any, timeout: float = 30.0) -> None:
    """Call until the caller's connection to the actor's worker is open."""

    def connected() -> bool:
        ray.get(handle.items_.remote())
        lane = lane_of(handle)
        return lane is not None and lane.chan is not None and lane.chan.open

    wait_for(connected, timeout, "the caller to connect to the actor's worker directly")


def stored_ids() -> set[str]:
    gc.collect()
    return {row["object_id"] for row in client().call("list", {"kind": "objects"})}


def test_calls_go_directly_and_return_values_and_errors(ray, Log) -> None:
    a = Log.remote()
    direct_now(ray, a)
    assert [ray.get(a.add.remote(i)) for i in range(5)] == [1, 2, 3, 4, 5]
    with pytest.raises(KeyError, match="boom"):
        ray.get(a.fail.remote())
    with pytest.raises(ray.exceptions.RayTaskError):
        ray.get(a.fail.remote())
    assert lane_of(a).mode == "direct"
    ray.kill(a)


def test_order_kept_across_direct_and_node_paths(ray, Log) -> None:
    """A call with a ref argument goes via the node; the direct calls after it wait for it."""

    @ray.remote
    def later(x: int) -> int:
        time.sleep(0.3)
        return x

    a = Log.remote()
    direct_now(ray, a)
    a.add.remote(0)
    a.add.remote(later.remote(1))  # needs the node (an unresolved argument)
    for i in range(2, 6):
        a.add.remote(i)
    a.add.remote(ray.put(6))
    last = a.add.remote(7)
    assert ray.get(last) == 8
    assert ray.get(a.items_.remote()) == list(range(8))
    assert lane_of(a).mode == "direct"  # back on the direct path once the node's calls ended
    ray.kill(a)


def test_a_pending_direct_result_passed_on(ray, Log) -> None:
    """A ref whose value is still on its way is promised to the node: tasks, nested refs and
    other actors' calls get its value."""

    @ray.remote
    def plus(x: int, y: int) -> int:
        return x + y

    @ray.remote
    def first(refs: list[Any]) -> Any:
        return ray.get(refs[0])

    a = Log.remote()
    direct_now(ray, a)
    x = a.slow.remote(40, 0.4)
    assert ray.get(plus.remote(x, 2)) == 42
    y = a.slow.remote(7, 0.3)
    assert ray.get(first.remote([y])) == 7
    z = a.slow.remote(5, 0.2)
    b = Log.remote()
    assert ray.get(b.add.remote(z)) == 1 and ray.get(b.items_.remote()) == [5]
    done = a.slow.remote(1, 0)
    ray.get(done)
    assert ray.get(plus.remote(done, 1)) == 2  # back already: published when passed on
    ray.kill(a)
    ray.kill(b)


def test_large_results_and_results_holding_refs(ray, Log) -> None:
    a = Log.remote()
    direct_now(ray, a)
    arr = ray.get(a.big.remote(1 << 18))  # 2 MiB: sealed on the node for us
    assert arr.shape == (1 << 18,) and int(arr[-1]) == (1 << 18) - 1
    inner = ray.get(a.holding.remote("kept"))
    assert ray.get(inner[0]) == "kept"
    del arr, inner
    before = stored_ids()
    for _ in range(5):
        ray.get(a.big.remote(1 << 17))
        a.big.remote(1 << 17)  # dropped at once, maybe before it is back
    ray.get(a.items_.remote())
    wait_for(lambda: not stored_ids() - before, what="the results of direct calls to be freed")
    ray.kill(a)


def test_calls_in_flight_fail_when_the_actor_dies_and_a_restarted_actor_is_reached(ray, Log) -> None:
    a = Log.options(max_restarts=1).remote()
    direct_now(ray, a)
    pid = ray.get(a.pid.remote())
    a.die.remote(0.5)  # (dies after the next call has reached its worker, not before)
    doomed = a.add.remote(1)  # sent to the worker, which dies before it runs
    assert lane_of(a).mode == "direct"
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(doomed, timeout=30)
    def restarted_pid() -> int | None:  # the restarted actor answers (via the node, then directly again)
        try:
            return ray.get(a.pid.remote(), timeout=20)
        except ray.exceptions.RayActorError:
            return None

    new_pid = wait_for(restarted_pid, what="the restarted actor to answer")
    assert new_pid != pid
    direct_now(ray, a)
    assert ray.get(a.add.remote(1)) == 1  # a fresh instance
    ray.kill(a)
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(a.add.remote(2), timeout=30)


def test_cancel_a_direct_call_waiting_in_the_actor(ray, Log) -> None:
    a = Log.remote()
    direct_now(ray, a)
    busy = a.slow.remote("busy", 0.6)
    queued = a.add.remote("never")
    ray.cancel(queued)
    assert ray.get(busy) == "busy"
    with pytest.raises(ray.exceptions.TaskCancelledError):
        ray.get(queued, timeout=10)
    assert ray.get(a.items_.remote()) == []
    ray.kill(a)


def test_the_direct_socket_wants_the_token_and_goes_with_its_actor(ray, Log) -> None:
    from edgeray.protocol import Connection, Role
    from edgeray.transport import UnixChannel

    a = Log.remote()
    direct_now(ray, a)
    path = client().call("actor_direct", {"actor_id": a._actor_id})["path"]
    assert os.stat(path).st_mode & 0o077 == 0
    chan = UnixChannel(path, 1 << 20)
    conn = Connection(Role.CLIENT, token="wrong-token", max_frame=1 << 20)
    chan.send_frame(conn.hello("caller", os.getpid()))
    first = chan.receive_frame()
    with pytest.raises(ray.exceptions.AuthenticationError):
        conn.receive(first)
    chan.close()
    raw = socket.socket(socket.AF_UNIX)
    raw.connect(path)
    raw.sendall(b"\x00\x00\x00\x05garbage")  # a malformed frame closes that connection only
    raw.close()
    assert ray.get(a.add.remote(1)) == 1
    ray.kill(a)
    wait_for_gone(path)


def test_max_pending_calls_counts_direct_calls(ray, Log) -> None:
    a = Log.options(max_pending_calls=2).remote()
    direct_now(ray, a)
    r1 = a.slow.remote(1, 0.5)
    r2 = a.slow.remote(2, 0.5)
    with pytest.raises(ray.exceptions.PendingCallsLimitExceeded):
        a.add.remote(3)
    assert ray.get([r1, r2]) == [1, 2]
    assert ray.get(a.add.remote(3)) == 1
    ray.kill(a)


def test_async_actor_direct(ray) -> None:
    import asyncio

    @ray.remote
    class Async:
        async def echo(self, x: Any, s: float = 0) -> Any:
            await asyncio.sleep(s)
            return x

    a = Async.remote()

    def has_a_lane() -> bool:
        ray.get(a.echo.remote(0))
        lane = lane_of(a)
        return lane is not None and lane.chan is not None

    wait_for(has_a_lane, what="the caller's direct lane to the async actor")
    slow = a.echo.remote("slow", 0.5)
    fast = a.echo.remote("fast")
    assert ray.get(fast) == "fast"  # concurrent: it does not wait for the slow one
    assert ray.get(slow) == "slow"
    assert ray.get([a.echo.remote(i) for i in range(50)]) == list(range(50))
    ray.kill(a)


def test_small_ref_arguments_this_process_has_travel_with_the_call(ray, Log) -> None:
    """Caller-side resolution: a small put, or a direct result already back, goes along with the
    call (still direct); an argument that is an error or not here yet goes via the node."""
    a = Log.remote()
    direct_now(ray, a)
    x = ray.put({"small": 1})
    first = a.add.remote("first")
    ray.get(first)
    assert ray.get(a.add.remote(x)) == 2
    assert ray.get(a.add.remote(first)) == 3  # a result of this actor, back already
    sent_via_node = lane_of(a).mode
    assert sent_via_node == "direct"
    failed = a.fail.remote()
    with pytest.raises(KeyError):
        ray.get(a.add.remote(failed))  # an error argument: the node fails the call with it
    assert ray.get(a.items_.remote()) == ["first", {"small": 1}, 1]
    ray.kill(a)


def task_rows() -> dict[str, dict[str, Any]]:
    return {row["task_id"]: row for row in client().call("list", {"kind": "tasks"})}


def row_when(task_hex: str, pred: Any, timeout: float = 30.0) -> dict[str, Any]:
    """The node's ``list tasks`` row of a task once ``pred(row)`` holds (workers report each second)."""

    def row() -> dict[str, Any] | None:
        got = task_rows().get(task_hex)
        return got if got is not None and pred(got) else None

    return wait_for(row, timeout, f"list tasks to show what is expected of {task_hex}")


def test_list_tasks_shows_direct_calls_running_finished_and_failed(ray, Log) -> None:
    a = Log.remote()
    direct_now(ray, a)
    pid = ray.get(a.pid.remote())
    ok, bad = a.add.remote(1), a.fail.remote()
    assert lane_of(a).mode == "direct"
    ray.get(ok)
    with pytest.raises(KeyError):
        ray.get(bad)
    row = row_when(ok.task_id(), lambda r: r["state"] == "FINISHED")
    assert (row["name"], row["type"], row["actor_id"], row["worker_pid"]) == ("Log.add", "ACTOR_TASK", a._actor_id.hex(), pid)
    assert row["start_time"] <= row["end_time"]
    row = row_when(bad.task_id(), lambda r: r["state"] == "FAILED")
    assert row["error_type"] == "TASK_EXECUTION_EXCEPTION"
    running, queued = a.slow.remote("x", 30), a.add.remote(2)
    row_when(running.task_id(), lambda r: r["state"] == "RUNNING")
    row_when(queued.task_id(), lambda r: r["state"] == "SUBMITTED_TO_WORKER")
    os.kill(pid, 9)  # the worker dies: what it reported unfinished failed with it
    row_when(running.task_id(), lambda r: r["state"] == "FAILED" and r["error_type"] == "WORKER_DIED")
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(running, timeout=30)


def test_list_tasks_shows_tasks_on_leased_workers_and_via_the_node(ray) -> None:
    @ray.remote
    def square(x: int) -> int:
        return x * x

    sent = client().leases.sent
    refs = [square.remote(i) for i in range(20)]
    assert ray.get(refs) == [i * i for i in range(20)]
    for r in refs:
        row = row_when(r.task_id(), lambda r: r["state"] == "FINISHED")
        assert row["name"].endswith("square") and row["type"] == "NORMAL_TASK" and row["worker_pid"]
    assert client().leases.sent > sent  # some of them went to leased workers


def test_timeline_has_one_complete_event_per_finished_task(ray, tmp_path) -> None:
    import json

    @ray.remote
    def nap(s: float) -> float:
        time.sleep(s)
        return s

    refs = [nap.remote(0.05) for _ in range(4)]
    ray.get(refs)
    for r in refs:
        row_when(r.task_id(), lambda r: r["state"] == "FINISHED")
    events = [e for e in ray.timeline() if e["args"]["task_id"] in {r.task_id() for r in refs}]
    assert len(events) == 4
    for e in events:
        assert e["ph"] == "X" and e["name"].endswith("nap") and e["tid"].startswith("Worker ")
        assert 0.04e6 <= e["dur"] < 5e6 and e["ts"] > 1e15  # microseconds since the epoch
    path = tmp_path / "trace.json"
    assert ray.timeline(str(path)) is None
    assert any(e["args"]["task_id"] == refs[0].task_id() for e in json.loads(path.read_text()))
