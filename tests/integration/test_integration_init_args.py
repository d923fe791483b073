"""``init()`` as Ray's: ``RAY_ADDRESS`` and ``HOST:PORT`` addresses, ``job_config=``,
``RuntimeEnv`` objects, ``local_mode=False``."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.timeout(120)


def _host_port(address: str) -> str:
    assert address.startswith("ws://")
    return address[len("ws://"):]


def test_ray_address_and_host_port(monkeypatch: pytest.MonkeyPatch) -> None:
    import edgeray
    from edgeray.cluster_utils import Cluster

    with Cluster(initialize_head=True, head_node_args={"num_cpus": 1}) as cluster:
        member = cluster.add_node(num_cpus=1)
        head = cluster.head_node
        assert head is not None

        def connected_to() -> str:
            try:
                return edgeray.get_runtime_context().get_node_id()
            finally:
                edgeray.shutdown()

        # RAY_ADDRESS as Ray users set it: HOST:PORT, no scheme (for address None and "auto")
        monkeypatch.setenv("RAY_ADDRESS", _host_port(member.address))
        edgeray.init()
        assert connected_to() == member.node_id
        edgeray.init(address="auto")
        assert connected_to() == member.node_id
        # edgeray's own variable wins
        monkeypatch.setenv("EDGERAY_ADDRESS", head.address)
        edgeray.init()
        assert connected_to() == head.node_id
        monkeypatch.delenv("EDGERAY_ADDRESS")
        monkeypatch.delenv("RAY_ADDRESS")
        # and HOST:PORT given to init itself
        edgeray.init(address=_host_port(head.address))
        assert connected_to() == head.node_id
        edgeray.init(address=_host_port(member.address))
        assert connected_to() == member.node_id


def test_job_config_and_runtime_env_objects(ray_init: Any) -> None:
    from edgeray.job_config import JobConfig
    from edgeray.runtime_env import RuntimeEnv

    config = JobConfig(runtime_env=RuntimeEnv(env_vars={"JOB_VAR": "job"}), metadata={"team": "edge"},
                       ray_namespace="from-job-config")
    ray = ray_init(num_cpus=1, local_mode=False, job_config=config)

    @ray.remote
    def env(name: str) -> str | None:
        import os

        return os.environ.get(name)

    @ray.remote
    class Where:
        def env(self) -> str | None:
            import os

            return os.environ.get("JOB_VAR")

    assert ray.get_runtime_context().namespace == "from-job-config"
    assert ray.get(env.remote("JOB_VAR")) == "job"
    task_env = RuntimeEnv(env_vars={"TASK_VAR": "task"})
    assert ray.get(env.options(runtime_env=task_env).remote("TASK_VAR")) == "task"
    assert ray.get(env.options(runtime_env=task_env).remote("JOB_VAR")) == "job"  # merged, as in Ray
    w = Where.options(runtime_env=RuntimeEnv(env_vars={"X": "1"})).remote()
    assert ray.get(w.env.remote()) == "job"
    named = Where.options(name="in-job-ns").remote()
    found = ray.get_actor("in-job-ns", namespace="from-job-config")  # the job's namespace
    assert found == named and ray.get(found.env.remote()) == "job"


def test_init_arguments_win_over_the_job_config(ray_init: Any) -> None:
    from edgeray.job_config import JobConfig

    config = JobConfig(runtime_env={"env_vars": {"V": "job"}}, ray_namespace="job-ns")
    ray = ray_init(num_cpus=1, namespace="init-ns", runtime_env={"env_vars": {"V": "init"}}, job_config=config)

    @ray.remote
    def env() -> str | None:
        import os

        return os.environ.get("V")

    assert ray.get_runtime_context().namespace == "init-ns"
    assert ray.get(env.remote()) == "init"
