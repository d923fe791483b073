"""The head's cluster-wide actor directory: where each actor runs, and the names taken.

Every node tells the head where the actors it placed run (``actor_placed``) and when they die
(``actor_dead``); the head answers where an actor is (``locate_actor``), which actor holds a
name (``lookup_actor``), whether a name is free (``register_name``: taken by an actor elsewhere
or by one of the head's own, in ``GcsTables``) and which names are taken (``named_actors``).

``ActorDirectory`` owns the directory's data; it reads the head's own actor tables
(``GcsTables``) and acts on the world only through ``DirectoryEffects``. It is synchronous,
pure bookkeeping: no I/O, no clock.
"""

from __future__ import annotations

from typing import Any, Protocol

from ._tables import GcsTables

#: the fields of a placed actor the directory keeps (and ``locate_actor`` answers)
PLACED_FIELDS = ("node_id", "class_name", "name", "namespace", "meta")


class DirectoryEffects(Protocol):
    """What the directory asks of the node it runs in."""

    def actor_placed(self, actor_id: bytes, node_id: bytes) -> None:
        """``node_id`` runs ``actor_id`` (a restored detached actor waiting for it stops waiting)."""

    def bundles_held(self, node_id: bytes, bundles: list[Any]) -> None:
        """``node_id`` (re)joined holding these placement-group bundles."""


class ActorDirectory:
    """The head's actor directory (see the module's docstring)."""

    def __init__(self, tables: GcsTables, node_id: bytes, effects: DirectoryEffects) -> None:
        self._tables = tables
        self._node_id = node_id
        self._effects = effects
        #: actor id -> where it runs (``PLACED_FIELDS``), for actors placed on any node
        self.placed: dict[bytes, dict[str, Any]] = {}
        #: (namespace, name) -> actor id, for names taken by actors placed on any node
        self.named: dict[tuple[str, str], bytes] = {}

    def call(self, method: str, args: dict[str, Any]) -> Any:
        """One directory request: ``actor_placed``, ``bundles_held``, ``locate_actor``,
        ``lookup_actor``, ``register_name``, ``named_actors``, ``actor_dead``."""
        handler = self._methods.get(method)
        if handler is None:
            raise ValueError(f"unknown directory method {method!r}")
        return handler(self, args)

    def _actor_placed(self, args: dict[str, Any]) -> None:
        aid = args["actor_id"]
        self._effects.actor_placed(aid, args["node_id"])
        self.placed[aid] = {k: args.get(k) for k in PLACED_FIELDS}
        if args.get("name"):
            self.named[(str(args.get("namespace")), str(args["name"]))] = aid

    def _bundles_held(self, args: dict[str, Any]) -> None:
        self._effects.bundles_held(args["node_id"], list(args.get("bundles") or []))

    def _locate_actor(self, args: dict[str, Any]) -> dict[str, Any] | None:
        return self.placed.get(args["actor_id"])

    def _lookup_actor(self, args: dict[str, Any]) -> dict[str, Any] | None:
        aid = self.named.get((str(args.get("namespace")), str(args.get("name"))))
        found = self.placed.get(aid) if aid is not None else None
        return None if found is None else {**found, "actor_id": aid}

    def _register_name(self, args: dict[str, Any]) -> dict[str, Any]:
        key = (str(args.get("namespace")), str(args.get("name")))
        taken = self.named.get(key) or self._tables.named.get(key)
        if taken is not None and taken != args.get("actor_id"):
            found = self.placed.get(taken)
            if found is None and taken in self._tables.actors:
                rec = self._tables.actors[taken]
                found = {"node_id": self._node_id, "class_name": rec.class_name, "meta": rec.meta}
            return {"taken": True, "actor_id": taken, **(found or {})}
        self.named[key] = args["actor_id"]
        return {"taken": False}

    def _named_actors(self, args: dict[str, Any]) -> list[tuple[str, str]]:
        return sorted({*self.named, *self._tables.named})  # (live actors: a dead one's name is free again)

    def _actor_dead(self, args: dict[str, Any]) -> None:
        aid = args["actor_id"]
        self.placed.pop(aid, None)
        for key in [k for k, v in self.named.items() if v == aid]:
            del self.named[key]

    _methods = {
        "actor_placed": _actor_placed,
        "bundles_held": _bundles_held,
        "locate_actor": _locate_actor,
        "lookup_actor": _lookup_actor,
        "register_name": _register_name,
        "named_actors": _named_actors,
        "actor_dead": _actor_dead,
    }
