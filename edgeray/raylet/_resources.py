"""Resource accounting in integer units of 1/10000 (Ray's precision), with GPU device ids.

The units themselves (``UNIT``, ``to_units``, ``from_units``) are the plugins' contract
(``edgeray.plugins``), re-exported here: one definition for every layer.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..plugins import UNIT, from_units, to_units

__all__ = ["UNIT", "GPU", "to_units", "from_units", "ResourcePool", "NodeResources"]

GPU = "GPU"


class ResourcePool:
    """Totals and availability of some resources (a node's, or a placement-group bundle's);
    GPUs are tracked per device so that a task's ``CUDA_VISIBLE_DEVICES`` names the devices it
    was given and fractions pack onto one device."""

    def __init__(self, total: Mapping[str, float], gpu_ids: list[str] | None = None) -> None:
        units = {k: to_units(v) for k, v in total.items() if v > 0}
        n_gpu = int(total.get(GPU, 0))
        ids = list(gpu_ids or [])[:n_gpu]
        ids += [str(i) for i in range(len(ids), n_gpu)]
        self._init(units, {i: UNIT for i in ids})

    def _init(self, total: dict[str, int], gpu_free: dict[str, int]) -> None:
        self.total = total
        self.available = dict(total)
        self.gpu_free = gpu_free

    @classmethod
    def from_units(cls, total: dict[str, int], gpu_free: dict[str, int]) -> ResourcePool:
        pool = cls.__new__(cls)
        ResourcePool._init(pool, dict(total), dict(gpu_free))
        return pool

    def feasible(self, req: Mapping[str, int]) -> bool:
        total = self.total
        return all(total.get(k, 0) >= v for k, v in req.items())

    def fits(self, req: Mapping[str, int]) -> bool:
        avail = self.available
        if not all(avail.get(k, 0) >= v for k, v in req.items()):
            return False
        g = req.get(GPU, 0)
        return g == 0 or self._pick_gpus(g) is not None

    def acquire(self, req: Mapping[str, int]) -> list[str]:
        """Take ``req`` (caller checked ``fits``); returns the GPU ids assigned."""
        avail = self.available
        for k, v in req.items():
            avail[k] = avail.get(k, 0) - v
        g = req.get(GPU, 0)
        if not g:
            return []
        picked = self._pick_gpus(g) or []
        per = g if g < UNIT else UNIT
        for i in picked:
            self.gpu_free[i] -= per
        return picked

    def acquire_forced(self, req: Mapping[str, int]) -> None:
        """Take ``req`` even past availability (a blocked task resuming, as Ray oversubscribes)."""
        for k, v in req.items():
            self.available[k] = self.available.get(k, 0) - v

    def release(self, req: Mapping[str, int], gpu_ids: list[str] = ()) -> None:  # type: ignore[assignment]
        avail = self.available
        for k, v in req.items():
            avail[k] = avail.get(k, 0) + v
        g = req.get(GPU, 0)
        per = g if g < UNIT else UNIT
        for i in gpu_ids:
            if i in self.gpu_free:
                self.gpu_free[i] += per

    def _pick_gpus(self, g: int) -> list[str] | None:
        if g < UNIT:  # a fraction: pack onto the fullest device that still has room
            best = None
            for i, free in self.gpu_free.items():
                if free >= g and (best is None or free < self.gpu_free[best]):
                    best = i
            return None if best is None else [best]
        if g % UNIT:
            return None
        whole = [i for i, free in self.gpu_free.items() if free == UNIT]
        n = g // UNIT
        return whole[:n] if len(whole) >= n else None

    def snapshot_total(self) -> dict[str, float]:
        return {k: from_units(v) for k, v in self.total.items()}

    def snapshot_available(self) -> dict[str, float]:
        return {k: from_units(v) for k, v in self.available.items() if k in self.total}


class NodeResources(ResourcePool):
    """A node's pool, plus the bundles of placement groups reserved out of it.

    A reserved bundle is a pool of its own (``bundles[key]``): tasks and actors placed in it
    draw from it, and removing the group gives its totals back to the node.
    """

    def __init__(self, total: Mapping[str, float], gpu_ids: list[str] | None = None) -> None:
        super().__init__(total, gpu_ids)
        self.bundles: dict[tuple[bytes, int], ResourcePool] = {}

    def reserve_bundles(self, requests: dict[tuple[bytes, int], dict[str, int]]) -> bool:
        """Reserve every bundle or none (two-phase on one node: check all, then take all)."""
        trial = ResourcePool.from_units(self.available, self.gpu_free)
        for req in requests.values():
            if not trial.fits(req):
                return False
            trial.acquire(req)
        for key, req in requests.items():
            ids = self.acquire(req)
            g = req.get(GPU, 0)
            per = g if g < UNIT else UNIT
            self.bundles[key] = ResourcePool.from_units(req, {i: per for i in ids})
        return True

    def release_bundle(self, key: tuple[bytes, int]) -> None:
        pool = self.bundles.pop(key, None)
        if pool is not None:
            self.release(pool.total, list(pool.gpu_free))
