"""The actor lifecycle: an actor's states, the events that move it, and its one restart path.

States (Ray's ``ActorTableData.ActorState``)::

    PENDING_CREATION  registered, its constructor not yet run (or running) where it is placed
    ALIVE             its constructor returned here, or it runs on another node
    RESTARTING        its incarnation was lost and restarts were left: its constructor runs again
    DEAD              for good: killed, out of scope, its owner gone, its restarts spent

Ray's DEPENDENCIES_UNREADY is not told apart: an actor whose constructor waits for its
arguments is PENDING_CREATION here, as edgeray's state API has always shown it.

Events and transitions (``TRANSITIONS``; any other pair raises ``ActorStateError``)::

    CREATED    PENDING_CREATION, RESTARTING -> ALIVE       its constructor returned on this node
    PLACED     PENDING_CREATION, RESTARTING, ALIVE -> ALIVE its creation went to (or is found on)
                                                          another node
    LOST       PENDING_CREATION, ALIVE, RESTARTING -> RESTARTING   a restart (``lose``)
    RESTORED   PENDING_CREATION -> RESTARTING              a detached actor the head restores
    ADOPTED    any -> PENDING_CREATION                     another node placed it here: that node
                                                          owns its life, and may bring back a
                                                          record this node had seen die
    DIED       any -> DEAD                                 (again: dying twice is harmless)

The one restart path (``ActorLifecycle.lose``): an incarnation is lost with its worker process
(``WORKER``), with the node a creation was forwarded to before it finished (``FORWARD``), or
with the node it ran on (``HOST``). Whatever the source: an actor already dead stays dead (its
calls fail); if its constructor's arguments are lost, or ``max_restarts`` is spent, it dies;
else it is counted a restart, becomes RESTARTING, the calls sent to the lost incarnation are
queued again (``Loss.calls``) and its creation is made again (``ActorEffects.recreate``). A call
queued again has ``max_task_retries`` left, or fails with ``RayActorError``.

``ActorLifecycle`` holds no state of its own: the records are the GCS tables' (``GcsTables``);
it acts on the node through ``ActorEffects`` and never refers to the node. Synchronous, no I/O.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .. import exceptions as exc

if TYPE_CHECKING:
    from ._tables import ActorRecord, GcsTables

PENDING = "PENDING_CREATION"
ALIVE = "ALIVE"
RESTARTING = "RESTARTING"
DEAD = "DEAD"
STATES = (PENDING, ALIVE, RESTARTING, DEAD)

CREATED = "CREATED"
PLACED = "PLACED"
LOST = "LOST"
RESTORED = "RESTORED"
ADOPTED = "ADOPTED"
DIED = "DIED"

#: state -> event -> the state it leads to
TRANSITIONS: dict[str, dict[str, str]] = {
    PENDING: {CREATED: ALIVE, PLACED: ALIVE, LOST: RESTARTING, RESTORED: RESTARTING, ADOPTED: PENDING, DIED: DEAD},
    ALIVE: {PLACED: ALIVE, LOST: RESTARTING, ADOPTED: PENDING, DIED: DEAD},
    RESTARTING: {CREATED: ALIVE, PLACED: ALIVE, LOST: RESTARTING, ADOPTED: PENDING, DIED: DEAD},
    DEAD: {ADOPTED: PENDING, DIED: DEAD},
}


class ActorStateError(RuntimeError):
    """An event the actor's state does not allow (a bug in the node, never the user's)."""


def advance(actor: ActorRecord, event: str) -> str:
    """Move ``actor`` by ``event`` (``TRANSITIONS``); its new state."""
    nxt = TRANSITIONS[actor.state].get(event)
    if nxt is None:
        raise ActorStateError(f"actor {actor.actor_id.hex()}: {event} is not allowed when {actor.state}")
    actor.state = nxt
    return nxt


# what was lost (``Loss.source``)
WORKER = "worker"
FORWARD = "forward"
HOST = "host"
# what becomes of the calls sent to the lost incarnation (``Loss.calls``)
CRASHED = "crashed"  # waiting ones first again, in order; the running ones (may have crashed it) last
IN_ORDER = "in_order"  # all first again, in their order
OWN = "own"  # left where they are: each call's own loss requeues it (``call_lost``)


@dataclass(frozen=True)
class Loss:
    """An actor's incarnation lost: from where, why (said in errors), what of its calls."""

    source: str
    why: str
    calls: str
    args_lost: bool = False  # its constructor's arguments are gone: it cannot run again
    death_error: bool = False  # if it dies, its calls raise an ``ActorDiedError`` with the cause

    @classmethod
    def worker(cls, returncode: int | None) -> Loss:
        return cls(WORKER, f"exit code {returncode}", CRASHED)

    @classmethod
    def forward(cls, why: str) -> Loss:
        return cls(FORWARD, why, IN_ORDER)

    @classmethod
    def host(cls, node_id: bytes, args_lost: bool) -> Loss:
        return cls(HOST, f"the node {node_id.hex()} running the actor died", OWN, args_lost, death_error=True)

    def death_cause(self, budget: int) -> str:
        if self.args_lost:
            return f"{self.why}, and its constructor's arguments are lost."
        if self.source == WORKER:
            return f"The actor's worker process died ({self.why}) and max_restarts={budget} is spent."
        return f"{self.why}, and max_restarts={budget} is spent."


