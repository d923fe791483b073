"""The seed examples as executable specifications.

Every script in this folder is a code example from seed 003 (a guide to Ray's
core concepts) or seed 000 (the parameter server), with `import ray` changed to
`import edgeray as ray` and only the minimal changes listed in its header.
Each one runs as its own driver process (``sys.executable script.py``, cwd this
folder, ``EDGERAY_HOME`` a fresh temporary directory) and must

* exit with status 0 within ``SCRIPT_TIMEOUT`` seconds,
* print on stdout what the document says it prints (``SPECS`` below: exact
  lines, regexes for pids / ObjectRef ids, sets where the order is not
  guaranteed, a checker function where the document says "something like"),
* take at least the time it must where it reports one (lines ``SEED-TIMING <name> <seconds>``
  on stderr; used by the async-actor examples): a lower bound only, which a busy machine cannot
  break; that the calls ran at once is shown by the order of their output, never by an upper
  bound on the time,
* leave no process behind (a process whose environment or command line carries
  this run's ``EDGERAY_HOME``) and no ``/dev/shm/edgeray_*`` (or
  ``sem.edgeray_*``) entry created by one of its processes.

Worker output arrives on the driver's stdout prefixed the way Ray does it:
``(task_name pid=N) text`` for tasks and ``(ClassName pid=N) text`` for actors
(ANSI colour codes around the prefix are ignored). Every line a worker prints
before its task returns must have reached the driver's stdout by the time
``ray.shutdown()`` returns (real Ray 2.60 sometimes drops the last lines).

Run: ``.venv/bin/python -m pytest tests/seeds -q``; placement-group and
scheduling-strategy scripts carry the ``pg`` / ``scheduling`` markers
(``-m "not pg and not scheduling"`` leaves them out). The tests are
independent (own EDGERAY_HOME each), so pytest-xdist's ``-n`` works too, at
the price of noisier timings.

The specs were checked against real Ray 2.60 on Python 3.11 (a shim package
making ``edgeray`` an alias of ``ray``): everything passes except
objectref_futures.py (the document's ``await asyncio.wait([ref])`` raises
AttributeError there: since Python 3.11 asyncio.wait needs Future-like objects,
with ``add_done_callback``), the scripts whose worker prints Ray dropped at
shutdown, and pg_cli.py / pg_detached.py, which use edgeray's command line.
"""

from __future__ import annotations

import ast
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from waiting import WaitTimeout, wait_for

HERE = Path(__file__).resolve().parent
SCRIPT_TIMEOUT = 120  # seconds per script
LEAK_GRACE = 30.0  # the most seconds a node / worker may take to go away after the driver exits


# --------------------------------------------------------------------------
# Expected-output helpers


def R(pattern: str) -> re.Pattern[str]:
    """A line that must match `pattern` in full."""
    return re.compile(pattern)


def W(name: str, text: str, *, regex: bool = False) -> re.Pattern[str]:
    """A line printed by a worker: ``(name pid=N) text``."""
    body = text if regex else re.escape(text)
    return re.compile(rf"\({re.escape(name)} pid=(\d+)\) {body}")


ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")  # Ray colours the "(name pid=N)" prefix

MORE = ...  # in an ordered spec: one or more arbitrary non-empty lines here


@dataclass
class Spec:
    # Expected stdout lines: str (exact), Pattern (full match) or MORE.
    # None: only `check` decides.
    lines: list | None
    ordered: bool = True
    check: Callable[[list[str]], None] | None = None
    timings: dict[str, float] = field(default_factory=dict)  # name -> the least seconds it takes
    marks: tuple = ()


def _matches(expected, line: str) -> bool:
    if isinstance(expected, re.Pattern):
        return expected.fullmatch(line) is not None
    return expected == line


