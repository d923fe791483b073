import edgeray as ray
# ruff: noqa
# Seed 003, "Placement Strategy" (a 2-bundle PACK group) and
# "移除Placement group(释放预留资源)" (remove it; the table then says REMOVED).
# Added preamble: ray.init(num_cpus=2, num_gpus=2).
# Shrunk: the wait after remove_placement_group is 0.5 s (not 1 s).
# Added check (the four strategies described in prose): on a single node,
# STRICT_PACK, PACK and SPREAD groups of two bundles are created, STRICT_SPREAD
# stays pending; `ray.shutdown()` at the end.
from pprint import pprint
import time

from edgeray.util.placement_group import (
    placement_group,
    placement_group_table,
    remove_placement_group,
)

ray.init(num_cpus=2, num_gpus=2)

# Reserve a Placement group of 2 bundles
# that have to be packed on the same node.
pg = placement_group([{"CPU": 1}, {"GPU": 1}], strategy="PACK")

# This API is asynchronous.
remove_placement_group(pg)

# Wait until Placement group is killed.
time.sleep(0.5)
# Check that the Placement group has died.
pprint(placement_group_table(pg))

"""
{'bundles': {0: {'GPU': 1.0}, 1: {'CPU': 1.0}},
'name': 'unnamed_group',
'placement_group_id': '40816b6ad474a6942b0edb45809b39c3',
'state': 'REMOVED',
'strategy': 'PACK'}
"""

# --- added check ---
for strategy in ["STRICT_PACK", "PACK", "SPREAD", "STRICT_SPREAD"]:
    spg = placement_group([{"CPU": 0.5}, {"CPU": 0.5}], strategy=strategy)
    ray.wait([spg.ready()], timeout=0.5 if strategy == "STRICT_SPREAD" else 10)
    print("strategy", strategy, placement_group_table(spg)["state"])
    remove_placement_group(spg)

ray.shutdown()
