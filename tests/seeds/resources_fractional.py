import edgeray as ray
# ruff: noqa
# Seed 003, "分数资源需求" (fractional resource requirements): a 0.5-CPU task
# and two 0.5-GPU actors sharing one GPU (both see the same
# CUDA_VISIBLE_DEVICES).
# Added: `ray.init(num_cpus=2, num_gpus=1)` (one logical GPU, so the shared
# device is "0"); `ray.shutdown()` at the end.

ray.init(num_cpus=2, num_gpus=1)


@ray.remote(num_cpus=0.5)
def io_bound_task():
    import time

    time.sleep(1)
    return 2


io_bound_task.remote()


@ray.remote(num_gpus=0.5)
class IOActor:
    def ping(self):
        import os

        print(f"CUDA_VISIBLE_DEVICES: {os.environ['CUDA_VISIBLE_DEVICES']}")


# Two actors can share the same GPU.
io_actor1 = IOActor.remote()
io_actor2 = IOActor.remote()
ray.get(io_actor1.ping.remote())
ray.get(io_actor2.ping.remote())
# Output:
# (IOActor pid=96328) CUDA_VISIBLE_DEVICES: 1
# (IOActor pid=96329) CUDA_VISIBLE_DEVICES: 1

ray.shutdown()
