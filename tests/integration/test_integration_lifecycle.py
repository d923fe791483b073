"""Sessions and processes: init/shutdown, the CLI, driver output, and node failures.

Each test here has its own ``EDGERAY_HOME`` and its own node (the conftest leak check runs after
each one: no process carrying that home, no shared-memory segment of its nodes).
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from waiting import WaitTimeout, wait_for

pytestmark = pytest.mark.timeout(180)

PY = sys.executable


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PY, "-m", "edgeray", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ),
    )


# --------------------------------------------------------------------------- init / shutdown


def test_init_twice_and_ignore_reinit_error(ray_init) -> None:
    import edgeray

    assert not edgeray.is_initialized()
    with pytest.raises(ConnectionError):
        edgeray.init(address="auto")  # no node runs under this EDGERAY_HOME
    assert not edgeray.is_initialized()
    ray = ray_init(num_cpus=1)
    assert ray.is_initialized()
    with pytest.raises(RuntimeError, match="ignore_reinit_error"):
        ray.init()
    info = ray.init(ignore_reinit_error=True)
    assert isinstance(info, dict)
    assert ray.is_initialized()

    @ray.remote
    def f():
        return "still works"

    assert ray.get(f.remote()) == "still works"
    ray.shutdown()
    assert not ray.is_initialized()
    ray.shutdown()  # a second shutdown is a no-op
    # like Ray, the first API use after shutdown() starts a new session by itself
    assert ray.get(ray.put(1)) == 1
    assert ray.is_initialized()
    ray.shutdown()


def test_init_argument_errors(ray_init) -> None:
    import edgeray

    with pytest.raises(TypeError):
        edgeray.init(not_an_argument=1)
    with pytest.raises(ValueError):
        edgeray.init(address="http://example.invalid:1")
    assert not edgeray.is_initialized()


def test_first_remote_call_initializes(ray_init) -> None:
    import edgeray

    @edgeray.remote
    def f():
        return "auto"

    ref = f.remote()
    assert edgeray.is_initialized()
    assert edgeray.get(ref) == "auto"


def _session_processes(leaks, home: str) -> list[int]:
    try:  # the node and its pre-started workers
        return wait_for(lambda: len(pids := leaks.processes_with_home(home)) >= 3 and pids)
    except WaitTimeout:
        return leaks.processes_with_home(home)  # (the asserts after say what is missing)


def _use_the_session(ray) -> None:
    np = pytest.importorskip("numpy")

    @ray.remote
    def f(x):
        return x * 2

    @ray.remote
    class A:
        def ping(self):
            return "pong"

    a = A.remote()
    assert ray.get([f.remote(1), a.ping.remote()]) == [2, "pong"]
    big = ray.put(np.ones(5_000_000))  # 40 MB in shared memory
    assert ray.get(big).sum() == 5_000_000
    del big


def test_shutdown_leaves_no_process_or_segment(ray_init, leaks, edgeray_home: str) -> None:
    ray = ray_init(num_cpus=2)
    _use_the_session(ray)
    pids = _session_processes(leaks, edgeray_home)
    assert pids, "the session's node and workers should carry this test's EDGERAY_HOME"
    node_pids = leaks.node_pids(edgeray_home) - {os.getpid()}
    assert node_pids and node_pids <= set(pids)
    segments_before = {
        s for s in leaks.shm_segments() if any(f"edgeray_{p}_" in s for p in node_pids)
    }
    assert segments_before, "the node should keep its objects in /dev/shm"

    ray.shutdown()
    # shutdown() has returned: give the kernel a moment to reap, then nothing may remain
    def left() -> tuple[list[int], list[str], list[str]]:
        return leaks.leaked(edgeray_home, set(), set(pids))

    try:
        wait_for(lambda: not any(left()), timeout=10)
    except WaitTimeout:
        pass  # (the asserts below say what was left)
    procs, segs, files = left()
    assert procs == [], f"processes left after shutdown(): {procs}"
    assert segs == [], f"/dev/shm segments left after shutdown(): {segs}"
    assert files == []


def test_shutdown_is_prompt(ray_init) -> None:
    ray = ray_init(num_cpus=1)

    @ray.remote
    def f():
        return 1

    assert ray.get(f.remote()) == 1
    # it returns (a hang fails on the test's timeout) and the session is over; how long it takes
    # is no assertion here (a busy machine would break it): that is for tools/ to measure
    ray.shutdown()
    assert not ray.is_initialized()


def test_two_ready_ref_arguments(ray_init) -> None:
    ray = ray_init(num_cpus=2)

    @ray.remote
    def add(a, b):
        return a + b

    assert ray.get(add.remote(1, 2), timeout=30) == 3  # the pool is warm
    assert ray.get(add.remote(ray.put(1), ray.put(2)), timeout=30) == 3


# --------------------------------------------------------------------------- driver output


DRIVER = textwrap.dedent(
    """
    import sys, time
    import edgeray as ray

    ray.init(num_cpus=1)

    @ray.remote
    def hello_task(x):
        print("hello from task", x)
        print("second line")
        print("to stderr", file=sys.stderr)
        return x

    @ray.remote
    class Printer:
        def say(self, s):
            print("actor says", s)
            return s

    assert ray.get(hello_task.remote(7)) == 7
    p = Printer.remote()
    assert ray.get(p.say.remote("hi")) == "hi"

    @ray.remote(resources={"nope": 1})
    def never():
        return 1

    ref = never.remote()
    ready, not_ready = ray.wait([ref], timeout=1)
    assert ready == [] and not_ready == [ref], (ready, not_ready)
    time.sleep(0.3)  # (lets the workers' lines arrive first: no event to wait for in the driver)
    print("DRIVER-DONE", flush=True)
    """
)


def test_driver_output_and_infeasible_warning(tmp_path: Path) -> None:
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    r = subprocess.run(
        [PY, str(script)], capture_output=True, text=True, timeout=120, env=dict(os.environ)
    )
    assert r.returncode == 0, f"driver failed:\n{r.stdout}\n{r.stderr}"
    out, err = r.stdout.splitlines(), r.stderr.splitlines()
    assert "DRIVER-DONE" in out

    m = [re.fullmatch(r"\(hello_task pid=(\d+)\) hello from task 7", line) for line in out]
    task_pids = {int(x.group(1)) for x in m if x}
    assert len(task_pids) == 1, f"no '(hello_task pid=N) hello from task 7' line in stdout: {out}"
    (pid,) = task_pids
    assert f"(hello_task pid={pid}) second line" in out
    assert f"(hello_task pid={pid}) to stderr" in err, err
    actor = [re.fullmatch(r"\(Printer pid=(\d+)\) actor says hi", line) for line in out]
    assert any(actor), f"no '(Printer pid=N) actor says hi' line in stdout: {out}"
    # worker lines arrive before the driver's own last line
    assert out.index(f"(hello_task pid={pid}) hello from task 7") < out.index("DRIVER-DONE")

    warning = [line for line in err if "nope" in line]
    assert warning, f"no warning about the infeasible task on stderr: {err}"
    assert any("cannot be scheduled" in w or "infeasible" in w.lower() for w in warning), warning


# --------------------------------------------------------------------------- the CLI


def test_cli_start_connect_token_stop(edgeray_home: str, leaks) -> None:
    import edgeray

    home = Path(edgeray_home)
    r = run_cli("start", "--num-cpus", "1")
    assert r.returncode == 0, f"edgeray start failed:\n{r.stdout}\n{r.stderr}"
    try:
        info = json.loads((home / "address.json").read_text())
        assert info["address"].startswith("ws://")
        assert os.path.exists(info["unix"])
        assert info["address"] in r.stdout

        # a second head in the same home is refused, as Ray refuses (it started a second cluster)
        again = run_cli("start", "--num-cpus", "1")
        assert again.returncode == 2 and "already running" in again.stderr and info["address"] in again.stderr
        assert json.loads((home / "address.json").read_text())["pid"] == info["pid"]

        # the token: printed by get-auth-token, stored 0600
        tok = run_cli("get-auth-token")
        assert tok.returncode == 0
        token_file = home / "token"
        assert tok.stdout.strip() == token_file.read_text().strip()
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(os.stat(info["unix"]).st_mode) == 0o600

        @edgeray.remote
        def where():
            import os

            return os.getpid()

        # init() finds the running node; so does init(address="auto")
        for address in (None, "auto"):
            edgeray.init(address=address)
            assert edgeray.get_runtime_context().get_node_id() == info["node_id"]
            assert edgeray.cluster_resources()["CPU"] == 1
            assert edgeray.get(where.remote()) != os.getpid()
            with pytest.raises(RuntimeError):
                edgeray.init(address="auto")
            edgeray.shutdown()

        with pytest.raises(ValueError):
            edgeray.init(address="auto", num_cpus=3)  # resources belong to the running node
        assert not edgeray.is_initialized()

        # a remote-style driver over the WebSocket address
        np = pytest.importorskip("numpy")
        edgeray.init(address=info["address"])
        try:
            assert edgeray.get(where.remote()) != os.getpid()
            arr = np.arange(1_000_000)
            assert np.array_equal(edgeray.get(edgeray.put(arr)), arr)

            @edgeray.remote
            def double(a):
                return a * 2

            assert edgeray.get(double.remote(arr))[-1] == 2 * 999_999
        finally:
            edgeray.shutdown()

        # the node kept running after both drivers left
        st = run_cli("status")
        assert st.returncode == 0, st.stderr
        assert "CPU" in st.stdout

        # a client with the wrong token is refused, over both transports
        from edgeray.client import CoreClient
        from edgeray.exceptions import AuthenticationError

        for target in (info["unix"], info["address"]):
            with pytest.raises(AuthenticationError):
                CoreClient(target, token="wrong-token", role="driver")
    finally:
        stop = run_cli("stop")
    assert stop.returncode == 0, stop.stderr
    leaks.check_no_leaks(edgeray_home, set(), what="edgeray stop")
    assert not edgeray.is_initialized()
    with pytest.raises(ConnectionError):
        edgeray.init(address="auto")


def test_a_start_that_fails_prints_its_cause(edgeray_home: str, leaks) -> None:
    """A port in use: the CLI said only 'see node.log'; it prints the node's own error."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = run_cli("start", "--num-cpus", "1", "--port", str(port))
    assert r.returncode == 1
    assert "could not start" in r.stderr and "address already in use" in r.stderr.lower(), r.stderr
    assert "node.log" in r.stderr


