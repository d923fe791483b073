"""runtime_env ``env_vars``, as Ray: set for a task while it runs (and for what it starts), for an
actor for its lifetime, for a whole job from ``init(runtime_env=)``; inherited by what they
submit, ``env_vars`` merged, the child's own winning; the other runtime_env fields refused.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(120)


def test_task_env_vars_while_it_runs_and_not_after(ray) -> None:
    @ray.remote
    def read(name: str) -> str | None:
        return os.environ.get(name)

    @ray.remote
    def read_in_a_child_process(name: str) -> str:
        code = f"import os; print(os.environ.get({name!r}))"
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()

    @ray.remote(scheduling_strategy="SPREAD")  # (via the node, not a leased worker)
    def read_via_node(name: str) -> str | None:
        return os.environ.get(name)

    env = {"env_vars": {"EDGERAY_T_FOO": "bar"}}
    assert ray.get(read.options(runtime_env=env).remote("EDGERAY_T_FOO")) == "bar"
    assert ray.get(read_via_node.options(runtime_env=env).remote("EDGERAY_T_FOO")) == "bar"
    assert ray.get(read_in_a_child_process.options(runtime_env=env).remote("EDGERAY_T_FOO")) == "bar"
    # the pool's workers run other tasks afterwards: none of them sees it any more
    assert ray.get([read.remote("EDGERAY_T_FOO") for _ in range(20)]) == [None] * 20
    assert ray.get([read_via_node.remote("EDGERAY_T_FOO") for _ in range(4)]) == [None] * 4

    @ray.remote(runtime_env={"env_vars": {"OMP_NUM_THREADS": "7"}})
    def omp() -> str | None:
        return os.environ.get("OMP_NUM_THREADS")

    assert ray.get(omp.remote()) == "7"  # the user's value wins over the node's
    assert ray.get(read.remote("OMP_NUM_THREADS")) == "1"


def test_actor_env_vars_for_its_lifetime_and_inherited(ray) -> None:
    @ray.remote
    def child(names: list[str]) -> list[str | None]:
        return [os.environ.get(n) for n in names]

    @ray.remote
    class Reader:
        def read(self, name: str) -> str | None:
            return os.environ.get(name)

        def submit(self, names: list[str], own: dict[str, str] | None) -> list[str | None]:
            f = child.options(runtime_env={"env_vars": own}) if own else child
            return ray.get(f.remote(names))

    a = Reader.options(runtime_env={"env_vars": {"EDGERAY_T_A": "1", "EDGERAY_T_B": "1"}}).remote()
    assert ray.get([a.read.remote("EDGERAY_T_A") for _ in range(5)]) == ["1"] * 5
    names = ["EDGERAY_T_A", "EDGERAY_T_B", "EDGERAY_T_C"]
    assert ray.get(a.submit.remote(names, None)) == ["1", "1", None]  # inherited
    assert ray.get(a.submit.remote(names, {"EDGERAY_T_B": "2", "EDGERAY_T_C": "3"})) == ["1", "2", "3"]  # merged
    assert ray.get(child.remote(names)) == [None, None, None]  # the driver's tasks: none of it

    @ray.remote
    def parent(names: list[str]) -> list[str | None]:
        return ray.get(child.remote(names))

    env = {"env_vars": {"EDGERAY_T_A": "task"}}
    assert ray.get(parent.options(runtime_env=env).remote(names)) == ["task", None, None]


def test_job_runtime_env_from_init(ray_init) -> None:
    ray = ray_init(num_cpus=2, runtime_env={"env_vars": {"EDGERAY_T_JOB": "job", "EDGERAY_T_X": "job"}})

    @ray.remote
    def read(names: list[str]) -> list[str | None]:
        return [os.environ.get(n) for n in names]

    @ray.remote
    class Actor:
        def read(self, names: list[str]) -> list[str | None]:
            return [os.environ.get(n) for n in names]

    names = ["EDGERAY_T_JOB", "EDGERAY_T_X"]
    assert ray.get(read.remote(names)) == ["job", "job"]
    assert ray.get(read.options(runtime_env={"env_vars": {"EDGERAY_T_X": "own"}}).remote(names)) == ["job", "own"]
    assert ray.get(Actor.remote().read.remote(names)) == ["job", "job"]
    assert os.environ.get("EDGERAY_T_JOB") is None  # the driver's own environment is left alone


@pytest.mark.parametrize(
    ("runtime_env", "error", "match"),
    [
        ({"pip": ["requests"]}, ValueError, "only runtime_env"),
        ({"working_dir": "."}, ValueError, "working_dir"),
        ({"env_vars": {"A": 1}}, TypeError, "Dict\\[str, str\\]"),
        ("env_vars", TypeError, "must be a dict"),
    ],
)
def test_runtime_env_edgeray_cannot_honour_is_refused(ray, runtime_env: Any, error: type, match: str) -> None:
    @ray.remote
    def f() -> int:
        return 1

    with pytest.raises(error, match=match):
        f.options(runtime_env=runtime_env)
    with pytest.raises(error, match=match):
        ray.remote(runtime_env=runtime_env)(lambda: 1)

    @ray.remote
    class A:
        pass

    with pytest.raises(error, match=match):
        A.options(runtime_env=runtime_env)
    assert ray.get(f.remote()) == 1  # nothing lost


def test_init_refuses_a_runtime_env_it_cannot_honour() -> None:
    import edgeray

    with pytest.raises(ValueError, match="only runtime_env"):
        edgeray.init(num_cpus=1, runtime_env={"conda": "env"})
    assert not edgeray.is_initialized()
