"""The state commands of the CLI against a real node: ``list`` with Ray's ``--filter``,
``--limit``, ``--detail`` and ``--format json|yaml|table``, ``summary``, ``get`` and
``timeline`` (issue 19)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeray._cli_state import parse_filters, to_yaml

pytestmark = pytest.mark.timeout(240)

PY = sys.executable

WORKLOAD = """
import edgeray as ray
ray.init(address="auto")

@ray.remote
def square(x):
    return x * x

@ray.remote
def fails():
    raise ValueError("no")

@ray.remote
class Keeper:
    def ping(self):
        return "pong"

assert ray.get([square.remote(i) for i in range(3)]) == [0, 1, 4]
try:
    ray.get(fails.remote())
except ray.exceptions.RayTaskError:
    pass
k = Keeper.options(name="keeper", lifetime="detached").remote()
assert ray.get(k.ping.remote()) == "pong"
print(ray.get_runtime_context().get_job_id())
"""


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "-m", "edgeray", *args], capture_output=True, text=True, timeout=90)


@pytest.fixture(scope="module")
def node_with_work(module_home: str) -> Iterator[str]:
    r = run_cli("start", "--num-cpus", "2")
    assert r.returncode == 0, r.stderr
    try:
        script = Path(module_home) / "work.py"
        script.write_text(textwrap.dedent(WORKLOAD))
        out = subprocess.run([PY, str(script)], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        from waiting import wait_for

        def finished_squares() -> bool:
            r = run_cli("list", "tasks", "--filter", "name=square", "--filter", "state=FINISHED", "--format", "json")
            return r.returncode == 0 and len(json.loads(r.stdout)) == 3

        wait_for(finished_squares, 60, "the three squares to be listed FINISHED")
        yield out.stdout.strip()
    finally:
        run_cli("stop")


def test_list_filters_limit_detail_and_formats(node_with_work: str) -> None:
    rows = json.loads(run_cli("list", "actors", "--filter", "state=ALIVE", "--format", "json").stdout)
    assert [(r["class_name"], r["name"], r["state"]) for r in rows] == [("Keeper", "keeper", "ALIVE")]
    assert "death_cause" not in rows[0]
    detailed = json.loads(run_cli("list", "actors", "--detail", "--format", "json").stdout)
    assert detailed[0]["is_detached"] is True and "death_cause" in detailed[0]

    failed = json.loads(run_cli("list", "tasks", "--filter", "state=FAILED", "--format", "json").stdout)
    assert [t["name"] for t in failed] == ["fails"]
    not_square = json.loads(run_cli("list", "tasks", "--filter", "name!=square", "--format", "json").stdout)
    assert "square" not in {t["name"] for t in not_square} and "fails" in {t["name"] for t in not_square}
    assert len(json.loads(run_cli("list", "tasks", "--limit", "2", "--format", "json").stdout)) == 2

    table = run_cli("list", "tasks", "--filter", "name=square")
    assert table.returncode == 0 and "Total: 3" in table.stdout
    header = [line for line in table.stdout.splitlines() if line.startswith("TASK_ID")][0]
    assert header.split()[:4] == ["TASK_ID", "ATTEMPT_NUMBER", "NAME", "STATE"]

    yaml_out = run_cli("list", "nodes", "--format", "yaml").stdout
    assert "- node_id: " in yaml_out and "state: ALIVE" in yaml_out and "is_head_node: true" in yaml_out


def test_bad_filters_are_refused_with_the_reason(node_with_work: str) -> None:
    r = run_cli("list", "actors", "--filter", "death_cause=x")
    assert r.returncode == 2 and "Supported filter columns" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("list", "actors", "--filter", "state~ALIVE")
    assert r.returncode == 2 and "KEY=VALUE" in r.stderr


def test_summary_get_and_timeline(node_with_work: str, tmp_path: Path) -> None:
    s = json.loads(run_cli("summary", "tasks", "--format", "json").stdout)["cluster"]
    assert s["summary"]["square"]["state_counts"] == {"FINISHED": 3}
    assert s["summary"]["fails"]["state_counts"] == {"FAILED": 1}
    text = run_cli("summary", "actors").stdout
    assert "Keeper" in text and "ALIVE: 1" in text

    actor = json.loads(run_cli("list", "actors", "--format", "json").stdout)[0]
    got = run_cli("get", "actors", actor["actor_id"])
    assert got.returncode == 0 and "class_name: Keeper" in got.stdout and "num_restarts: 0" in got.stdout
    missing = run_cli("get", "actors", "00" * 16)
    assert missing.returncode == 1 and "no actor" in missing.stderr

    out = tmp_path / "trace.json"
    r = run_cli("timeline", "--output", str(out))
    assert r.returncode == 0, r.stderr
    events = json.loads(out.read_text())
    assert sum(e["name"] == "square" for e in events) == 3 and all(e["ph"] == "X" for e in events)


def test_filter_parsing_and_yaml() -> None:
    assert parse_filters(["state=ALIVE", "name != 'x y'", "pid=12"]) == [
        ("state", "=", "ALIVE"), ("name", "!=", "x y"), ("pid", "=", "12")]
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_filters(["=x"])
    assert to_yaml({"a": 1, "b": [True, None], "c": {"d": "0001", "e": "no"}, "f": []}) == (
        'a: 1\nb:\n  - true\n  - null\nc:\n  d: "0001"\n  e: "no"\nf: []\n')
