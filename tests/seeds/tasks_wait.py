import edgeray as ray
# ruff: noqa
# Seed 003, "Ray Task" -> "Waiting for Partial Results" (ray.wait).
# Added preamble: `ray.init()` and a `slow_function` task (sleeps 0.5 s).
# Added check: print the sizes of the two lists; Ray's `wait` returns exactly
# `num_returns` ready refs, so this prints "1 1". `ray.shutdown()` at the end.
import time

ray.init()


@ray.remote
def slow_function():
    time.sleep(0.5)
    return 1


object_refs = [slow_function.remote() for _ in range(2)]
# Return as soon as one of the tasks finished execution.
ready_refs, remaining_refs = ray.wait(object_refs, num_returns=1, timeout=None)

print(len(ready_refs), len(remaining_refs))  # added check
ray.shutdown()