def test_init_gives_up_on_a_node_that_hangs_silently(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A node that never says it is ready (here: a plugin that blocks at import) must not hang
    ``init()``: it gives up at its start deadline (60 s; shortened here) and stops the node."""
    import edgeray
    import edgeray.api._init as init_module

    (tmp_path / "hangs_forever.py").write_text("import time\ntime.sleep(3600)\n")
    cfg = tmp_path / "node.toml"
    cfg.write_text('[plugins]\nload = ["hangs_forever"]\n')
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    monkeypatch.setattr(init_module, "START_TIMEOUT_S", 3.0)
    with pytest.raises(edgeray.exceptions.RaySystemError, match="did not become ready within 3 s"):
        edgeray.init(_config_file=str(cfg))
    assert not edgeray.is_initialized()


def test_node_log_rotates_by_size_and_keeps_every_line(edgeray_home: str, tmp_path: Path) -> None:
    """``[log] max_bytes`` / ``backup_count`` rotate ``node.log`` too (Ray's 512 MiB x 5): 300
    logged cancels (~36 kB) under a 20 kB limit leave ``node.log`` and backups holding each once."""
    conf = tmp_path / "node.toml"
    conf.write_text("[log]\nmax_bytes = 20000\nbackup_count = 3\n")
    assert run_cli("start", "--num-cpus", "1", "--config", str(conf)).returncode == 0
    try:
        driver = textwrap.dedent("""
            import edgeray as ray
            ray.init(address="auto")
            f = ray.remote(lambda x: x)
            refs = [f.remote(i) for i in range(300)]
            ray.get(refs)
            for r in refs:
                ray.cancel(r)
            print(" ".join(r.hex()[:32] for r in refs))  # (a ref is its task id and an index)
        """)
        r = subprocess.run([PY, "-c", driver], capture_output=True, text=True, timeout=120, env=dict(os.environ))
        assert r.returncode == 0, r.stderr[-3000:]
        ids = r.stdout.split()
        home = Path(edgeray_home)

        def logged() -> list[str] | None:
            files = sorted(home.glob("node.log.*"), key=lambda p: -int(p.suffix[1:])) + [home / "node.log"]
            cancels = [line.split()[6] for p in files for line in p.read_text().splitlines() if " cancel of " in line]
            return cancels if len(cancels) >= len(ids) else None

        assert wait_for(logged, what="every cancel in node.log and its backups") == ids
        backups = sorted(p.name for p in home.glob("node.log.*"))
        assert backups and len(backups) <= 3, backups
        assert all((home / b).stat().st_size <= 20000 + 200 for b in backups)
    finally:
        assert run_cli("stop").returncode == 0
