#!/usr/bin/env python3
"""edgeray's microbenchmark, mirroring Ray's `ray microbenchmark` (ray/_private/ray_perf.py).

Same workloads and metric names as Ray's script, through the public API only,
so the two compare line by line:

    python tools/microbenchmark.py                 # edgeray (import edgeray as ray)
    python tools/microbenchmark.py --ray           # real Ray, if installed
    python tools/microbenchmark.py --only "actor"  # metrics whose name contains "actor"
    python tools/microbenchmark.py --duration 5 --json results.json

Each metric runs for about `--duration` seconds (Ray: 10 s pause + 1 s warmup +
4 x 2 s): one fifth warms up, then four equal trials; the line printed is
``<name> per second <mean> +- <stddev>`` over the four trials, exactly as Ray
prints it. "init to first result (s)" is a time, not a rate: a fresh Python
process is started and timed from its start until it prints the result of its
first task (``import``, ``init()``, one ``f.remote()`` and ``get``); its shutdown
is not counted. Differences from Ray's script: "single client put gigabytes"
puts a 100 MiB array (Ray: 800 MiB; `--put-mib`) and reports real GB (1e9
bytes) per second; the 1:n / n:n metrics use smaller batches (`--batch`)
so that one call fits the time budget of a small machine ("multi client put
gigabytes" likewise puts 10 x 10 arrays of put-mib/10 MiB, Ray 80 MiB), and
"multi client tasks async" uses `--batch` tasks per client (Ray: 10000); the metrics that
need Ray internals (object out-of-scope callbacks) and Ray Client are left out.
Two reference lines that are not Ray's come last: "process pool tasks sync/async (reference)",
``concurrent.futures.ProcessPoolExecutor`` with one process per CPU running the same no-op
function, what edgeray's task rates are measured against (issue 20).
A metric that raises or exceeds `--metric-timeout` prints ``<name>: FAILED
<error>`` and the run goes on.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import importlib
import json
import multiprocessing
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from contextlib import contextmanager

import numpy as np

ray = None  # the module under test, bound in main()


# Ray's metric names, in Ray's order (the ones this script measures).
CORE_METRICS = [
    "single client get calls (Plasma Store)",
    "single client put calls (Plasma Store)",
    "multi client put calls (Plasma Store)",
    "single client put gigabytes",
    "single client tasks and get batch",
    "multi client put gigabytes",
    "single client get object containing 10k refs",
    "single client wait 1k refs",
    "single client tasks sync",
    "single client tasks async",
    "multi client tasks async",
    "1:1 actor calls sync",
    "1:1 actor calls async",
    "1:1 actor calls concurrent",
    "1:n actor calls async",
    "n:n actor calls async",
    "n:n actor calls with arg async",
    "1:1 async-actor calls sync",
    "1:1 async-actor calls async",
    "1:1 async-actor calls with args async",
    "1:n async-actor calls async",
    "n:n async-actor calls async",
]
#: edgeray's own metrics (not in Ray's script; --ray measures them on Ray too): tasks whose
#: argument is a small put value, or that need a custom resource
EXTRA_TASK_METRICS = [
    "single client tasks with a put arg sync",
    "single client tasks with a custom resource sync",
]
OTHER_METRICS = ["init to first result (s)", "placement group create/removal", *EXTRA_TASK_METRICS]
#: the reference a user would pick instead on one machine (issue 20): the standard library's
#: process pool with as many processes as CPUs, the same no-op function, in the same run
POOL_METRICS = ["process pool tasks sync (reference)", "process pool tasks async (reference)"]


class MetricTimeout(BaseException):  # not an Exception: runtime code must not swallow it
    pass


class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.results: list[dict] = []

    def wanted(self, name: str) -> bool:
        return not self.args.only or any(s in name for s in self.args.only)

    @contextmanager
    def _deadline(self, seconds: float):
        def on_alarm(signum, frame):
            raise MetricTimeout(f"timed out after {seconds:.0f} s")

        old = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)

    def failed(self, name: str, exc: BaseException) -> None:
        msg = f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:300]
        print(f"{name}: FAILED {msg}", flush=True)
        if self.args.verbose:
            traceback.print_exc()
        self.results.append({"name": name, "failed": msg})

    def timeit(self, name: str, fn: Callable[[], object], multiplier: float = 1) -> None:
        """Ray's timeit: warm up, then 4 trials; rate = multiplier * calls / second."""
        if not self.wanted(name):
            return
        trial = self.args.duration / 5
        try:
            with self._deadline(self.args.metric_timeout):
                start = time.perf_counter()
                count = 0
                while time.perf_counter() - start < trial:
                    fn()
                    count += 1
                step = count // 10 + 1
                stats = []
                for _ in range(4):
                    start = time.perf_counter()
                    count = 0
                    while time.perf_counter() - start < trial:
                        for _ in range(step):
                            fn()
                        count += step
                    end = time.perf_counter()
                    stats.append(multiplier * count / (end - start))
        except (Exception, MetricTimeout) as e:
            self.failed(name, e)
            return
        mean, sd = float(np.mean(stats)), float(np.std(stats))
        print(name, "per second", round(mean, 2), "+-", round(sd, 2), flush=True)
        self.results.append(
            {"name": name, "unit": "per second", "value": mean, "stddev": sd, "trials": stats}
        )

    def setup(self, name_hint: str, fn: Callable[[], object]):
        """Run a setup step (creating actors ...); on error report every metric it feeds."""
        try:
            with self._deadline(self.args.metric_timeout):
                return fn()
        except (Exception, MetricTimeout) as e:
            self.failed(name_hint, e)
            return None


