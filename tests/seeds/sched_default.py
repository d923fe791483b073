import edgeray as ray
# ruff: noqa
# Seed 003, "Scheduling Strategies" -> "DEFAULT": default and explicit
# "DEFAULT" strategy for tasks and actors, and a zero-CPU actor.
# Added: `ray.init(num_cpus=4)` (room for the 1-CPU actors plus the tasks);
# the task refs are kept and their results printed (1 each);
# `ray.shutdown()` at the end.

ray.init(num_cpus=4)


@ray.remote
def func():
    return 1

@ray.remote(num_cpus=1)
class Actor:
    pass

# If unspecified, "DEFAULT" scheduling strategy is used.
r1 = func.remote()
actor = Actor.remote()
# Explicitly set scheduling strategy to "DEFAULT".
r2 = func.options(scheduling_strategy="DEFAULT").remote()
actor = Actor.options(scheduling_strategy="DEFAULT").remote()

# Zero-CPU (and no other resources) actors are randomly assigned to nodes.
actor = Actor.options(num_cpus=0).remote()

print(ray.get([r1, r2]))  # added
ray.shutdown()
