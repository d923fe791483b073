"""Workers forked from the node's worker template (``[node] worker_start = "fork"``, the
default), a fresh interpreter with ``"spawn"`` or when the template is gone (issue 20). Real
nodes, real processes: a worker's parent is read from ``/proc``."""

from __future__ import annotations

import glob
import os
import random
import signal
from pathlib import Path
from typing import Any

import pytest

from edgeray.config import load_config
from tests.waiting import wait_for


def _cmdline(pid: int) -> bytes:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read()


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[-1].split()[0] == b"Z"
    except FileNotFoundError:
        return True


def _init(ray_init: Any, tmp_path: Path, node: str = 'worker_start = "fork"') -> Any:
    """One CPU, and no worker spawned by the launcher before the node is up (which would be a
    fresh interpreter whatever ``worker_start`` says, to start in parallel with the node)."""
    conf = tmp_path / "node.toml"
    conf.write_text(f"[node]\nprestart_workers = 0\n{node}\n")
    return ray_init(num_cpus=1, _config_file=str(conf))


def _probe(ray: Any) -> Any:
    """A ``num_cpus=0`` actor that says who it is (defined here: pickled by value)."""

    class Probe:
        def who(self) -> dict[str, Any]:
            return {"pid": os.getpid(), "ppid": os.getppid(), "seed": random.getrandbits(64),
                    "worker_id": os.environ["EDGERAY_WORKER_ID"]}

        def say(self, text: str) -> str:
            print(text, flush=True)
            return os.environ["EDGERAY_WORKER_ID"]

    return ray.remote(num_cpus=0)(Probe).remote()


def test_actors_are_forked_from_the_template_each_with_its_own_seed_and_log(ray_init: Any, tmp_path: Path) -> None:
    ray = _init(ray_init, tmp_path)
    a, b = _probe(ray), _probe(ray)
    wa, wb = ray.get([a.who.remote(), b.who.remote()])
    assert wa["ppid"] == wb["ppid"] and b"edgeray.worker._template" in _cmdline(wa["ppid"])
    assert wa["seed"] != wb["seed"] and wa["worker_id"] != wb["worker_id"]
    worker_id = ray.get(a.say.remote("forked-line-7d1"))
    logs = glob.glob(os.path.join(os.environ["EDGERAY_HOME"], "**", f"worker-{worker_id[:8]}.out"), recursive=True)
    assert len(logs) == 1
    wait_for(lambda: "forked-line-7d1" in Path(logs[0]).read_text(), what="the line in the worker's own log")
    assert "forked-line-7d1" not in "".join(Path(p).read_text() for p in glob.glob(
        os.path.join(os.path.dirname(logs[0]), "template.log")))


def test_a_killed_forked_actor_is_reaped_and_reported_dead(ray_init: Any, tmp_path: Path) -> None:
    ray = _init(ray_init, tmp_path)
    a = _probe(ray)
    pid = ray.get(a.who.remote())["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: _gone(pid), what="the actor's process reaped")
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(a.who.remote())


def test_spawn_starts_fresh_interpreters(ray_init: Any, tmp_path: Path) -> None:
    ray = _init(ray_init, tmp_path, 'worker_start = "spawn"')
    who = ray.get(_probe(ray).who.remote())
    assert b"edgeray.worker._template" not in _cmdline(who["ppid"]) and b"edgeray.cli" in _cmdline(who["ppid"])


def test_without_its_template_a_node_spawns_and_still_watches_the_forked(ray_init: Any, tmp_path: Path) -> None:
    ray = _init(ray_init, tmp_path)
    old = _probe(ray)
    before = ray.get(old.who.remote())
    template = before["ppid"]
    assert b"edgeray.worker._template" in _cmdline(template)
    os.kill(template, signal.SIGKILL)
    wait_for(lambda: not os.path.exists(f"/proc/{template}"), what="the template reaped by the node")
    # (the first may be a pool worker forked before; the ones after are fresh interpreters)
    after = ray.get([p.who.remote() for p in [_probe(ray) for _ in range(3)]])
    assert any(b"edgeray.cli" in _cmdline(w["ppid"]) for w in after)
    assert ray.get(old.who.remote())["pid"] == before["pid"]  # the forked one carries on
    ray.kill(old)
    wait_for(lambda: _gone(before["pid"]), what="the orphaned actor's process gone")


def test_worker_start_takes_fork_or_spawn_only() -> None:
    assert load_config().node.worker_start == "spawn"  # (fork is opt-in until its orphaned workers always leave)
    assert load_config(overrides={"node.worker_start": "fork"}).node.worker_start == "fork"
    with pytest.raises(ValueError, match="worker_start"):
        load_config(overrides={"node.worker_start": "vfork"})



async def test_the_template_reports_each_forked_workers_exit_code(tmp_path: Path) -> None:
    import trio

    from edgeray.node._forkserver import ForkServer

    forks = ForkServer(dict(os.environ), str(tmp_path / "template.log"))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(forks.run)
        with open(tmp_path / "a.log", "ab") as log_a:
            failing = await forks.fork({"EDGERAY_HOME": os.environ["EDGERAY_HOME"]}, log_a, log_a)  # no node socket
        assert failing is not None
        assert await failing.wait() == 1
        assert "KeyError: 'EDGERAY_NODE_SOCKET'" in (tmp_path / "a.log").read_text()
        waiting_env = {"EDGERAY_HOME": os.environ["EDGERAY_HOME"], "EDGERAY_NODE_SOCKET": str(tmp_path / "none.sock"),
                       "EDGERAY_WORKER_ID": "00" * 16}
        with open(tmp_path / "b.log", "ab") as log_b:
            waiting = await forks.fork(waiting_env, log_b, log_b)  # (retries its connection for 30 s)
        assert waiting is not None and waiting.returncode is None
        waiting.kill()
        assert await waiting.wait() == -signal.SIGKILL
        nursery.cancel_scope.cancel()
    assert await forks.fork(waiting_env, log_b, log_b) is None  # no template: the caller spawns
