"""Worker processes: how to start one, and the node's record of each."""

from __future__ import annotations

import os
from typing import Any

from .._launch import worker_command

STARTING = "starting"
IDLE = "idle"
BUSY = "busy"
ACTOR = "actor"
DEAD = "dead"


class WorkerRecord:
    __slots__ = ("worker_id", "process", "pid", "state", "peer", "task", "actor_id", "blocked", "started_at", "idle_since")

    def __init__(self, worker_id: bytes, process: Any, started_at: float) -> None:
        self.worker_id = worker_id
        self.process = process
        self.pid: int = process.pid if process is not None else 0
        self.state = STARTING
        self.peer: Any = None
        self.task: Any = None  # the TaskRecord running (pooled worker)
        self.actor_id: bytes | None = None
        self.blocked = False
        self.started_at = started_at
        self.idle_since = started_at


def spawn_process(worker_id: bytes, env_base: dict[str, str], log_dir: str) -> Any:
    """Start one worker process (a ``subprocess.Popen``); it connects to the node by itself."""
    import subprocess

    env = dict(os.environ)
    env.update(env_base)
    env["EDGERAY_WORKER_ID"] = worker_id.hex()
    path = os.path.join(log_dir, f"worker-{worker_id.hex()[:8]}.log")
    with open(path, "ab") as logf:
        return subprocess.Popen(worker_command(), env=env, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