# --------------------------------------------------------------------------
# init to first result


FIRST_RESULT_CHILD = r"""
import time
t0 = time.time()
import {module} as ray
ray.init()

@ray.remote
def f():
    return 1

assert ray.get(f.remote()) == 1
print("FIRST_RESULT", time.time() - t0, flush=True)
ray.shutdown()
"""


def init_to_first_result(bench: Bench, module: str) -> None:
    name = "init to first result (s)"
    if not bench.wanted(name):
        return
    times, inside = [], []
    try:
        for _ in range(max(1, bench.args.init_runs)):
            with (
                tempfile.TemporaryDirectory(prefix="edgeray_bench_") as home,
                open(os.path.join(home, "child.stderr"), "w+") as errf,
            ):
                env = dict(os.environ, EDGERAY_HOME=home)
                start = time.perf_counter()
                child = subprocess.Popen(
                    [sys.executable, "-c", FIRST_RESULT_CHILD.format(module=module)],
                    stdout=subprocess.PIPE,
                    stderr=errf,
                    text=True,
                    env=env,
                    cwd=home,
                )
                try:
                    with bench._deadline(bench.args.metric_timeout):
                        line = child.stdout.readline()
                        while line and not line.startswith("FIRST_RESULT"):
                            line = child.stdout.readline()  # skip anything else it prints
                        elapsed = time.perf_counter() - start
                        if not line:
                            rc = child.wait()
                            errf.seek(0)
                            raise RuntimeError(
                                f"child exited with {rc}: {errf.read().strip()[-300:]}"
                            )
                        times.append(elapsed)
                        inside.append(float(line.split()[1]))
                        child.stdout.read()
                        rc = child.wait()
                    if rc != 0:
                        errf.seek(0)
                        raise RuntimeError(
                            f"child exited with {rc} after its result: {errf.read().strip()[-300:]}"
                        )
                finally:
                    if child.poll() is None:
                        child.kill()
                        child.wait()
    except (Exception, MetricTimeout) as e:
        bench.failed(name, e)
        return
    mean, sd = float(np.mean(times)), float(np.std(times))
    print(name, round(mean, 3), "+-", round(sd, 3), flush=True)
    bench.results.append(
        {
            "name": name,
            "unit": "s",
            "value": mean,
            "stddev": sd,
            "trials": times,
            "measured_inside_child": inside,
        }
    )


# --------------------------------------------------------------------------
# The workloads (Ray's ray_perf.py)


