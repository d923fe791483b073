import edgeray as ray
# ruff: noqa
# Seed 003, "[高级] Child Task 和 Actor": placement_group_capture_child_tasks=True
# puts the child in the parent's group; PlacementGroupSchedulingStrategy(
# placement_group=None) opts out, and then the child cannot be scheduled
# (every CPU is reserved by the group) so the get times out.
# Shrunk: child sleeps 1 s (not 5 s); the second get times out after 2 s
# (not 5 s) -- longer than the child runs, so a child wrongly scheduled
# outside the group would finish in time and the check would fail.
# Added: a print after the first get; `ray.shutdown()` at the end (with the
# blocked parent and the unschedulable child still pending).
from edgeray.util.placement_group import placement_group
from edgeray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

ray.init(num_cpus=2)

# Create a Placement group.
pg = placement_group([{"CPU": 2}])
ray.get(pg.ready())


@ray.remote(num_cpus=1)
def child():
    import time

    time.sleep(1)


@ray.remote(num_cpus=1)
def parent():
    # The child task is scheduled to the same Placement group as its parent,
    # although it didn't specify the PlacementGroupSchedulingStrategy.
    ray.get(child.remote())


# Since the child and parent use 1 CPU each, the Placement group
# bundle {"CPU": 2} is fully occupied.
ray.get(
    parent.options(
        scheduling_strategy=PlacementGroupSchedulingStrategy(
            placement_group=pg, placement_group_capture_child_tasks=True
        )
    ).remote()
)
print("child ran inside the parent's placement group")  # added


@ray.remote
def parent():
    # In this case, the child task isn't
    # scheduled with the parent's Placement group.
    ray.get(
        child.options(
            scheduling_strategy=PlacementGroupSchedulingStrategy(placement_group=None)
        ).remote()
    )


# This times out because we cannot schedule the child task.
# The cluster has {"CPU": 2}, and both of them are reserved by
# the Placement group with a bundle {"CPU": 2}. Since the child shouldn't
# be scheduled within this Placement group, it cannot be scheduled because
# there's no available CPU resources.
try:
    ray.get(
        parent.options(
            scheduling_strategy=PlacementGroupSchedulingStrategy(
                placement_group=pg, placement_group_capture_child_tasks=True
            )
        ).remote(),
        timeout=2,
    )
except Exception as e:
    print("Couldn't create a child task!")
    print(e)

ray.shutdown()