def _match_ordered(expected: list, lines: list[str]) -> str | None:
    if MORE in expected:
        i = expected.index(MORE)
        head, tail = expected[:i], expected[i + 1 :]
        if len(lines) < len(head) + len(tail) + 1:
            return f"expected at least {len(head) + len(tail) + 1} lines, got {len(lines)}"
        middle = lines[len(head) : len(lines) - len(tail)]
        if not all(m.strip() for m in middle):
            return f"empty line among {middle!r}"
        pairs = list(zip(head, lines[: len(head)], strict=True)) + list(
            zip(tail, lines[len(lines) - len(tail) :], strict=True)
        )
    else:
        if len(lines) != len(expected):
            return f"expected {len(expected)} lines, got {len(lines)}"
        pairs = list(zip(expected, lines, strict=True))
    for exp, line in pairs:
        if not _matches(exp, line):
            return f"line {line!r} does not match {getattr(exp, 'pattern', exp)!r}"
    return None


def _match_unordered(expected: list, lines: list[str]) -> str | None:
    if len(lines) != len(expected):
        return f"expected {len(expected)} lines, got {len(lines)}"
    # bipartite matching (expected item -> line), augmenting paths
    owner: dict[int, int] = {}  # line index -> expected index

    def assign(e: int, seen: set[int]) -> bool:
        for li, line in enumerate(lines):
            if li in seen or not _matches(expected[e], line):
                continue
            seen.add(li)
            if li not in owner or assign(owner[li], seen):
                owner[li] = e
                return True
        return False

    for e in range(len(expected)):
        if not assign(e, set()):
            exp = expected[e]
            return f"no line left for {getattr(exp, 'pattern', exp)!r}"
    return None


def worker_pids(lines: list[str]) -> list[int]:
    return [int(m.group(1)) for m in (re.match(r"\(\w+ pid=(\d+)\) ", ln) for ln in lines) if m]


# --------------------------------------------------------------------------
# Checkers for the "prints something like" examples


def same_worker(lines: list[str]) -> None:
    pids = worker_pids(lines)
    assert pids and len(set(pids)) == 1, f"expected one actor process, got pids {pids}"


def check_message_actor(lines: list[str]) -> None:
    # "New messages: [...]" lines; every message arrives once, and the messages of
    # one worker arrive in the order it sent them (one submitter -> one order).
    assert lines, "no messages printed"
    seen: list[str] = []
    for line in lines:
        m = re.fullmatch(r"New messages: (\[.*\])", line)
        assert m, f"unexpected line {line!r}"
        batch = ast.literal_eval(m.group(1))
        assert batch, "empty batches are not printed by the example"
        seen += batch
    expected = sorted(f"Message {i} from worker {w}." for i in range(3) for w in range(3))
    assert sorted(seen) == expected, f"messages: {seen}"
    for w in range(3):
        order = [int(s.split()[1]) for s in seen if s.endswith(f"worker {w}.")]
        assert order == [0, 1, 2], f"worker {w}'s messages out of order: {seen}"


def check_counter_values(lines: list[str]) -> None:
    # Ten values of a counter that three tasks increment 10 times each.
    assert len(lines) == 10, lines
    values = [int(v) for v in lines]
    assert all(0 <= v <= 30 for v in values), values
    assert values == sorted(values), f"counter went backwards: {values}"
    assert values[-1] > 0, f"no increment seen within a second: {values}"


def check_max_two_running(lines: list[str]) -> None:
    same_worker(lines)
    running = peak = 0
    for line in lines:
        running += 1 if line.endswith(" started") else -1
        assert 0 <= running <= 2, f"{running} calls running at once: {lines}"
        peak = max(peak, running)
    assert running == 0 and peak == 2, lines


def check_distinct_actors(lines: list[str]) -> None:
    pids = worker_pids(lines)
    assert len(set(pids)) == 2, f"expected two actor processes, got pids {pids}"


def check_pg_table(lines: list[str]) -> None:
    assert len(lines) == 2, lines
    table = ast.literal_eval(lines[0])
    assert table["state"] == "CREATED", table
    assert table["strategy"] == "PACK", table
    assert table["bundles"] == {0: {"CPU": 1.0, "GPU": 1.0}}, table
    assert lines[1] == "1 0", lines[1]


