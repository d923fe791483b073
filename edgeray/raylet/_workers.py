"""Worker processes: how to start one (its environment, its log, its socket for direct calls).

The states and records of workers are the pool's (``_worker_pool``); they are re-exported here
for the modules that read them.
"""

from __future__ import annotations

import os
from typing import Any, BinaryIO

from .._launch import python_command, worker_command
from ._worker_pool import (
    ACTOR,
    BLOCKABLE,
    BUSY,
    DEAD,
    IDLE,
    LEASED,
    RETIRING,
    STARTING,
    TAKING_WORK,
    PoolKey,
    WorkerRecord,
    pool_key,
)

__all__ = ["ACTOR", "BLOCKABLE", "BUSY", "DEAD", "IDLE", "LEASED", "RETIRING", "STARTING", "TAKING_WORK", "PoolKey", "WorkerRecord",
           "pool_key", "direct_socket", "worker_env", "open_log", "log_paths", "log_env", "spawn_process",
           "template_command", "worker_command"]


def direct_socket(node_socket: str, worker_id: bytes) -> str:
    """Where the worker listens for direct actor calls once it hosts an actor: beside the node's
    socket, named after the worker (the worker learns it from ``EDGERAY_DIRECT_SOCKET``)."""
    return os.path.join(os.path.dirname(node_socket), f"w-{worker_id.hex()[:16]}.sock")


def worker_env(worker_id: bytes, node_env: dict[str, str]) -> dict[str, str]:
    """The environment of one worker process: the node's, plus who it is and where to listen."""
    env = dict(os.environ)
    env.update(node_env)
    env["EDGERAY_WORKER_ID"] = worker_id.hex()
    node_socket = node_env.get("EDGERAY_NODE_SOCKET", "")
    env["EDGERAY_DIRECT_SOCKET"] = direct_socket(node_socket, worker_id) if node_socket else ""
    log_dir = node_env.get("EDGERAY_LOG_DIR", "")
    env["EDGERAY_WORKER_LOG"] = os.path.join(log_dir, f"worker-{worker_id.hex()[:8]}") if log_dir else ""
    return env


def template_command(fd: int) -> list[str]:
    """The command line of a node's worker template (``worker._template``), serving on ``fd``."""
    return python_command(f"from edgeray.worker._template import main; main({int(fd)})")


def open_log(path: str) -> BinaryIO:
    """A worker's log file, opened for appending; created 0600 (only the user reads it)."""
    return open(path, "ab", opener=lambda p, flags: os.open(p, flags | os.O_CLOEXEC, 0o600))


def log_paths(log_dir: str, worker_id: bytes) -> tuple[str, str]:
    """A worker's stdout and stderr files, as Ray names them: ``worker-<id>.out`` and ``.err``
    (the worker rotates them itself: ``edgeray._logfiles``)."""
    base = os.path.join(log_dir, f"worker-{worker_id.hex()[:8]}")
    return base + ".out", base + ".err"


def log_env(max_bytes: int, backup_count: int) -> dict[str, str]:
    """The node's ``[log]`` rotation settings, as the worker reads them from its environment."""
    return {"EDGERAY_LOG_MAX_BYTES": str(max_bytes), "EDGERAY_LOG_BACKUP_COUNT": str(backup_count)}


def spawn_process(worker_id: bytes, env_base: dict[str, str], log_dir: str) -> Any:
    """Start one worker process (a ``subprocess.Popen``); it connects to the node by itself."""
    import subprocess

    env = worker_env(worker_id, env_base)
    out_path, err_path = log_paths(log_dir, worker_id)
    with open_log(out_path) as outf, open_log(err_path) as errf:
        return subprocess.Popen(worker_command(), env=env, stdin=subprocess.DEVNULL, stdout=outf, stderr=errf)
