"""Worker processes: how to start one, and the node's record of each."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, BinaryIO

from .._launch import worker_command

STARTING = "starting"
IDLE = "idle"
BUSY = "busy"
ACTOR = "actor"
LEASED = "leased"  # lent to a caller, who sends it tasks directly
RETIRING = "retiring"  # ran a function's ``max_calls``: told to exit, takes nothing more
DEAD = "dead"
#: a pool worker that runs, or will run, tasks (not an actor's, not leaving)
TAKING_WORK = frozenset((STARTING, IDLE, BUSY, LEASED))


@dataclass(frozen=True, slots=True)
class PoolKey:
    """What a pool worker is dedicated to once it has run work; work only goes to workers of its
    own key (or to fresh ones), as Ray keeps workers apart, so GPU state and
    ``CUDA_VISIBLE_DEVICES`` never leak between GPU and CPU-only work. Room is left for Ray's
    other half of the key: the hash of the runtime env a worker is dedicated to."""

    gpu: bool
    runtime_env_hash: str = ""


def pool_key(req: dict[str, int]) -> PoolKey:
    """The key of work that needs ``req`` (resources in units)."""
    return PoolKey(gpu=bool(req.get("GPU")))


class WorkerRecord:
    __slots__ = ("worker_id", "process", "pid", "state", "peer", "task", "actor_id", "blocked", "started_at", "idle_since",
                 "lent_to", "lent", "calls", "key", "assigned_at", "oom")

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
        self.lent_to: bytes | None = None  # LEASED: the caller's peer id, and the resources held
        self.lent: dict[str, int] = {}
        self.calls: dict[bytes, int] = {}  # function id -> tasks of it run (for ``max_calls``)
        self.key: PoolKey | None = None  # what it is dedicated to (None: fresh, it takes any work)
        self.assigned_at = started_at  # when its current work (task, actor, lease) was given to it
        self.oom: str | None = None  # why the memory monitor killed it, once it has

    def takes(self, key: PoolKey) -> bool:
        """Work of ``key`` may run here: the worker is fresh, or dedicated to that key."""
        return self.key is None or self.key == key


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
    return env


def open_log(path: str) -> BinaryIO:
    """A worker's log file, opened for appending; created 0600 (only the user reads it)."""
    return open(path, "ab", opener=lambda p, flags: os.open(p, flags | os.O_CLOEXEC, 0o600))


def spawn_process(worker_id: bytes, env_base: dict[str, str], log_dir: str) -> Any:
    """Start one worker process (a ``subprocess.Popen``); it connects to the node by itself."""
    import subprocess

    env = worker_env(worker_id, env_base)
    with open_log(os.path.join(log_dir, f"worker-{worker_id.hex()[:8]}.log")) as logf:
        return subprocess.Popen(worker_command(), env=env, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
