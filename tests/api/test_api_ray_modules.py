"""Ray's importable modules and init() argument checks, without a node."""

from __future__ import annotations

import importlib

import pytest

import edgeray

# Ray's python/ray/util/accelerators/accelerators.py
RAY_ACCELERATORS = {
    "NVIDIA_TESLA_V100": "V100", "NVIDIA_TESLA_P100": "P100", "NVIDIA_TESLA_T4": "T4", "NVIDIA_TESLA_P4": "P4",
    "NVIDIA_TESLA_K80": "K80", "NVIDIA_TESLA_A10G": "A10G", "NVIDIA_L4": "L4", "NVIDIA_L40S": "L40S",
    "NVIDIA_A100": "A100", "NVIDIA_H100": "H100", "NVIDIA_H200": "H200", "NVIDIA_H20": "H20", "NVIDIA_B200": "B200",
    "INTEL_MAX_1550": "Intel-GPU-Max-1550", "INTEL_MAX_1100": "Intel-GPU-Max-1100", "INTEL_GAUDI": "Intel-GAUDI",
    "AMD_INSTINCT_MI100": "AMD-Instinct-MI100", "AMD_INSTINCT_MI250x": "AMD-Instinct-MI250X",
    "AMD_INSTINCT_MI250": "AMD-Instinct-MI250X-MI250", "AMD_INSTINCT_MI210": "AMD-Instinct-MI210",
    "AMD_INSTINCT_MI300A": "AMD-Instinct-MI300A", "AMD_INSTINCT_MI300x": "AMD-Instinct-MI300X-OAM",
    "AMD_INSTINCT_MI300x_HF": "AMD-Instinct-MI300X-HF", "AMD_INSTINCT_MI308x": "AMD-Instinct-MI308X",
    "AMD_INSTINCT_MI325x": "AMD-Instinct-MI325X-OAM", "AMD_RADEON_R9_200_HD_7900": "AMD-Radeon-R9-200-HD-7900",
    "AMD_RADEON_HD_7900": "AMD-Radeon-HD-7900", "AWS_NEURON_CORE": "aws-neuron-core", "GOOGLE_TPU_V2": "TPU-V2",
    "GOOGLE_TPU_V3": "TPU-V3", "GOOGLE_TPU_V4": "TPU-V4", "GOOGLE_TPU_V5P": "TPU-V5P",
    "GOOGLE_TPU_V5LITEPOD": "TPU-V5LITEPOD", "GOOGLE_TPU_V6E": "TPU-V6E", "HUAWEI_NPU_910B": "Ascend910B",
    "HUAWEI_NPU_910B4": "Ascend910B4", "NVIDIA_A100_40G": "A100-40G", "NVIDIA_A100_80G": "A100-80G",
}


@pytest.mark.parametrize(
    ("module", "names"),
    [
        ("edgeray.runtime_context", ["get_runtime_context", "RuntimeContext"]),
        ("edgeray.util.actor_pool", ["ActorPool"]),
        ("edgeray.runtime_env", ["RuntimeEnv"]),
        ("edgeray.job_config", ["JobConfig"]),
        ("edgeray.cloudpickle", ["dumps", "loads", "CloudPickler", "register_pickle_by_value"]),
        ("edgeray.util.accelerators", list(RAY_ACCELERATORS)),
    ],
)
def test_rays_modules_import(module: str, names: list[str]) -> None:
    mod = importlib.import_module(module)
    for name in names:
        assert getattr(mod, name) is not None, name
    assert getattr(edgeray, module.split(".")[1]) is importlib.import_module(".".join(module.split(".")[:2]))


def test_module_names_are_the_api_objects() -> None:
    import cloudpickle

    import edgeray.cloudpickle
    import edgeray.runtime_context
    import edgeray.util.actor_pool

    assert edgeray.runtime_context.get_runtime_context is edgeray.get_runtime_context
    assert edgeray.util.actor_pool.ActorPool is edgeray.util.ActorPool
    assert edgeray.cloudpickle.dumps is cloudpickle.dumps and edgeray.cloudpickle.loads is cloudpickle.loads


