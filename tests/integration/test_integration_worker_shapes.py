"""Workers kept apart by resource shape (Ray's worker pool): a GPU task never runs in a worker
that ran CPU-only work, nor the reverse, so ``CUDA_VISIBLE_DEVICES`` and GPU state never leak;
``RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES`` leaves a worker's ``CUDA_VISIBLE_DEVICES`` alone."""

from __future__ import annotations

import os
from typing import Any


def _remote_where(ray: Any) -> Any:
    """A task that says which worker ran it and what CUDA_VISIBLE_DEVICES it saw."""

    def where() -> tuple[int, str | None]:
        return os.getpid(), os.environ.get("CUDA_VISIBLE_DEVICES")

    return ray.remote(where)


def test_gpu_tasks_never_share_a_worker_with_cpu_tasks(ray_init: Any) -> None:
    ray = ray_init(num_cpus=2, num_gpus=2)
    where = _remote_where(ray)
    cpu = ray.get([where.remote() for _ in range(20)])
    cpu_pids = {pid for pid, _ in cpu}
    assert all(cuda in (None, "") for _, cuda in cpu)
    gpu = ray.get([where.options(num_gpus=1).remote() for _ in range(10)])
    gpu_pids = {pid for pid, _ in gpu}
    assert all(cuda in ("0", "1") for _, cuda in gpu)
    assert not gpu_pids & cpu_pids, "a GPU task ran in a worker that had run CPU-only tasks"
    cpu_after = ray.get([where.remote() for _ in range(20)])
    assert all(cuda in (None, "") for _, cuda in cpu_after), cpu_after
    assert not {pid for pid, _ in cpu_after} & gpu_pids, "a CPU task ran in a worker that had run a GPU task"


def test_a_gpu_actor_gets_a_worker_that_ran_no_cpu_task(ray_init: Any) -> None:
    ray = ray_init(num_cpus=2, num_gpus=1)
    where = _remote_where(ray)
    cpu_pids = {pid for pid, _ in ray.get([where.remote() for _ in range(10)])}

    @ray.remote(num_gpus=1)
    class Holder:
        def where(self) -> tuple[int, str | None]:
            return os.getpid(), os.environ.get("CUDA_VISIBLE_DEVICES")

    pid, cuda = ray.get(Holder.remote().where.remote())
    assert cuda == "0"
    assert pid not in cpu_pids


def test_noset_cuda_visible_devices_is_honoured(ray_init: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "7,8")
    monkeypatch.setenv("RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES", "1")
    ray = ray_init(num_cpus=1, num_gpus=2)

    @ray.remote(num_gpus=1)
    def gpu_env() -> tuple[str | None, list[Any]]:
        import edgeray

        return os.environ.get("CUDA_VISIBLE_DEVICES"), edgeray.get_gpu_ids()

    cuda, ids = ray.get(gpu_env.remote())
    assert cuda == "7,8"  # not overwritten
    assert len(ids) == 1  # the task still knows which GPU it was given
    assert ray.get(_remote_where(ray).remote())[1] == "7,8"
