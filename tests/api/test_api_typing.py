"""Annotated Ray programs: ``ObjectRef[int]`` and friends at runtime, under mypy, and the
``py.typed`` marker in the wheel (PEP 561), and what else the wheel holds."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import edgeray
from edgeray.actor import ActorHandle

ROOT = Path(edgeray.__file__).resolve().parent.parent

PROGRAM = '''
import edgeray as ray
from edgeray import DynamicObjectRefGenerator, ObjectRef, ObjectRefGenerator
from edgeray.actor import ActorHandle


class Counter:
    def inc(self) -> int:
        return 1


def total(refs: list[ObjectRef[int]]) -> int:
    values: list[int] = ray.get(refs)
    return sum(values)


def first(gen: ObjectRefGenerator[str]) -> ObjectRef[str]:
    return next(gen)


def refs(gen: DynamicObjectRefGenerator[int]) -> list[ObjectRef[int]]:
    return list(gen)


def bump(counter: ActorHandle[Counter]) -> ObjectRef[int]:
    return counter.inc.remote()


x: ObjectRef[int] = ray.put(1)
'''


def test_generic_names_are_subscriptable_at_runtime() -> None:
    for cls in (edgeray.ObjectRef, edgeray.ObjectRefGenerator, edgeray.DynamicObjectRefGenerator, ActorHandle):
        alias = cls[int]
        assert alias.__origin__ is cls and alias.__args__ == (int,)
    ref = edgeray.ObjectRef(b"\x01" * 20)
    assert type(ref) is edgeray.ObjectRef and isinstance(ref, edgeray.ObjectRef)

    def annotated(r: edgeray.ObjectRef[int]) -> edgeray.ObjectRefGenerator[int]:  # evaluated eagerly below
        raise NotImplementedError

    import typing

    hints = typing.get_type_hints(annotated)
    assert hints["r"] == edgeray.ObjectRef[int]


def test_an_annotated_program_type_checks(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    prog = tmp_path / "annotated.py"
    prog.write_text(PROGRAM)
    r = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--cache-dir", str(tmp_path / "cache"),
         str(prog)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The file names inside a wheel built from a copy of the source tree (as a user builds it)."""
    tmp_path = tmp_path_factory.mktemp("wheel")
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(ROOT / "edgeray", src / "edgeray", ignore=ignore)
    shutil.copytree(ROOT / "plugins", src / "plugins", ignore=ignore)
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--disable-pip-version-check",
         "-w", str(tmp_path / "dist"), str(src)],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    (wheel,) = (tmp_path / "dist").glob("edgeray-*.whl")
    return zipfile.ZipFile(wheel).namelist()


def test_the_wheel_ships_py_typed(wheel_names: list[str]) -> None:
    assert (ROOT / "edgeray" / "py.typed").is_file()
    assert "edgeray/py.typed" in wheel_names


def test_the_wheel_ships_only_edgeray_and_its_builtin_plugins(wheel_names: list[str]) -> None:
    """The third-party example plugin (plugins/edgeray_label_selector) is its own distribution:
    none of it (not even its ``src`` directory as a namespace package) is in edgeray's wheel."""
    top = {name.split("/")[0] for name in wheel_names}
    assert top == {"edgeray", "edgeray_builtins", f"edgeray-{edgeray.__version__}.dist-info"}, top
    assert "edgeray_builtins/__init__.py" in wheel_names
