"""``get(timeout=)`` holds while an object is fetched from another node or waits to be
recomputed (issue 16): with the only node able to recompute it gone, ``get(ref, timeout=5)``
raises ``GetTimeoutError`` instead of blocking in the map call to the node."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from waiting import wait_for

import edgeray as ray
from edgeray.cluster_utils import Cluster


@pytest.fixture
def cluster() -> Iterator[Any]:
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        c.add_node(num_cpus=1, resources={"only_here": 1})
        ray.init(address=c.address)
        c.wait_for_nodes()
        yield c
    finally:
        if ray.is_initialized():
            ray.shutdown()
        c.shutdown()


@ray.remote(resources={"only_here": 1})
def make(n: int) -> np.ndarray:
    return np.full(n, 7, dtype=np.uint8)


def test_get_timeout_holds_while_the_object_waits_to_be_recomputed(cluster: Any) -> None:
    victim = cluster.worker_nodes[0]
    ref = make.remote(4 << 20)  # stored on the only node with the resource, not here
    ready, _ = ray.wait([ref], fetch_local=False, timeout=60)
    assert ready == [ref]
    victim.kill()
    wait_for(lambda: any(n["NodeID"] == victim.node_id and not n["Alive"] for n in ray.nodes()), 60,
             "the killed node to be declared dead")
    with pytest.raises(ray.exceptions.GetTimeoutError):
        ray.get(ref, timeout=3)
    # another node able to recompute it joins: the same ref is then got
    cluster.add_node(num_cpus=1, resources={"only_here": 1})
    value = ray.get(ref, timeout=120)
    assert value.shape == (4 << 20,) and int(value[:16].sum()) == 7 * 16
