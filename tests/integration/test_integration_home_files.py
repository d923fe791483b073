"""The files under EDGERAY_HOME (issue 15): the user's only, and a token file that holds a token.

Real nodes started with ``edgeray start``; modes are read with ``stat`` from everything the node,
its workers, the durable GCS and the object store left under the home.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(240)

PY = sys.executable
MiB = 1 << 20


def run_cli(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "-m", "edgeray", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The common umask, under which files created without a mode end up 0644 and dirs 0755."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def modes_under(home: Path) -> dict[str, int]:
    """Permission bits of the home (as ".") and of everything under it, by relative path."""
    out = {".": stat.S_IMODE(home.stat().st_mode)}
    for dirpath, dirnames, filenames in os.walk(home):
        for name in [*dirnames, *filenames]:
            p = Path(dirpath) / name
            out[str(p.relative_to(home))] = stat.S_IMODE(p.lstat().st_mode)
    return out


def test_everything_a_node_creates_under_the_home_is_private(edgeray_home: str, tmp_path: Path, umask_022: None) -> None:
    import numpy as np

    import edgeray as ray

    home = Path(edgeray_home)
    os.rmdir(home)  # the node creates the home itself
    cfg = tmp_path / "node.toml"
    cfg.write_text(f'[gcs]\nstorage = "sqlite"\n[object_store]\nforce_file = true\nmemory = {64 * MiB}\n')
    r = run_cli("start", "--num-cpus", "1", "--config", str(cfg))
    assert r.returncode == 0, r.stderr
    try:
        ray.init(address="auto")
        try:
            refs = [ray.put(np.full(24 * MiB, i, dtype=np.uint8)) for i in range(4)]  # spills

            @ray.remote
            def f(x: int) -> int:
                print("hello from a worker")
                return x + 1

            assert ray.get(f.remote(1)) == 2
            del refs
            modes = modes_under(home)
        finally:
            ray.shutdown()
    finally:
        assert run_cli("stop").returncode == 0
    names = set(modes)
    for expected in ("token", "node.log", "address.json", "gcs.sqlite3", "gcs.sqlite3-wal", "gcs.sqlite3-shm",
                     "nodes", "shm", "spill"):
        assert expected in names, f"{expected} not under the home: {sorted(names)}"
    for suffix in ("/node.json", "/logs", "/node.sock"):
        assert any(n.startswith("nodes/") and n.endswith(suffix) for n in names), (suffix, sorted(names))
    assert any("/logs/worker-" in n for n in names), sorted(names)
    assert any(n.startswith("shm/edgeray_") for n in names) and any(n.startswith("spill/edgeray_") for n in names)
    loose = {n: oct(m) for n, m in modes.items() if m & 0o077}
    assert not loose, f"readable by others: {loose}"
    dirs = {n: oct(m) for n, m in modes.items() if (home / n).is_dir() and m != 0o700}
    assert not dirs, f"directories not 0700: {dirs}"


# --------------------------------------------------------------------------- an empty token file


@pytest.mark.parametrize("content", ["", "  \n\t\n"])
def test_an_empty_token_file_is_refused_at_start(edgeray_home: str, content: str) -> None:
    token = Path(edgeray_home) / "token"
    token.write_text(content)
    r = run_cli("start", "--num-cpus", "1")
    assert r.returncode != 0
    assert str(token) in r.stderr and "empty" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    assert not (Path(edgeray_home) / "address.json").exists()
    assert token.read_text() == content  # not overwritten

    r = run_cli("start", "--num-cpus", "1", "--block")  # the foreground node says so too
    assert r.returncode != 0 and str(token) in r.stderr and "empty" in r.stderr, r.stderr

    r = run_cli("get-auth-token")
    assert r.returncode != 0 and str(token) in r.stderr and "empty" in r.stderr, r.stderr


def test_an_embedded_node_refuses_an_empty_token_file(edgeray_home: str) -> None:
    import edgeray as ray

    token = Path(edgeray_home) / "token"
    token.write_text("\n")
    with pytest.raises(ValueError, match="empty") as info:  # a TokenFileError
        ray.init(num_cpus=1)
    assert str(token) in str(info.value)
    assert not ray.is_initialized()


def test_a_cli_reading_an_emptied_token_file_says_so(edgeray_home: str) -> None:
    r = run_cli("start", "--num-cpus", "1")
    assert r.returncode == 0, r.stderr
    token = Path(edgeray_home) / "token"
    good = token.read_text()
    try:
        token.write_text("")
        r = run_cli("status")
        assert r.returncode != 0 and str(token) in r.stderr and "empty" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr, r.stderr
        token.write_text(good)
        r = run_cli("status")  # the node was never affected
        assert r.returncode == 0, r.stderr
    finally:
        token.write_text(good)
        run_cli("stop")
