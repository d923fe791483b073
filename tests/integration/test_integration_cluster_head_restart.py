"""The head of a real cluster killed with kill -9 and started again from its SQLite GCS, while
the other nodes keep working (issue 6: a durable GCS on several nodes)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from waiting import wait_for

import edgeray as ray
from edgeray.cluster_utils import Cluster

pytestmark = pytest.mark.timeout(240)

CREATE = """
import os, edgeray as ray
ray.init(address={address!r}, namespace="edge")

@ray.remote
class Register:
    def __init__(self, start):
        self.value = start
        self.pid = os.getpid()
    def add(self, x):
        self.value += x
        return self.value
    def where(self):
        return ray.get_runtime_context().get_node_id(), self.pid

keeper = Register.options(name="keeper", lifetime="detached", resources={{"keep": 1}}).remote(100)
print(ray.get(keeper.add.remote(1)), *ray.get(keeper.where.remote()))
from edgeray.util.placement_group import placement_group
pg = placement_group([{{"keep": 1}}], name="reserved", lifetime="detached")
ray.get(pg.ready(), timeout=30)
from edgeray.client._context import current_client
current_client().call("kv_put", {{"key": "config", "value": b"v1"}})
ray.shutdown()
"""

AFTER = """
import edgeray as ray
ray.init(address={address!r}, namespace="edge")
keeper = ray.get_actor("keeper")
print(ray.get(keeper.add.remote(5), timeout=60), *ray.get(keeper.where.remote()))
from edgeray.client._context import current_client
print(current_client().call("kv_get", {{"key": "config"}}).decode())
print(len(current_client().call("list", {{"kind": "jobs"}})))
from edgeray.util import get_placement_group, placement_group_table
pg = get_placement_group("reserved")
ray.get(pg.ready(), timeout=30)
table = placement_group_table(pg)
print(table["state"], table["bundles_to_node_id"][0])
ray.shutdown()
"""


@ray.remote
def square(x: int) -> tuple[int, str]:
    return x * x, ray.get_runtime_context().get_node_id()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Any]:
    cfg = tmp_path / "head.toml"
    cfg.write_text(
        f'[gcs]\nstorage = "sqlite"\nsqlite_path = "{tmp_path / "gcs.sqlite3"}"\nnode_timeout_s = 6.0\n'
    )
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "config": str(cfg)})
    try:
        c.add_node(num_cpus=1, resources={"keep": 2})  # the actor and the group's bundle
        c.add_node(num_cpus=1)
        yield c
    finally:
        if ray.is_initialized():
            ray.shutdown()
        c.shutdown()


def _driver(tmp_path: Path, name: str, code: str) -> list[str]:
    script = tmp_path / f"{name}.py"
    script.write_text(textwrap.dedent(code))
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"{name}:\n{r.stdout}\n{r.stderr}"
    return r.stdout.split()


def test_head_restarted_from_sqlite_while_the_cluster_works(cluster: Any, tmp_path: Path) -> None:
    keeper_node, other = cluster.worker_nodes
    value, node, pid = _driver(tmp_path, "create", CREATE.format(address=cluster.address))
    assert (value, node) == ("101", keeper_node.node_id)

    ray.init(address=other.address, namespace="edge")  # this driver's node is not the head
    keeper = ray.get_actor("keeper")
    old_head = cluster.head_node.node_id
    cluster.head_node.kill()

    # the head is down: the other nodes go on running tasks and actor calls
    results = ray.get([square.options(num_cpus=0.5).remote(i) for i in range(20)], timeout=60)
    assert [r[0] for r in results] == [i * i for i in range(20)]
    assert ray.get(keeper.add.remote(10), timeout=60) == 111

    head = cluster.restart_head()
    wait_for(lambda: any(n["NodeID"] == head.node_id and n["Alive"] for n in ray.nodes()), 30, "the new head is seen")
    wait_for(lambda: not any(n["NodeID"] == old_head and n["Alive"] for n in ray.nodes()), 30, "the old head is dead")

    # a new driver on the restarted head: the detached actor never stopped (same state, same
    # process, same node), the KV entry and the job history are back
    value, node2, pid2, kv, jobs, pg_state, pg_node = _driver(tmp_path, "after", AFTER.format(address=head.address))
    assert (value, node2, pid2) == ("116", keeper_node.node_id, pid)
    assert kv == "v1"
    assert int(jobs) >= 2  # the creating driver's job and this one
    # the detached group kept its bundle where it was (reserved once, not twice)
    assert (pg_state, pg_node) == ("CREATED", keeper_node.node_id)
    assert ray.available_resources().get("keep", 0) == 0
    results = ray.get([square.options(num_cpus=0.5).remote(i) for i in range(10)], timeout=60)
    assert [r[0] for r in results] == [i * i for i in range(10)]
    ray.kill(keeper)


def test_a_detached_actor_whose_node_did_not_rejoin_is_created_again(cluster: Any, tmp_path: Path) -> None:
    keeper_node, _ = cluster.worker_nodes
    _driver(tmp_path, "create", CREATE.format(address=cluster.address))
    cluster.head_node.kill()
    keeper_node.kill()  # gone for good while the head is down
    cluster.worker_nodes.remove(keeper_node)
    head = cluster.restart_head()
    new = cluster.add_node(num_cpus=1, resources={"keep": 2})  # a new node that can hold it
    value, node, _pid, kv, _jobs, pg_state, pg_node = _driver(tmp_path, "after", AFTER.format(address=head.address))
    assert value == "105"  # its constructor ran again (state 100), after the rejoin deadline
    assert node == new.node_id
    assert kv == "v1"
    assert (pg_state, pg_node) == ("CREATED", new.node_id)  # its bundle reserved again there


def test_a_driver_on_the_head_reconnects_after_its_restart(cluster: Any) -> None:
    keeper_node, _ = cluster.worker_nodes
    ray.init(address=cluster.address, namespace="edge")  # a WebSocket driver on the head

    @ray.remote
    class Tally:
        def __init__(self) -> None:
            self.n = 0

        def add(self, x: int) -> int:
            self.n += x
            return self.n

    tally = Tally.options(name="tally", lifetime="detached", resources={"keep": 1}).remote()
    assert ray.get(tally.add.remote(2), timeout=30) == 2
    old_job = ray.get_runtime_context().get_job_id()
    head = cluster.restart_head()
    # the same driver, without a new init(): its next calls wait for the reconnection
    assert [r[0] for r in ray.get([square.remote(i) for i in range(5)], timeout=60)] == [0, 1, 4, 9, 16]
    assert ray.get_runtime_context().get_job_id() != old_job
    assert ray.get(ray.get_actor("tally").add.remote(3), timeout=60) == 5  # it never stopped
    assert any(n["NodeID"] == head.node_id and n["Alive"] for n in ray.nodes())
    ray.kill(tally)
