"""Suite-wide fixtures: a private ``EDGERAY_HOME`` per test, and a leak check after it.

Every test runs with ``EDGERAY_HOME`` set to a fresh, short temporary directory (Unix socket paths
under it must stay below 108 bytes). After the test, nothing it started may remain:

* no live process whose environment carries that ``EDGERAY_HOME`` (nodes and workers inherit it),
* no new ``/dev/shm/edgeray_<pid>_*`` segment made by one of this test's node processes (this
  process, for nodes embedded with ``open_node``, and every pid a node recorded under the home),
* no file-backed segment left under ``EDGERAY_HOME/shm``, no spill directory under
  ``EDGERAY_HOME/spill``.

Other test runs may share this machine, so segments are attributed by the pid in their name,
never by "anything new in /dev/shm". Leftovers are given up to ``LEAK_GRACE_S`` (15 s) to go
away; then the check kills and removes them (so one failure does not cascade) and fails the test.

Sessions:

* ``ray``: ``edgeray.init(num_cpus=2)`` for one test, ``shutdown()`` after it;
* ``ray_init``: call it with ``init`` keyword arguments, for tests that need another shape;
* ``ray_module``: one session per test module (``init(**RAY_INIT_KWARGS)`` from the module,
  default ``num_cpus=2``) with its own module-scoped ``EDGERAY_HOME``; the leak check then runs
  once, at module teardown. Do not mix ``ray_module`` with ``ray``/``ray_init`` in one module.

Tiers: every test that starts a node or a worker process is marked ``slow`` here at collection
(those under ``PROCESS_DIRS``, those that use a session fixture from ``PROCESS_FIXTURES``, and
those that say ``pytest.mark.slow`` themselves: the ``tests/node`` modules that embed a node
(``open_node``), ones that run ``edgeray start``), so
``pytest -m "not slow"`` runs the pure tier alone; a plain ``pytest`` runs both.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from waiting import WaitTimeout, wait_for

SHM_DIR = "/dev/shm"
LEAK_GRACE_S = 15.0  # a limit for a busy machine: a clean test does not wait for it

# --------------------------------------------------------------------------- tiers

TESTS_DIR = Path(__file__).parent
# directories whose every test starts a node or worker processes
PROCESS_DIRS = ("integration", "seeds", "zipapp")
# fixtures that start a node (``edgeray.init``)
PROCESS_FIXTURES = frozenset({"ray", "ray_init", "ray_module"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the process-level tier ``slow`` (see the module docstring)."""
    slow = pytest.mark.slow
    for item in items:
        try:
            top = Path(str(item.path)).relative_to(TESTS_DIR).parts[0]
        except ValueError:
            continue
        if top in PROCESS_DIRS or PROCESS_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(slow)


# --------------------------------------------------------------------------- helpers


def new_home() -> str:
    """A fresh, short EDGERAY_HOME (socket paths under it stay well below 108 bytes)."""
    return tempfile.mkdtemp(prefix="erh", dir="/tmp")


def processes_with_home(home: str) -> list[int]:
    """Pids of live processes (not this one) whose environment has ``EDGERAY_HOME=home``."""
    needle = b"EDGERAY_HOME=" + os.fsencode(home) + b"\0"
    me = os.getpid()
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read()
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # a zombie has already exited; its parent just has not reaped it yet
        state = stat.rsplit(b")", 1)[-1].split()[0:1]
        if state == [b"Z"]:
            continue
        if env.startswith(needle) or b"\0" + needle in env:
            out.append(int(entry))
    return out


def shm_segments() -> set[str]:
    try:
        return {n for n in os.listdir(SHM_DIR) if n.startswith(("edgeray_", "sem.edgeray_"))}
    except OSError:
        return set()


def node_pids(home: str) -> set[int]:
    """This process (embedded ``open_node``) and every node pid recorded under ``home``."""
    pids = {os.getpid()}
    h = Path(home)
    files = list(h.glob("nodes/*/node.json")) + [h / "address.json"]
    for f in files:
        try:
            pid = json.loads(f.read_text()).get("pid")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(pid, int):
            pids.add(pid)
    return pids


def _segment_pid(name: str) -> int | None:
    parts = name.removeprefix("sem.").split("_")
    if len(parts) >= 3 and parts[1].isdigit():
        return int(parts[1])
    return None


def leaked(
    home: str, shm_before: set[str], extra_pids: set[int] = frozenset()
) -> tuple[list[int], list[str], list[str]]:  # type: ignore[assignment]
    procs = processes_with_home(home)
    ours = node_pids(home) | set(procs) | set(extra_pids)
    segs = sorted(n for n in shm_segments() - shm_before if _segment_pid(n) in ours)
    files = []
    for sub in ("shm", "spill"):  # file-backed segments, spill directories
        d = Path(home) / sub
        files += sorted(str(p) for p in d.iterdir()) if d.is_dir() else []
    return procs, segs, files


