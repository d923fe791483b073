import edgeray as ray
# ruff: noqa
# Seed 003, "Actor 的 AsyncIO" (AsyncIO for actors): AsyncActor.run_concurrent,
# called 4 times with a regular ray.get and once more awaited from asyncio.
# Added: `ray.init()`; timing instrumentation for the 4 concurrent calls written
# to stderr as "SEED-TIMING <name> <seconds>" (stdout is left to the example);
# `ray.shutdown()` at the end.
import asyncio
import sys
import time

ray.init()


@ray.remote
class AsyncActor:
    # multiple invocation of this method can be running in
    # the event loop at the same time
    async def run_concurrent(self):
        print("started")
        await asyncio.sleep(2) # concurrent workload here
        print("finished")

actor = AsyncActor.remote()

# regular ray.get
_t0 = time.time()  # added
ray.get([actor.run_concurrent.remote() for _ in range(4)])
print(f"SEED-TIMING concurrent_get {time.time() - _t0:.3f}", file=sys.stderr)  # added

# async ray.get
async def async_get():
    await actor.run_concurrent.remote()
asyncio.run(async_get())

ray.shutdown()