def check_pg_removed(lines: list[str]) -> None:
    strategies = [
        "strategy STRICT_PACK CREATED",
        "strategy PACK CREATED",
        "strategy SPREAD CREATED",
        "strategy STRICT_SPREAD PENDING",
    ]
    assert len(lines) > 4 and lines[-4:] == strategies, lines
    table = ast.literal_eval("\n".join(lines[:-4]))  # pprint may span lines
    assert table["state"] == "REMOVED", table
    assert table["strategy"] == "PACK", table
    assert table["bundles"] == {0: {"CPU": 1.0}, 1: {"GPU": 1.0}}, table


# --------------------------------------------------------------------------
# The table: script -> expected output

PG = (pytest.mark.pg,)
SCHED = (pytest.mark.scheduling,)
TIMING = (pytest.mark.timing,)
OBJREF = r"ObjectRef\([0-9a-fA-F]+\)"

SPECS: dict[str, Spec] = {
    # --- tasks
    "tasks_square.py": Spec(["The final result is: [0, 1, 4, 9]"]),
    "tasks_resources_and_refs.py": Spec([]),  # the asserts inside are the check
    "tasks_dependencies.py": Spec(["Matrix multiplication completed. Result shape: (1000, 1000)"]),
    "tasks_wait.py": Spec(["1 1"]),
    # --- actors
    "actors_counter.py": Spec(["0", "2"]),
    "actors_resources.py": Spec(["CPU 0.0 GPU 0.5"]),
    "actors_calling.py": Spec(["1", "[1, 1, 1, 1, 1, 1, 1, 1, 1, 1]", "[2, 3, 4, 5, 6]"]),
    "actor_handles_message_actor.py": Spec(None, check=check_message_actor),
    "actor_handles_passing.py": Spec(None, check=check_counter_values),
    "objects_passing_numpy.py": Spec(
        ["Sum of small matrix: 10000.0", "Sum of large matrix: 1000000.0"]
    ),
    # --- async / threaded actors, concurrency groups
    "async_actor_run_concurrent.py": Spec(
        [W("AsyncActor", "started")] * 4
        + [W("AsyncActor", "finished")] * 4
        + [W("AsyncActor", "started"), W("AsyncActor", "finished")],
        check=same_worker,
        timings={"concurrent_get": 1.9},
        marks=TIMING,
    ),
    "objectref_futures.py": Spec(["1"] * 5),
    "async_actor_define.py": Spec(
        [W("AsyncActor", "started")] * 5 + [W("AsyncActor", "ended")] * 5,
        check=same_worker,
        timings={"five_calls": 0.9},
        marks=TIMING,
    ),
    "async_actor_max_concurrency.py": Spec(
        [W("AsyncActor", "started")] * 8 + [W("AsyncActor", "ended")] * 8,
        ordered=False,
        check=check_max_two_running,
        timings={"eight_calls": 1.9},
        marks=TIMING,
    ),
    "threaded_actor.py": Spec(
        [
            W("ThreadedActor", "I'm running in a thread!"),
            W("ThreadedActor", "I'm running in another thread!"),
        ],
        ordered=False,
        check=same_worker,
    ),
    "async_tasks.py": Spec(["async def remote task rejected: ValueError", "None"]),
    "concurrency_groups.py": Spec(
        ["{'compute': 4, 'default': 10, 'io': 2, 'io_sent_to_compute': 4}"]
    ),
    # --- execution order
    "exec_order_sync_actor.py": Spec(["1", "3"]),
    "exec_order_submitters.py": Spec(["3", "2"]),
    "exec_order_async_actor.py": Spec(["3", "2"]),
    # --- objects
    "objects_put_get.py": Spec(["True", "`get` timed out."], timings={"get_timeout": 0.9}),
    "objects_top_level_args.py": Spec([W("echo", "1 2 3")] * 2),
    "objects_nested_args.py": Spec(
        [
            W("echo_and_get", rf"args: \[{OBJREF}, {OBJREF}, {OBJREF}\]", regex=True),
            W("echo_and_get", "values: [1, 2, 3]"),
        ]
    ),
    "objects_actor_args.py": Spec(
        [
            "constructor by-value: 2",
            "constructor by-reference: list of ObjectRef",
            "method by-value: 2",
            "method by-reference: list of ObjectRef",
        ]
    ),
    "objects_closure_capture.py": Spec([W("print_via_capture", "[1, 2, 3]")]),
    # --- scheduling strategies
    "sched_default.py": Spec(["[1, 1]"], marks=SCHED),
    "sched_spread.py": Spec([str([2] * 10)], marks=SCHED),
    "sched_node_affinity.py": Spec(
        [
            "hard affinity ran on the local node: True",
            "soft affinity ran on the local node: True",
            "hard affinity to a missing node: TaskUnschedulableError",
            "soft affinity to a missing node ran on: local node",
        ],
        marks=SCHED,
    ),
    "sched_locality.py": Spec(["1048576", str([1048576] * 10), "1"], marks=SCHED),
    # --- resources
    "resources_custom.py": Spec(
        [
            "[('CPU', 3.0), ('GPU', 4.0), ('custom_label', 1.0), ('special_hardware', 1.0)]",
            "1",
        ]
    ),
    "resources_fractional.py": Spec(
        [W("IOActor", "CUDA_VISIBLE_DEVICES: 0")] * 2, check=check_distinct_actors
    ),
    # --- placement groups
    "pg_create_ready_table.py": Spec(None, check=check_pg_table, marks=PG),
    "pg_pending.py": Spec(
        [
            "Cannot create a Placement group because {'GPU': 2} bundle cannot be created.",
            MORE,  # print(e): the timeout error's message
            "PENDING",
            "available CPU 1.0 GPU 1.0",
        ],
        marks=PG,
    ),
    "pg_cli.py": Spec(
        [
            "after pg: 1 CREATED, 0 PENDING",
            "after pending_pg: 1 CREATED, 1 PENDING",
            "status mentions CPU and GPU: True",
        ],
        marks=PG,
    ),
    "pg_actors.py": Spec(
        [
            "actor scheduled in the placement group",
            "GPU actor scheduled in bundle 0",
            "third actor does not fit in the used bundle",
        ],
        marks=PG,
    ),
    "pg_strategy_remove.py": Spec(None, check=check_pg_removed, marks=PG),
    "pg_capture_child_tasks.py": Spec(
        ["child ran inside the parent's placement group", "Couldn't create a child task!", MORE],
        marks=PG,
    ),
    "pg_named.py": Spec(["global_name CREATED"], marks=PG),
    "pg_detached.py": Spec(
        [
            "driver_1 created both groups",
            "detached group after driver_1 exited: CREATED",
            "non-detached group after driver_1 exited: gone",
        ],
        marks=PG,
    ),
    # --- seed 000
    "parameter_server.py": Spec(
        [
            "initial params: [0. 0. 0. 0. 0. 0. 0. 0. 0. 0.]",
            "final params: [15. 15. 15. 15. 15. 15. 15. 15. 15. 15.]",
        ]
    ),
}


