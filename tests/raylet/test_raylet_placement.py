"""Placement-group decisions and bundle pools, without a node (pure raylet logic)."""

from __future__ import annotations

import pytest

from edgeray.raylet import NodeResources, to_units
from edgeray.raylet._placement import never_fits, place_bundles


def U(**res: float) -> dict[str, int]:
    return {k: to_units(v) for k, v in res.items()}


def cluster(*cpus: float) -> dict[bytes, NodeResources]:
    return {bytes([i]) * 16: NodeResources({"CPU": c}) for i, c in enumerate(cpus)}


def test_strict_pack_needs_one_node_for_everything() -> None:
    nodes = cluster(2, 2)
    assert place_bundles("STRICT_PACK", [U(CPU=1), U(CPU=1)], nodes) == [bytes([0]) * 16] * 2
    assert place_bundles("STRICT_PACK", [U(CPU=2), U(CPU=1)], nodes) is None
    assert never_fits("STRICT_PACK", [U(CPU=2), U(CPU=1)], nodes)


def test_strict_spread_needs_distinct_nodes() -> None:
    three = cluster(1, 1, 1)
    placed = place_bundles("STRICT_SPREAD", [U(CPU=1)] * 3, three)
    assert placed is not None and len(set(placed)) == 3
    assert place_bundles("STRICT_SPREAD", [U(CPU=0.5)] * 4, three) is None
    assert place_bundles("STRICT_SPREAD", [U(CPU=0.5)] * 2, cluster(2)) is None


def test_spread_prefers_distinct_nodes_but_may_share() -> None:
    placed = place_bundles("SPREAD", [U(CPU=1)] * 2, cluster(2, 2))
    assert placed is not None and len(set(placed)) == 2
    assert place_bundles("SPREAD", [U(CPU=0.5)] * 2, cluster(2)) == [bytes([0]) * 16] * 2


def test_pack_uses_one_node_when_it_can_else_several() -> None:
    nodes = cluster(2, 2)
    placed = place_bundles("PACK", [U(CPU=1), U(CPU=1)], nodes)
    assert placed is not None and len(set(placed)) == 1
    placed = place_bundles("PACK", [U(CPU=2), U(CPU=1)], nodes)
    assert placed is not None and len(set(placed)) == 2


def test_decisions_use_what_is_available_now() -> None:
    nodes = cluster(2)
    nodes[bytes(16)].acquire(U(CPU=1.5))
    assert place_bundles("PACK", [U(CPU=1)], nodes) is None
    assert not never_fits("PACK", [U(CPU=1)], nodes)  # it fits once the node is idle again
    with pytest.raises(ValueError):
        place_bundles("DIAGONAL", [U(CPU=1)], nodes)


def test_bundles_are_reserved_all_or_nothing_and_given_back() -> None:
    res = NodeResources({"CPU": 2, "GPU": 2})
    pg = b"p" * 16
    assert not res.reserve_bundles({(pg, 0): U(CPU=1), (pg, 1): U(GPU=3)})
    assert res.available == U(CPU=2, GPU=2) and not res.bundles  # nothing was taken
    assert res.reserve_bundles({(pg, 0): U(CPU=1, GPU=1), (pg, 1): U(GPU=0.5)})
    assert res.available == U(CPU=1, GPU=0.5)
    b0, b1 = res.bundles[(pg, 0)], res.bundles[(pg, 1)]
    ids = b0.acquire(U(GPU=1))
    assert len(ids) == 1 and ids[0] not in b1.gpu_free  # each bundle has its own device(s)
    assert b1.acquire(U(GPU=0.25)) == list(b1.gpu_free)
    assert not b1.fits(U(GPU=0.5))
    res.release_bundle((pg, 0))
    res.release_bundle((pg, 1))
    assert res.available == U(CPU=2, GPU=2)
    assert res.gpu_free == {"0": 10_000, "1": 10_000}
