"""What workers print, and what a driver prints as it exits (issue 16: Ray programs run unchanged).

Each test runs a driver script as its own process, as a user would, and reads what it printed:
worker lines reach the driver with Ray's ``(name pid=N)`` prefix and stay, whole, in the
worker's log file; a driver that exits with work in flight prints nothing about it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from waiting import wait_for

pytestmark = pytest.mark.timeout(180)

PY = sys.executable


def run_driver(tmp_path: Path, source: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "driver.py"
    script.write_text(textwrap.dedent(source))
    return subprocess.run([PY, str(script)], capture_output=True, text=True, timeout=timeout, env=dict(os.environ))


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "-m", "edgeray", *args], capture_output=True, text=True, timeout=60, env=dict(os.environ))


def worker_logs(home: str) -> list[Path]:
    return sorted(Path(home).glob("nodes/*/logs/worker-*.out"))


LINES = 10_000

CHATTY = f"""
    import os, sys
    import edgeray as ray

    ray.init(num_cpus=1)

    @ray.remote
    def chatty(n):
        for i in range(n):
            print("line", i, "of chatty")
        return os.getpid()

    pid = ray.get(chatty.remote({LINES}))
    sys.stdout.write(f"PID {{pid}}\\n")  # one write: worker lines are printed by another thread