# --------------------------------------------------------------------------
# Process and shared-memory bookkeeping


def _processes_of(home: str) -> dict[int, str]:
    """Live (non-zombie) processes whose environment or command line names `home`."""
    needle_env = f"EDGERAY_HOME={home}".encode()
    needle_cmd = home.encode()
    found: dict[int, str] = {}
    me = os.getpid()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        if pid == me:
            continue
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
            if stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] == b"Z":
                continue
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    env = f.read().split(b"\0")
            except OSError:  # permission denied: judge by the command line alone
                env = []
        except OSError:  # gone meanwhile
            continue
        if needle_env in env or needle_cmd in cmdline:
            found[pid] = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
    return found


class _Watcher(threading.Thread):
    """Records every process of one run while it runs (to attribute shm segments)."""

    def __init__(self, home: str):
        super().__init__(daemon=True)
        self.home = home
        self.pids: set[int] = set()
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.pids.update(_processes_of(self.home))
            self._stop_event.wait(0.1)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()
        self.pids.update(_processes_of(self.home))


def _shm_entries() -> set[str]:
    try:
        names = os.listdir("/dev/shm")
    except OSError:
        return set()
    return {n for n in names if n.startswith(("edgeray_", "sem.edgeray_"))}


def _segment_pid(name: str) -> int | None:
    m = re.match(r"(?:sem\.)?edgeray_(\d+)_", name)
    return int(m.group(1)) if m else None


