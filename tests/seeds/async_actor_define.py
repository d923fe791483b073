import edgeray as ray
# ruff: noqa
# Seed 003, "定义一个异步Actor" (defining an async actor): 5 calls of run_task
# all start at once and end together after 2 s.
# Shrunk: each call sleeps 1 s (not 2 s); sequential calls would take 5 s.
# Added: `ray.init()`; timing of the 5 calls on stderr ("SEED-TIMING");
# `ray.shutdown()` at the end.
import asyncio
import sys
import time

ray.init()


@ray.remote
class AsyncActor:
    async def run_task(self):
        print("started")
        await asyncio.sleep(1) # Network, I/O task here
        print("ended")

actor = AsyncActor.remote()
# All 5 tasks should start at once. After 2 second they should all finish.
# they should finish at the same time
_t0 = time.time()  # added
ray.get([actor.run_task.remote() for _ in range(5)])
print(f"SEED-TIMING five_calls {time.time() - _t0:.3f}", file=sys.stderr)  # added

ray.shutdown()
