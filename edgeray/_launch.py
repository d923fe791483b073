"""How edgeray starts its own processes (nodes, workers): same interpreter, same flags, and
edgeray's own location first on sys.path, so a node run from the zipapp starts its workers from
the zipapp too. Standard library only; any layer may use it."""

from __future__ import annotations

import os
import sys


def package_root() -> str:
    """The sys.path entry edgeray was imported from (a directory, or the zipapp itself)."""
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def interpreter_flags() -> list[str]:
    """This interpreter's -I and -S flags (independent: -I does not imply -S), for children."""
    return (["-I"] if sys.flags.isolated else []) + (["-S"] if sys.flags.no_site else [])


def python_command(code: str) -> list[str]:
    """Run ``code`` in a child interpreter like this one, edgeray's location first on sys.path
    (so a node run from the zipapp starts its workers from the zipapp too)."""
    prelude = f"import sys; sys.path.insert(0, {package_root()!r}); "
    return [sys.executable, *interpreter_flags(), "-c", prelude + code]


def worker_command() -> list[str]:
    """The command line of a worker process."""
    return python_command("from edgeray.worker._main import main; main()")
