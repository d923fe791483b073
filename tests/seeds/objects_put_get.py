import edgeray as ray
# ruff: noqa
# Seed 003, "Ray Objects": creating a ref with ray.put, and "Fetching Object
# Data": get of one / several refs and a `get` with a timeout.
# Shrunk: long_running_function sleeps 3 s (not 8 s) and the get times out
# after 1 s (not 4 s) -- still shorter than the task.
# Added: `ray.init()`; a check of "GetTimeoutError is a subclass of
# TimeoutError"; timing of the timed-out get on stderr ("SEED-TIMING");
# `ray.shutdown()` at the end (with the task still running).
import sys

ray.init()

# Put an object in Ray's object store.
y = 1
object_ref = ray.put(y)


import time

# Get the value of one object ref.
obj_ref = ray.put(1)
assert ray.get(obj_ref) == 1

# Get the values of multiple object refs in parallel.
assert ray.get([ray.put(i) for i in range(3)]) == [0, 1, 2]

# You can also set a timeout to return early from a ``get``
# that's blocking for too long.
from edgeray.exceptions import GetTimeoutError
# ``GetTimeoutError`` is a subclass of ``TimeoutError``.
print(issubclass(GetTimeoutError, TimeoutError))  # added

@ray.remote
def long_running_function():
    time.sleep(3)

obj_ref = long_running_function.remote()
_t0 = time.time()  # added
try:
    ray.get(obj_ref, timeout=1)
except GetTimeoutError:  # You can capture the standard "TimeoutError" instead
    print("`get` timed out.")
print(f"SEED-TIMING get_timeout {time.time() - _t0:.3f}", file=sys.stderr)  # added

ray.shutdown()
