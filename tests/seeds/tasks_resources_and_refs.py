import edgeray as ray
# ruff: noqa
# Seed 003, "Ray Task" -> "Specifying required resources" and
# "Passing object refs to Ray tasks" (the two snippets share `my_function`).
# Added: `ray.init(num_cpus=4, num_gpus=2)` so that `my_function`
# (num_cpus=4, num_gpus=2) is feasible on a small machine (GPUs are logical);
# `ray.shutdown()` at the end. The asserts are the document's own checks.

ray.init(num_cpus=4, num_gpus=2)

# Specify required resources.
@ray.remote(num_cpus=4, num_gpus=2)
def my_function():
    return 1

# Override the default resource requirements.
my_function.options(num_cpus=3).remote()


@ray.remote
def function_with_an_argument(value):
    return value + 1


obj_ref1 = my_function.remote()
assert ray.get(obj_ref1) == 1

# You can pass an object ref as an argument to another Ray task.
obj_ref2 = function_with_an_argument.remote(obj_ref1)
assert ray.get(obj_ref2) == 2

ray.shutdown()
