import edgeray as ray
# ruff: noqa
# Seed 003, "Placement groups": placement groups are created atomically -- a
# group with a bundle that fits nowhere ({"GPU": 2} while 1 GPU is reserved)
# stays pending and reserves nothing; ray.get(pending_pg.ready()) times out.
# Added preamble: ray.init(num_cpus=2, num_gpus=2) and the first group
# ({"CPU": 1, "GPU": 1}) from the previous snippet.
# Shrunk: the get times out after 1 s (not 5 s).
# Added checks: the table says PENDING, and the pending group reserved nothing
# (1 CPU and 1 GPU still available); `ray.shutdown()` at the end.
import time

from edgeray.util.placement_group import placement_group, placement_group_table

ray.init(num_cpus=2, num_gpus=2)
pg = placement_group([{"CPU": 1, "GPU": 1}])
ray.get(pg.ready(), timeout=10)

# Cannot create this Placement group because we
# cannot create a {"GPU": 2} bundle.
pending_pg = placement_group([{"CPU": 1}, {"GPU": 2}])
# This raises the timeout exception!
try:
    ray.get(pending_pg.ready(), timeout=1)
except Exception as e:
    print(
        "Cannot create a Placement group because "
        "{'GPU': 2} bundle cannot be created."
    )
    print(e)

# --- added checks ---
print(placement_group_table(pending_pg)["state"])
avail = ray.available_resources()
print("available CPU", float(avail.get("CPU", 0.0)), "GPU", float(avail.get("GPU", 0.0)))

ray.shutdown()
