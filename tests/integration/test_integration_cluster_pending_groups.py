"""A placement group the cluster cannot hold yet stays pending, and is created (its actors run)
once a node that can hold it joins, as in Ray (issue 16: a PACK group with a GPU bundle created
before the GPU node joins). GPUs are declared, not real."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

import edgeray as ray
from edgeray.cluster_utils import Cluster
from edgeray.util.placement_group import placement_group, placement_group_table
from edgeray.util.scheduling_strategies import PlacementGroupSchedulingStrategy


@pytest.fixture
def cpu_only_cluster() -> Iterator[Any]:
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        ray.init(address=c.address)
        yield c
    finally:
        if ray.is_initialized():
            ray.shutdown()
        c.shutdown()


@ray.remote(num_cpus=1, num_gpus=1)
class GpuActor:
    def where(self) -> tuple[str, list[Any], str | None]:
        ctx = ray.get_runtime_context()
        return ctx.get_node_id(), ray.get_gpu_ids(), os.environ.get("CUDA_VISIBLE_DEVICES")


def test_pack_group_with_a_gpu_bundle_waits_for_the_gpu_node(cpu_only_cluster: Any) -> None:
    pg = placement_group([{"CPU": 1, "GPU": 1}], strategy="PACK")
    ready, _ = ray.wait([pg.ready()], timeout=0.5)
    assert ready == []
    assert placement_group_table(pg)["state"] == "PENDING"
    actor = GpuActor.options(scheduling_strategy=PlacementGroupSchedulingStrategy(pg)).remote()

    gpu_node = cpu_only_cluster.add_node(num_cpus=1, num_gpus=1)

    assert ray.get(pg.ready(), timeout=120) == pg
    assert placement_group_table(pg)["state"] == "CREATED"
    node_id, gpu_ids, visible = ray.get(actor.where.remote(), timeout=120)
    assert node_id == gpu_node.node_id
    assert gpu_ids == [0] and visible == "0"
