#!/usr/bin/env python3
"""How long cancelling queued tasks takes, per task, as the queue grows.

    python tools/bench_cancel.py                  # 1,000 and 5,000 queued tasks
    python tools/bench_cancel.py --sizes 10000

One CPU is held by a long task, so every task submitted behind it waits in the node's queue;
then each is cancelled with ``cancel()`` and its result fetched (``TaskCancelledError``). The cost
per cancel should stay flat as the queue grows (no O(n) scan of the queue per cancel).
"""

from __future__ import annotations

import argparse
import time


def measure(ray: object, n: int) -> tuple[float, float]:
    r = ray  # type: ignore[assignment]

    @r.remote
    def hold() -> None:
        time.sleep(3600)

    @r.remote
    def queued() -> int:
        return 1

    blocker = hold.remote()
    refs = [queued.remote() for _ in range(n)]
    t0 = time.perf_counter()
    for ref in refs:
        r.cancel(ref)
    t1 = time.perf_counter()
    for ref in refs:
        try:
            r.get(ref)
        except r.exceptions.TaskCancelledError:
            pass
    t2 = time.perf_counter()
    r.cancel(blocker, force=True)
    return (t1 - t0) / n, (t2 - t0) / n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    args = ap.parse_args()
    import edgeray as ray

    ray.init(num_cpus=1)
    try:
        for n in args.sizes:
            cancel, total = measure(ray, n)
            print(f"{n} queued tasks: cancel() {cancel * 1e6:.0f} us each, "
                  f"cancel + get {total * 1e6:.0f} us each ({total * n:.2f} s in all)")
    finally:
        ray.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
