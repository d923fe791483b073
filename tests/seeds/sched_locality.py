import edgeray as ray
# ruff: noqa
# Seed 003, "Locality-Aware Scheduling": a large task result stays in the
# object store and its consumers prefer its node; small results travel inline.
# Added: `ray.init()`; the refs returned by consume_func are kept and their
# results printed; `ray.shutdown()` at the end.

ray.init()


@ray.remote
def large_object_func():
    # Large object is stored in the local object store
    # and available in the distributed memory,
    # instead of returning inline directly to the caller.
    return [1] * (1024 * 1024)


@ray.remote
def small_object_func():
    # Small object is returned inline directly to the caller,
    # instead of storing in the distributed memory.
    return [1]


@ray.remote
def consume_func(data):
    return len(data)


large_object = large_object_func.remote()
small_object = small_object_func.remote()

# Ray will try to run consume_func on the same node
# where large_object_func runs.
r_large = consume_func.remote(large_object)

# Ray will try to spread consume_func across the entire cluster
# instead of only running on the node where large_object_func runs.
r_spread = [
    consume_func.options(scheduling_strategy="SPREAD").remote(large_object)
    for i in range(10)
]

# Ray won't consider locality for scheduling consume_func
# since the argument is small and will be sent to the worker node inline directly.
r_small = consume_func.remote(small_object)

print(ray.get(r_large))  # added
print(ray.get(r_spread))  # added
print(ray.get(r_small))  # added
ray.shutdown()
