#!/usr/bin/env python3
"""Speeds of two pure parts, which the tests no longer assert (a busy machine broke them):

    python tools/bench_pure.py

* the object store's ``Allocator``: 10,000 live blocks, then 20,000 free + allocate pairs
  (the test suite asked for under 2 s in all);
* a built-in scheduling strategy's ``decide`` on a one-node view, per call (the suite asked for
  under 50 us).
"""

from __future__ import annotations

import random
import time

A = 4096


def allocator_ops() -> float:
    from edgeray.object_store import Allocator

    a = Allocator(2**40)
    rng = random.Random(1)
    t0 = time.perf_counter()
    live = [a.allocate(rng.randrange(1, 64) * A) for _ in range(10_000)]
    for _ in range(20_000):
        i = rng.randrange(len(live))
        a.free(live[i])
        live[i] = a.allocate(rng.randrange(1, 64) * A)
    return time.perf_counter() - t0


def decide_per_call(cls: type, n: int = 20_000) -> float:
    from edgeray.plugins import ClusterView, NodeView, SchedulingRequest

    total = {"CPU": 16.0, "memory": 1e10, "object_store_memory": 1e9}
    view = ClusterView((NodeView("a", True, total, dict(total)),), "a")
    req = SchedulingRequest({"CPU": 1})
    s = cls()
    t0 = time.perf_counter()
    for _ in range(n):
        s.decide(req, view)
    return (time.perf_counter() - t0) / n


def main() -> None:
    from edgeray_builtins.scheduling import DefaultStrategy, LocalityStrategy, SpreadStrategy

    print(f"allocator: 50,000 operations in {allocator_ops():.3f} s")
    for cls in (DefaultStrategy, SpreadStrategy, LocalityStrategy):
        print(f"{cls.__name__}.decide: {decide_per_call(cls) * 1e6:.1f} us per call")


if __name__ == "__main__":
    main()