"""


def test_print_in_a_task_reaches_the_driver_and_the_log_file_whole(tmp_path: Path, edgeray_home: str) -> None:
    r = run_driver(tmp_path, CHATTY)
    assert r.returncode == 0, f"driver failed:\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}"
    out = r.stdout.splitlines()
    pid = int(next(line for line in out if line.startswith("PID ")).split()[1])
    want = [f"line {i} of chatty" for i in range(LINES)]
    got = [line.removeprefix(f"(chatty pid={pid}) ") for line in out if line.startswith(f"(chatty pid={pid}) ")]
    assert got == want, f"the driver saw {len(got)} of {LINES} lines, first missing: {sorted(set(want) - set(got))[:3]}"

    def log_lines() -> list[str] | None:
        for f in worker_logs(edgeray_home):
            lines = f.read_text(errors="replace").splitlines()
            if "line 0 of chatty" in lines:
                return lines
        return None

    lines = wait_for(log_lines, what="a worker log file with the task's first line")
    kept = [line for line in lines if line.endswith(" of chatty")]
    assert kept == want, f"the log file kept {len(kept)} of {LINES} lines whole"


def test_worker_logs_rotate_by_size_and_keep_every_line(tmp_path: Path, edgeray_home: str) -> None:
    """``[log] max_bytes`` / ``backup_count``: 10,000 printed lines (~190 kB) under a 60 kB limit
    leave ``worker-<id>.out`` and at most 3 backups that hold every line once, in order; stderr
    goes to ``worker-<id>.err`` (Ray's names)."""
    conf = tmp_path / "node.toml"
    conf.write_text("[log]\nmax_bytes = 60000\nbackup_count = 3\n")
    r = run_driver(tmp_path, CHATTY.replace("ray.init(num_cpus=1)", f"ray.init(num_cpus=1, _config_file={str(conf)!r})")
                   .replace("return os.getpid()", "print('to stderr', file=sys.stderr)\n        return os.getpid()"))
    assert r.returncode == 0, f"driver failed:\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}"
    want = [f"line {i} of chatty" for i in range(LINES)]

    def rotated() -> list[Path] | None:
        for f in worker_logs(edgeray_home):
            backups = sorted(f.parent.glob(f.name + ".*"), key=lambda p: -int(p.suffix[1:]))
            files = [*backups, f]
            text = "".join(p.read_text(errors="replace") for p in files)
            if "line 0 of chatty" in text and "line 9999 of chatty" in text:
                return files
        return None

    files = wait_for(rotated, what="a worker's rotated .out files with the task's first and last lines")
    assert 2 <= len(files) <= 4, [p.name for p in files]
    # (a file is rotated between lines: one line may take it just past the limit)
    assert all(p.stat().st_size <= 60000 + 100 for p in files), [(p.name, p.stat().st_size) for p in files]
    kept = [line for p in files for line in p.read_text().splitlines() if line.endswith(" of chatty")]
    assert kept == want, f"the rotated files kept {len(kept)} of {LINES} lines, in order"
    err = files[-1].with_suffix(".err")
    assert "to stderr" in wait_for(lambda: err.read_text() if "to stderr" in err.read_text() else None,
                                    what="the task's stderr line in worker-<id>.err")


# --------------------------------------------------------------------------- dedup (Ray's)

DEDUP = """
    import sys
    import edgeray as ray

    ray.init(num_cpus=3)

    @ray.remote(num_cpus=1)
    class Echo:
        def say(self, i):
            print(f"worker {i} is ready")  # (a number: the same key for each)
            print("the same for all")
            print("only from", i, "x" * i)
            return i

    actors = [Echo.remote() for _ in range(3)]
    assert ray.get([a.say.remote(i + 1) for i, a in enumerate(actors)]) == [1, 2, 3]
    ray.shutdown()
    sys.stdout.write("DONE\\n")
"""


def _driver_lines(tmp_path: Path, env: dict[str, str]) -> list[str]:
    script = tmp_path / "driver.py"
    script.write_text(textwrap.dedent(DEDUP))
    r = subprocess.run([PY, str(script)], capture_output=True, text=True, timeout=120, env={**os.environ, **env})
    assert r.returncode == 0 and "DONE" in r.stdout, f"driver failed:\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}"
    return [line.split(") ", 1)[1] for line in r.stdout.splitlines() if line.startswith("(Echo pid=")]


def test_identical_lines_from_many_workers_are_printed_once_with_a_count(tmp_path: Path, edgeray_home: str) -> None:
    """Ray's ``RAY_DEDUP_LOGS=1`` (the default): the first of a line from three workers is printed,
    the two others are counted and printed once as ``[repeated 2x across cluster]`` (here at
    shutdown: the window is long); lines that differ in more than numbers stay apart."""
    lines = _driver_lines(tmp_path, {"RAY_DEDUP_LOGS_AGG_WINDOW_S": "600"})
    same = [line for line in lines if line.startswith("the same for all")]
    assert same[0] == "the same for all", lines
    assert len(same) == 2 and same[1].startswith("the same for all [repeated 2x across cluster]"), lines
    ready = [line for line in lines if line.startswith("worker ")]
    assert len(ready) == 2 and ready[1].startswith("worker ") and "[repeated 2x across cluster]" in ready[1], lines
    only = sorted(line for line in lines if line.startswith("only from"))
    assert len(only) == 3, lines  # ("x" * i: different words, different keys)


def test_dedup_is_off_with_ray_dedup_logs_0(tmp_path: Path, edgeray_home: str) -> None:
    for env in ({"RAY_DEDUP_LOGS": "0"}, {"EDGERAY_DEDUP_LOGS": "0"}):
        lines = _driver_lines(tmp_path, env)
        assert lines.count("the same for all") == 3, lines
        assert not any("repeated" in line for line in lines), lines


WINDOW = """
    import io, sys, time
    import edgeray as ray

    ray.init(num_cpus=2)
    printed = io.StringIO()

    class Tee(io.TextIOBase):  # what the driver prints, also kept to be read here
        def write(self, s):
            printed.write(s)
            return sys.__stdout__.write(s)

        def flush(self):
            sys.__stdout__.flush()

    sys.stdout = Tee()

    @ray.remote(num_cpus=1)
    class Echo:
        def say(self):
            print("the same for all")

    actors = [Echo.remote() for _ in range(2)]
    ray.get([a.say.remote() for a in actors])
    ray.get([a.say.remote() for a in actors])
    while "[repeated" not in printed.getvalue():  # the timer prints it; shutdown would too late
        time.sleep(0.05)
    ray.shutdown()
"""


def test_a_count_is_printed_once_its_window_has_passed(tmp_path: Path, edgeray_home: str) -> None:
    """A short window: the count is printed while the driver still runs (the timer), not only at
    shutdown; the driver waits for it, then exits."""
    script = tmp_path / "driver.py"
    script.write_text(textwrap.dedent(WINDOW))
    r = subprocess.run([PY, str(script)], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "RAY_DEDUP_LOGS_AGG_WINDOW_S": "2"})
    assert r.returncode == 0, f"driver failed:\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}"
    # (3x when all four prints fall in one window; a slow machine may split them)
    assert re.search(r"\(Echo pid=\d+\) the same for all \[repeated [23]x across cluster\]", r.stdout), r.stdout


