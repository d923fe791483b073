import edgeray as ray
# ruff: noqa
# Seed 003, "Actor 执行顺序" -> "异步或线程化Actor": an async actor does not
# keep submission order; a call waiting for its argument lets a later call run.
# Shrunk: delayed_resolution sleeps 1 s (not 5 s).
# Added: `ray.init()`; `ray.shutdown()` at the end.
import time

ray.init()


@ray.remote
class AsyncCounter:
    def __init__(self):
        self.value = 0

    async def add(self, addition):
        self.value += addition
        return self.value

counter = AsyncCounter.remote()

# Simulate delayed result resolution.
@ray.remote
def delayed_resolution(value):
    time.sleep(1)
    return value

# Submit tasks from the driver, with
# the first submitted task waiting for
# dependency resolution.
value0 = counter.add.remote(delayed_resolution.remote(1))
value1 = counter.add.remote(2)

# Output: 3. The first submitted task is executed later.
print(ray.get(value0))
# Output: 2. The later submitted task is executed first.
print(ray.get(value1))

ray.shutdown()
