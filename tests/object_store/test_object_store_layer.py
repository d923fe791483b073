"""The package's import rule: the standard library, cloudpickle, optionally posix_ipc and
edgeray.exceptions; never trio."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import edgeray.object_store as pkg

ALLOWED_THIRD_PARTY = {"cloudpickle", "posix_ipc"}
ALLOWED_EDGERAY = {"edgeray.exceptions"}


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found.add(node.module)
    return found


def test_imports_follow_the_rule():
    root = Path(pkg.__file__).parent
    files = sorted(root.glob("*.py"))
    assert len(files) >= 5
    for path in files:
        for name in imports_of(path):
            top = name.split(".")[0]
            if top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY:
                continue
            assert name in ALLOWED_EDGERAY, f"{path.name} imports {name}"


def test_rule_is_stated_and_names_exported():
    assert "never trio" in pkg.__doc__
    for name in pkg.__all__:
        assert hasattr(pkg, name)
