"""Resource detection: the built-in detectors, GPUs, cgroups, and how results are merged."""

from __future__ import annotations

import os
import pathlib
import stat
import sys
import types

import pytest
from edgeray_builtins import resources as builtin

from edgeray.config import load_config
from edgeray.plugins import (
    detect_gpu_ids,
    detect_node_resources,
    detect_resources,
    hookimpl,
    make_plugin_manager,
    node_labels,
)


@pytest.fixture
def no_gpu_env(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> pathlib.Path:
    """No CUDA_VISIBLE_DEVICES and a PATH without nvidia-smi (a bin dir the test may fill)."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    monkeypatch.setenv("PATH", str(bindir))
    return bindir


@pytest.fixture
def pm():
    return make_plugin_manager(entry_points=False)


def test_defaults_detect_cpu_memory(pm, no_gpu_env) -> None:
    res = detect_resources(pm, load_config())
    assert res["CPU"] == builtin.detect_cpus() >= 1
    assert res["memory"] > 0 and res["object_store_memory"] > 0
    assert res["node:127.0.0.1"] == 1.0 and res["node:__internal_head__"] == 1.0
    assert "GPU" not in res  # zero amounts are dropped, as in Ray
    assert detect_gpu_ids(pm, load_config()) == []


def test_config_declared_values_win(pm, no_gpu_env) -> None:
    config = load_config(
        overrides={
            "resources.num_cpus": 3,
            "resources.memory": 1000,
            "object_store.memory": 500,
            "resources.custom": {"accel": 2, "zero": 0},
            "node.head_address": "ws://h:1",
        }
    )
    res = detect_resources(pm, config)
    assert res["CPU"] == 3 and res["memory"] == 1000 and res["object_store_memory"] == 500
    assert res["accel"] == 2 and "zero" not in res
    assert "node:__internal_head__" not in res


def test_cuda_visible_devices(pm, no_gpu_env, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,2")
    assert detect_resources(pm, config)["GPU"] == 2
    assert detect_gpu_ids(pm, config) == ["0", "2"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert "GPU" not in detect_resources(pm, config)
    assert detect_gpu_ids(pm, config) == []
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert "GPU" not in detect_resources(pm, config)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3, 1,-1,0")
    assert detect_gpu_ids(pm, config) == ["3", "1"]


def test_declared_gpus(pm, no_gpu_env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")
    config = load_config(overrides={"resources.gpu_ids": ["5", "7"]})
    res = detect_resources(pm, config)
    assert res["GPU"] == 2 and detect_gpu_ids(pm, config, res["GPU"]) == ["5", "7"]
    # num_gpus cuts the ids
    config = load_config(overrides={"resources.num_gpus": 2})
    res = detect_resources(pm, config)
    assert res["GPU"] == 2 and detect_gpu_ids(pm, config, res["GPU"]) == ["0", "1"]
    # declared without ids and nothing visible: numbered from 0 (Ray)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    config = load_config(overrides={"resources.num_gpus": 3})
    res = detect_resources(pm, config)
    assert res["GPU"] == 3 and detect_gpu_ids(pm, config, res["GPU"]) == ["0", "1", "2"]
    config = load_config(overrides={"resources.num_gpus": 0.5})
    assert detect_gpu_ids(pm, config, detect_resources(pm, config)["GPU"]) == ["0"]
    config = load_config(overrides={"resources.num_gpus": 0})
    assert "GPU" not in detect_resources(pm, config)


def _fake_nvidia_smi(bindir: pathlib.Path, body: str) -> None:
    exe = bindir / "nvidia-smi"
    exe.write_text(f"#!{sys.executable}\n{body}\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)


def test_nvidia_smi(pm, no_gpu_env) -> None:
    _fake_nvidia_smi(no_gpu_env, "print('0'); print('1'); print('')")
    config = load_config()
    assert detect_gpu_ids(pm, config) == ["0", "1"]
    assert detect_resources(pm, config)["GPU"] == 2
    _fake_nvidia_smi(no_gpu_env, "import sys; sys.exit(9)")
    assert detect_gpu_ids(pm, config) == []
    _fake_nvidia_smi(no_gpu_env, "import time; time.sleep(30)")
    assert builtin.nvidia_smi_gpu_ids(timeout=0.2) == []


def test_detect_node_resources_probes_once(pm, no_gpu_env, tmp_path) -> None:
    calls = tmp_path / "calls"
    _fake_nvidia_smi(no_gpu_env, f"open({str(calls)!r}, 'a').write('x'); print('0'); print('1')")
    res, ids = detect_node_resources(pm, load_config())
    assert res["GPU"] == 2 and ids == ["0", "1"]
    assert calls.read_text() == "x"
    res, ids = detect_node_resources(pm, load_config(overrides={"resources.num_gpus": 1}))
    assert res["GPU"] == 1 and ids == ["0"]


def test_detect_gpu_ids_defaults_to_declared_count(pm, no_gpu_env, monkeypatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5,6")
    assert detect_gpu_ids(pm, load_config(overrides={"resources.num_gpus": 2})) == ["4", "5"]
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert detect_gpu_ids(pm, load_config(overrides={"resources.num_gpus": 2})) == ["0", "1"]


def test_nvidia_smi_absent(no_gpu_env) -> None:
    assert builtin.nvidia_smi_gpu_ids() == []


def test_parse_cuda_visible_devices() -> None:
    assert builtin.parse_cuda_visible_devices("") == []
    assert builtin.parse_cuda_visible_devices("NoDevFiles") == []
    assert builtin.parse_cuda_visible_devices("GPU-abc,GPU-def") == ["GPU-abc", "GPU-def"]


def _tree(root: pathlib.Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def test_cgroup_v2_cpu_and_memory(tmp_path: pathlib.Path) -> None:
    root = tmp_path / "cg"
    proc = tmp_path / "proc_cgroup"
    proc.write_text("0::/a/b\n")
    _tree(
        root,
        {
            "a/b/cpu.max": "max 100000",
            "a/cpu.max": "150000 100000",
            "a/b/memory.max": "1000000",
            "a/b/memory.current": "400000",
            "a/memory.max": "max",
        },
    )
    assert builtin.cgroup_cpu_limit(root, proc) == 1.5
    assert builtin.detect_cpus(root, proc) == 1  # rounded down, at least 1
    assert builtin.cgroup_memory_available(root, proc) == 600000
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal: 100000 kB\nMemAvailable: 50000 kB\n")
    assert builtin.available_memory(root, proc, meminfo) == 600000
    meminfo.write_text("MemAvailable: 100 kB\n")
    assert builtin.available_memory(root, proc, meminfo) == 102400


def test_cgroup_v1_and_none(tmp_path: pathlib.Path) -> None:
    root = tmp_path / "cg"
    proc = tmp_path / "proc_cgroup"
    proc.write_text("4:cpu,cpuacct:/\n5:memory:/\n")
    _tree(
        root,
        {
            "cpu,cpuacct/cpu.cfs_quota_us": "200000",
            "cpu,cpuacct/cpu.cfs_period_us": "100000",
            "memory/memory.limit_in_bytes": str(2**63 - 4096),  # unlimited
            "memory/memory.usage_in_bytes": "5",
        },
    )
    assert builtin.cgroup_cpu_limit(root, proc) == 2.0
    assert builtin.cgroup_memory_available(root, proc) is None
    empty = tmp_path / "empty"
    empty.mkdir()
    assert builtin.cgroup_cpu_limit(empty, tmp_path / "missing") is None
    assert builtin.detect_cpus(empty, tmp_path / "missing") == len(os.sched_getaffinity(0))


def test_plugin_detection_is_merged(no_gpu_env) -> None:
    third_party = types.ModuleType("third_party_detector")

    @hookimpl
    def edgeray_detect_resources(config):
        return {"CPU": 99, "GPU": 1, "fpga": 2}

    @hookimpl
    def edgeray_node_labels(config):
        return {"zone": "plugin", "rack": "r1"}

    third_party.edgeray_detect_resources = edgeray_detect_resources  # type: ignore[attr-defined]
    third_party.edgeray_node_labels = edgeray_node_labels  # type: ignore[attr-defined]
    pm = make_plugin_manager(entry_points=False)
    pm.register(third_party)
    res = detect_resources(pm, load_config())
    assert res["CPU"] == 99 and res["GPU"] == 1 and res["fpga"] == 2  # registered later: called first
    assert res["memory"] > 0  # the built-in still contributes what the plugin did not
    config = load_config(overrides={"resources.num_cpus": 2, "resources.labels": {"zone": "cfg"}})
    assert detect_resources(pm, config)["CPU"] == 2  # declared in the config: wins
    assert node_labels(pm, config) == {"zone": "cfg", "rack": "r1"}


def test_bad_plugin_amounts_are_reported(no_gpu_env) -> None:
    bad = types.ModuleType("bad_detector")

    @hookimpl
    def edgeray_detect_resources(config):
        return {"CPU": -1}

    bad.edgeray_detect_resources = edgeray_detect_resources  # type: ignore[attr-defined]
    pm = make_plugin_manager(entry_points=False)
    pm.register(bad, name="bad_detector")
    with pytest.raises(ValueError, match=r"plugin bad_detector reported resource 'CPU' = -1"):
        detect_resources(pm, load_config())


def test_labels_from_config(pm) -> None:
    config = load_config(overrides={"resources.labels": {"zone": "lab"}})
    assert node_labels(pm, config) == {"zone": "lab"}
