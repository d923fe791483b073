"""Worker leases: plain tasks go straight to pool workers the node lends their caller.

What a user sees (values, errors, retries, cancellation, resources, other drivers served) is
checked, and, where it matters, that the tasks really went to a leased worker, so a regression to
the node path cannot pass unnoticed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from waiting import wait_for, wait_for_file

pytestmark = pytest.mark.timeout(120)

RAY_INIT_KWARGS = {"num_cpus": 2, "resources": {"slot": 1}}


@pytest.fixture(scope="module")
def ray(ray_module):
    return ray_module


def client() -> Any:
    from edgeray.client._context import current_client

    return current_client()


def leased_now(ray: Any, timeout: float = 30.0, probe: Any = None) -> None:
    """Run ``probe`` tasks (returning 1) until one goes to a leased worker (the pool may still
    be starting, or busy with an earlier test's work)."""
    if probe is None:

        @ray.remote
        def probe() -> int:
            return 1

    leases = client().leases
    before = leases.sent

    def one_went_to_a_lease() -> bool:
        if leases.sent != before:
            return True
        assert ray.get(probe.remote()) == 1
        return leases.sent != before

    wait_for(one_went_to_a_lease, timeout, "a task to go to a leased worker")


def leased_workers() -> list[Any]:
    leases = client().leases
    with leases._lock:
        return [x for v in leases._leases.values() for x in v if x.chan is not None and x.chan.open]


def test_plain_tasks_run_on_a_leased_worker(ray) -> None:
    @ray.remote
    def square(x: int) -> int:
        return x * x

    @ray.remote
    def boom() -> None:
        raise KeyError("leased")

    leased_now(ray)
    sent = client().leases.sent
    assert [ray.get(square.remote(i)) for i in range(20)] == [i * i for i in range(20)]
    assert client().leases.sent > sent, "no task went to a leased worker"
    with pytest.raises(KeyError, match="leased"):
        ray.get(boom.remote())
    assert ray.get([square.remote(i) for i in range(500)]) == [i * i for i in range(500)]


def test_idle_leases_go_back_and_views_do_not_count_them(ray) -> None:
    @ray.remote
    def one() -> int:
        return 1

    assert ray.get([one.remote() for _ in range(10)]) == [1] * 10
    assert ray.available_resources().get("CPU") == 2.0  # idle leases are returned first
    ray.get(one.remote())
    wait_for(lambda: not leased_workers(), what="the idle leases to be returned")


def test_a_function_defined_after_the_lease(ray) -> None:
    @ray.remote
    def first() -> str:
        return "first"

    assert ray.get(first.remote()) == "first"

    for i in range(5):  # each new function is registered while a lease is open
        @ray.remote
        def later(i: int = i) -> int:
            return i

        assert ray.get(later.remote()) == i


def test_a_leased_worker_that_dies_retries_via_the_node(ray, tmp_path: Path) -> None:
    marker = tmp_path / "died-once"

    @ray.remote(max_retries=1)
    def dies_once(path: str) -> int:
        if not os.path.exists(path):
            open(path, "w").close()
            os._exit(1)
        return os.getpid()

    @ray.remote(max_retries=0)
    def dies(x: int) -> None:
        os._exit(1)

    @ray.remote
    def ok() -> int:
        return 7

    assert ray.get(ok.remote()) == 7
    assert isinstance(ray.get(dies_once.remote(str(marker)), timeout=60), int)
    with pytest.raises(ray.exceptions.WorkerCrashedError):
        ray.get(dies.remote(1), timeout=60)
    assert ray.get([ok.remote() for _ in range(20)], timeout=60) == [7] * 20


def test_list_tasks_shows_a_task_whose_leased_worker_died_before_reporting_it(ray) -> None:
    """A ``max_retries=0`` task whose leased worker exits at once never reached the node (the
    worker reports each second): its submitter reports it, as Ray's owner does."""
    @ray.remote(max_retries=0)
    def dies() -> None:
        os._exit(1)

    leases = client().leases
    for _ in range(20):  # until one of them goes to a leased worker (not via the node)
        leased_now(ray)
        sent = leases.sent
        ref = dies.remote()
        with pytest.raises(ray.exceptions.WorkerCrashedError):
            ray.get(ref, timeout=60)
        if leases.sent > sent:
            break
    else:
        pytest.fail("no dying task went to a leased worker")

    def row() -> dict[str, Any] | None:
        rows = {r["task_id"]: r for r in client().call("list", {"kind": "tasks"})}
        return rows.get(ref.task_id())

    got = wait_for(row, what="the dead worker's task in list tasks")
    assert (got["name"], got["state"], got["error_type"], got["type"]) == ("dies", "FAILED", "WORKER_DIED",
                                                                           "NORMAL_TASK"), got


def test_a_driver_reports_only_its_own_jobs_tasks(ray) -> None:
    """Owner reports come from drivers too: the node takes those of the driver's own job only."""
    from edgeray.protocol import TaskEvents

    c = client()
    mine, other = os.urandom(16), os.urandom(16)
    at = time.time()
    c.send(TaskEvents([[other, "FAILED", 0, "forged", b"\xff" * 4, None, "WORKER_DIED", None, at]], owner=True))
    c.send(TaskEvents([[mine, "FAILED", 0, "mine", c.job_id, None, "WORKER_DIED", None, at]], owner=True))
    c.send(TaskEvents([[other, "FINISHED", 0, "forged", c.job_id, None, None, None, at]]))  # not as owner: ignored
    rows = {r["task_id"]: r for r in c.call("list", {"kind": "tasks"})}  # (after both, on one connection)
    assert rows[mine.hex()]["state"] == "FAILED" and rows[mine.hex()]["worker_pid"] is None
    assert other.hex() not in rows


def test_cancel_a_leased_task(ray, tmp_path: Path) -> None:
    started = tmp_path / "started"

    @ray.remote
    def long(path: str) -> str:
        open(path, "w").close()
        time.sleep(60)
        return "finished"

    @ray.remote
    def ok() -> int:
        return 1

    assert ray.get(ok.remote()) == 1
    running = long.remote(str(started))
    wait_for_file(started)
    ray.cancel(running)
    with pytest.raises(ray.exceptions.TaskCancelledError):
        ray.get(running, timeout=20)
    started.unlink()
    running = long.remote(str(started))
    wait_for_file(started)
    ray.cancel(running, force=True)
    with pytest.raises(ray.exceptions.TaskCancelledError):
        ray.get(running, timeout=20)
    assert ray.get([ok.remote() for _ in range(10)], timeout=30) == [1] * 10


def test_nested_tasks_that_block_do_not_deadlock(ray) -> None:
    @ray.remote
    def leaf(x: int) -> int:
        return x + 1

    @ray.remote
    def parent(x: int) -> int:
        return sum(ray.get([leaf.remote(x), leaf.remote(x + 1)]))

    assert ray.get([parent.remote(i) for i in range(8)], timeout=60) == [2 * i + 3 for i in range(8)]


def test_another_driver_is_served_while_this_one_keeps_a_lease_busy(ray, tmp_path: Path) -> None:
    """A caller keeping both CPUs leased cannot hold them for long: leases stop taking tasks
    after a second, and the other driver's task (via the node) gets its turn."""

    @ray.remote(num_cpus=2)
    def both() -> int:
        time.sleep(0.01)
        return 1

    script = tmp_path / "other.py"
    script.write_text(
        "import time, edgeray as ray\n"
        f"ray.init(address='unix:{client().address}')\n"
        "@ray.remote\n"
        "def f():\n"
        "    return 'served'\n"
        "t = time.monotonic()\n"
        "print(ray.get(f.remote(), timeout=30), round(time.monotonic() - t, 2), flush=True)\n"
        "ray.shutdown()\n"
    )
    other = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        # keeps both CPUs leased until the other driver ends, served or not (its get gives up
        # after 30 s): its being served at all shows it got its turn; no bound on how soon
        while other.poll() is None:
            ray.get(both.remote())
        out, _ = other.communicate(timeout=30)
    finally:
        if other.poll() is None:
            other.kill()
            other.wait()
    assert out.startswith("served"), out  # (a lease takes no new task after MAX_AGE_S)


def test_tasks_needing_the_node_still_work(ray) -> None:
    @ray.remote
    def add(x: int, y: int) -> int:
        return x + y

    @ray.remote(scheduling_strategy="SPREAD")
    def spread() -> str:
        return "spread"

    @ray.remote(resources={"nothing": 1})
    def infeasible() -> None:
        pass

    x = ray.put(40)
    assert ray.get(add.remote(x, 2)) == 42  # a small ref argument: its value travels along
    assert ray.get(add.remote(add.remote(1, 2), 3)) == 6
    assert ray.get(spread.remote()) == "spread"
    ready, _ = ray.wait([infeasible.remote()], timeout=0.3)
    assert ready == []


def test_small_ref_arguments_travel_with_a_leased_task(ray) -> None:
    """Top-level refs whose small values this process has go to the leased worker with the task
    (Ray's caller-side resolution); the others (in shared memory, errors, not back yet) make the
    task go via the node, which resolves them."""
    import numpy as np

    @ray.remote
    def add(x: int, y: int) -> int:
        return x + y

    @ray.remote
    def total(a: Any) -> float:
        return float(a.sum())

    @ray.remote
    def boom() -> int:
        raise KeyError("upstream")

    leased_now(ray)
    leases = client().leases
    sent = leases.sent
    x = ray.put(40)
    assert ray.get([add.remote(x, i) for i in range(50)]) == [40 + i for i in range(50)]
    assert leases.sent > sent, "no task with a ref argument went to a leased worker"
    r = add.remote(1, 2)
    ray.get(r)
    assert ray.get(add.remote(r, y=r)) == 6  # a result come back, passed twice
    assert ray.get(add.remote(add.remote(1, 2), 3)) == 6  # not back yet: via the node
    big = ray.put(np.ones(1_000_000))
    assert ray.get(total.remote(big)) == 1_000_000.0  # in shared memory: via the node
    with pytest.raises(KeyError, match="upstream"):
        ray.get(add.remote(boom.remote(), 1))


def test_a_dropped_ref_argument_survives_the_retry_of_its_leased_task(ray, tmp_path: Path) -> None:
    """The caller drops its only ref to the argument at once; the leased worker dies; the retry
    via the node still finds the value (the leases hold the refs until the task ends)."""
    leased_now(ray)

    @ray.remote(max_retries=2)
    def dies_once(value: str, path: str) -> str:
        if not os.path.exists(path):
            open(path, "w").close()
            os._exit(1)
        return value + "!"

    leases = client().leases
    for i in range(3):
        sent = leases.sent
        ref = dies_once.remote(ray.put(f"payload{i}"), str(tmp_path / f"died{i}"))
        assert ray.get(ref, timeout=60) == f"payload{i}!"
        if leases.sent > sent:
            break  # it went to a leased worker first, as meant
        leased_now(ray)
    else:
        pytest.fail("the task never went to a leased worker")
    assert not leases._held, "refs held for tasks that ended"


def test_custom_resources_lease_workers_and_still_admit(ray, tmp_path: Path) -> None:
    """Tasks needing a custom resource go to leased workers, which hold it: with one ``slot``
    and two idle workers, two such tasks never run at once. A shape this node can never hold
    is not asked for again (its tasks wait via the node, as in Ray)."""
    import math

    @ray.remote(resources={"slot": 1})
    def one_slot() -> int:
        return 1

    @ray.remote(resources={"slot": 1}, num_cpus=0)
    def hold(path: str) -> None:
        start = time.time()
        time.sleep(0.2)
        with open(path, "a") as f:
            f.write(f"{start} {time.time()}\n")

    @ray.remote(resources={"elsewhere": 1})
    def nowhere() -> None:
        pass

    leased_now(ray, probe=one_slot)  # (fails if no such task ever goes to a leased worker)
    leases = client().leases
    assert ray.get([one_slot.remote() for _ in range(30)], timeout=60) == [1] * 30
    log = tmp_path / "spans"
    ray.get([hold.remote(str(log)) for _ in range(4)], timeout=60)
    spans = sorted(tuple(map(float, line.split())) for line in log.read_text().splitlines())
    assert len(spans) == 4
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert start >= end - 0.01, f"two tasks held the one slot at once: {spans}"
    assert ray.available_resources().get("slot") == 1.0
    ready, _ = ray.wait([nowhere.remote()], timeout=0.3)
    assert ready == []
    assert leases._refused_until.get((("CPU", 1.0), ("elsewhere", 1.0))) == math.inf


def test_a_websocket_driver_on_this_machine(ray, tmp_path: Path) -> None:
    """A driver connected over the WebSocket, but on the node's machine (it maps the store), is
    lent workers too and reaches their sockets."""
    address = ray.nodes()[0]["Address"]
    script = tmp_path / "remote.py"
    script.write_text(
        "import edgeray as ray\n"
        "from edgeray.client._context import current_client\n"
        f"ray.init(address={address!r})\n"
        "@ray.remote\n"
        "def f(x):\n"
        "    return x * 2\n"
        "print(sum(ray.get(f.remote(i)) for i in range(30)), flush=True)\n"
        "leases = current_client().leases\n"
        "print(leases.enabled, leases.sent, flush=True)\n"
        "ray.shutdown()\n"
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    total, enabled, sent = out.stdout.split()
    assert (total, enabled) == ("870", "True") and int(sent) > 0, out.stdout + out.stderr
