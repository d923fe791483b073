import edgeray as ray
# ruff: noqa
# Seed 003, "Scheduling Strategies" -> "NodeAffinitySchedulingStrategy".
# Added: `ray.init()`; the task refs are kept and checked to have run on the
# local node; a check of the documented failure mode: hard affinity
# (soft=False) to a node that does not exist fails with
# TaskUnschedulableError, soft affinity runs elsewhere; `ray.shutdown()`.
from edgeray.exceptions import TaskUnschedulableError

ray.init()


@ray.remote
def node_affinity_func():
    return ray.get_runtime_context().get_node_id()


@ray.remote(num_cpus=1)
class NodeAffinityActor:
    pass


# Only run the task on the local node.
r1 = node_affinity_func.options(
    scheduling_strategy=ray.util.scheduling_strategies.NodeAffinitySchedulingStrategy(
        node_id=ray.get_runtime_context().get_node_id(),
        soft=False,
    )
).remote()

# Run the two node_affinity_func tasks on the same node if possible.
r2 = node_affinity_func.options(
    scheduling_strategy=ray.util.scheduling_strategies.NodeAffinitySchedulingStrategy(
        node_id=ray.get(node_affinity_func.remote()),
        soft=True,
    )
).remote()

# Only run the actor on the local node.
actor = NodeAffinityActor.options(
    scheduling_strategy=ray.util.scheduling_strategies.NodeAffinitySchedulingStrategy(
        node_id=ray.get_runtime_context().get_node_id(),
        soft=False,
    )
).remote()


# --- added checks ---
local = ray.get_runtime_context().get_node_id()
print("hard affinity ran on the local node:", ray.get(r1) == local)
print("soft affinity ran on the local node:", ray.get(r2) == local)
missing = ("0" if local[0] != "0" else "1") * len(local)  # a well-formed id of no node
try:
    ray.get(
        node_affinity_func.options(
            scheduling_strategy=ray.util.scheduling_strategies.NodeAffinitySchedulingStrategy(
                node_id=missing, soft=False
            )
        ).remote(),
        timeout=20,
    )
    print("hard affinity to a missing node: ran")
except TaskUnschedulableError:
    print("hard affinity to a missing node: TaskUnschedulableError")
r3 = node_affinity_func.options(
    scheduling_strategy=ray.util.scheduling_strategies.NodeAffinitySchedulingStrategy(
        node_id=missing, soft=True
    )
).remote()
print("soft affinity to a missing node ran on:", "local node" if ray.get(r3, timeout=20) == local else "?")

ray.shutdown()