def check_no_leaks(
    home: str, shm_before: set[str], *, what: str, grace: float = LEAK_GRACE_S
) -> None:
    """Poll up to ``grace`` seconds for a clean state; clean up and fail if it never comes."""
    seen_pids: set[int] = set()

    def clean() -> bool:
        procs, segs, files = leaked(home, shm_before, seen_pids)
        seen_pids.update(procs)
        return not (procs or segs or files)

    try:
        wait_for(clean, grace, f"{what} to leave nothing behind")
        return
    except WaitTimeout:
        pass
    procs, segs, files = leaked(home, shm_before, seen_pids)
    descr = []
    for pid in procs:
        try:
            cmd = (
                Path(f"/proc/{pid}/cmdline")
                .read_bytes()
                .replace(b"\0", b" ")
                .decode(errors="replace")
            )
        except OSError:
            cmd = "?"
        descr.append(f"pid {pid}: {cmd[:160]}")
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    for name in segs:
        try:
            os.unlink(os.path.join(SHM_DIR, name))
        except OSError:
            pass
    for f in files:
        shutil.rmtree(f, ignore_errors=True)
        try:
            os.unlink(f)
        except OSError:
            pass
    pytest.fail(
        f"{what} left behind after {grace:.0f} s: processes {descr}, /dev/shm segments {segs}, "
        f"file segments {files}",
        pytrace=False,
    )


def _shutdown_quietly() -> None:
    import edgeray

    try:
        edgeray.shutdown()
    except Exception:  # noqa: BLE001 - teardown must go on to the leak check
        pass


# --------------------------------------------------------------------------- fixtures

_MODULE_SESSION_FIXTURES = ("module_home", "ray_module")


@pytest.fixture(autouse=True)
def edgeray_home(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh EDGERAY_HOME for this test, and the leak check after it.

    Tests in a module-scoped session (``ray_module``/``module_home``) share the module's home; the
    check runs at module teardown instead."""
    if any(f in request.fixturenames for f in _MODULE_SESSION_FIXTURES):
        yield os.environ["EDGERAY_HOME"]
        return
    home = new_home()
    monkeypatch.setenv("EDGERAY_HOME", home)
    monkeypatch.delenv("EDGERAY_ADDRESS", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    before = shm_segments()
    try:
        yield home
    finally:
        _shutdown_if_initialized()
        try:
            check_no_leaks(home, before, what=f"test {request.node.name}")
        finally:
            shutil.rmtree(home, ignore_errors=True)


def _shutdown_if_initialized() -> None:
    import sys

    mod = sys.modules.get("edgeray")
    if mod is not None and getattr(mod, "is_initialized", lambda: False)():
        _shutdown_quietly()


@pytest.fixture(scope="module")
def module_home(request: pytest.FixtureRequest) -> Iterator[str]:
    """An EDGERAY_HOME shared by a whole test module; the leak check runs at its teardown."""
    home = new_home()
    before = shm_segments()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EDGERAY_HOME", home)
        mp.delenv("EDGERAY_ADDRESS", raising=False)
        mp.delenv("RAY_ADDRESS", raising=False)
        try:
            yield home
        finally:
            _shutdown_if_initialized()
            try:
                check_no_leaks(home, before, what=f"module {request.module.__name__}")
            finally:
                shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def ray() -> Iterator[Any]:
    """``edgeray.init(num_cpus=2)`` for this test; ``shutdown()`` after it."""
    import edgeray

    edgeray.init(num_cpus=2)
    try:
        yield edgeray
    finally:
        _shutdown_quietly()


@pytest.fixture
def ray_init() -> Iterator[Any]:
    """``ray_init(**init_kwargs)`` starts a session with those arguments; shut down after the test."""
    import edgeray

    def start(**kwargs: Any) -> Any:
        edgeray.init(**kwargs)
        return edgeray

    try:
        yield start
    finally:
        _shutdown_quietly()


@pytest.fixture(scope="module")
def ray_module(request: pytest.FixtureRequest, module_home: str) -> Iterator[Any]:
    """One session for a whole module: ``init(**RAY_INIT_KWARGS)`` (default ``num_cpus=2``)."""
    import edgeray

    kwargs = getattr(request.module, "RAY_INIT_KWARGS", {"num_cpus": 2})
    edgeray.init(**kwargs)
    try:
        yield edgeray
    finally:
        _shutdown_quietly()


@pytest.fixture
def leaks() -> Any:
    """The leak-check helpers, for tests that check explicitly (e.g. right after ``shutdown()``)."""
    import types

    return types.SimpleNamespace(
        processes_with_home=processes_with_home,
        shm_segments=shm_segments,
        node_pids=node_pids,
        leaked=leaked,
        check_no_leaks=check_no_leaks,
    )