# --------------------------------------------------------------------------
# Running one script


@dataclass
class Run:
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool
    leftover: dict[int, str]
    leaked_shm: list[str]

    def describe(self) -> str:
        return (
            f"exit code {self.returncode}, {self.seconds:.1f} s"
            f"{' (TIMED OUT)' if self.timed_out else ''}\n"
            f"--- stdout ---\n{self.stdout}\n--- stderr (last 4000 chars) ---\n{self.stderr[-4000:]}"
        )


def run_script(name: str, home: Path, extra_env: dict[str, str] | None = None) -> Run:
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["EDGERAY_HOME"] = str(home)
    env.update(extra_env or {})
    shm_before = _shm_entries()
    watcher = _Watcher(str(home))
    watcher.start()
    start = time.monotonic()
    # Output goes to files, not pipes: a leaked process that inherited them
    # must not keep us waiting after the driver itself has exited.
    out_path, err_path = home.parent / f"{name}.stdout", home.parent / f"{name}.stderr"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, str(HERE / name)],
            cwd=HERE,
            env=env,
            stdout=out,
            stderr=err,
            text=True,
            start_new_session=True,
        )
    watcher.pids.add(proc.pid)
    timed_out = False
    try:
        proc.wait(timeout=SCRIPT_TIMEOUT)
    except subprocess.TimeoutExpired:
        timed_out = True
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            proc.kill()
        proc.wait()
    seconds = time.monotonic() - start

    # Give the node and workers a moment to go away, then take what is left.
    try:
        wait_for(lambda: not _processes_of(str(home)), LEAK_GRACE, "the node and workers to go away")
    except WaitTimeout:
        pass  # (what is left is reported below)
    leftover = _processes_of(str(home))
    watcher.stop()
    for pid in leftover:  # clean up so the next script starts from a clean machine
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass

    ours = watcher.pids | set(leftover)
    leaked = sorted(
        n for n in _shm_entries() - shm_before if _segment_pid(n) in ours or _segment_pid(n) is None
    )
    for n in leaked:
        try:
            os.unlink(os.path.join("/dev/shm", n))
        except OSError:
            pass
    stdout = out_path.read_text(errors="replace")
    stderr = err_path.read_text(errors="replace")
    return Run(proc.returncode, stdout, stderr, seconds, timed_out, leftover, leaked)


def _timings(stderr: str) -> dict[str, float]:
    return {
        m.group(1): float(m.group(2))
        for m in re.finditer(r"^SEED-TIMING (\S+) ([0-9.]+)$", stderr, re.M)
    }


# --------------------------------------------------------------------------
# Tests


def _scripts_on_disk() -> set[str]:
    return {
        p.name
        for p in HERE.glob("*.py")
        if not p.name.startswith("test_") and p.name != "conftest.py"
    }


def test_every_script_has_a_spec():
    assert _scripts_on_disk() == set(SPECS)


