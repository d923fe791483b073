"""The command line as a new user meets it: ``edgeray list``, ``get-auth-token``, pipes.

Each test has its own ``EDGERAY_HOME``; a node started with ``edgeray start`` is stopped with
``edgeray stop`` (the conftest leak check runs after each test)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(180)

PY = sys.executable


def run_cli(*args: str, stdout: int | None = subprocess.PIPE, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "-m", "edgeray", *args], stdout=stdout, stderr=subprocess.PIPE, text=True,
                          timeout=timeout)


@pytest.fixture
def started_node(edgeray_home: str) -> Iterator[str]:
    r = run_cli("start", "--num-cpus", "1")
    assert r.returncode == 0, r.stderr
    try:
        yield edgeray_home
    finally:
        assert run_cli("stop").returncode == 0


def test_get_auth_token_creates_a_token_when_none_exists(edgeray_home: str) -> None:
    token = Path(edgeray_home) / "token"
    assert not token.exists()
    r = run_cli("get-auth-token")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() and r.stdout.strip() == token.read_text().strip()
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert run_cli("get-auth-token").stdout == r.stdout  # the same one next time


def test_list_help_names_every_kind(edgeray_home: str) -> None:
    r = run_cli("list", "--help")
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split())
    assert "what to list: actors, tasks, objects, nodes, jobs, workers, placement-groups" in text
    top = " ".join(run_cli("--help").stdout.split())
    assert "list actors, tasks, objects, nodes, jobs, workers, placement-groups" in top


def test_list_nodes_shows_the_state_once(started_node: str) -> None:
    r = run_cli("list", "nodes")
    assert r.returncode == 0, r.stderr
    header, row = r.stdout.strip().splitlines()[-2:]
    cols = header.split()
    assert cols.count("STATE") == 1 and "ALIVE" not in cols, header
    assert cols[:4] == ["NODE_ID", "NODE_IP", "IS_HEAD_NODE", "STATE"]
    assert row.split()[3] == "ALIVE" and row.count("ALIVE") == 1, row


def test_list_into_a_closed_pipe_ends_without_a_traceback(started_node: str) -> None:
    """``edgeray list nodes | head -0``: the reader is gone before the first line is written."""
    r_fd, w_fd = os.pipe()
    os.close(r_fd)
    try:
        r = run_cli("list", "nodes", stdout=w_fd)
    finally:
        os.close(w_fd)
    assert "Traceback" not in r.stderr and "BrokenPipeError" not in r.stderr, r.stderr
    assert r.returncode == 1
    shell = subprocess.run(f"'{PY}' -m edgeray list nodes | head -n 1", shell=True, capture_output=True, text=True,
                           timeout=90)
    assert shell.stdout.startswith("======== List:") and shell.stderr == "", shell.stderr


@pytest.mark.parametrize(("body", "says"), [
    ("import no_such_module_edgeray_xyz\n", "cannot import plugin module 'cli_plugin_under_test': ModuleNotFoundError"),
    ("X = 1\n", "plugin module 'cli_plugin_under_test' registers nothing"),
])
def test_start_with_a_plugin_that_fails_names_it(edgeray_home: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 body: str, says: str) -> None:
    (tmp_path / "cli_plugin_under_test.py").write_text(body)
    config = tmp_path / "node.toml"
    config.write_text('[plugins]\nload = ["cli_plugin_under_test"]\n')
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    for block in ((), ("--block",)):
        r = run_cli("start", "--config", str(config), *block)
        assert r.returncode != 0
        assert says in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert not (Path(edgeray_home) / "address.json").exists()


def test_a_driver_of_another_edgeray_version_is_refused(started_node: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """As Ray checks its version at connect: the version this driver sends is patched."""
    import edgeray as ray
    from edgeray.protocol import _messages

    with monkeypatch.context() as patch, pytest.raises(ray.exceptions.VersionMismatchError) as info:
        patch.setattr(_messages, "RELEASE", "0.0.1-other")
        ray.init()
    assert isinstance(info.value, RuntimeError)
    assert f"the node runs edgeray {ray.__version__}" in str(info.value) and "edgeray 0.0.1-other" in str(info.value)
    assert not ray.is_initialized()
    ray.init()  # the same version: connects
    try:
        assert ray.cluster_resources()["CPU"] == 1
    finally:
        ray.shutdown()
