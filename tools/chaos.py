"""Chaos test: a workload with checked results on a local cluster while its workers, its worker
nodes and its head are killed at random.

Usage: .venv/bin/python tools/chaos.py [--duration 600] [--kill-every 3] [--nodes 3] [--seed 1]
                                       [--json FILE]

It starts a cluster (``edgeray.cluster_utils.Cluster``, real ``edgeray start`` processes) in a
fresh EDGERAY_HOME: a head whose GCS is in SQLite, the driver's node, and ``--nodes - 2`` more.
The driver runs rounds of work until the time is up: chains of dependent tasks over numpy
arrays (small and 8 MB, so they live in shared memory and cross nodes), spread over the nodes;
wide fan-in sums; calls on sync and async actors that restart (max_restarts=-1,
max_task_retries=-1), spread too; and puts read back by tasks. Meanwhile a killer thread
injects a fault every ``--kill-every`` seconds on average: SIGKILL to a random worker process
(70%), SIGKILL to a worker node, replaced by a new node (20%; never the driver's node, whose
death takes the driver's objects with it, as in Ray), or SIGKILL to the head, started again
from its SQLite file on the same port (10%). Every result is checked against its expected
value. At the end it stops the cluster and checks that no process and no shared-memory
segment of the run is left.

With ``--hostile-every S`` (default 0.1; 0 turns it off) a hostile peer runs too: every S
seconds on average it connects, authenticated, to a random live node (its Unix socket, or its
WebSocket port, where it may also send a bare HTTP request and reset the connection) and sends a
few frames drawn from the wire schemas (``tests/protocol/frames.py``: valid messages with
random ids, mutations of them, raw maps, garbage, forged results). It must change no result and
kill nothing; the report counts what it sent.

Exit status 0 only if every result was right and nothing leaked. ``--nodes 1`` runs one node
and kills only workers. The retries/restarts/reconstructions reported are summed over the
nodes alive at the end (a killed node's counters go with it).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path
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
    def __init__(self, home: str, every: float, rng: random.Random, cluster: Any, keep: Any) -> None:
        super().__init__(daemon=True, name="chaos-killer")
        self.home, self.every, self.rng = home, every, rng
        self.cluster, self.keep = cluster, keep  # keep: the driver's node, never killed
        self.faults = {"workers_killed": 0, "nodes_killed": 0, "head_restarts": 0}
        self.error: str | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.rng.expovariate(1.0 / self.every)):
            try:
                self._one_fault()
            except Exception as e:  # noqa: BLE001 - a fault we could not inject ends the run
                self.error = f"injecting a fault: {e!r}"
                return

    def _one_fault(self) -> None:
        roll = self.rng.random()
        victims = [n for n in self.cluster.worker_nodes if n is not self.keep]
        if roll < 0.1 and self.cluster.head_node is not self.keep:
            self.cluster.restart_head()
            self.faults["head_restarts"] += 1
        elif roll < 0.3 and victims:
            node = self.rng.choice(victims)
            self.cluster.remove_node(node, allow_graceful=False)
            self.faults["nodes_killed"] += 1
            self.cluster.add_node(num_cpus=node.args["num_cpus"])
        else:
            workers = _processes(self.home, b"EDGERAY_WORKER_ID=")
            if workers:
                try:
                    os.kill(self.rng.choice(workers), signal.SIGKILL)
                    self.faults["workers_killed"] += 1
                except ProcessLookupError:
                    pass


def _alive(segment: str) -> bool:
    """Whether the process whose pid names ``segment`` (``edgeray_<pid>_<random>``) runs."""
    try:
        os.kill(int(segment.split("_")[1]), 0)
    except (ValueError, IndexError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def frame_pool(n: int, seed_value: int) -> list[bytes]:
    """``n`` hostile frames drawn from the wire schemas (hypothesis, as the suite's fuzzer)."""
    root = Path(__file__).resolve().parent.parent / "tests"
    sys.path[:0] = [str(root), str(root / "protocol")]
    from frames import frames
    from hypothesis import HealthCheck, given, seed, settings

    pool: list[bytes] = []

    @seed(seed_value)
    @settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(frames())
    def collect(f: bytes) -> None:
        pool.append(f)

    collect()
    return pool


class Hostile(threading.Thread):
    """An authenticated peer sending hostile frames to random live nodes (see the header)."""

    def __init__(self, every: float, rng: random.Random, cluster: Any, pool: list[bytes]) -> None:
        super().__init__(daemon=True, name="chaos-hostile")
        self.every, self.rng, self.cluster, self.pool = every, rng, cluster, pool
        self.sent = {"hostile_connections": 0, "hostile_frames": 0, "http_resets": 0}
        self.stop = threading.Event()

    def run(self) -> None:
        from edgeray._files import read_token

        token = read_token()
        while not self.stop.wait(self.rng.expovariate(1.0 / self.every)):
            nodes = self.cluster.list_all_nodes()
            if not nodes:
                continue
            node = self.rng.choice(nodes)
            try:
                if self.rng.random() < 0.2:
                    self._http_reset(node.address, token)
                else:
                    self._frames(node, token)
            except (OSError, AssertionError, ValueError) as e:  # the node went (chaos), or refused us
                del e

    def _frames(self, node: Any, token: str | None) -> None:
        from hostile import RawClient

        address = node.unix_path if self.rng.random() < 0.7 else node.address
        peer = RawClient.connect(address, token)
        try:
            peer.handshake(self.rng.choice(["driver", "cli"]))
            self.sent["hostile_connections"] += 1
            for _ in range(self.rng.randint(1, 5)):
                peer.chan.send_frame(self.rng.choice(self.pool))
                self.sent["hostile_frames"] += 1
        finally:
            peer.close()

    def _http_reset(self, address: str, token: str | None) -> None:
        host, port = address.removeprefix("ws://").rsplit(":", 1)
        s = socket.create_connection((host, int(port)), timeout=2)
        try:
            auth = self.rng.choice(["", "Authorization: Bearer wrong\r\n", f"Authorization: bearer {token}\r\n"])
            s.sendall(f"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{auth}\r\n".encode())
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.sent["http_resets"] += 1
        finally:
            s.close()


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

    spread = inc.options(scheduling_strategy="SPREAD")
    # chains of dependent tasks over small and large arrays, half of them spread over the nodes
    chains = []
    for i in range(8):
        n = rng.choice([100, 1000, 1 << 20])  # 1 M int64 = 8 MB: shared memory
        ref = ray.put(np.arange(n, dtype=np.int64))
        steps = rng.randint(2, 6)
        for _ in range(steps):
            ref = (spread if i % 2 else inc).remote(ref)
        chains.append((ref, n, steps))
    # fan-in over task results
    parts = [spread.remote(np.full(1000, i, dtype=np.int64)) for i in range(30)]
    fan = total.remote(*parts)
    # actors that get killed (with their worker or their node) and restart
    actors = [cls.options(scheduling_strategy="SPREAD").remote() for cls in (Multiplier, AsyncMultiplier)]
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


STATS = ("task_retries", "actor_restarts", "reconstructions", "workers_started", "tasks_forwarded")


def node_stats(cluster: Any) -> dict[str, int]:
    """The counters of every node alive now, summed."""
    from edgeray._files import read_token
    from edgeray.client import CoreClient

    out = dict.fromkeys(STATS, 0)
    for node in cluster.list_all_nodes():
        client = CoreClient(node.unix_path, token=read_token(), role="cli")
        try:
            status = client.call("status", {})
        finally:
            client.close()
        for k in STATS:
            out[k] += int(status.get(k) or 0)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=600.0, help="seconds of work (default 600)")
    ap.add_argument("--kill-every", type=float, default=3.0, help="mean seconds between faults")
    ap.add_argument("--nodes", type=int, default=3, help="nodes in the cluster, the head included")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--num-cpus", type=int, default=1, help="CPUs of each node")
    ap.add_argument("--json", default=None, help="write the report here too")
    ap.add_argument("--hostile-every", type=float, default=0.1,
                    help="mean seconds between a hostile peer's connections (0: none)")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    home = tempfile.mkdtemp(prefix="edgeray-chaos-")
    os.environ["EDGERAY_HOME"] = home
    shm_before = set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()
    import edgeray as ray
    from edgeray.cluster_utils import Cluster

    config = os.path.join(home, "head.toml")
    with open(config, "w") as f:
        f.write(f'[gcs]\nstorage = "sqlite"\nsqlite_path = "{os.path.join(home, "gcs.sqlite3")}"\n'
                "heartbeat_interval_s = 0.5\nnode_timeout_s = 3.0\n")
    counts = {"rounds": 0, "tasks": 0, "actor_calls": 0}
    wrong: list[str] = []
    error = None
    stats: dict[str, int] = {}
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": args.num_cpus, "config": config})
    keep = cluster.head_node
    for _ in range(args.nodes - 1):
        keep = cluster.add_node(num_cpus=args.num_cpus)
    killer = Killer(home, args.kill_every, rng, cluster, keep)
    hostile = Hostile(args.hostile_every, random.Random(args.seed + 1), cluster,
                      frame_pool(2000, args.seed)) if args.hostile_every > 0 else None
    t0 = time.monotonic()
    try:
        ray.init(address=keep.address)
        killer.start()
        if hostile is not None:
            hostile.start()
        while time.monotonic() - t0 < args.duration and killer.error is None:
            wrong += workload(ray, rng, counts)
        killer.stop.set()
        killer.join()
        error = killer.error
        stats = node_stats(cluster)
    except Exception as e:  # noqa: BLE001 - reported as a failure of the run
        error = repr(e)
    finally:
        killer.stop.set()
        killer.join()
        if hostile is not None:
            hostile.stop.set()
            hostile.join()
        ray.shutdown()
        cluster.shutdown()
    time.sleep(1.0)
    leftover = _processes(home)
    shm_after = set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()
    # a new segment is this run's leak when the process named in it is gone (every process of the
    # run is, by now: a live one is another run's, on this shared machine)
    leaked_shm = sorted(n for n in shm_after - shm_before if n.startswith("edgeray_") and not _alive(n))
    shutil.rmtree(home, ignore_errors=True)
    report = {
        "seconds": round(time.monotonic() - t0, 1),
        "nodes": args.nodes,
        **counts,
        **killer.faults,
        **(hostile.sent if hostile is not None else {}),
        **stats,
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
