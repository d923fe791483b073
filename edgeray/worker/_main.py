"""Entry point of a worker process."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time


def _die_with_parent() -> None:
    """Ask the kernel to kill us if the node dies (Linux), so no worker outlives its node."""
    try:
        libc = ctypes.CDLL(None)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass
    parent = int(os.environ.get("EDGERAY_PARENT_PID", "0") or 0)
    if parent and os.getppid() != parent:
        os._exit(1)


def main() -> None:
    _die_with_parent()
    from ..client import CoreClient, set_current_client
    from ._executor import Executor

    executor = Executor()
    executor.install_cancel_signal()
    deadline = time.monotonic() + 30
    while True:  # workers may be started before their node listens (to start in parallel)
        try:
            client = CoreClient(
                os.environ["EDGERAY_NODE_SOCKET"],
                token=os.environ.get("EDGERAY_TOKEN") or None,
                role="worker",
                worker_id=bytes.fromhex(os.environ["EDGERAY_WORKER_ID"]),
                on_execute=executor.enqueue,
                on_cancel=executor.cancel,
            )
            break
        except (FileNotFoundError, ConnectionRefusedError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
    set_current_client(client)
    executor.attach(client)
    try:
        executor.run_forever()
    finally:
        sys.stdout.flush()
        os._exit(0)
