"""``edgeray logs`` (Ray's ``ray logs``): the log files of this machine's nodes, listed or printed,
found by glob, actor, task or pid; a node elsewhere is refused clearly."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from waiting import wait_for, wait_for_line

pytestmark = pytest.mark.timeout(180)

PY = sys.executable


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "-m", "edgeray", *args], capture_output=True, text=True, timeout=60, env=dict(os.environ))


@pytest.fixture
def driver(edgeray_home: str) -> Iterator[Any]:
    assert cli("start", "--num-cpus", "2").returncode == 0
    import edgeray as ray

    try:
        ray.init(address="auto")
        yield ray
    finally:
        ray.shutdown()
        assert cli("stop").returncode == 0


def test_logs_lists_prints_and_finds_a_workers_file(driver: Any) -> None:
    ray = driver

    @ray.remote
    class Talker:
        def say(self, what: str) -> int:
            print(what)
            print("err:", what, file=sys.stderr)
            sys.stdout.flush()
            sys.stderr.flush()
            return os.getpid()

    @ray.remote
    def task_says() -> int:
        print("a task's line")
        sys.stdout.flush()
        return os.getpid()

    a = Talker.remote()
    pid = ray.get(a.say.remote("an actor's line"))
    ref = task_says.remote()
    task_pid = ray.get(ref)

    listed = cli("logs")
    assert listed.returncode == 0 and "node.log" in listed.stdout and ".out" in listed.stdout, listed
    by_pid = wait_for(lambda: (r := cli("logs", "--pid", str(pid))).stdout and r, what="edgeray logs --pid")
    assert by_pid.returncode == 0 and "an actor's line" in by_pid.stdout, by_pid
    err = cli("logs", "--pid", str(pid), "--err")
    assert err.stdout.splitlines() == ["err: an actor's line"], err  # (stderr only: the .err file)
    by_actor = cli("logs", "--actor-id", a._actor_id.hex())
    assert by_actor.returncode == 0 and "an actor's line" in by_actor.stdout, by_actor
    # (a task on a leased worker reaches the node's task table with its worker's next report)
    by_task = wait_for(lambda: (r := cli("logs", "--task-id", ref.task_id().hex())).returncode == 0 and r,
                       what="edgeray logs --task-id to find the task")
    assert by_task.returncode == 0 and "a task's line" in by_task.stdout, (by_task, task_pid)
    tail = cli("logs", "--pid", str(pid), "--tail", "0")
    assert tail.returncode == 0 and tail.stdout == ""

    # a glob with one match prints it; with several, lists them; with none, says so
    out_name = next(line.split()[0] for line in listed.stdout.splitlines() if line.strip().endswith("bytes)")
                    and ".out" in line)
    one = cli("logs", out_name)
    assert one.returncode == 0, one
    many = cli("logs", "worker-*")
    assert many.returncode == 0 and many.stdout.count("worker-") >= 2
    none = cli("logs", "nothing-*")
    assert none.returncode == 2 and "no log file matches" in none.stderr

    # a node on another machine, and bad input
    remote = cli("logs", "--node-id", "f" * 32)
    assert remote.returncode == 2 and "another machine" in remote.stderr, remote
    assert cli("logs", "--pid", "1").returncode == 2
    assert cli("logs", "--tail", "-5").returncode == 2


def test_logs_follow_prints_what_is_added(driver: Any, tmp_path: Path) -> None:
    ray = driver

    @ray.remote
    class Ticker:
        def say(self, what: str) -> int:
            print(what, flush=True)
            return os.getpid()

    t = Ticker.remote()
    pid = ray.get(t.say.remote("first"))
    wait_for(lambda: "first" in cli("logs", "--pid", str(pid)).stdout, what="the first line in the file")
    printed = tmp_path / "followed.txt"
    with open(printed, "w") as out:
        follow = subprocess.Popen([PY, "-m", "edgeray", "logs", "--pid", str(pid), "--follow"], stdout=out,
                                  env=dict(os.environ))
    try:
        wait_for_line(printed, "first")
        ray.get(t.say.remote("second"))
        wait_for_line(printed, "second")
    finally:
        follow.kill()
        follow.wait()