# --------------------------------------------------------------------------- the driver exits


LAST_WORDS = """
    import os, signal, sys
    sys.path.insert(0, {tests!r})  # (the suite's waiting.py)
    from waiting import wait_for
    import edgeray as ray
    from edgeray.client import current_client

    ray.init(address="auto")

    def stop_node():  # the node is busy: it forwards nothing more before the driver exits
        os.kill(int(os.environ["EDGERAY_PARENT_PID"]), signal.SIGSTOP)

    @ray.remote
    def last(stop):
        print("LAST-WORDS", stop)
        if stop:
            stop_node()
        return os.getpid()

    @ray.remote
    class Speaker:
        def say(self, stop):
            print("LAST-WORDS", stop)
            if stop:
                stop_node()
            return os.getpid()

    KIND = {kind!r}
    if KIND == "task":
        for _ in range(2):  # a worker is up and idle: the next task goes to it directly
            ray.get(last.remote(False))
        pid = ray.get(last.remote(True), timeout=60)
    else:
        s = Speaker.remote()
        lanes = current_client().lanes
        def direct():  # its calls go straight to its worker
            ray.get(s.say.remote(False))
            return any(lane.chan is not None and lane.chan.open for lane in lanes._lanes.values())

        wait_for(direct, what="a direct connection to the actor")
        pid = ray.get(s.say.remote(True), timeout=60)
    sys.stdout.write(f"PID {{pid}}\\n")  # one write: worker lines are printed by another thread
"""


@pytest.mark.parametrize("kind", ["task", "actor"])
def test_output_of_the_last_work_before_exit_appears(tmp_path: Path, edgeray_home: str, kind: str) -> None:
    """Its result came straight from the worker; its output must not wait for the node."""
    assert cli("start", "--num-cpus", "1").returncode == 0
    try:
        r = run_driver(tmp_path, LAST_WORDS.format(kind=kind, tests=str(Path(__file__).parents[1])))
    finally:
        node = _node_pid(edgeray_home)
        if node:
            os.kill(node, signal.SIGCONT)
        cli("stop")
    assert r.returncode == 0, f"driver failed:\n{r.stdout}\n{r.stderr}"
    pid = int(next(line for line in r.stdout.splitlines() if line.startswith("PID ")).split()[1])
    name = "last" if kind == "task" else "Speaker"
    assert f"({name} pid={pid}) LAST-WORDS True" in r.stdout.splitlines(), r.stdout


