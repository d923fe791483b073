import edgeray as ray
# ruff: noqa
# Seed 003, "ObjectRefs 作为 asyncio.Futures" and
# "ObjectRefs 作为 concurrent.futures.Futures": the four snippets (plain
# get/wait, awaiting refs, ref.future() wrapped for asyncio, and
# concurrent.futures.as_completed).
# Added: `ray.init()`; `ray.shutdown()` at the end.
import asyncio

ray.init()

@ray.remote
def some_task():
    return 1

ray.get(some_task.remote())
ray.wait([some_task.remote()])


async def await_obj_ref():
    await some_task.remote()
    await asyncio.wait([some_task.remote()])

asyncio.run(await_obj_ref())


async def convert_to_asyncio_future():
    ref = some_task.remote()
    fut: asyncio.Future = asyncio.wrap_future(ref.future())
    print(await fut)
asyncio.run(convert_to_asyncio_future())


import concurrent

refs = [some_task.remote() for _ in range(4)]
futs = [ref.future() for ref in refs]
for fut in concurrent.futures.as_completed(futs):
    assert fut.done()
    print(fut.result())

ray.shutdown()
