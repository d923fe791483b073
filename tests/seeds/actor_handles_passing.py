import edgeray as ray
# ruff: noqa
# Seed 003, "Passing Around Actor Handles": tasks `f(counter)` increment a
# shared Counter while the driver prints its value 10 times.
# Added preamble: `ray.init()` and a `Counter` actor with `increment` /
# `get_counter`. `ray.shutdown()` at the end.
import time

ray.init()


@ray.remote
class Counter:
    def __init__(self):
        self.value = 0

    def increment(self):
        self.value += 1
        return self.value

    def get_counter(self):
        return self.value


@ray.remote
def f(counter):
    for _ in range(10):
        time.sleep(0.1)
        counter.increment.remote()


counter = Counter.remote()

# Start some tasks that use the actor.
[f.remote(counter) for _ in range(3)]

# Print the counter value.
for _ in range(10):
    time.sleep(0.1)
    print(ray.get(counter.get_counter.remote()))

ray.shutdown()
