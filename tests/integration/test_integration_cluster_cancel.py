"""Cancelling, on a 2-node cluster, a task that another task submitted and that runs on the
other node: whether the task that submitted it cancels it or the driver, which holds its ref
(Ray sends a cancel of a ref the caller does not own to its owner)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from waiting import wait_for_file

import edgeray as ray
from edgeray.cluster_utils import Cluster

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def cluster(module_home: str) -> Iterator[Any]:
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        c.add_node(num_cpus=1, resources={"far": 1})
        ray.init(address=c.address)
        c.wait_for_nodes()
        yield c
    finally:
        if ray.is_initialized():
            ray.shutdown()
        c.shutdown()


@ray.remote(resources={"far": 1}, max_retries=0)
def child(started: str) -> str:
    import os
    import time

    with open(started + ".tmp", "w") as f:
        f.write(ray.get_runtime_context().get_node_id())
    os.rename(started + ".tmp", started)  # (whole when it appears)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # (interrupted by the cancel)
        time.sleep(0.05)
    return "finished" if os.path.exists(started) else "?"


@pytest.mark.parametrize("force", [False, True])
def test_a_task_cancels_its_child_running_on_another_node(cluster: Any, tmp_path: Path, force: bool) -> None:
    started = tmp_path / "started"

    @ray.remote(num_cpus=1)
    def parent(started: str, force: bool) -> tuple[str, str]:
        import os
        import time

        ref = child.remote(started)
        while not os.path.exists(started):
            time.sleep(0.02)
        ray.cancel(ref, force=force)
        try:
            ray.get(ref, timeout=60)
        except ray.exceptions.TaskCancelledError:  # (RayTaskError(TaskCancelledError) once it ran, as in Ray)
            return ray.get_runtime_context().get_node_id(), "cancelled"
        return ray.get_runtime_context().get_node_id(), "not cancelled"

    where, outcome = ray.get(parent.remote(str(started), force), timeout=120)
    assert outcome == "cancelled"
    assert where != started.read_text() == cluster.worker_nodes[0].node_id  # the child ran on the other node


@pytest.mark.parametrize("force", [False, True])
def test_the_driver_cancels_a_task_another_task_submitted_on_another_node(cluster: Any, tmp_path: Path,
                                                                            force: bool) -> None:
    started = tmp_path / "started"

    @ray.remote(num_cpus=1)
    def submit(started: str) -> list[Any]:
        return [child.remote(started)]  # (nested: the driver borrows it; this task's worker owns it)

    [ref] = ray.get(submit.remote(str(started)), timeout=60)
    wait_for_file(started)
    assert started.read_text() == cluster.worker_nodes[0].node_id
    ray.cancel(ref, force=force)
    with pytest.raises(ray.exceptions.TaskCancelledError):
        ray.get(ref, timeout=60)
