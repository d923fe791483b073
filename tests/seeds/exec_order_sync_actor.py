import edgeray as ray
# ruff: noqa
# Seed 003, "Actor 执行顺序" -> "同步, 单线程的 Actor" (first example): tasks
# from one submitter run in submission order.
# Added: `ray.init()`; `ray.shutdown()` at the end.

ray.init()


@ray.remote
class Counter:
    def __init__(self):
        self.value = 0

    def add(self, addition):
        self.value += addition
        return self.value

counter = Counter.remote()

# For tasks from the same submitter,
# they are executed according to submission order.
value0 = counter.add.remote(1)
value1 = counter.add.remote(2)

# Output: 1. The first submitted task is executed first.
print(ray.get(value0))
# Output: 3. The later submitted task is executed later.
print(ray.get(value1))

ray.shutdown()
