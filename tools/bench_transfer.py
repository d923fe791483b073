"""Object transfer between two local nodes (issue 5's figure): a 100 MB array made on one node
and read by a task on the other, and by the driver on the head.

    python tools/bench_transfer.py [--mb 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import edgeray
from edgeray.cluster_utils import Cluster
from edgeray.util.scheduling_strategies import NodeAffinitySchedulingStrategy


@edgeray.remote
def make(n: int) -> np.ndarray:
    return np.ones(n, dtype=np.uint8)


@edgeray.remote
def touch(a: np.ndarray) -> int:
    return int(a[::4096].sum())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    size = args.mb * 1_000_000
    store = max(4 * size, 256 << 20)
    with Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "object_store_memory": store}) as cluster:
        a = cluster.add_node(num_cpus=1, object_store_memory=store)
        b = cluster.add_node(num_cpus=1, object_store_memory=store)
        edgeray.init(address=cluster.address)
        on = lambda n: NodeAffinitySchedulingStrategy(n.node_id, soft=False)  # noqa: E731
        for _ in range(args.repeat):
            ref = make.options(scheduling_strategy=on(a)).remote(size)
            edgeray.wait([ref], fetch_local=False)
            t0 = time.perf_counter()
            edgeray.get(touch.options(scheduling_strategy=on(b)).remote(ref))
            dt = time.perf_counter() - t0
            print(f"node to node, {args.mb} MB: {size / dt / 1e6:,.0f} MB/s ({dt * 1000:.0f} ms, incl. task)")
            t0 = time.perf_counter()
            edgeray.get(ref)
            dt = time.perf_counter() - t0
            print(f"node to the driver's node, {args.mb} MB: {size / dt / 1e6:,.0f} MB/s ({dt * 1000:.0f} ms)")
            del ref
        edgeray.shutdown()


if __name__ == "__main__":
    main()
