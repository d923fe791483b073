#!/usr/bin/env python3
"""Streaming generators: time to the first ref and refs per second.

    python tools/bench_generators.py               # edgeray, 10,000 values
    python tools/bench_generators.py --ray         # the same against Ray (where installed)
    python tools/bench_generators.py --values 100000 --pause 0.2

A task yields ``--values`` small ints, the first one ``--pause`` seconds before the rest (a
stand-in for a producer still working). "first ref" is the time from ``.remote()`` to the
caller holding the first value: Ray hands each ref over as it is yielded, so it is about the
submit cost; while edgeray hands the refs over when the generator ends (issue 20) it is the whole
task. "refs/s" is the rate of taking and getting all values, from ``.remote()`` on.
"""

from __future__ import annotations

import argparse
import time
from typing import Any


def measure(ray: Any, n: int, pause: float) -> tuple[float, float]:
    @ray.remote(num_returns="streaming")
    def produce(n: int, pause: float) -> Any:
        yield 0
        time.sleep(pause)
        yield from range(1, n)

    ray.get(produce.remote(2, 0.0).completed())  # (a warm worker)
    t0 = time.perf_counter()
    gen = produce.remote(n, pause)
    first = ray.get(next(gen))
    t1 = time.perf_counter()
    count = 1 + sum(1 for ref in gen if ray.get(ref) is not None)
    t2 = time.perf_counter()
    assert first == 0 and count == n, (first, count)
    return t1 - t0, n / (t2 - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--values", type=int, default=10_000)
    ap.add_argument("--pause", type=float, default=0.5, help="seconds between the first value and the rest")
    ap.add_argument("--ray", action="store_true", help="run against Ray instead of edgeray")
    args = ap.parse_args()
    if args.ray:
        import ray
    else:
        import edgeray as ray  # type: ignore[no-redef]
    ray.init(num_cpus=2)
    try:
        first, rate = measure(ray, args.values, args.pause)
        name = "ray" if args.ray else "edgeray"
        print(f"{name}: first ref after {first * 1e3:.1f} ms (pause {args.pause * 1e3:.0f} ms), "
              f"{rate:,.0f} refs/s over {args.values:,} values")
    finally:
        ray.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
