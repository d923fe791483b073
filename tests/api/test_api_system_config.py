"""``init(_system_config={...})``: Ray's internal keys with a meaning in edgeray become node
config; every other key is refused by name; only a driver that starts its node may pass it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from edgeray.api._system_config import SYSTEM_CONFIG, system_config_overrides


def test_supported_keys_map_to_the_node_config(tmp_path: Any) -> None:
    spill = json.dumps({"type": "filesystem", "params": {"directory_path": str(tmp_path)}})
    assert system_config_overrides({
        "memory_usage_threshold": 0.5, "memory_monitor_refresh_ms": 0,
        "automatic_object_spilling_enabled": False, "object_spilling_config": spill,
        "max_direct_call_object_size": 1000, "num_workers_soft_limit": -1,
    }) == {
        "node.memory_usage_threshold": 0.5, "node.memory_monitor_refresh_ms": 0,
        "object_store.spilling": False, "object_store.spill_dir": str(tmp_path),
        "object_store.inline_threshold": 1000, "node.max_workers": 0,
    }
    assert system_config_overrides(None) == {} == system_config_overrides({})
    assert {"memory_usage_threshold", "memory_monitor_refresh_ms"} <= set(SYSTEM_CONFIG)


@pytest.mark.parametrize("cfg, match", [
    ({"task_retry_delay_ms": 10}, r"\['task_retry_delay_ms'\] have no meaning in edgeray"),
    ({"memory_usage_threshold": 0.5, "bogus": 1, "also": 2}, r"\['also', 'bogus'\]"),
    ({"memory_usage_threshold": 1.5}, r"memory_usage_threshold.*> 0 and <= 1"),
    ({"memory_usage_threshold": "high"}, r"must be a number"),
    ({"memory_monitor_refresh_ms": -5}, r"memory_monitor_refresh_ms"),
    ({"automatic_object_spilling_enabled": 1}, r"must be a bool"),
    ({"object_spilling_config": '{"type": "smart_open", "params": {"uri": "s3://b"}}'}, r"only to the filesystem"),
    ({"object_spilling_config": "{nope"}, r"must be JSON"),
    ({"num_workers_soft_limit": 0}, r"-1 \(automatic\) or >= 1"),
])
def test_bad_keys_and_values_are_refused_by_name(cfg: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        system_config_overrides(cfg)


def test_not_a_dict() -> None:
    with pytest.raises(TypeError, match="_system_config must be a dict"):
        system_config_overrides([("memory_usage_threshold", 0.5)])


def test_init_refuses_an_unknown_key_before_starting_anything(ray_init: Any) -> None:
    import edgeray

    with pytest.raises(ValueError, match="'raylet_heartbeat_period_milliseconds'"):
        ray_init(num_cpus=1, _system_config={"raylet_heartbeat_period_milliseconds": 100})
    assert not edgeray.is_initialized()


def test_the_node_started_by_init_takes_the_settings(ray_init: Any, tmp_path: Any) -> None:
    spill = json.dumps({"type": "filesystem", "params": {"directory_path": str(tmp_path / "spill")}})
    ray_init(num_cpus=1, _system_config={"memory_usage_threshold": 0.9, "object_spilling_config": spill,
                                          "max_direct_call_object_size": 1234})
    from edgeray.client import current_client

    client = current_client()
    status = client.call("status")
    assert status["memory_monitor"] == {"threshold": 0.9, "refresh_ms": 250}
    assert status["store"]["spill_dir"].startswith(str(tmp_path / "spill") + "/")  # (its session directory)
    assert client.inline_threshold == 1234  # (the node tells its clients)


def test_connecting_to_a_running_node_with_system_config_is_an_error(ray_init: Any) -> None:
    import subprocess
    import sys

    import edgeray

    subprocess.run([sys.executable, "-m", "edgeray", "start", "--head", "--num-cpus", "1"], check=True,
                   capture_output=True)
    try:
        with pytest.raises(ValueError, match="When connecting to an existing cluster, _system_config must not be provided"):
            ray_init(_system_config={"memory_usage_threshold": 0.5})
        with pytest.raises(ValueError, match="_system_config must not be provided"):
            ray_init(address="ws://127.0.0.1:1", _system_config={"memory_usage_threshold": 0.5})
        assert not edgeray.is_initialized()
    finally:
        subprocess.run([sys.executable, "-m", "edgeray", "stop"], check=True, capture_output=True)


def test_cluster_utils_nodes_take_system_config() -> None:
    import edgeray
    from edgeray.client import current_client
    from edgeray.cluster_utils import Cluster

    with pytest.raises(ValueError, match="'bogus'"):
        Cluster(initialize_head=True, head_node_args={"_system_config": {"bogus": 1}})
    with Cluster(initialize_head=True, connect=True,
                 head_node_args={"num_cpus": 1, "_system_config": {"memory_monitor_refresh_ms": 100}}):
        try:
            assert current_client().call("status")["memory_monitor"] == {"threshold": 0.95, "refresh_ms": 100}
        finally:
            edgeray.shutdown()
