"""Fencing (issue 15, item 4): a node stopped (SIGSTOP) past ``gcs.node_timeout_s`` is
declared dead and its actor restarted elsewhere; once it runs again (SIGCONT) it must learn it
is dead, kill the old actor, run nothing it was sent before, and join again as a new node.

Real processes: a head, the stalled node and a spare node, each an ``edgeray start`` process
with a short node timeout. The actor writes one line per call it executes to a journal file,
so a call run twice (once by the old instance, once by the restarted one) shows."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from waiting import wait_for

import edgeray as ray
from edgeray.cluster_utils import Cluster
from edgeray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

CONFIG = """
[gcs]
heartbeat_interval_s = 0.2
node_timeout_s = 2.0
"""


@ray.remote(max_restarts=1, max_task_retries=-1, resources={"spot": 1})
class Journal:
    """Appends ``tag pid`` to ``path`` for every call it runs."""

    def __init__(self, path: str) -> None:
        self.path = path

    def record(self, tag: str) -> tuple[int, str]:
        with open(self.path, "a") as f:
            f.write(f"{tag} {os.getpid()}\n")
        return os.getpid(), ray.get_runtime_context().get_node_id()


@ray.remote
def node_of() -> str:
    return ray.get_runtime_context().get_node_id()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Any]:
    config = tmp_path / "fast-timeout.toml"
    config.write_text(CONFIG)
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "config": str(config)})
    stopped: list[int] = []
    c.stopped = stopped  # type: ignore[attr-defined]
    try:
        c.add_node(num_cpus=1, resources={"spot": 1}, config=str(config))
        ray.init(address=c.address)
        c.wait_for_nodes()
        yield c
    finally:
        for pid in stopped:  # a stopped process cannot act on SIGTERM
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        if ray.is_initialized():
            ray.shutdown()
        c.shutdown()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _node_states() -> dict[str, bool]:
    return {n["NodeID"]: n["Alive"] for n in ray.nodes()}


def test_a_stalled_node_declared_dead_is_fenced_and_rejoins_as_a_new_node(cluster: Any, tmp_path: Path) -> None:
    journal = tmp_path / "journal.txt"
    stalled = cluster.worker_nodes[0]
    actor = Journal.remote(str(journal))
    old_pid, where = ray.get(actor.record.remote("first"), timeout=60)
    assert where == stalled.node_id
    config = str(tmp_path / "fast-timeout.toml")
    spare = cluster.add_node(num_cpus=1, resources={"spot": 1}, config=config)
    cluster.wait_for_nodes()

    os.kill(stalled.pid, signal.SIGSTOP)
    cluster.stopped.append(stalled.pid)
    ref = actor.record.remote("second")  # sent to the stalled node, which cannot read it
    wait_for(lambda: _node_states().get(stalled.node_id) is False, 60, "the head to declare the stalled node dead")
    new_pid, where = ray.get(ref, timeout=60)  # run by the restarted actor on the spare node
    assert where == spare.node_id and new_pid != old_pid

    os.kill(stalled.pid, signal.SIGCONT)
    # the fenced node kills the old actor's worker, then joins again under a new node id
    wait_for(lambda: not _alive(old_pid), 60, "the old actor's worker to be killed")
    known = {cluster.head_node.node_id, stalled.node_id, spare.node_id}
    rejoined = wait_for(
        lambda: next((n for n, alive in _node_states().items() if alive and n not in known), None),
        60, "the fenced node to join again as a new node")
    assert _node_states()[stalled.node_id] is False  # the old incarnation stays dead

    lines = journal.read_text().split("\n")[:-1]
    tags = [line.split()[0] for line in lines]
    assert tags.count("first") == 1 and tags.count("second") == 1, lines
    assert not any(line.split()[1] == str(old_pid) for line in lines if line.startswith("second"))

    # the cluster keeps working: the actor answers, and the rejoined node takes work
    assert ray.get(actor.record.remote("third"), timeout=60) == (new_pid, spare.node_id)
    on_new = NodeAffinitySchedulingStrategy(rejoined, soft=False)
    assert ray.get(node_of.options(scheduling_strategy=on_new).remote(), timeout=60) == rejoined


@ray.remote(max_retries=1, resources={"spot": 1})
def where_once_open(started: str, gate: str) -> str:
    """Says it started (with its node), then waits for ``gate`` to exist."""
    import time

    node = ray.get_runtime_context().get_node_id()
    with open(started, "a") as f:
        f.write(node + "\n")
    while not os.path.exists(gate):
        time.sleep(0.02)
    return node


def test_the_owner_keeps_the_retry_not_the_fenced_nodes_late_result(cluster: Any, tmp_path: Path) -> None:
    """A task runs on the node that is then stopped; the head retries it on the spare node.
    The stopped node's own run finishes meanwhile (its worker was not stopped), and once it
    runs again it has that result to send: the owner keeps the retry's."""
    stalled = cluster.worker_nodes[0]
    spare = cluster.add_node(num_cpus=1, resources={"spot": 1}, config=str(tmp_path / "fast-timeout.toml"))
    cluster.wait_for_nodes()
    started, gate = tmp_path / "started.txt", tmp_path / "gate"
    on_stalled = NodeAffinitySchedulingStrategy(stalled.node_id, soft=True)
    ref = where_once_open.options(scheduling_strategy=on_stalled).remote(str(started), str(gate))
    wait_for(lambda: started.exists() and stalled.node_id in started.read_text(), 60, "the task to start on the node")

    os.kill(stalled.pid, signal.SIGSTOP)
    cluster.stopped.append(stalled.pid)
    wait_for(lambda: _node_states().get(stalled.node_id) is False, 60, "the head to declare the stalled node dead")
    wait_for(lambda: spare.node_id in started.read_text(), 60, "the retry to start on the spare node")
    gate.touch()
    assert ray.get(ref, timeout=60) == spare.node_id

    os.kill(stalled.pid, signal.SIGCONT)
    known = {cluster.head_node.node_id, stalled.node_id, spare.node_id}
    wait_for(lambda: any(alive and n not in known for n, alive in _node_states().items()), 60,
             "the fenced node to join again as a new node")
    assert ray.get(ref, timeout=60) == spare.node_id
