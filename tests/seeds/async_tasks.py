import edgeray as ray
# ruff: noqa
# Seed 003, "远程Task的AsyncIO" (asyncio for remote tasks): `@ray.remote` on an
# `async def` function "will fail" -- Ray raises ValueError when decorating;
# the workaround wraps the coroutine with asyncio.run inside a sync task.
# Added: `ray.init()`; the failing snippet wrapped in try/except printing the
# exception type; the wrapper task is run and its result (None) printed;
# `ray.shutdown()` at the end.

ray.init()

try:
    @ray.remote
    async def f():
        pass
except ValueError as e:  # added
    print("async def remote task rejected:", type(e).__name__)


async def f():
    pass

@ray.remote
def wrapper():
    import asyncio
    asyncio.run(f())


print(ray.get(wrapper.remote()))  # added
ray.shutdown()