def define_remotes():
    @ray.remote(num_cpus=0)
    class Actor:
        def small_value(self):
            return b"ok"

        def small_value_arg(self, x):
            return b"ok"

        def small_value_batch(self, n):
            ray.get([small_value.remote() for _ in range(n)])

    @ray.remote
    class AsyncActor:
        async def small_value(self):
            return b"ok"

        async def small_value_with_arg(self, x):
            return b"ok"

        async def small_value_batch(self, n):
            await asyncio.wait([small_value.remote() for _ in range(n)])

    @ray.remote(num_cpus=0)
    class Client:
        def __init__(self, servers):
            if not isinstance(servers, list):
                servers = [servers]
            self.servers = servers

        def small_value_batch(self, n):
            results = []
            for s in self.servers:
                results.extend([s.small_value.remote() for _ in range(n)])
            ray.get(results)

        def small_value_batch_arg(self, n):
            x = ray.put(0)
            results = []
            for s in self.servers:
                results.extend([s.small_value_arg.remote(x) for _ in range(n)])
            ray.get(results)

    @ray.remote
    def small_value():
        return b"ok"

    @ray.remote
    def create_object_containing_ref():
        obj_refs = []
        for _ in range(10000):
            obj_refs.append(ray.put(1))
        return obj_refs

    @ray.remote
    def do_put_small():
        for _ in range(100):
            ray.put(0)

    return Actor, AsyncActor, Client, small_value, create_object_containing_ref, do_put_small