@pytest.mark.parametrize("name", sorted(_scripts_on_disk()))
def test_script_follows_the_rules(name):
    text = (HERE / name).read_text()
    code = [ln for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    assert code[0] == "import edgeray as ray", "a seed script starts with `import edgeray as ray`"
    assert "ray.shutdown()" in code[-1], "a seed script ends by calling ray.shutdown()"
    assert not re.search(r"^\s*(import ray\b|from ray\b)", text, re.M), "imports real ray"


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=spec.marks, id=n[:-3]) for n, spec in SPECS.items()]
)
def test_seed_script(name, tmp_path):
    check_run(name, run_script(name, tmp_path / "edgeray_home"))


# The object examples again, on nodes whose store is cramped (issue 3): a 64 MiB store that
# must spill, a node whose /dev/shm is absent (a file-backed arena), and a node whose
# shared-memory directory is a real 64 MiB tmpfs (root only: it mounts one).
OBJECT_SEEDS = [
    "objects_passing_numpy.py",
    "objects_put_get.py",
    "objects_nested_args.py",
    "objects_top_level_args.py",
    "objects_closure_capture.py",
    "tasks_dependencies.py",
    "parameter_server.py",
]
STORE_VARIANTS = {
    "store64mib": "[object_store]\nmemory = 67108864\n",
    "no_shm": '[object_store]\nshm_dir = "{tmp}/no-such-shm"\n',
    "shm64mib": '[object_store]\nshm_dir = "{tmp}/small-shm"\n',
}


@pytest.mark.parametrize("variant", sorted(STORE_VARIANTS))
@pytest.mark.parametrize("name", OBJECT_SEEDS, ids=[n[:-3] for n in OBJECT_SEEDS])
def test_seed_script_small_store(name, variant, tmp_path):
    small = tmp_path / "small-shm"
    if variant == "shm64mib":
        small.mkdir()
        mounted = os.geteuid() == 0 and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(small)], capture_output=True
        ).returncode == 0
        if not mounted:
            pytest.skip("mounting a 64 MiB tmpfs needs root")
    config = tmp_path / "node.toml"
    config.write_text(STORE_VARIANTS[variant].format(tmp=tmp_path))
    try:
        run = run_script(name, tmp_path / "edgeray_home", {"EDGERAY_CONFIG": str(config)})
    finally:
        if variant == "shm64mib":
            subprocess.run(["umount", str(small)], capture_output=True)
    check_run(name, run)
    if variant != "store64mib":
        assert "falls back to the file" in run.stderr, run.stderr[-2000:]  # said once, in the log
        assert not any((tmp_path / "edgeray_home" / "shm").iterdir()), "the file-backed arena was left behind"


def check_run(name: str, run: Run) -> None:
    spec = SPECS[name]
    problems = []
    if run.timed_out:
        problems.append(f"did not finish within {SCRIPT_TIMEOUT} s")
    elif run.returncode != 0:
        problems.append(f"exit code {run.returncode}")
    lines = [ANSI_ESCAPE.sub("", ln) for ln in run.stdout.splitlines()]
    if not run.timed_out and run.returncode == 0:
        if spec.lines is not None:
            err = (_match_ordered if spec.ordered else _match_unordered)(spec.lines, lines)
            if err:
                problems.append(f"stdout: {err}")
        if spec.check is not None:
            try:
                spec.check(lines)
            except AssertionError as e:
                problems.append(f"stdout check {spec.check.__name__}: {e}")
        got = _timings(run.stderr)
        for key, lo in spec.timings.items():
            if key not in got:
                problems.append(f"no SEED-TIMING {key} on stderr")
            elif got[key] < lo:
                problems.append(f"timing {key} = {got[key]:.2f} s, expected at least {lo} s")
    if run.leftover:
        problems.append(
            "processes left running (killed now): "
            + "; ".join(f"{pid}: {cmd}" for pid, cmd in sorted(run.leftover.items()))
        )
    if run.leaked_shm:
        problems.append(f"shared memory left behind (unlinked now): {run.leaked_shm}")
    assert not problems, f"{name}: " + "\n  ".join(problems) + "\n" + run.describe()
