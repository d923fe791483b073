"""Worker processes of a node: started in the node's nursery, their exits reported to the core.

Each worker's stdout and stderr go to its log file under the session's log directory (the
worker itself forwards its lines to the drivers); a worker the launcher started before the node
was up (a ``subprocess.Popen``) is adopted and watched from a thread.
"""

from __future__ import annotations

import os
import signal
import time
from typing import TYPE_CHECKING, Any

import trio

from ..raylet import _workers as W

if TYPE_CHECKING:
    from ._core import NodeCore


class ProcessSpawner:
    """Starts worker processes in the node's nursery and reports their exits to the core."""

    def __init__(self, core: NodeCore, nursery: trio.Nursery, node_env: dict[str, str], log_dir: str) -> None:
        self.core = core
        self.nursery = nursery
        self.env = node_env
        self.log_dir = log_dir
        self.cmd = W.worker_command()

    def spawn_worker(self) -> W.WorkerRecord:
        rec = W.WorkerRecord(os.urandom(16), None, time.monotonic())
        self.nursery.start_soon(self._run, rec)
        return rec

    def adopt(self, worker_id: bytes, proc: Any) -> W.WorkerRecord:
        """Take over a worker started before the node was up (a ``subprocess.Popen``)."""
        rec = W.WorkerRecord(worker_id, proc, time.monotonic())
        self.nursery.start_soon(self._watch_popen, rec)
        return rec

    async def _watch_popen(self, rec: W.WorkerRecord) -> None:
        proc = rec.process
        try:
            await trio.to_thread.run_sync(proc.wait, abandon_on_cancel=True)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            self.core.pool_workers.worker_exited(rec.worker_id, proc.returncode)

    async def _run(self, rec: W.WorkerRecord) -> None:
        import subprocess

        env = W.worker_env(rec.worker_id, self.env)
        path = os.path.join(self.log_dir, f"worker-{rec.worker_id.hex()[:8]}.log")
        with W.open_log(path) as logf:
            proc = await trio.lowlevel.open_process(
                self.cmd, env=env, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf
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
            self.core.pool_workers.worker_exited(rec.worker_id, proc.returncode)

    def kill_worker(self, worker: W.WorkerRecord, force: bool = True) -> None:
        proc = worker.process
        if proc is not None and proc.returncode is None:
            try:
                proc.send_signal(signal.SIGKILL if force else signal.SIGTERM)
            except ProcessLookupError:
                pass
