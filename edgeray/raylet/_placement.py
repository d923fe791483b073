"""Where the bundles of a placement group go: Ray's four strategies over a view of the nodes.

Pure functions over ``ResourcePool``-like views (``available``, ``total``, ``fits``, ``acquire``),
so they are tested without a node, and the same code decides for one node or for a cluster:

- ``STRICT_PACK``: every bundle on one node;
- ``PACK``: on as few nodes as possible (one if any fits them all);
- ``STRICT_SPREAD``: every bundle on a different node;
- ``SPREAD``: on different nodes where possible, sharing nodes only when it must.

The answer is a node per bundle, or None when the bundles do not fit now (the group stays
pending and is tried again when resources free up or nodes join). ``never_fits`` tells a
group that cannot fit even on empty nodes (it is reported, and still waits: a bigger node may
join, as in Ray).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ._resources import UNIT, ResourcePool

__all__ = ["STRATEGIES", "never_fits", "place_bundles"]

STRATEGIES = ("PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD")


def _trials(nodes: Mapping[bytes, ResourcePool], *, empty: bool) -> dict[bytes, ResourcePool]:
    out = {}
    for nid, pool in nodes.items():
        avail = pool.total if empty else pool.available
        free = {i: UNIT for i in pool.gpu_free} if empty else pool.gpu_free
        out[nid] = ResourcePool.from_units(avail, free)
    return out


def place_bundles(
    strategy: str, bundles: Sequence[Mapping[str, int]], nodes: Mapping[bytes, ResourcePool], *, empty: bool = False
) -> list[bytes] | None:
    """A node id for each bundle, or None if they cannot all be placed now.

    ``empty=True`` decides as if nothing were in use (for ``never_fits``)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown placement strategy {strategy!r}")
    trial = _trials(nodes, empty=empty)
    if strategy == "STRICT_PACK":
        for nid, pool in trial.items():
            if _take_all(pool, bundles):
                return [nid] * len(bundles)
        return None
    if strategy == "PACK":
        for nid, pool in _by_room(trial):
            if _take_all(ResourcePool.from_units(pool.available, pool.gpu_free), bundles):
                return [nid] * len(bundles)
        return _greedy(trial, bundles, distinct=False, prefer_used=True)
    if strategy == "STRICT_SPREAD":
        if len(bundles) > len(trial):
            return None
        return _greedy(trial, bundles, distinct=True, prefer_used=False)
    return _greedy(trial, bundles, distinct=False, prefer_used=False)  # SPREAD


def never_fits(strategy: str, bundles: Sequence[Mapping[str, int]], nodes: Mapping[bytes, ResourcePool]) -> bool:
    """True if the group could not be placed even if every node were idle."""
    return place_bundles(strategy, bundles, nodes, empty=True) is None


def _by_room(trial: dict[bytes, ResourcePool]) -> list[tuple[bytes, ResourcePool]]:
    return sorted(trial.items(), key=lambda kv: -sum(kv[1].available.values()))


def _take_all(pool: ResourcePool, bundles: Sequence[Mapping[str, int]]) -> bool:
    for b in bundles:
        if not pool.fits(b):
            return False
        pool.acquire(b)
    return True


def _greedy(
    trial: dict[bytes, ResourcePool], bundles: Sequence[Mapping[str, int]], *, distinct: bool, prefer_used: bool
) -> list[bytes] | None:
    """Bundles in order, each on a node that fits it: unused nodes first (spread) or nodes
    already holding bundles first (pack); ``distinct`` forbids reusing a node."""
    used: dict[bytes, int] = {}
    out: list[bytes] = []
    for b in bundles:
        candidates = [nid for nid, pool in trial.items() if pool.fits(b) and not (distinct and nid in used)]
        if not candidates:
            return None
        sign = -1 if prefer_used else 1
        nid = min(candidates, key=lambda n: (sign * used.get(n, 0), -sum(trial[n].available.values())))
        trial[nid].acquire(b)
        used[nid] = used.get(nid, 0) + 1
        out.append(nid)
    return out