def test_accelerator_constants_are_rays() -> None:
    import edgeray.util.accelerators as acc
    from edgeray.util.accelerators import accelerators

    assert {n: getattr(acc, n) for n in RAY_ACCELERATORS} == RAY_ACCELERATORS
    assert set(acc.__all__) == set(RAY_ACCELERATORS)
    assert accelerators.NVIDIA_TESLA_V100 == "V100"


def test_runtime_env_is_a_checked_dict() -> None:
    from edgeray.api._options import validate_options
    from edgeray.runtime_env import RuntimeEnv

    env = RuntimeEnv(env_vars={"A": "1"})
    assert isinstance(env, dict) and env == {"env_vars": {"A": "1"}} and env.env_vars() == {"A": "1"}
    assert RuntimeEnv.deserialize(env.serialize()) == env and env.to_dict() == {"env_vars": {"A": "1"}}
    assert RuntimeEnv() == {}
    assert validate_options({"runtime_env": env}, kind="task")["runtime_env"] is env
    with pytest.raises(ValueError, match="pip"):  # refused as a plain dict is
        RuntimeEnv(pip=["numpy"])
    with pytest.raises(TypeError, match="env_vars"):
        RuntimeEnv(env_vars={"A": 1})  # type: ignore[dict-item]


def test_job_config_checks() -> None:
    from edgeray.job_config import JobConfig

    jc = JobConfig(runtime_env={"env_vars": {"A": "1"}}, metadata={"team": "edge"}, ray_namespace="ns")
    assert jc.runtime_env == {"env_vars": {"A": "1"}} and jc.metadata == {"team": "edge"} and jc.ray_namespace == "ns"
    jc.set_metadata("k", "v")
    assert jc.metadata["k"] == "v"
    with pytest.raises(ValueError, match="pip"):
        JobConfig(runtime_env={"pip": ["x"]})
    with pytest.raises(TypeError):
        JobConfig(metadata={"k": 1})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="Default actor lifetime"):
        JobConfig(default_actor_lifetime="forever")
    with pytest.raises(ValueError, match="detached"):  # refused, not ignored
        JobConfig(default_actor_lifetime="detached")
    with pytest.raises(ValueError, match="Python only"):
        JobConfig(jvm_options=["-Xmx1g"])
    with pytest.raises(TypeError, match="job_config"):
        edgeray.init(job_config={"runtime_env": {}})  # type: ignore[arg-type]
    assert not edgeray.is_initialized()


@pytest.mark.parametrize(
    ("kwargs", "error", "names"),
    [
        ({"num_cpus": "four"}, TypeError, "num_cpus"),
        ({"num_gpus": "one"}, TypeError, "num_gpus"),
        ({"num_cpus": -1}, ValueError, "num_cpus"),
        ({"resources": {"slot": "x"}}, ValueError, "resources"),
        ({"resources": ["slot"]}, TypeError, "resources"),
        ({"object_store_memory": "1GB"}, TypeError, "object_store_memory"),
        ({"namespace": 3}, TypeError, "namespace must be None or a string"),  # (the node refused the hello)
        ({"namespace": ""}, ValueError, "not a valid namespace"),
    ],
)
def test_init_names_the_wrong_argument(kwargs: dict, error: type[Exception], names: str) -> None:
    with pytest.raises(error, match=names):
        edgeray.init(**kwargs)
    assert not edgeray.is_initialized()


def test_init_local_mode_true_is_refused_as_ray_does() -> None:
    with pytest.raises(RuntimeError, match="`local_mode` is no longer supported"):
        edgeray.init(local_mode=True)
    assert not edgeray.is_initialized()


@pytest.mark.parametrize(
    ("address", "url"),
    [
        ("127.0.0.1:6380", "ws://127.0.0.1:6380"),
        ("node-1.local:10001", "ws://node-1.local:10001"),
        ("[::1]:6380", "ws://[::1]:6380"),
        ("ws://h:1", "ws://h:1"),
        ("wss://h:1", "wss://h:1"),
    ],
)
def test_host_port_means_ws(address: str, url: str) -> None:
    from edgeray.api._init import node_address

    assert node_address(address) == url


@pytest.mark.parametrize("address", ["ray://h:10001", "h", "h:port", "http://h:1", "/tmp/sock:1"])
def test_unsupported_addresses_are_refused(address: str) -> None:
    from edgeray.api._init import node_address

    with pytest.raises(ValueError, match="Unsupported address"):
        node_address(address)
