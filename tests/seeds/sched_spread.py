import edgeray as ray
# ruff: noqa
# Seed 003, "Scheduling Strategies" -> "SPREAD": spread tasks and actors.
# Added: `ray.init(num_cpus=12)` so the ten 1-CPU SpreadActors and the tasks
# all fit on one node; the task refs are kept and their results printed;
# `ray.shutdown()` at the end.

ray.init(num_cpus=12)


@ray.remote(scheduling_strategy="SPREAD")
def spread_func():
    return 2


@ray.remote(num_cpus=1)
class SpreadActor:
    pass


# Spread tasks across the cluster.
refs = [spread_func.remote() for _ in range(10)]
# Spread actors across the cluster.
actors = [SpreadActor.options(scheduling_strategy="SPREAD").remote() for _ in range(10)]

print(ray.get(refs))  # added
ray.shutdown()
