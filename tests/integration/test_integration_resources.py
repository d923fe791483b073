"""Resources as admission control: CPU/GPU/custom amounts, device ids, env vars, infeasible tasks.

The session declares 2 (fake) GPUs and a custom resource; no real GPU is needed.
"""

from __future__ import annotations

import os
import uuid

import pytest
from waiting import WaitTimeout, wait_for

pytestmark = pytest.mark.timeout(120)

RAY_INIT_KWARGS = {"num_cpus": 2, "num_gpus": 2, "resources": {"special": 1}}


@pytest.fixture(scope="module")
def ray(ray_module):
    return ray_module


def env_of(ray):
    @ray.remote
    def env():
        import os

        import edgeray

        return (
            os.environ.get("CUDA_VISIBLE_DEVICES"),
            os.environ.get("OMP_NUM_THREADS"),
            edgeray.get_gpu_ids(),
        )

    return env


def test_cluster_resources(ray) -> None:
    total = ray.cluster_resources()
    assert total["CPU"] == 2
    assert total["GPU"] == 2
    assert total["special"] == 1
    avail = ray.available_resources()
    for k in ("CPU", "GPU", "special"):
        assert 0 <= avail.get(k, 0) <= total[k]
    nodes = ray.nodes()
    assert len(nodes) == 1 and nodes[0]["Alive"]
    assert nodes[0]["Resources"]["GPU"] == 2


def test_gpu_task_gets_one_device(ray) -> None:
    env = env_of(ray)
    cuda, omp, ids = ray.get(env.options(num_gpus=1).remote())
    assert cuda in ("0", "1")
    assert len(ids) == 1 and str(ids[0]) == cuda


def test_two_gpu_task_gets_both_devices(ray) -> None:
    env = env_of(ray)
    cuda, _, ids = ray.get(env.options(num_gpus=2).remote())
    assert sorted(cuda.split(",")) == ["0", "1"]
    assert sorted(str(i) for i in ids) == ["0", "1"]


def test_cpu_task_sees_no_gpu(ray) -> None:
    env = env_of(ray)
    # after GPU tasks ran on the pooled workers, a CPU task must not inherit their devices
    ray.get([env.options(num_gpus=1).remote() for _ in range(2)])
    for cuda, _, ids in ray.get([env.remote() for _ in range(4)]):
        assert ids == []
        assert cuda in (None, "")


def test_fractional_gpu_actors_share_one_device(ray) -> None:
    @ray.remote(num_gpus=0.5)
    class GpuActor:
        def devices(self):
            import os

            import edgeray

            return os.environ.get("CUDA_VISIBLE_DEVICES"), edgeray.get_gpu_ids()

    a, b = GpuActor.remote(), GpuActor.remote()
    (ca, ia), (cb, ib) = ray.get([a.devices.remote(), b.devices.remote()])
    assert ca == cb and ca in ("0", "1")
    assert len(ia) == 1 and ia == ib
    ray.kill(a)
    ray.kill(b)


def test_omp_num_threads(ray) -> None:
    env = env_of(ray)
    assert ray.get(env.remote())[1] == "1"
    assert ray.get(env.options(num_cpus=2).remote())[1] == "2"
    assert ray.get(env.options(num_cpus=0.5).remote())[1] == "1"


def test_actor_omp_num_threads(ray) -> None:
    @ray.remote(num_cpus=2)
    class Threads:
        def omp(self):
            import os

            return os.environ.get("OMP_NUM_THREADS")

    a = Threads.remote()
    assert ray.get(a.omp.remote()) == "2"
    ray.kill(a)


