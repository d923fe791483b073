import edgeray as ray
# ruff: noqa
# Seed 003, "[高级] 命名Placement group": a group created with a global name is
# retrieved with ray.util.get_placement_group (first_driver.py and
# second_driver.py run here in one driver; see pg_detached.py for two).
# Added: ray.init(num_cpus=2) and imports; a print of the retrieved group's
# name and state; `ray.shutdown()` at the end.
from edgeray.util.placement_group import placement_group, placement_group_table

ray.init(num_cpus=2)

# first_driver.py
# Create a Placement group with a global name.
pg = placement_group([{"CPU": 1}], name="global_name")
ray.get(pg.ready())

# second_driver.py
# Retrieve a Placement group with a global name.
pg = ray.util.get_placement_group("global_name")

_t = placement_group_table(pg)  # added
print(_t["name"], _t["state"])  # added
ray.shutdown()
