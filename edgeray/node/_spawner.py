"""Worker processes of a node: started in the node's nursery, their exits reported to a callback.

The spawner is the worker pool's effects (``raylet._worker_pool.WorkerEffects``) on a real
node. It is made before the node's core (which receives it) and runs once the node's nursery
is open (``run_in``): until then it starts nothing (``spawn_worker`` answers None).

Each worker's stdout and stderr go to its ``worker-<id>.out`` and ``.err`` under the session's
log directory (the worker itself forwards its lines to the drivers and rotates the files:
``edgeray._logfiles``); a worker the launcher started before the node
was up (a ``subprocess.Popen``) is adopted and watched from a thread.

With ``[node] worker_start = "fork"`` (the default) workers are forked from the node's worker
template (``_forkserver``), a fresh interpreter only where the template is not available.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from typing import Any

import trio

from ..raylet import _workers as W
from ._forkserver import ForkedProcess, ForkServer

#: told when a worker's process exited: ``(worker_id, returncode)``
OnExit = Callable[[bytes, "int | None"], None]


class ProcessSpawner:
    """Starts worker processes in the node's nursery and reports their exits to ``on_exit``."""

    def __init__(self, node_env: dict[str, str], log_dir: str, worker_start: str = "fork") -> None:
        if worker_start not in ("fork", "spawn"):
            raise ValueError(f"worker_start must be 'fork' or 'spawn', not {worker_start!r}")
        self.env = node_env
        self.log_dir = log_dir
        self.cmd = W.worker_command()
        self._nursery: trio.Nursery | None = None
        self._on_exit: OnExit | None = None
        self._forks: ForkServer | None = None
        if worker_start == "fork" and hasattr(os, "fork"):
            self._forks = ForkServer(W.worker_env(b"", node_env), os.path.join(log_dir, "template.log"))

    def run_in(self, nursery: trio.Nursery, on_exit: OnExit) -> None:
        """Start workers in ``nursery`` from now on, telling ``on_exit`` when each exits (as
        trio's ``serve_listeners`` takes its handler when it serves)."""
        self._nursery, self._on_exit = nursery, on_exit
        if self._forks is not None:
            nursery.start_soon(self._forks.run)

    def spawn_worker(self) -> W.WorkerRecord | None:
        if self._nursery is None:
            return None
        rec = W.WorkerRecord(os.urandom(16), None, time.monotonic())
        self._nursery.start_soon(self._run, rec)
        return rec

    def adopt(self, worker_id: bytes, proc: Any) -> W.WorkerRecord:
        """Take over a worker started before the node was up (a ``subprocess.Popen``)."""
        assert self._nursery is not None, "adopt runs in the nursery (run_in first)"
        rec = W.WorkerRecord(worker_id, proc, time.monotonic())
        self._nursery.start_soon(self._watch_popen, rec)
        return rec

    def _exited(self, rec: W.WorkerRecord, returncode: int | None) -> None:
        assert self._on_exit is not None
        self._on_exit(rec.worker_id, returncode)

    async def _watch_popen(self, rec: W.WorkerRecord) -> None:
        proc = rec.process
        try:
            await trio.to_thread.run_sync(proc.wait, abandon_on_cancel=True)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            self._exited(rec, proc.returncode)

    async def _run(self, rec: W.WorkerRecord) -> None:
        import subprocess

        env = W.worker_env(rec.worker_id, self.env)
        out_path, err_path = W.log_paths(self.log_dir, rec.worker_id)
        with W.open_log(out_path) as outf, W.open_log(err_path) as errf:
            proc: trio.Process | ForkedProcess | None = None
            if self._forks is not None:
                proc = await self._forks.fork(env, outf, errf)  # (None: the template is not there)
            if proc is None:
                proc = await trio.lowlevel.open_process(
                    self.cmd, env=env, stdin=subprocess.DEVNULL, stdout=outf, stderr=errf
                )
        rec.process = proc
        rec.pid = proc.pid
        if rec.state == W.DEAD:  # killed before it started
            proc.kill()
        try:
            await proc.wait()
        finally:
            if proc.returncode is None:
                proc.kill()
                with trio.CancelScope(shield=True):
                    await proc.wait()
            self._exited(rec, proc.returncode)

    def kill_worker(self, worker: W.WorkerRecord, force: bool = True) -> None:
        proc = worker.process
        if proc is not None and proc.returncode is None:
            try:
                proc.send_signal(signal.SIGKILL if force else signal.SIGTERM)
            except ProcessLookupError:
                pass
