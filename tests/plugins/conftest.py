"""Make ``edgeray`` and ``edgeray_builtins`` importable before the project is pip-installed."""

import pathlib
import sys

_ROOT = pathlib.Path(__file__).resolve().parents[2]

for _name, _path in (("edgeray", _ROOT), ("edgeray_builtins", _ROOT / "plugins")):
    try:
        __import__(_name)
    except ImportError:
        sys.path.insert(0, str(_path))
