import edgeray as ray
# ruff: noqa
# Seed 003, "在异步 Actors 中设置并发" (setting concurrency in async actors):
# max_concurrency=2, 8 calls -> at most 2 run at a time.
# Shrunk: each call sleeps 0.5 s (not 1 s), so the 8 calls take ~2 s.
# Added: `ray.init()`; timing on stderr ("SEED-TIMING"); `ray.shutdown()`.
import asyncio
import sys
import time

ray.init()


@ray.remote
class AsyncActor:
    async def run_task(self):
        print("started")
        await asyncio.sleep(0.5) # Network, I/O task here
        print("ended")

actor = AsyncActor.options(max_concurrency=2).remote()

# Only 2 tasks will be running concurrently. Once 2 finish, the next 2 should run.
_t0 = time.time()  # added
ray.get([actor.run_task.remote() for _ in range(8)])
print(f"SEED-TIMING eight_calls {time.time() - _t0:.3f}", file=sys.stderr)  # added

ray.shutdown()
