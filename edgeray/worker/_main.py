"""Entry point of a worker process."""

from __future__ import annotations

import os
import sys
import time


def _check_parent() -> None:
    """Exit at once if the node that started us is already gone.

    No ``PR_SET_PDEATHSIG`` here: the kernel sends it when the *thread* that forked us exits,
    and Trio forks workers from its thread cache, whose idle threads exit after ten seconds,
    which SIGKILLed healthy workers and actors. A worker leaves when its connection to the
    node closes (``CoreClient._connection_lost``), which also covers a node killed with -9.
    """
    parent = int(os.environ.get("EDGERAY_PARENT_PID", "0") or 0)
    if parent and os.getppid() != parent:
        os._exit(1)


def main() -> None:
    _check_parent()
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
                on_cancel=executor.cancel_from,
            )
            break
        except (FileNotFoundError, ConnectionRefusedError):
            if time.monotonic() > deadline:
                raise
            _check_parent()
            time.sleep(0.01)
    set_current_client(client)
    executor.attach(client)
    try:
        executor.run_forever()
    finally:
        executor.events.flush()  # what direct calls did since the last report, before it is lost
        sys.stdout.flush()
        os._exit(0)