def test_fractional_precision(ray) -> None:
    @ray.remote
    def one():
        return 1

    assert ray.get(one.options(num_cpus=0.5).remote()) == 1
    assert ray.get(one.options(num_cpus=0.0001).remote()) == 1
    assert ray.get(one.options(resources={"special": 0.25}).remote()) == 1
    with pytest.raises(ValueError):
        one.options(num_cpus=0.00001)
    with pytest.raises(ValueError):
        one.options(resources={"special": 0.00001})
    with pytest.raises(ValueError):
        one.options(num_gpus=1.5)
    with pytest.raises(ValueError):
        ray.remote(num_gpus=2.5)(lambda: 1)
    assert ray.get(one.options(num_gpus=2).remote()) == 1
    with pytest.raises(ValueError):
        one.options(unknown_option=1)
    with pytest.raises(ValueError):
        one.options(num_gpus=-1)
    with pytest.raises(ValueError):
        one.options(resources={"CPU": 1})


def test_cpu_admission_control(ray) -> None:
    @ray.remote(num_cpus=1)
    def nap():
        import time

        start = time.monotonic()
        time.sleep(0.5)
        return start, time.monotonic()

    ray.get([nap.remote() for _ in range(2)])  # warm the pool
    spans = ray.get([nap.remote() for _ in range(4)])
    # (what ran at once, from the tasks' own spans: no bound on how long the four took)
    most = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert most <= 2, f"4 tasks of 1 CPU on 2 CPUs: {most} ran at once: {spans}"


def test_custom_resource_admission_control(ray) -> None:
    @ray.remote(num_cpus=0.5, resources={"special": 1})
    def special_nap():
        import time

        start = time.monotonic()
        time.sleep(0.4)
        return start, time.monotonic()

    spans = sorted(ray.get([special_nap.remote() for _ in range(2)]))
    assert spans[1][0] >= spans[0][1] - 0.05, f"two tasks holding special=1 overlapped: {spans}"


def test_gpu_admission_control(ray) -> None:
    @ray.remote(num_gpus=2, num_cpus=0)
    def both_gpus():
        import time

        start = time.monotonic()
        time.sleep(0.4)
        return start, time.monotonic()

    spans = sorted(ray.get([both_gpus.remote() for _ in range(2)]))
    assert spans[1][0] >= spans[0][1] - 0.05, f"two tasks holding both GPUs overlapped: {spans}"


def test_resources_return_after_tasks(ray) -> None:
    env = env_of(ray)
    ray.get([env.options(num_gpus=1, resources={"special": 1}).remote() for _ in range(3)])
    def all_back() -> bool:
        avail = ray.available_resources()
        return avail.get("GPU") == 2 and avail.get("special") == 1 and avail.get("CPU") == 2

    try:
        wait_for(all_back, what="the resources back")
    except WaitTimeout:
        pass  # (the asserts below say which is missing)
    assert ray.available_resources().get("GPU") == 2
    assert ray.available_resources().get("special") == 1
    assert ray.available_resources().get("CPU") == 2


def test_infeasible_task_waits_with_a_warning(ray, capfd) -> None:
    res = f"nope_{uuid.uuid4().hex[:6]}"

    @ray.remote(resources={res: 1})
    def never():
        return "ran"

    ref = never.remote()
    ready, not_ready = ray.wait([ref], timeout=1)
    assert ready == [] and not_ready == [ref]
    with pytest.raises(ray.exceptions.GetTimeoutError):
        ray.get(ref, timeout=0.2)
    seen: list[str] = []

    def warned() -> bool:
        seen.append(capfd.readouterr().err)
        return res in "".join(seen)

    try:
        wait_for(warned, what=f"a warning naming {res!r}")
    except WaitTimeout:
        pass  # (the assert below shows what the driver's stderr had)
    err = "".join(seen)
    lines = [line for line in err.splitlines() if res in line]
    assert lines, f"no warning naming {res!r} on the driver's stderr: {err!r}"
    assert any("cannot be scheduled" in line or "infeasible" in line.lower() for line in lines), (
        lines
    )
    # other work still runs
    env = env_of(ray)
    assert ray.get(env.remote())[2] == []


def test_gpu_ids_on_the_driver(ray) -> None:
    assert ray.get_gpu_ids() == []
    assert os.getpid()
