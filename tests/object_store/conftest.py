"""Fixtures for the object store tests: every segment a test creates must be gone after it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

#: Arenas made by these tests use this prefix, so parallel test runs never see each other's.
PREFIX = "ertest"
SHM_DIR = "/dev/shm"
REPO_ROOT = Path(__file__).resolve().parents[2]

# Until the package is installed (pip install -e .) or pyproject sets pytest's pythonpath,
# make the checkout importable for these tests.
if str(REPO_ROOT) not in sys.path:
    try:
        import edgeray.object_store  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(REPO_ROOT))


def own_segments() -> set[str]:
    try:
        names = os.listdir(SHM_DIR)
    except OSError:
        return set()
    mine = f"{PREFIX}_{os.getpid()}_"
    return {n for n in names if n.startswith(mine)}


@pytest.fixture(autouse=True)
def no_leaked_segments():
    before = own_segments()
    yield
    leaked = own_segments() - before
    for name in leaked:  # clean up so one failure does not cascade
        os.unlink(os.path.join(SHM_DIR, name))
    assert not leaked, f"test left shared-memory segments behind: {sorted(leaked)}"


@pytest.fixture
def prefix() -> str:
    return PREFIX


def run_child(code: str, *args: str, timeout: float = 30) -> str:
    """Run ``code`` in a fresh interpreter that can import edgeray; returns its stdout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(REPO_ROOT),
        timeout=timeout,
    )
    assert proc.returncode == 0, f"child failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture
def child():
    return run_child
