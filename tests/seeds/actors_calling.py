import edgeray as ray
# ruff: noqa
# Seed 003, "Ray Actor" -> "Calling the actor" (two snippets).
# Added preamble: `ray.init()`, a `Counter` actor with `increment`/`get_counter`
# (as in Ray's documentation) and `counter = Counter.remote()`.
# `ray.shutdown()` at the end.

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


counter = Counter.remote()

# Call the actor.
obj_ref = counter.increment.remote()
print(ray.get(obj_ref))

# Create ten Counter actors.
counters = [Counter.remote() for _ in range(10)]

# Increment each Counter once and get the results. These tasks all happen in
# parallel.
results = ray.get([c.increment.remote() for c in counters])
print(results)

# Increment the first Counter five times. These tasks are executed serially
# and share state.
results = ray.get([counters[0].increment.remote() for _ in range(5)])
print(results)

ray.shutdown()
