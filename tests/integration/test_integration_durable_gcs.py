"""A node whose GCS is in SQLite, killed with kill -9 and started again (issue 6, one node)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from waiting import wait_for, wait_for_exit

from edgeray._files import pid_alive

pytestmark = pytest.mark.timeout(240)

PY = sys.executable

FIRST = """
import edgeray as ray
from edgeray.util.placement_group import placement_group
ray.init(address="auto", namespace="edge")

@ray.remote
class Register:
    def __init__(self, start):
        self.value = start
    def add(self, x):
        self.value += x
        return self.value

keeper = Register.options(name="keeper", lifetime="detached").remote(100)
print(ray.get(keeper.add.remote(1)))
pg = placement_group([{"CPU": 1}], name="reserved", lifetime="detached")
ray.get(pg.ready(), timeout=30)
from edgeray.client._context import current_client
current_client().call("kv_put", {"key": "config", "value": b"v1"})
ray.shutdown()
"""

SECOND = """
import edgeray as ray
from edgeray.util import get_placement_group, placement_group_table
ray.init(address="auto", namespace="edge")
keeper = ray.get_actor("keeper")
print(ray.get(keeper.add.remote(5), timeout=60))
pg = get_placement_group("reserved")
ray.get(pg.ready(), timeout=30)
print(placement_group_table(pg)["state"])
from edgeray.client._context import current_client
print(current_client().call("kv_get", {"key": "config"}))
ray.kill(keeper)
ray.shutdown()
"""


def _driver(tmp_path: Path, name: str, code: str) -> list[str]:
    script = tmp_path / f"{name}.py"
    script.write_text(textwrap.dedent(code))
    r = subprocess.run([PY, str(script)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"{name}:\n{r.stdout}\n{r.stderr}"
    return r.stdout.split()


def _start(cfg: Path, home: Path) -> int:
    r = subprocess.run([PY, "-m", "edgeray", "start", "--config", str(cfg)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return int(json.loads((home / "address.json").read_text())["pid"])


def test_head_killed_and_restarted_from_sqlite(edgeray_home: str, tmp_path: Path) -> None:
    home = Path(edgeray_home)
    cfg = tmp_path / "durable.toml"
    cfg.write_text(f'[resources]\nnum_cpus = 2\n\n[gcs]\nstorage = "sqlite"\nsqlite_path = "{tmp_path / "gcs.sqlite3"}"\n')
    pid = _start(cfg, home)
    try:
        assert _driver(tmp_path, "first", FIRST) == ["101"]
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not ((home / "address.json").exists() and pid_alive(pid)), what="the head gone")
        _start(cfg, home)
        out = _driver(tmp_path, "second", SECOND)
        # the actor came back (its constructor ran again: state restarts from 100)
        assert out == ["105", "CREATED", "b'v1'"], out
    finally:
        subprocess.run([PY, "-m", "edgeray", "stop"], capture_output=True, timeout=60)


def test_memory_storage_forgets_on_restart(edgeray_home: str, tmp_path: Path) -> None:
    home = Path(edgeray_home)
    cfg = tmp_path / "plain.toml"
    cfg.write_text("[resources]\nnum_cpus = 2\n")
    pid = _start(cfg, home)
    try:
        _driver(tmp_path, "first", FIRST)
        os.kill(pid, signal.SIGKILL)
        wait_for_exit(pid)
        _start(cfg, home)
        code = 'import edgeray as ray\nray.init(address="auto", namespace="edge")\n' \
               'try:\n    ray.get_actor("keeper")\nexcept ValueError:\n    print("gone")\nray.shutdown()\n'
        assert _driver(tmp_path, "second", code) == ["gone"]
    finally:
        subprocess.run([PY, "-m", "edgeray", "stop"], capture_output=True, timeout=60)
