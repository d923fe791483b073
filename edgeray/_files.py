"""The files under ``EDGERAY_HOME``: the cluster token, the address file, per-node dirs.

Used by the node, the CLI and drivers alike; standard library only (drivers must not import trio).

Everything edgeray creates here is the user's only: directories 0700 (``private_dir``), files
0600, created with that mode (``private_opener``, ``write_private``) rather than chmod-ed after
the fact, so there is no moment when another user can open them.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class TokenFileError(ValueError):
    """The cluster token file exists but holds no token."""


def home() -> Path:
    return Path(os.environ.get("EDGERAY_HOME") or Path.home() / ".edgeray")


def private_dir(path: Path) -> Path:
    """``path`` as a directory, it and every missing parent created 0700 (an existing one is
    left as it is: it may be the user's own)."""
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            pass
    return path


def home_dir() -> Path:
    """``EDGERAY_HOME``, created 0700 if it is not there."""
    return private_dir(home())


def private_opener(path: str, flags: int) -> int:
    """An ``opener`` for ``open()``: files it creates are 0600."""
    return os.open(path, flags | _O_CLOEXEC, 0o600)


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically, the file 0600 from its first byte."""
    private_dir(path.parent)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def token_file() -> Path:
    return home() / "token"


def _token_in(path: Path) -> str | None:
    """The token in ``path``; None if there is no such file; ``TokenFileError`` if it is empty."""
    try:
        token = path.read_text().strip()
    except FileNotFoundError:
        return None
    if not token:
        raise TokenFileError(
            f"the cluster token file {path} is empty: put the cluster's token in it "
            f"(edgeray get-auth-token on the head prints it), or delete the file to have a new "
            f"token created at the next start"
        )
    return token


def load_or_create_token(explicit: str = "") -> str:
    """The cluster token: ``explicit`` if given, else ``$EDGERAY_HOME/token`` (created 0600).

    A token file that exists but is empty (or only whitespace) is refused: ``TokenFileError``."""
    if explicit:
        return explicit
    path = token_file()
    token = _token_in(path)
    if token is not None:
        return token
    home_dir()
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token


def read_token() -> str | None:
    """The token in ``$EDGERAY_HOME/token``, None without the file; ``TokenFileError`` if empty."""
    return _token_in(token_file())


def address_file() -> Path:
    return home() / "address.json"


def write_address(info: dict[str, Any]) -> None:
    write_private(address_file(), json.dumps(info))


def read_address() -> dict[str, Any] | None:
    """The running local node's address, or None (no file, or its process is gone)."""
    try:
        info = json.loads(address_file().read_text())
    except (FileNotFoundError, ValueError):
        return None
    pid = info.get("pid")
    if not isinstance(pid, int) or not pid_alive(pid):
        return None
    return info


def remove_address(pid: int) -> None:
    try:
        info = json.loads(address_file().read_text())
    except (FileNotFoundError, ValueError):
        return
    if info.get("pid") == pid:
        try:
            address_file().unlink()
        except FileNotFoundError:
            pass


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs; a killed process its parent has not reaped yet (a zombie) is dead."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return True
    return stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] != b"Z"


def node_dir(node_id_hex: str) -> Path:
    """``nodes/<id>/`` with its ``logs/``, both 0700."""
    d = home() / "nodes" / node_id_hex[:12]
    private_dir(d / "logs")
    return d


def running_nodes() -> list[dict[str, Any]]:
    """The records (``nodes/<id>/node.json``) of the nodes under this home whose process lives."""
    out = []
    for f in sorted((home() / "nodes").glob("*/node.json")):
        try:
            info = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(info, dict) and isinstance(info.get("pid"), int) and pid_alive(info["pid"]):
            out.append(info)
    return out
