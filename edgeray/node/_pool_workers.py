"""A node's pool workers outside of dispatch: lent to callers, blocked, exited.

``PoolWorkers`` (``core.pool_workers``) holds what happens to a worker between the tasks the core
dispatches to it: Ray's worker leases (an idle pool worker lent to a caller on this machine,
which sends it tasks directly while the lease holds the task shape's resources), a task blocked in
``get``/``wait`` lending its CPU out until it resumes (so nested tasks never deadlock), and a
worker's exit (its task retried or failed, its actor restarted or dead, the pool refilled).
The workers' states are the pool's (``raylet._worker_pool.WorkerPool``): this module adds what
the node does around them (the resources a lease or a blocked task holds, the task a dead
worker leaves). Like the core, it runs on the node's Trio thread; its handlers are synchronous.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .. import exceptions as exc
from ..raylet import _workers as W
from ..raylet import to_units
from ..raylet._resources import ResourcePool
from ..raylet._tasks import TASK

if TYPE_CHECKING:
    from ._core import NodeCore
    from ._records import Peer


class PoolWorkers:
    """Leases, blocking and exits of one node's workers (``NodeCore.workers`` holds them)."""

    def __init__(self, core: NodeCore) -> None:
        self.core = core

    # ------------------------------------------------------------------ worker leases
    def lease_worker(self, peer: Peer, res: dict[str, Any]) -> dict[str, Any] | None:
        """Ray's worker lease: lend an idle pool worker to ``peer``, which sends it tasks that
        need ``res`` (no GPUs) directly, holding those resources until it returns the lease.
        None when there is no idle worker or room, or when tasks wait here already (they come
        first); ``{"unfit": True}`` when this node can never hold ``res``; ``{"never": True}``
        for a peer that is not on this machine."""
        core = self.core
        if peer.role == "node" or not peer.shm or not core.node_socket:
            return {"never": True}
        if core.ready:
            return None
        req = {k: to_units(float(v)) for k, v in res.items() if isinstance(v, int | float) and v}
        if "GPU" in req or not core.resources.feasible(req):
            return {"unfit": True}
        if not core.resources.fits(req):
            return None
        key = W.pool_key(req)  # (leases are for CPU-only work: never a worker that ran GPU work)
        w = core.pool.lend(key, peer.peer_id, req)
        if w is None:
            return None
        core.resources.acquire(req)
        cpus = float(res.get("CPU", 0) or 0)
        env = {"OMP_NUM_THREADS": str(max(1, int(cpus))) if cpus else "1", "CUDA_VISIBLE_DEVICES": ""}
        return {"path": W.direct_socket(core.node_socket, w.worker_id), "worker_id": w.worker_id, "env": env}

    def return_lease(self, peer: Peer, worker_id: bytes) -> None:
        core = self.core
        held = core.pool.returned(peer.peer_id, worker_id)
        if held is None:
            return
        core.resources.release(held)
        core.schedule()

    # ------------------------------------------------------------------ blocking
    def worker_blocked(self, peer: Peer, task_id: bytes) -> None:
        self._set_blocked(peer, task_id, True)

    def worker_unblocked(self, peer: Peer, task_id: bytes) -> None:
        self._set_blocked(peer, task_id, False)

    def _set_blocked(self, peer: Peer, task_id: bytes, blocked: bool) -> None:
        """A task waits in ``get``/``wait`` (``blocked``), or goes on: its CPU is lent out
        meanwhile (from the node's resources for a leased worker, else from the pool the task
        holds it in), so the tasks it waits for can run."""
        core = self.core
        w = core.workers.get(peer.peer_id)
        if w is None or w.blocked == blocked or w.state not in W.BLOCKABLE:
            return
        pool: ResourcePool | None
        if w.state == W.LEASED:  # its caller's task waits
            pool, cpu = core.resources, w.lent.get("CPU", 0)
        else:
            t = core.running.get(task_id)
            if t is None or t.spec["kind"] != TASK:
                return
            pool, cpu = core.pool_of(t), t.held.get("CPU", 0)
        core.pool.set_blocked(w, blocked)
        if cpu and pool is not None:
            if blocked:
                pool.release({"CPU": cpu})
            else:
                pool.acquire_forced({"CPU": cpu})
        if blocked:
            core.schedule()

    # ------------------------------------------------------------------ worker death
    def worker_exited(self, worker_id: bytes, returncode: int | None) -> None:
        core = self.core
        gone = core.pool.exited(worker_id, returncode)
        if gone is None:  # (a worker the node retired is DEAD already: its record goes now too)
            return
        w, prev, lent = gone
        core.gcs.task_events.worker_died(w.pid)
        t = w.task
        if lent:
            core.resources.release(lent)
        if core.node_socket:  # its socket for direct callers
            try:
                os.unlink(W.direct_socket(core.node_socket, worker_id))
            except OSError:
                pass
        if prev == W.ACTOR and w.actor_id is not None:
            actor = core.gcs.actors.get(w.actor_id)
            if actor is not None:
                if w.oom is not None and not (actor.max_restarts == -1 or actor.restarts < actor.max_restarts):
                    actor.death_exc = exc.ActorDiedError(f"The actor {actor.class_name} died: {w.oom}", actor.actor_id.hex())
                core.actors.worker_died(actor, returncode, t)
        elif t is not None and not t.done:
            core.running.pop(t.spec["tid"], None)
            core.release_worker(t, w)  # (a task blocked in get had lent its CPU out: not released twice)
            if t.cancelled:
                core.fail_returns(t.spec, exc.TaskCancelledError(f"Task {t.spec['name']} ({t.spec['tid'].hex()}) was cancelled (force=True)."))
                core.release_pins(t)
                t.done = True
            elif core.tasks.retry(t):
                t.worker = None
            else:
                core.fail_returns(t.spec, _crash_error(t.spec, w, returncode))
                core.release_pins(t)
        core.actors.owner_exited(worker_id, w.pid)
        if prev != W.ACTOR:
            core.pool.refill()
        core.schedule()


def _crash_error(spec: Any, w: W.WorkerRecord, returncode: int | None) -> exc.RayError:
    """Why a task whose worker died fails: the memory monitor killed it, or it crashed."""
    retries = f"max_retries={spec['opts'].get('max_retries', 3)}"
    if w.oom is not None:
        return exc.OutOfMemoryError(f"{w.oom} No retries left ({retries}).")
    return exc.WorkerCrashedError(
        f"The worker running {spec['name']} died unexpectedly (exit code {returncode}); no retries left ({retries})."
    )
