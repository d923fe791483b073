import edgeray as ray
# ruff: noqa
# Seed 003, "Resources" -> "Specifying Node Resources" (ray.init with custom
# resources) and "指定Task或Actor资源需求" (task/actor resource requirements and
# overriding them with .options()).
# Changes: added the missing `)` to the document's ray.init call.
# Added: the node's resources are printed; one `func` call is waited for and
# its result printed; `ray.shutdown()` at the end.

# This will start a Ray node with 3 logical cpus, 4 logical gpus,
# 1 special_hardware resource and 1 custom_label resource.
ray.init(num_cpus=3, num_gpus=4, resources={"special_hardware": 1, "custom_label": 1})

# added check: the node advertises what init was given
_total = ray.cluster_resources()
print(sorted((k, float(_total[k])) for k in ("CPU", "GPU", "special_hardware", "custom_label")))


# Specify the default resource requirements for this remote function.
@ray.remote(num_cpus=2, num_gpus=2, resources={"special_hardware": 1})
def func():
    return 1


# You can override the default resource requirements.
r = func.options(num_cpus=3, num_gpus=1, resources={"special_hardware": 0}).remote()


@ray.remote(num_cpus=0, num_gpus=1)
class Actor:
    pass


# You can override the default resource requirements for actors as well.
actor = Actor.options(num_cpus=1, num_gpus=0).remote()

# added: run the decorator's requirements (2 CPU, 2 GPU, special_hardware);
# the 3-CPU override above may still be waiting for the 1-CPU actor.
print(ray.get(func.remote()))
ray.shutdown()
