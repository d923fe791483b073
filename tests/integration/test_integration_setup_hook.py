"""``init(runtime_env={"worker_process_setup_hook": ...})``: a callable, or an importable
``"module.func"``, run once in each worker process before it runs the job's work (tasks,
actors, what they submit), as in Ray; a hook that raises fails that work with a clear error."""

from __future__ import annotations

import os
import textwrap
from typing import Any

import pytest


def _probe(ray: Any) -> Any:
    def probe() -> tuple[int, str | None, int]:
        return os.getpid(), os.environ.get("HOOKED"), int(os.environ.get("HOOK_RUNS", "0"))

    return ray.remote(probe)


def test_a_callable_hook_runs_once_per_worker_before_tasks_and_actors(ray_init: Any) -> None:
    def hook() -> None:
        os.environ["HOOKED"] = "yes"
        os.environ["HOOK_RUNS"] = str(int(os.environ.get("HOOK_RUNS", "0")) + 1)

    ray = ray_init(num_cpus=2, runtime_env={"worker_process_setup_hook": hook, "env_vars": {"ABC": "123"}})
    probe = _probe(ray)
    seen = ray.get([probe.remote() for _ in range(12)])
    assert all(hooked == "yes" and runs == 1 for _, hooked, runs in seen), seen  # once per process

    @ray.remote
    class Actor:
        def __init__(self) -> None:
            self.at_init = os.environ.get("HOOKED"), os.environ.get("ABC")

        def get(self) -> tuple[str | None, str | None]:
            return self.at_init

    assert ray.get(Actor.remote().get.remote()) == ("yes", "123")

    @ray.remote
    def nested() -> Any:
        return ray.get(probe.remote())

    assert ray.get(nested.remote())[1] == "yes"  # work that work submits: the same job


def test_a_module_name_hook(ray_init: Any, tmp_path: Any, monkeypatch: Any) -> None:
    (tmp_path / "my_setup_hooks.py").write_text(textwrap.dedent("""
        import os

        def setup():
            os.environ["HOOKED"] = "by-module"
    """))
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    monkeypatch.syspath_prepend(str(tmp_path))
    ray = ray_init(num_cpus=1, runtime_env={"worker_process_setup_hook": "my_setup_hooks.setup"})
    assert ray.get(_probe(ray).remote())[1] == "by-module"


def test_a_hook_that_raises_fails_the_work_clearly(ray_init: Any) -> None:
    def hook() -> None:
        raise ValueError("Setup Failed")

    ray = ray_init(num_cpus=1, runtime_env={"worker_process_setup_hook": hook})
    import edgeray.exceptions as rex

    with pytest.raises(rex.RuntimeEnvSetupError) as info:
        ray.get(_probe(ray).options(max_retries=0).remote())
    assert "Failed to execute the setup hook method" in str(info.value)
    assert "Setup Failed" in str(info.value)

    @ray.remote
    class A:
        pass

    with pytest.raises(rex.RayActorError) as actor_info:
        ray.get(A.remote().__ray_ready__.remote())
    assert "Setup Failed" in str(actor_info.value)
    assert "Failed to execute the setup hook method" in str(actor_info.value)


def test_a_missing_module_fails_the_work(ray_init: Any) -> None:
    ray = ray_init(num_cpus=1, runtime_env={"worker_process_setup_hook": "no_such_module_here.setup"})
    import edgeray.exceptions as rex

    with pytest.raises(rex.RuntimeEnvSetupError, match="no_such_module_here"):
        ray.get(_probe(ray).remote())


def test_only_the_job_may_set_it(ray_init: Any) -> None:
    ray = ray_init(num_cpus=1)
    with pytest.raises(ValueError, match="worker_process_setup_hook.*init"):
        _probe(ray).options(runtime_env={"worker_process_setup_hook": lambda: None})
    with pytest.raises(TypeError, match="worker_process_setup_hook"):
        import edgeray

        edgeray.shutdown()
        ray_init(num_cpus=1, runtime_env={"worker_process_setup_hook": 5})
