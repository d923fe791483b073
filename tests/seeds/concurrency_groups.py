import edgeray as ray
# ruff: noqa
# Seed 003, "使用并发组限制Per-Method 的并发性" (concurrency groups): the three
# snippets -- defining groups with @ray.method(concurrency_group=...), the
# default group sized by max_concurrency, and choosing the group per call
# with .options(concurrency_group=...).
# Added: `ray.init()`; a check (not in the document) that the limits hold:
# GroupProbe records the peak number of concurrently running calls per label
# ("io" group: 2, "compute" group: 4, default group with max_concurrency=10: 10,
# an "io" method sent to "compute" at call time: 4); `ray.shutdown()`.
import asyncio

ray.init()


@ray.remote(concurrency_groups={"io": 2, "compute": 4})
class AsyncIOActor:
    def __init__(self):
        pass

    @ray.method(concurrency_group="io")
    async def f1(self):
        pass

    @ray.method(concurrency_group="io")
    async def f2(self):
        pass

    @ray.method(concurrency_group="compute")
    async def f3(self):
        pass

    @ray.method(concurrency_group="compute")
    async def f4(self):
        pass

    async def f5(self):
        pass

a = AsyncIOActor.remote()
a.f1.remote()  # executed in the "io" group.
a.f2.remote()  # executed in the "io" group.
a.f3.remote()  # executed in the "compute" group.
a.f4.remote()  # executed in the "compute" group.
a.f5.remote()  # executed in the default group.


@ray.remote(concurrency_groups={"io": 2})
class AsyncIOActor:
    async def f1(self):
        pass

actor = AsyncIOActor.options(max_concurrency=10).remote()


# The runtime-options snippet uses `a` from the first snippet.
# Executed in the "io" group (as defined in the actor class).
a.f2.options().remote()

# Executed in the "compute" group.
a.f2.options(concurrency_group="compute").remote()


# --- added check: the per-group limits hold ---
@ray.remote(concurrency_groups={"io": 2, "compute": 4})
class GroupProbe:
    def __init__(self):
        self.running = {}
        self.peak = {}

    async def _work(self, label):
        self.running[label] = self.running.get(label, 0) + 1
        self.peak[label] = max(self.peak.get(label, 0), self.running[label])
        await asyncio.sleep(0.2)
        self.running[label] -= 1

    @ray.method(concurrency_group="io")
    async def io(self, label="io"):
        await self._work(label)

    @ray.method(concurrency_group="compute")
    async def compute(self):
        await self._work("compute")

    async def default(self):
        await self._work("default")

    async def peaks(self):
        return dict(sorted(self.peak.items()))


probe = GroupProbe.options(max_concurrency=10).remote()
ray.get(
    [probe.io.remote() for _ in range(6)]
    + [probe.compute.remote() for _ in range(8)]
    + [probe.default.remote() for _ in range(12)]
)
ray.get([probe.io.options(concurrency_group="compute").remote("io_sent_to_compute") for _ in range(6)])
print(ray.get(probe.peaks.remote()))

ray.shutdown()
