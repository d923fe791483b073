import edgeray as ray
# ruff: noqa
# Seed 003, "Actor 执行顺序" -> second example: no ordering guarantee across
# submitters; a task blocked on an unresolved argument does not hold back a
# task from another submitter.
# Shrunk: delayed_resolution sleeps 1 s (not 5 s).
# Added: `ray.init()`; `ray.shutdown()` at the end.
import time

ray.init()


@ray.remote
class Counter:
    def __init__(self):
        self.value = 0

    def add(self, addition):
        self.value += addition
        return self.value

counter = Counter.remote()

# Submit task from a worker
@ray.remote
def submitter(value):
    return ray.get(counter.add.remote(value))

# Simulate delayed result resolution.
@ray.remote
def delayed_resolution(value):
    time.sleep(1)
    return value

# Submit tasks from different workers, with
# the first submitted task waiting for
# dependency resolution.
value0 = submitter.remote(delayed_resolution.remote(1))
value1 = submitter.remote(2)

# Output: 3. The first submitted task is executed later.
print(ray.get(value0))
# Output: 2. The later submitted task is executed first.
print(ray.get(value1))

ray.shutdown()
