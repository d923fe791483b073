"""A streaming generator forwarded to another node hands over each ref as it is yielded
(issue 20, as Ray's; not built yet: see ``test_integration_streaming``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_integration_streaming import NOT_YET, first_value_while_blocked

import edgeray
from edgeray.cluster_utils import Cluster

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def two_nodes(edgeray_home: str) -> Iterator[Cluster]:
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        c.add_node(num_cpus=1, resources={"far": 1})
        edgeray.init(address=c.address)
        yield c
    finally:
        if edgeray.is_initialized():
            edgeray.shutdown()
        c.shutdown()


@NOT_YET
def test_a_generator_on_another_node_hands_over_its_first_ref_early(two_nodes: Cluster, tmp_path: Path) -> None:
    first_value_while_blocked(edgeray, tmp_path, resources={"far": 1})
