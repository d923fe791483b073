#!/usr/bin/env python3
"""How edgeray's cost grows with the amount of work (issue 20), with `--ray` for Ray side by side.

    python tools/bench_scale.py                      # everything, edgeray
    python tools/bench_scale.py --ray                # the same against Ray, if installed
    python tools/bench_scale.py --only tasks --tasks 1000,10000,100000
    python tools/bench_scale.py --json scale.json

Sections (each line: what, the rate, and the runtime's peak RSS while it ran):

* ``tasks N``: N no-op tasks submitted at once, then all got. ``KB/queued`` is the runtime's
  peak RSS above idle divided by N; ``idle after`` is the RSS once the refs are dropped.
* ``actors N``: N ``num_cpus=0`` actors created and each called once; the rate is actors per
  second, ``USS/actor`` the unique memory (Private_Clean + Private_Dirty of
  ``/proc/PID/smaps_rollup``) of the idle actor processes, averaged.
* ``put/get SIZE``: ``put`` then ``get`` of a numpy array of SIZE bytes, in GB/s and calls/s.
* ``wait N``: ``wait(refs, num_returns=N)`` on N ready refs, waits per second.
* ``round trip limit``: one request/reply of a small CBOR map over a Unix socket between two Trio
  processes, the bound for any call that crosses two processes (the actor-call target is half of
  it).

"The runtime" is this process and every process below it (the node and its workers; Ray's GCS,
raylet and workers), measured from ``/proc``; RSS is sampled every 20 ms in a thread.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import numpy as np

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


# --------------------------------------------------------------------------- /proc


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def runtime_pids(root: int) -> list[int]:
    """``root`` and all its descendants."""
    kids, out, todo = _children_map(), [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, ()))
    return out


def rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE_KB
    except (OSError, IndexError, ValueError):
        return 0


def uss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
    except OSError:
        return 0
    return sum(int(fields.get(k, "0 kB").split()[0]) for k in ("Private_Clean", "Private_Dirty"))


def runtime_rss_kb(root: int) -> int:
    return sum(rss_kb(p) for p in runtime_pids(root))


class PeakRss:
    """Samples the runtime's total RSS every 20 ms in a thread and keeps the peak."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.peak = runtime_rss_kb(root)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, runtime_rss_kb(self.root))

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, runtime_rss_kb(self.root))


def settle_rss(root: int, seconds: float = 3.0) -> int:
    """The runtime's RSS after a garbage collection and a short settle (work freed lazily)."""
    gc.collect()
    time.sleep(seconds)
    return runtime_rss_kb(root)


# --------------------------------------------------------------------------- results