def core_metrics(bench: Bench) -> None:
    args = bench.args
    (Actor, AsyncActor, Client, small_value, create_object_containing_ref, do_put_small) = (
        define_remotes()
    )
    n_cpu = max(1, multiprocessing.cpu_count() // 2)

    value = ray.put(0)

    def get_small():
        ray.get(value)

    bench.timeit("single client get calls (Plasma Store)", get_small)

    def put_small():
        ray.put(0)

    bench.timeit("single client put calls (Plasma Store)", put_small)

    def put_multi_small():
        ray.get([do_put_small.remote() for _ in range(10)])

    bench.timeit("multi client put calls (Plasma Store)", put_multi_small, 1000)

    if bench.wanted("single client put gigabytes"):
        arr = np.zeros(args.put_mib * 1024 * 1024 // 8, dtype=np.int64)

        def put_large():
            ray.put(arr)

        bench.timeit("single client put gigabytes", put_large, arr.nbytes / 1e9)
        del arr

    def small_value_batch():
        submitted = [small_value.remote() for _ in range(1000)]
        ray.get(submitted)
        return 0

    bench.timeit("single client tasks and get batch", small_value_batch)

    if bench.wanted("multi client put gigabytes"):
        # Ray: 10 tasks x 10 puts of 80 MiB; here 10 x 10 puts of put_mib/10 MiB each.
        chunk = max(1, args.put_mib // 10) * 1024 * 1024 // 8

        @ray.remote
        def do_put():
            for _ in range(10):
                ray.put(np.zeros(chunk, dtype=np.int64))

        bench.timeit(
            "multi client put gigabytes",
            lambda: ray.get([do_put.remote() for _ in range(10)]),
            10 * 10 * chunk * 8 / 1e9,
        )

    if bench.wanted("single client get object containing 10k refs"):
        obj_containing_ref = create_object_containing_ref.remote()

        def get_containing_object_ref():
            ray.get(obj_containing_ref)

        bench.timeit("single client get object containing 10k refs", get_containing_object_ref)
        del obj_containing_ref

    def wait_multiple_refs():
        num_objs = 1000
        not_ready = [small_value.remote() for _ in range(num_objs)]
        for _ in range(num_objs):
            _ready, not_ready = ray.wait(not_ready)

    bench.timeit("single client wait 1k refs", wait_multiple_refs)

    def small_task():
        ray.get(small_value.remote())

    bench.timeit("single client tasks sync", small_task)

    def small_task_async():
        ray.get([small_value.remote() for _ in range(1000)])

    bench.timeit("single client tasks async", small_task_async, 1000)

    n = args.batch
    m = 4
    if bench.wanted("multi client tasks async"):
        # Ray: n = 10000 tasks per client actor
        actors = [Actor.remote() for _ in range(m)]
        bench.timeit(
            "multi client tasks async",
            lambda: ray.get([a.small_value_batch.remote(n) for a in actors]),
            n * m,
        )

    if bench.wanted("1:1 actor calls sync"):
        a = bench.setup("1:1 actor calls sync", lambda: Actor.remote())
        if a is not None:
            bench.timeit("1:1 actor calls sync", lambda: ray.get(a.small_value.remote()))

    if bench.wanted("1:1 actor calls async"):
        a = bench.setup("1:1 actor calls async", lambda: Actor.remote())
        if a is not None:
            bench.timeit(
                "1:1 actor calls async",
                lambda: ray.get([a.small_value.remote() for _ in range(1000)]),
                1000,
            )

    if bench.wanted("1:1 actor calls concurrent"):
        a = bench.setup(
            "1:1 actor calls concurrent", lambda: Actor.options(max_concurrency=16).remote()
        )
        if a is not None:
            bench.timeit(
                "1:1 actor calls concurrent",
                lambda: ray.get([a.small_value.remote() for _ in range(1000)]),
                1000,
            )

    if bench.wanted("1:n actor calls async"):
        actors = [Actor.remote() for _ in range(n_cpu)]
        client = Client.remote(actors)
        bench.timeit(
            "1:n actor calls async",
            lambda: ray.get(client.small_value_batch.remote(n)),
            n * len(actors),
        )

    if bench.wanted("n:n actor calls async"):
        actor_list = [Actor.remote() for _ in range(n_cpu)]

        @ray.remote
        def work(actors):
            ray.get([actors[i % len(actors)].small_value.remote() for i in range(n)])

        bench.timeit(
            "n:n actor calls async",
            lambda: ray.get([work.remote(actor_list) for _ in range(m)]),
            m * n,
        )

    if bench.wanted("n:n actor calls with arg async"):
        actors = [Actor.remote() for _ in range(n_cpu)]
        clients = [Client.remote(a) for a in actors]
        bench.timeit(
            "n:n actor calls with arg async",
            lambda: ray.get([c.small_value_batch_arg.remote(n) for c in clients]),
            n * len(clients),
        )

    if bench.wanted("1:1 async-actor calls sync"):
        a = bench.setup("1:1 async-actor calls sync", lambda: AsyncActor.remote())
        if a is not None:
            bench.timeit("1:1 async-actor calls sync", lambda: ray.get(a.small_value.remote()))

    if bench.wanted("1:1 async-actor calls async"):
        a = bench.setup("1:1 async-actor calls async", lambda: AsyncActor.remote())
        if a is not None:
            bench.timeit(
                "1:1 async-actor calls async",
                lambda: ray.get([a.small_value.remote() for _ in range(1000)]),
                1000,
            )

    if bench.wanted("1:1 async-actor calls with args async"):
        a = bench.setup("1:1 async-actor calls with args async", lambda: AsyncActor.remote())
        if a is not None:
            bench.timeit(
                "1:1 async-actor calls with args async",
                lambda: ray.get([a.small_value_with_arg.remote(i) for i in range(1000)]),
                1000,
            )

    if bench.wanted("1:n async-actor calls async"):
        actors = [AsyncActor.remote() for _ in range(n_cpu)]
        client = Client.remote(actors)
        bench.timeit(
            "1:n async-actor calls async",
            lambda: ray.get(client.small_value_batch.remote(n)),
            n * len(actors),
        )

    if bench.wanted("n:n async-actor calls async"):
        async_actors = [AsyncActor.remote() for _ in range(n_cpu)]

        @ray.remote
        def async_actor_work(actors):
            ray.get([actors[i % len(actors)].small_value.remote() for i in range(n)])

        bench.timeit(
            "n:n async-actor calls async",
            lambda: ray.get([async_actor_work.remote(async_actors) for _ in range(m)]),
            m * n,
        )


def extra_task_metrics(bench: Bench) -> None:
    @ray.remote
    def echo(x):
        return x

    @ray.remote(resources={"custom": 1})
    def needs_custom():
        return 0

    value = ray.put(0)
    bench.timeit("single client tasks with a put arg sync", lambda: ray.get(echo.remote(value)))
    bench.timeit("single client tasks with a custom resource sync", lambda: ray.get(needs_custom.remote()))


def placement_group_metrics(bench: Bench) -> None:
    name = "placement group create/removal"
    if not bench.wanted(name):
        return
    pg_mod = importlib.import_module(ray.__name__ + ".util.placement_group")
    NUM_PGS = 100
    NUM_BUNDLES = 1

    def placement_group_create_removal(num_pgs):
        pgs = [
            pg_mod.placement_group(bundles=[{"custom": 0.001} for _ in range(NUM_BUNDLES)])
            for _ in range(num_pgs)
        ]
        [pg.wait(timeout_seconds=30) for pg in pgs]
        for pg in pgs:
            pg_mod.remove_placement_group(pg)

    bench.timeit(name, lambda: placement_group_create_removal(NUM_PGS), NUM_PGS)


def _pool_noop() -> int:
    return 0


def process_pool_metrics(bench: Bench) -> None:
    """``concurrent.futures.ProcessPoolExecutor(cpu_count)``: what edgeray's task rates must beat."""
    import concurrent.futures

    if not any(bench.wanted(n) for n in POOL_METRICS):
        return
    with concurrent.futures.ProcessPoolExecutor(multiprocessing.cpu_count()) as pool:
        pool.submit(_pool_noop).result()
        bench.timeit(POOL_METRICS[0], lambda: pool.submit(_pool_noop).result())

        def batch() -> None:
            for fut in [pool.submit(_pool_noop) for _ in range(1000)]:
                fut.result()

        bench.timeit(POOL_METRICS[1], batch, 1000)


def safe_init(bench: Bench, label: str, **kwargs) -> bool:
    try:
        with bench._deadline(bench.args.metric_timeout):
            ray.init(**kwargs)
        return True
    except (Exception, MetricTimeout) as e:
        bench.failed(f"{label} (init)", e)
        return False


def safe_shutdown(bench: Bench, label: str) -> None:
    try:
        with bench._deadline(bench.args.metric_timeout):
            ray.shutdown()
    except (Exception, MetricTimeout) as e:
        bench.failed(f"{label} (shutdown)", e)


def main(argv: list[str] | None = None) -> int:
    global ray
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ray", action="store_true", help="benchmark real Ray instead of edgeray")
    p.add_argument("--duration", type=float, default=2.0, help="seconds per metric (default 2)")
    p.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="SUBSTRING",
        help="run only metrics whose name contains SUBSTRING (repeatable)",
    )
    p.add_argument("--json", metavar="FILE", help="write the results as JSON to FILE")
    p.add_argument("--put-mib", type=int, default=100, help="array size for put gigabytes")
    p.add_argument(
        "--batch", type=int, default=1000, help="calls per client in 1:n / n:n (Ray: 5000)"
    )
    p.add_argument(
        "--init-runs", type=int, default=3, help="fresh processes for init to first result"
    )
    p.add_argument(
        "--metric-timeout",
        type=float,
        default=120.0,
        help="give up on a metric (or a setup step) after this many seconds",
    )
    p.add_argument("--list", action="store_true", help="list the metric names and exit")
    p.add_argument("-v", "--verbose", action="store_true", help="print tracebacks of failures")
    args = p.parse_args(argv)
    if args.list:
        print("\n".join(OTHER_METRICS[:1] + CORE_METRICS + OTHER_METRICS[1:] + POOL_METRICS))
        return 0

    module = "ray" if args.ray else "edgeray"
    ray = importlib.import_module(module)
    bench = Bench(args)
    version = getattr(ray, "__version__", "?")
    print(
        f"# {module} {version}, python {platform.python_version()}, "
        f"{multiprocessing.cpu_count()} CPUs, {args.duration:g} s per metric",
        flush=True,
    )

    if not args.ray and "EDGERAY_HOME" not in os.environ:  # keep our runtime files out of ~/.edgeray
        made = os.environ["EDGERAY_HOME"] = tempfile.mkdtemp(prefix="edgeray_bench_")
        atexit.register(shutil.rmtree, made, True)  # (after edgeray's own exit handlers stop the node)

    started = time.perf_counter()
    init_to_first_result(bench, module)

    core_wanted = any(bench.wanted(n) for n in CORE_METRICS)
    if core_wanted and safe_init(bench, "core"):
        try:
            core_metrics(bench)
        except (Exception, MetricTimeout) as e:
            bench.failed("core metrics", e)
        safe_shutdown(bench, "core")

    custom_wanted = any(bench.wanted(n) for n in OTHER_METRICS[1:])
    if custom_wanted and safe_init(bench, "custom resource metrics", resources={"custom": 100}):
        try:
            extra_task_metrics(bench)
            placement_group_metrics(bench)
        except (Exception, MetricTimeout) as e:
            bench.failed("custom resource metrics", e)
        safe_shutdown(bench, "custom resource metrics")

    process_pool_metrics(bench)

    total = time.perf_counter() - started
    print(f"# total {total:.1f} s", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "backend": module,
                    "version": version,
                    "python": platform.python_version(),
                    "cpus": multiprocessing.cpu_count(),
                    "duration_per_metric": args.duration,
                    "total_seconds": total,
                    "results": bench.results,
                },
                f,
                indent=2,
            )
    return 1 if any("failed" in r for r in bench.results) else 0


if __name__ == "__main__":
    sys.exit(main())
