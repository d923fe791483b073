"""The node's memory monitor (Ray's OOM prevention): kill a worker before the machine runs out.

Every ``node.memory_monitor_refresh_ms`` the monitor samples the memory in use
(``raylet._memory.read_memory``); above ``node.memory_usage_threshold`` it kills one worker
running work, chosen by Ray's default policy (``choose_victim``), and waits for that worker to
exit before it kills another (Ray waits too: the memory is freed when the process is gone).
The worker's task is then retried if it has retries left, else fails with
``OutOfMemoryError``, whose message gives the node's memory use and the threshold (the
``oom`` mark on the worker's record, read by ``PoolWorkers.worker_exited``); an actor is
restarted within its ``max_restarts``. A worker lent to a caller (a lease) is killed only when
nothing else runs; its caller learns why from the node (``worker_exit_cause``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import trio

from ..gcs import _tables as gcs_state
from ..raylet import _workers as W
from ..raylet._memory import Candidate, MemorySnapshot, choose_victim, read_memory
from ..raylet._tasks import TASK

if TYPE_CHECKING:
    from ._core import NodeCore

log = logging.getLogger("edgeray.node")


class MemoryMonitor:
    """Samples memory use on the node's Trio thread and kills a worker above the threshold."""

    def __init__(self, core: NodeCore, threshold: float, refresh_ms: int,
                 read: Callable[[], MemorySnapshot | None] = read_memory) -> None:
        self.core = core
        self.threshold = threshold
        self.period = refresh_ms / 1000
        self.read = read
        self.killing: bytes | None = None  # the worker killed last, until it has exited

    async def run(self) -> None:
        while True:
            await trio.sleep(self.period)
            self.check()

    def check(self) -> None:
        """One sample; a kill when memory use is above the threshold."""
        core = self.core
        if self.killing is not None:
            if self.killing in core.workers:
                return
            self.killing = None
        snap = self.read()
        if snap is None or snap.fraction <= self.threshold:
            return
        picked = choose_victim(self._candidates(leased=False)) or choose_victim(self._candidates(leased=True))
        if picked is None:
            return
        victim, group = picked
        w = core.workers.get(victim.worker_id)
        if w is None or core.spawner is None:
            return
        what = self._describe(w)
        w.oom = (
            f"Task was killed due to the node running low on memory. Memory on the node (ID: "
            f"{core.node_id.hex()}) was {snap.describe()} (measured: {snap.source}), which exceeds the "
            f"memory usage threshold of {self.threshold}. edgeray killed this worker (pid {w.pid}, {what}) "
            f"because it was the most recently scheduled {'retriable ' if victim.retriable else ''}work "
            f"(of a group of {group}). To see more information about memory usage on this node, use "
            f"`edgeray memory`. Set max_retries to retry tasks killed this way, lower the memory the "
            f"work uses, or raise node.memory_usage_threshold (memory_monitor_refresh_ms=0 disables this)."
        )
        core.stats["workers_killed_oom"] += 1
        log.warning("memory monitor: %s", w.oom)
        self.killing = w.worker_id
        core.oom_kills[w.worker_id] = w.oom  # (a lease holder asks why: ``worker_exit_cause``)
        if len(core.oom_kills) > 1000:
            del core.oom_kills[next(iter(core.oom_kills))]
        core.spawner.kill_worker(w)

    def _candidates(self, leased: bool) -> list[Candidate]:
        core = self.core
        out = []
        for w in core.workers.values():
            t = w.task
            if leased:
                if w.state == W.LEASED and w.lent_to is not None:
                    out.append(Candidate(w.worker_id, w.lent_to, True, w.assigned_at))
            elif w.state == W.BUSY and t is not None and t.spec["kind"] == TASK and not t.done:
                out.append(Candidate(w.worker_id, t.spec["owner"], t.retries_left != 0, w.assigned_at))
            elif w.state == W.ACTOR and w.actor_id is not None:
                actor = core.gcs.actors.get(w.actor_id)
                if actor is not None and actor.state == gcs_state.ALIVE:
                    budget = actor.max_restarts
                    retriable = budget == -1 or actor.restarts < budget
                    out.append(Candidate(w.worker_id, w.actor_id, retriable, w.assigned_at))
        return out

    def _describe(self, w: W.WorkerRecord) -> str:
        if w.state == W.LEASED:
            return "a worker lent to a caller"
        if w.state == W.ACTOR and w.actor_id is not None:
            return f"actor {w.actor_id.hex()}"
        t = w.task
        return f"task {t.spec['name']} ({t.spec['tid'].hex()})" if t is not None else "a worker"
