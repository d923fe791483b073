"""The third-party plugin in plugins/edgeray_label_selector, installed with pip as a user would,
found through its entry point by a real node, and chosen by name in ``scheduling_strategy=``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(300)

PY = sys.executable
PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "edgeray_label_selector"


@pytest.fixture
def installed(tmp_path: Path) -> Path:
    target = tmp_path / "site"
    r = subprocess.run(
        [PY, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--disable-pip-version-check",
         "--target", str(target), str(PLUGIN)],
        capture_output=True, text=True, timeout=240,
    )
    assert r.returncode == 0, r.stderr
    assert list(target.glob("edgeray_label_selector-*.dist-info/entry_points.txt"))
    return target


@pytest.mark.slow  # (runs `edgeray start`: the process-level tier)
def test_label_selector_plugin_chosen_by_name(installed: Path, tmp_path: Path, edgeray_home: str, monkeypatch) -> None:
    import edgeray as ray
    from edgeray.util.scheduling_strategies import PluginSchedulingStrategy

    cfg = tmp_path / "node.toml"
    cfg.write_text('[resources]\nnum_cpus = 2\n\n[resources.labels]\nzone = "edge-1"\n')
    env = dict(os.environ, PYTHONPATH=f"{installed}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    r = subprocess.run([PY, "-m", "edgeray", "start", "--config", str(cfg)], capture_output=True, text=True,
                       timeout=60, env=env)
    assert r.returncode == 0, r.stderr
    try:
        ray.init(address="auto")

        @ray.remote
        def where():
            return "ran"

        here = PluginSchedulingStrategy("LABEL_SELECTOR", labels={"zone": "edge-1"})
        assert ray.get(where.options(scheduling_strategy=here).remote(), timeout=30) == "ran"

        @ray.remote(scheduling_strategy=here)
        class Sensor:
            def read(self):
                return 42

        assert ray.get(Sensor.remote().read.remote(), timeout=30) == 42

        elsewhere = PluginSchedulingStrategy("LABEL_SELECTOR", labels={"zone": "datacenter"})
        pending = where.options(scheduling_strategy=elsewhere).remote()
        ready, _ = ray.wait([pending], timeout=1.0)
        assert not ready, "a task ran on a node without the labels it selects"

        with pytest.raises(ray.exceptions.TaskUnschedulableError, match="needs params"):
            ray.get(where.options(scheduling_strategy="LABEL_SELECTOR").remote(), timeout=30)
        with pytest.raises(ray.exceptions.TaskUnschedulableError, match="unknown scheduling strategy 'NOPE'"):
            ray.get(where.options(scheduling_strategy="NOPE").remote(), timeout=30)
        ray.shutdown()
    finally:
        subprocess.run([PY, "-m", "edgeray", "stop"], capture_output=True, timeout=60)


def test_without_the_plugin_the_name_is_unknown(ray_init) -> None:
    ray = ray_init(num_cpus=1)

    @ray.remote
    def f():
        return 1

    with pytest.raises(ray.exceptions.TaskUnschedulableError, match="LABEL_SELECTOR"):
        ray.get(f.options(scheduling_strategy="LABEL_SELECTOR").remote(), timeout=30)
    assert ray.get(f.options(scheduling_strategy="SPREAD").remote(), timeout=30) == 1