def _node_pid(home: str) -> int | None:
    import json

    try:
        return int(json.loads((Path(home) / "address.json").read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


IN_FLIGHT = """
    import json, os, signal, time
    import edgeray as ray

    ray.init(address="auto")

    @ray.remote
    def slow():
        time.sleep(60)

    @ray.remote
    class Sleeper:
        def nap(self):
            time.sleep(60)

    ray.get(ray.remote(lambda: 1).remote())
    s = Sleeper.remote()
    ray.get(s.__ray_ready__.remote())
    naps = [s.nap.remote() for _ in range(3)]
    refs = [slow.remote() for _ in range(5)]
    # the node is slow to answer now: what the driver asked it is still in flight as it exits
    os.kill(json.loads(open(os.path.join(os.environ["EDGERAY_HOME"], "address.json")).read())["pid"], signal.SIGSTOP)
    more = [slow.remote() for _ in range(5)]
    if {fail!r}:
        raise RuntimeError("the real error")
"""


@pytest.mark.parametrize("fail", [False, True])
def test_a_driver_exiting_with_work_in_flight_prints_no_error(tmp_path: Path, edgeray_home: str, fail: bool) -> None:
    assert cli("start", "--num-cpus", "1").returncode == 0
    try:
        r = run_driver(tmp_path, IN_FLIGHT.format(fail=fail))
    finally:
        node = _node_pid(edgeray_home)
        if node:
            os.kill(node, signal.SIGCONT)
        cli("stop")
    err = [line for line in r.stderr.splitlines() if line.strip()]
    if fail:
        assert r.returncode == 1, r.stderr
        assert err and err[-1] == "RuntimeError: the real error", f"the real error is not the last thing shown:\n{r.stderr}"
    else:
        assert r.returncode == 0, r.stderr
    assert not [line for line in err if "edgeray" in line.lower() or "Bad file descriptor" in line], r.stderr


def test_log_to_driver_false_keeps_worker_output_off_the_driver(tmp_path: Path, edgeray_home: str) -> None:
    """``init(log_to_driver=False)`` was accepted and ignored; as in Ray, what workers print
    then stays in their log files only."""
    r = run_driver(tmp_path, """
        import edgeray as ray
        ray.init(num_cpus=1, log_to_driver=False)

        @ray.remote
        def chatty():
            print("printed-by-the-worker", flush=True)
            return 7

        assert ray.get(chatty.remote()) == 7
        ray.shutdown()
        print("driver-done")
    """)
    assert r.returncode == 0, r.stderr
    assert "driver-done" in r.stdout
    assert "printed-by-the-worker" not in r.stdout + r.stderr
    assert any("printed-by-the-worker" in f.read_text(errors="replace") for f in worker_logs(edgeray_home))


REPR_AND_TRACEBACK = """
    import sys
    import edgeray as ray

    ray.init(num_cpus=1)

    def helper(x):
        raise ValueError(f"bad {x}")  # HELPER-LINE

    @ray.remote
    def boom(x):
        return helper(x)  # BOOM-LINE

    @ray.remote
    class Talker:
        def __init__(self, tag):
            self.tag = tag

        def __repr__(self):
            return f"Talker[{self.tag}]"

        def say(self):
            print("said by the actor")

    @ray.remote
    class Plain:
        def say(self):
            print("said by the plain actor")

    try:
        ray.get(boom.remote(3))
    except ValueError as e:
        sys.stdout.write("TRACEBACK<<" + str(e) + ">>\\n")
    a, b = Talker.remote("x1"), Plain.remote()
    ray.get([a.say.remote(), b.say.remote()])
    ray.shutdown()
"""


def test_remote_tracebacks_name_the_users_file_and_actor_output_uses_its_repr(tmp_path: Path,
                                                                               edgeray_home: str) -> None:
    """As Ray: a remote error's traceback shows the file and line of the user's function (and its
    source line), not ``<dynamic-code>``; an actor whose class defines ``__repr__`` prefixes its
    output with it, others with the class name."""
    r = run_driver(tmp_path, REPR_AND_TRACEBACK)
    assert r.returncode == 0, r.stderr[-4000:]
    script = tmp_path / "driver.py"
    lines = script.read_text().splitlines()
    boom_line = next(i for i, line in enumerate(lines, 1) if "BOOM-LINE" in line)
    helper_line = next(i for i, line in enumerate(lines, 1) if "HELPER-LINE" in line)
    tb = r.stdout.split("TRACEBACK<<", 1)[1].split(">>", 1)[0]
    assert "<dynamic-code>" not in tb, tb
    assert f'File "{script}", line {boom_line}, in boom' in tb, tb
    assert f'File "{script}", line {helper_line}, in helper' in tb, tb
    assert "return helper(x)  # BOOM-LINE" in tb, tb
    out = r.stdout.splitlines()
    assert any(line.startswith("(Talker[x1] pid=") and line.endswith(") said by the actor") for line in out), out
    assert any(line.startswith("(Plain pid=") and line.endswith(") said by the plain actor") for line in out), out
