"""The files under ``EDGERAY_HOME``: the cluster token, the address file, per-node dirs.

Used by the node, the CLI and drivers alike; standard library only (drivers must not import trio)."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any


def home() -> Path:
    return Path(os.environ.get("EDGERAY_HOME") or Path.home() / ".edgeray")


def load_or_create_token(explicit: str = "") -> str:
    """The cluster token: ``explicit`` if given, else ``$EDGERAY_HOME/token`` (created 0600)."""
    if explicit:
        return explicit
    path = home() / "token"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token


def read_token() -> str | None:
    try:
        return (home() / "token").read_text().strip()
    except FileNotFoundError:
        return None


def address_file() -> Path:
    return home() / "address.json"


def write_address(info: dict[str, Any]) -> None:
    path = address_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(info))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


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
    d = home() / "nodes" / node_id_hex[:12]
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return d