class ActorEffects(Protocol):
    """What the lifecycle asks of the node that runs the actors."""

    def fail_call(self, call: Any, error: BaseException) -> None:
        """The call's returns are ``error``; its arguments are no longer pinned for it."""

    def forget_running(self, tid: bytes) -> None:
        """The task ``tid`` no longer runs on a worker here."""

    def restarting(self, actor: ActorRecord) -> None:
        """``actor`` is counted a restart (the node's statistics)."""

    def recreate(self, actor: ActorRecord, loss: Loss, creation: Any) -> None:
        """Submit the actor's creation again (``creation``: what is left of its task, if any)."""


def death_error(actor: ActorRecord | None) -> BaseException:
    """The error a call on the dead (or unknown) ``actor`` raises."""
    if actor is not None and actor.death_exc is not None:
        return actor.death_exc
    if actor is None:
        return exc.ActorDiedError("The actor is unknown to this cluster (it may have been created by another session).")
    return exc.ActorDiedError.for_actor(actor.class_name, actor.actor_id.hex(), str(actor.death_cause),
                                        actor.name, actor.namespace)


def caller_key(spec: dict[str, Any]) -> bytes:
    """The ordering queue of an actor call: its owner process and the handle it came through."""
    return spec["owner"] + spec["opts"].get("caller", b"")  # type: ignore[no-any-return]


class ActorLifecycle:
    """Actors' deaths and restarts over the GCS tables (see the module's docstring)."""

    def __init__(self, tables: GcsTables, effects: ActorEffects) -> None:
        self._tables = tables
        self._effects = effects

    def die(self, actor: ActorRecord, cause: str, error: BaseException | None = None) -> None:
        """Dead for good (the tables forget its name); its calls fail (with ``error`` if given)."""
        self._tables.mark_dead(actor, cause)
        if error is not None:
            actor.death_exc = error
        self.fail_calls(actor)

    def fail_calls(self, actor: ActorRecord) -> None:
        """Every call queued or sent to the dead ``actor`` fails with its death error."""
        for q in actor.queues.values():
            while q:
                t = q.popleft()
                if not t.done:  # (one cancelled while queued has its result already)
                    self._effects.fail_call(t, death_error(actor))
        for tid, t in list(actor.inflight.items()):
            actor.inflight.pop(tid)
            self._effects.forget_running(tid)
            self._effects.fail_call(t, death_error(actor))

    def lose(self, actor: ActorRecord, loss: Loss, creation: Any = None) -> bool:
        """The one restart path (the module's docstring): True if the actor restarts."""
        if actor.state == DEAD:
            self.fail_calls(actor)
            return False
        budget = actor.max_restarts
        if loss.args_lost or (budget != -1 and actor.restarts >= budget):
            cause = loss.death_cause(budget)
            error = exc.ActorDiedError(f"The actor {actor.class_name} is dead: {cause}", actor.actor_id.hex())
            self.die(actor, cause, error if loss.death_error else None)
            return False
        actor.restarts += 1
        self._effects.restarting(actor)
        advance(actor, LOST)
        actor.host = actor.worker_id = None
        self._requeue_sent(actor, loss)
        self._effects.recreate(actor, loss, creation)
        return True

    def call_lost(self, actor: ActorRecord | None, t: Any, why: str) -> None:
        """A call forwarded to another node that died before it finished: queued again if its
        actor restarts, else it fails."""
        if actor is not None:
            actor.inflight.pop(t.spec["tid"], None)
            if actor.state == RESTARTING:
                self._requeue(actor, t, why, last=False)
                return
        self._effects.fail_call(t, exc.RayActorError(f"The actor died: {why}.", t.spec["actor"].hex()))

    def _requeue_sent(self, actor: ActorRecord, loss: Loss) -> None:
        """The calls sent to the lost incarnation, as ``loss.calls`` says: the ones that only
        waited go first again, in their callers' order; the ones that were running (the oldest
        call of an ordered actor; every call sent to a concurrent one) may have crashed it, and
        are retried after the calls queued behind them (Ray gives a retried call a new place at
        the end of its caller's order)."""
        if loss.calls == OWN:
            return
        sent = list(actor.inflight.values())
        actor.inflight.clear()
        running: list[Any] = []
        if loss.calls == CRASHED:
            ordered = not actor.meta.get("unordered", False)
            running, sent = (sent[:1], sent[1:]) if ordered else (sent, [])
        for t, last in [*((t, False) for t in reversed(sent)), *((t, True) for t in running)]:
            self._effects.forget_running(t.spec["tid"])
            self._requeue(actor, t, loss.why, last)

    def _requeue(self, actor: ActorRecord, t: Any, why: str, last: bool) -> None:
        if t.retries_left == 0:
            self._effects.fail_call(t, exc.RayActorError(
                f"The actor {actor.class_name} died while running {t.spec['name']} ({why}); it is restarting "
                "(set max_task_retries to retry calls).", actor.actor_id.hex()))
            return
        if t.retries_left > 0:
            t.retries_left -= 1
        t.worker = None
        q = actor.queues.setdefault(caller_key(t.spec), deque())
        if last:
            q.append(t)
        else:
            q.appendleft(t)
