import edgeray as ray
# ruff: noqa
# Seed 003, "Ray Actor" -> "Specifying required resources" for an actor.
# Added: `ray.init(num_cpus=2, num_gpus=1)`; an instance of the actor and a
# check that explicitly requested actor resources are held while the actor
# lives (the document: "If resources are specified explicitly, they are
# required both at scheduling time and at execution time"): the node's
# available CPU drops to 0.0 and GPU to 0.5. `ray.shutdown()` at the end.
import time

ray.init(num_cpus=2, num_gpus=1)

# Specify required resources for an actor.
@ray.remote(num_cpus=2, num_gpus=0.5)
class Actor:
    pass


# --- added check ---
actor = Actor.remote()
deadline = time.time() + 20
while time.time() < deadline:
    avail = ray.available_resources()
    if avail.get("CPU", 0.0) == 0.0 and avail.get("GPU", 0.0) == 0.5:
        break
    time.sleep(0.05)
avail = ray.available_resources()
print("CPU", float(avail.get("CPU", 0.0)), "GPU", float(avail.get("GPU", 0.0)))

ray.shutdown()
