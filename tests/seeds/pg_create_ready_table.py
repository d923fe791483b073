import edgeray as ray
# ruff: noqa
# Seed 003, "Placement groups" -> "创建Placement group(预留资源)": create a
# placement group of one {"CPU": 1, "GPU": 1} bundle, wait for it with
# pg.ready() (ray.get and ray.wait) and print placement_group_table(pg).
# Changes: `import edgeray as ray` moved to the top (the document imports ray
# after the placement-group APIs).
# Added: the sizes of ray.wait's lists are printed ("1 0"); `ray.shutdown()`.
from pprint import pprint
import time

# Import Placement group APIs.
from edgeray.util.placement_group import (
    placement_group,
    placement_group_table,
    remove_placement_group,
)
from edgeray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

# Create a single node Ray cluster with 2 CPUs and 2 GPUs.
ray.init(num_cpus=2, num_gpus=2)

# Reserve a Placement group of 1 bundle that reserves 1 CPU and 1 GPU.
pg = placement_group([{"CPU": 1, "GPU": 1}])

# Wait until Placement group is created.
ray.get(pg.ready(), timeout=10)

# You can also use ray.wait.
ready, unready = ray.wait([pg.ready()], timeout=10)

# You can look at Placement group states using this API.
print(placement_group_table(pg))

print(len(ready), len(unready))  # added
ray.shutdown()