class Report:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, name: str, **fields: Any) -> None:
        self.rows.append({"name": name, **fields})
        shown = "  ".join(f"{k}={_fmt(v)}" for k, v in fields.items())
        print(f"{name:<22} {shown}", flush=True)

    def failed(self, name: str, exc: BaseException) -> None:
        msg = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        self.rows.append({"name": name, "failed": msg})
        print(f"{name:<22} FAILED {msg}", flush=True)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.1f}" if abs(v) >= 10 else f"{v:.3g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


@contextmanager
def measured(report: Report, name: str) -> Iterator[dict[str, Any]]:
    """Runs the body under a peak-RSS sampler; the body fills ``fields`` with its figures."""
    fields: dict[str, Any] = {}
    root = os.getpid()
    try:
        with PeakRss(root) as peak:
            yield fields
    except Exception as e:  # one failing section must not end the run
        report.failed(name, e)
        return
    fields["peak_rss_mb"] = peak.peak / 1024
    report.add(name, **fields)


def sizes(text: str) -> list[int]:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    out = []
    for part in text.split(","):
        part = part.strip().lower().rstrip("b")
        scale = units.get(part[-1:], 1)
        out.append(int(float(part[:-1] if scale != 1 else part) * scale))
    return out


# --------------------------------------------------------------------------- sections


def bench_tasks(ray: ModuleType, report: Report, counts: list[int]) -> None:
    @ray.remote
    def noop() -> None:
        return None

    ray.get([noop.remote() for _ in range(100)])  # warm the workers
    for n in counts:
        idle = settle_rss(os.getpid(), 1.0)
        with measured(report, f"tasks {n:,}") as fields:
            start = time.perf_counter()
            refs = [noop.remote() for _ in range(n)]
            submitted = time.perf_counter()
            ray.get(refs)
            end = time.perf_counter()
            peak_now = runtime_rss_kb(os.getpid())
            del refs
            fields["tasks_per_s"] = n / (end - start)
            fields["submit_per_s"] = n / (submitted - start)
            fields["idle_rss_mb"] = idle / 1024
        if "failed" not in report.rows[-1]:
            row = report.rows[-1]
            row["kb_per_queued"] = max(0.0, (row["peak_rss_mb"] * 1024 - idle) / n)
            row["idle_after_mb"] = settle_rss(os.getpid()) / 1024
            row["rss_at_end_mb"] = peak_now / 1024
            print(
                f"{'':<22} KB/queued={row['kb_per_queued']:.2f}  idle after={row['idle_after_mb']:.0f} MB",
                flush=True,
            )


def bench_actors(ray: ModuleType, report: Report, counts: list[int]) -> None:
    @ray.remote(num_cpus=0)
    class Idle:
        def pid(self) -> int:
            return os.getpid()

    for n in counts:
        with measured(report, f"actors {n:,}") as fields:
            start = time.perf_counter()
            actors = [Idle.remote() for _ in range(n)]
            pids = ray.get([a.pid.remote() for a in actors])
            end = time.perf_counter()
            time.sleep(1.0)  # let the fresh processes finish their start-up allocations
            uss = [uss_kb(p) for p in set(pids)]
            fields["actors_per_s"] = n / (end - start)
            fields["uss_per_actor_mb"] = sum(uss) / max(1, len(uss)) / 1024
            fields["processes"] = len(set(pids))
            for a in actors:
                ray.kill(a)
            del actors


def bench_objects(ray: ModuleType, report: Report, byte_sizes: list[int]) -> None:
    for size in byte_sizes:
        value = np.ones(size, dtype=np.uint8)
        rounds = max(2, min(1000, (256 << 20) // max(size, 1)))
        with measured(report, f"put/get {_human(size)}") as fields:
            start = time.perf_counter()
            refs = [ray.put(value) for _ in range(min(rounds, 8) if size >= 1 << 28 else rounds)]
            put_s = time.perf_counter() - start
            start = time.perf_counter()
            for ref in refs:
                got = ray.get(ref)
                assert got.nbytes == size
                del got
            get_s = time.perf_counter() - start
            fields["puts_per_s"] = len(refs) / put_s
            fields["put_gb_per_s"] = len(refs) * size / put_s / 1e9
            fields["gets_per_s"] = len(refs) / get_s
            fields["get_gb_per_s"] = len(refs) * size / get_s / 1e9
            del refs
        del value


def bench_wait(ray: ModuleType, report: Report, counts: list[int]) -> None:
    for n in counts:
        refs = [ray.put(i) for i in range(n)]
        with measured(report, f"wait {n:,}") as fields:
            rounds, start = 0, time.perf_counter()
            while time.perf_counter() - start < 2.0:
                ready, _ = ray.wait(refs, num_returns=n)
                assert len(ready) == n
                rounds += 1
            fields["waits_per_s"] = rounds / (time.perf_counter() - start)
        del refs


# --------------------------------------------------------------------------- round-trip limit

ECHO_SERVER = r"""
import struct, sys, cbor2, trio

async def handle(stream):
    buf = b""
    while True:
        while len(buf) < 4:
            chunk = await stream.receive_some(65536)
            if not chunk:
                return
            buf += chunk
        (n,) = struct.unpack(">I", buf[:4])
        while len(buf) < 4 + n:
            buf += await stream.receive_some(65536)
        msg, buf = cbor2.loads(buf[4 : 4 + n]), buf[4 + n :]
        out = cbor2.dumps({"id": msg["id"], "ok": True})
        await stream.send_all(struct.pack(">I", len(out)) + out)

async def main(path):
    sock = trio.socket.socket(trio.socket.AF_UNIX)
    await sock.bind(path)
    sock.listen()
    print("ready", flush=True)
    await trio.serve_listeners(handle, [trio.SocketListener(sock)])

trio.run(main, sys.argv[1])
"""

ECHO_CLIENT = r"""
import struct, sys, time, cbor2, trio

async def main(path, seconds):
    stream = await trio.open_unix_socket(path)
    buf, count, start = b"", 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        out = cbor2.dumps({"id": count, "method": "call", "args": [1]})
        await stream.send_all(struct.pack(">I", len(out)) + out)
        while len(buf) < 4 or len(buf) < 4 + struct.unpack(">I", buf[:4])[0]:
            buf += await stream.receive_some(65536)
        (n,) = struct.unpack(">I", buf[:4])
        cbor2.loads(buf[4 : 4 + n])
        buf = buf[4 + n :]
        count += 1
    print(count / (time.perf_counter() - start), flush=True)

trio.run(main, sys.argv[1], float(sys.argv[2]))
"""


def round_trip_limit(seconds: float) -> float:
    """Request/reply rate of one Trio+CBOR round trip over a Unix socket, in two processes."""
    with tempfile.TemporaryDirectory(prefix="edgeray_rt_") as tmp:
        path = os.path.join(tmp, "echo.sock")
        server = subprocess.Popen(
            [sys.executable, "-c", ECHO_SERVER, path], stdout=subprocess.PIPE, text=True
        )
        try:
            assert server.stdout is not None and server.stdout.readline().strip() == "ready"
            out = subprocess.run(
                [sys.executable, "-c", ECHO_CLIENT, path, str(seconds)],
                capture_output=True, text=True, check=True,
            ).stdout
            return float(out.strip())
        finally:
            server.kill()
            server.wait()


# --------------------------------------------------------------------------- main


def _human(n: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:g} {unit}"
    return f"{n} B"


def _ints(text: str) -> list[int]:
    return [int(x.replace("_", "")) for x in text.split(",") if x.strip()]


SECTIONS: dict[str, Callable[[ModuleType, Report, argparse.Namespace], None]] = {
    "tasks": lambda ray, r, a: bench_tasks(ray, r, _ints(a.tasks)),
    "actors": lambda ray, r, a: bench_actors(ray, r, _ints(a.actors)),
    "objects": lambda ray, r, a: bench_objects(ray, r, sizes(a.objects)),
    "wait": lambda ray, r, a: bench_wait(ray, r, _ints(a.waits)),
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ray", action="store_true", help="run against Ray instead of edgeray")
    p.add_argument("--only", action="append", default=[], choices=[*SECTIONS, "roundtrip"])
    p.add_argument("--tasks", default="1000,10000,100000,1000000")
    p.add_argument("--actors", default="10,100,500")
    p.add_argument("--objects", default="1k,1m,100m,1g")
    p.add_argument("--waits", default="1000,10000")
    p.add_argument("--num-cpus", type=int, default=os.cpu_count() or 1)
    p.add_argument("--object-store-gb", type=float, default=4.0)
    p.add_argument("--json", help="write the rows here")
    args = p.parse_args(argv)
    wanted = args.only or [*SECTIONS, "roundtrip"]

    name = "ray" if args.ray else "edgeray"
    ray = importlib.import_module(name)
    report = Report()
    print(f"# {name} {getattr(ray, '__version__', '?')}, {args.num_cpus} CPUs, python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="edgeray_scale_") as home:
        os.environ.setdefault("EDGERAY_HOME", home)
        start = time.perf_counter()
        ray.init(num_cpus=args.num_cpus, object_store_memory=int(args.object_store_gb * (1 << 30)))
        report.add("init", seconds=time.perf_counter() - start, idle_rss_mb=settle_rss(os.getpid(), 1.0) / 1024)
        try:
            for section in SECTIONS:
                if section in wanted:
                    SECTIONS[section](ray, report, args)
        finally:
            ray.shutdown()
    if "roundtrip" in wanted:
        try:
            report.add("round trip limit", calls_per_s=round_trip_limit(3.0))
        except Exception as e:
            report.failed("round trip limit", e)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"runtime": name, "rows": report.rows}, f, indent=1)
    return 1 if any("failed" in row for row in report.rows) else 0


if __name__ == "__main__":
    sys.exit(main())
