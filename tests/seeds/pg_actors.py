import edgeray as ray
# ruff: noqa
# Seed 003, "将Task和Actors调度到Placement group": an actor scheduled into the
# placement group, then a 0-CPU/1-GPU actor into bundle index 0.
# Added preamble: ray.init(num_cpus=2, num_gpus=2) and the {"CPU": 1, "GPU": 1}
# group from the earlier snippet.
# Added checks: both actors answer; a third 1-CPU actor cannot be placed in the
# now fully used bundle (its call times out after 2 s, ample time for an actor to start); `ray.shutdown()`.
from edgeray.util.placement_group import placement_group
from edgeray.util.scheduling_strategies import PlacementGroupSchedulingStrategy
from edgeray.exceptions import GetTimeoutError

ray.init(num_cpus=2, num_gpus=2)
pg = placement_group([{"CPU": 1, "GPU": 1}])
ray.get(pg.ready(), timeout=10)


@ray.remote(num_cpus=1)
class Actor:
    def __init__(self):
        pass

    def ready(self):
        pass


# Create an actor to a Placement group.
actor = Actor.options(
    scheduling_strategy=PlacementGroupSchedulingStrategy(
        placement_group=pg,
    )
).remote()

# Verify the actor is scheduled.
ray.get(actor.ready.remote(), timeout=10)
print("actor scheduled in the placement group")  # added


@ray.remote(num_cpus=0, num_gpus=1)
class Actor:
    def __init__(self):
        pass

    def ready(self):
        pass


# Create a GPU actor on the first bundle of index 0.
actor2 = Actor.options(
    scheduling_strategy=PlacementGroupSchedulingStrategy(
        placement_group=pg,
        placement_group_bundle_index=0,
    )
).remote()

# Verify that the GPU actor is scheduled.
ray.get(actor2.ready.remote(), timeout=10)
print("GPU actor scheduled in bundle 0")  # added


# --- added check: the bundle is fully used now ---
@ray.remote(num_cpus=1)
class ThirdActor:
    def ready(self):
        pass


actor3 = ThirdActor.options(
    scheduling_strategy=PlacementGroupSchedulingStrategy(placement_group=pg)
).remote()
try:
    ray.get(actor3.ready.remote(), timeout=2)
    print("third actor scheduled (unexpected)")
except GetTimeoutError:
    print("third actor does not fit in the used bundle")

ray.shutdown()
