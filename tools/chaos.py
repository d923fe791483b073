"""Chaos test: a workload with checked results while worker processes are killed at random.

Usage: .venv/bin/python tools/chaos.py [--duration 600] [--kill-every 3] [--seed 1] [--json FILE]

It starts a node with the CLI in a fresh EDGERAY_HOME, then runs rounds of work until the time
is up: chains of dependent tasks over numpy arrays (small and several MB, so they live in
shared memory), wide fan-in sums, calls on sync and async actors that restart
(max_restarts=-1, max_task_retries=-1), and puts read back by tasks. Meanwhile a killer thread sends SIGKILL to a
random worker process (task, actor or async-actor worker) every ``--kill-every`` seconds on average.
Every result is checked against its expected value. At the end it stops the node and checks
that no process and no shared-memory segment of the run is left.

Exit status 0 only if every result was right and nothing leaked. Scope today: one node
(killing nodes and the head needs multi-node, issue 5).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

import numpy as np

PY = sys.executable


def _processes(home: str, needle: bytes = b"") -> list[int]:
    want = b"EDGERAY_HOME=" + home.encode() + b"\0"
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read()
        except OSError:
            continue
        if (env.startswith(want) or b"\0" + want in env) and needle in env:
            out.append(int(entry))
    return out


class Killer(threading.Thread):
    def __init__(self, home: str, every: float, rng: random.Random) -> None:
        super().__init__(daemon=True, name="chaos-killer")
        self.home, self.every, self.rng = home, every, rng
        self.kills = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.rng.expovariate(1.0 / self.every)):
            workers = _processes(self.home, b"EDGERAY_WORKER_ID=")
            if workers:
                try:
                    os.kill(self.rng.choice(workers), signal.SIGKILL)
                    self.kills += 1
                except ProcessLookupError:
                    pass


def workload(ray: Any, rng: random.Random, counts: dict[str, int]) -> list[str]:
    """One round; returns the descriptions of wrong results (empty when all are right)."""
    wrong: list[str] = []

    @ray.remote(max_retries=-1)
    def inc(a):
        return a + 1

    @ray.remote(max_retries=-1)
    def total(*parts):
        return int(sum(int(p.sum()) for p in parts))

    @ray.remote(max_restarts=-1, max_task_retries=-1)
    class Multiplier:
        def mul(self, x, y):
            return x * y

    @ray.remote(max_restarts=-1, max_task_retries=-1)
    class AsyncMultiplier:
        async def mul(self, x, y):
            return x * y

    # chains of dependent tasks over small and large arrays
    chains = []
    for _ in range(8):
        n = rng.choice([100, 1000, 1 << 20])  # 1 M int64 = 8 MB: shared memory
        ref = ray.put(np.arange(n, dtype=np.int64))
        steps = rng.randint(2, 6)
        for _ in range(steps):
            ref = inc.remote(ref)
        chains.append((ref, n, steps))
    # fan-in over task results
    parts = [inc.remote(np.full(1000, i, dtype=np.int64)) for i in range(30)]
    fan = total.remote(*parts)
    # actors that get killed and restart
    actors = [Multiplier.remote(), AsyncMultiplier.remote()]
    calls = [(a.mul.remote(i, i + 1), i * (i + 1)) for i in range(40) for a in actors]

    for ref, n, steps in chains:
        got = ray.get(ref, timeout=300)
        if got.shape != (n,) or int(got[0]) != steps or int(got[-1]) != n - 1 + steps:
            wrong.append(f"chain n={n} steps={steps}: got [{got[0]} .. {got[-1]}]")
        counts["tasks"] += steps
    want = sum((i + 1) * 1000 for i in range(30))
    got_fan = ray.get(fan, timeout=300)
    if got_fan != want:
        wrong.append(f"fan-in: {got_fan} != {want}")
    counts["tasks"] += 31
    for ref, expected in calls:
        v = ray.get(ref, timeout=300)
        if v != expected:
            wrong.append(f"actor call: {v} != {expected}")
    counts["actor_calls"] += len(calls)
    for a in actors:
        ray.kill(a)
    counts["rounds"] += 1
    return wrong


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=600.0, help="seconds of work (default 600)")
    ap.add_argument("--kill-every", type=float, default=3.0, help="mean seconds between kills")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--num-cpus", type=int, default=2)
    ap.add_argument("--json", default=None, help="write the report here too")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    home = tempfile.mkdtemp(prefix="edgeray-chaos-")
    os.environ["EDGERAY_HOME"] = home
    shm_before = set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()
    r = subprocess.run([PY, "-m", "edgeray", "start", "--num-cpus", str(args.num_cpus)], capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stderr, file=sys.stderr)
        return 2
    import edgeray as ray

    counts = {"rounds": 0, "tasks": 0, "actor_calls": 0}
    wrong: list[str] = []
    killer = Killer(home, args.kill_every, rng)
    t0 = time.monotonic()
    error = None
    try:
        ray.init(address="auto")
        killer.start()
        while time.monotonic() - t0 < args.duration:
            wrong += workload(ray, rng, counts)
        killer.stop.set()
        killer.join()
        from edgeray.client._context import current_client

        stats = current_client().call("status")
    except Exception as e:  # noqa: BLE001 - reported as a failure of the run
        error = repr(e)
        stats = {}
    finally:
        killer.stop.set()
        ray.shutdown()
        subprocess.run([PY, "-m", "edgeray", "stop"], capture_output=True, timeout=60)
    time.sleep(1.0)
    leftover = _processes(home)
    shm_after = set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()
    leaked_shm = sorted(n for n in shm_after - shm_before if n.startswith("edgeray_"))
    shutil.rmtree(home, ignore_errors=True)
    report = {
        "seconds": round(time.monotonic() - t0, 1),
        **counts,
        "workers_killed": killer.kills,
        "task_retries": stats.get("task_retries"),
        "actor_restarts": stats.get("actor_restarts"),
        "workers_started": stats.get("workers_started"),
        "wrong_results": wrong[:20],
        "error": error,
        "leftover_processes": leftover,
        "leaked_shm": leaked_shm,
    }
    print(json.dumps(report, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return 0 if not (wrong or error or leftover or leaked_shm) else 1


if __name__ == "__main__":
    sys.exit(main())
