"""Forwarding: the work this node sent to other nodes, and the objects other nodes hold for it.

``Forwarding`` owns three tables and acts on the world only through ``ForwardEffects`` (send a
message to a node, whether a node is alive), given at construction; the task records it keeps
are the node's (any type with a ``spec``), and it never reads the object directory.

The rules, one table each:

``inflight`` (node -> task id -> task)
    ``sent(node, t)`` records a task forwarded to ``node``; ``finished``/``bounced`` take it out
    when its results are in or it came back unrun; ``node_gone`` takes out all of a node's.
    A value from a node is *expected* (``expects``) only if it is a result of a task that node
    still has from us, or a value we subscribed to there.
``origin`` (object -> node that holds it for us)
    ``subscribe_from(oid, node)`` records it and sends ``AddRef`` then ``Subscribe`` there (the
    node holds it on our behalf until we let go); ``holds_result(oid, node)`` records a forwarded
    task's result the same way, without a message (the task's owner holds it there already);
    ``freed(oid)`` forgets it and sends ``DelRef`` if that node is alive; ``lost_with`` returns
    the objects only a gone node held (forgotten here: nobody is told).
``sent_fns`` (node -> function ids sent)
    ``needs_function(node, fn)`` is true once per node and function (the code travels with the
    first task that needs it); forgotten with the node.
"""

from __future__ import annotations

from typing import Any, Generic, Protocol, TypeVar

from ..protocol import AddRef, DelRef, Message, Subscribe


class ForwardEffects(Protocol):
    def send(self, node_id: bytes, msg: Message) -> None:
        """Send ``msg`` over this node's link to ``node_id`` (opened if need be)."""

    def is_alive(self, node_id: bytes) -> bool: ...


class ForwardedTask(Protocol):
    @property
    def spec(self) -> dict[str, Any]: ...


T = TypeVar("T", bound=ForwardedTask)


class Forwarding(Generic[T]):
    """The node's forwarded work and remote objects (see the module's docstring)."""

    def __init__(self, effects: ForwardEffects) -> None:
        self._effects = effects
        self.origin: dict[bytes, bytes] = {}  # object -> node that holds it for us
        self.inflight: dict[bytes, dict[bytes, T]] = {}  # node -> task id -> forwarded task
        self.sent_fns: dict[bytes, set[bytes]] = {}

    # -- tasks ----------------------------------------------------------------------------
    def needs_function(self, node_id: bytes, fn: bytes) -> bool:
        """Whether ``fn``'s code must go with the next task to ``node_id`` (then it has)."""
        sent = self.sent_fns.setdefault(node_id, set())
        if fn in sent:
            return False
        sent.add(fn)
        return True

    def sent(self, node_id: bytes, t: T) -> None:
        self.inflight.setdefault(node_id, {})[t.spec["tid"]] = t

    def task_for(self, node_id: bytes, oid: bytes) -> T | None:
        """The task forwarded to ``node_id`` whose result ``oid`` is, if it is still there."""
        tasks = self.inflight.get(node_id)
        return tasks.get(oid[:16]) if tasks else None

    def expects(self, node_id: bytes, oid: bytes) -> bool:
        tasks = self.inflight.get(node_id)
        return bool(tasks and oid[:16] in tasks) or self.origin.get(oid) == node_id

    def finished(self, node_id: bytes, task_id: bytes) -> T | None:
        tasks = self.inflight.get(node_id)
        return tasks.pop(task_id, None) if tasks else None

    # -- objects held for us ----------------------------------------------------------------
    def subscribe_from(self, oid: bytes, node_id: bytes) -> None:
        self.origin[oid] = node_id
        self._effects.send(node_id, AddRef([oid]))
        self._effects.send(node_id, Subscribe([oid]))

    def holds_result(self, oid: bytes, node_id: bytes) -> None:
        self.origin.setdefault(oid, node_id)

    def holds(self, oid: bytes) -> bool:
        return oid in self.origin

    def freed(self, oid: bytes) -> None:
        node_id = self.origin.pop(oid, None)
        if node_id is not None and self._effects.is_alive(node_id):
            self._effects.send(node_id, DelRef([oid]))

    # -- failures ---------------------------------------------------------------------------
    def node_gone(self, node_id: bytes) -> dict[bytes, T]:
        """``node_id`` is gone: the tasks it had from us (by task id), taken out."""
        self.sent_fns.pop(node_id, None)
        return self.inflight.pop(node_id, {})

    def lost_with(self, node_id: bytes) -> set[bytes]:
        """The objects only gone ``node_id`` held for us, forgotten (nobody is told)."""
        lost = {oid for oid, n in self.origin.items() if n == node_id}
        for oid in lost:
            self.origin.pop(oid, None)
        return lost
