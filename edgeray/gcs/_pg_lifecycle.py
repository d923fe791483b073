"""A placement group's states, and the bookkeeping of its two-phase creation across nodes.

States (Ray's ``PlacementGroupTableData.PlacementGroupState``)::

    PENDING       asked for; its bundles not (all) reserved yet: tried again as resources free
    CREATED       every bundle reserved, on the nodes ``PlacementGroupRecord.nodes`` names
    RESCHEDULING  created, then bundles lost with a node (or a restarted head's detached group
                  waiting for its nodes): the lost bundles are being reserved again
    REMOVED       for good (``remove_placement_group``, its job ended)

Events and transitions (``TRANSITIONS``; any other pair raises ``PlacementGroupStateError``)::

    RESERVED      PENDING, RESCHEDULING -> CREATED   every bundle is reserved (again)
    BUNDLES_LOST  CREATED -> RESCHEDULING            a node holding bundles of it died
    RESTORED      PENDING -> RESCHEDULING            a restarted head's detached group
    REMOVED       PENDING, CREATED, RESCHEDULING -> REMOVED

Two-phase creation (``TwoPhase``): when a group's bundles go to other nodes, the node that owns
the group reserves its own share first, then asks each other node to reserve its share (all of
that node's bundles or none). ``TwoPhase`` keeps one round per group: the nodes still to answer,
those that said yes, whether any said no, and which bundles the round places. The round ends
when the last node answers (``answer`` returns it); the caller then creates the group, or gives
back what was reserved (the yeses, and its own share) and leaves the group pending. It is pure
bookkeeping: the asking and the giving back are the node's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._tables import PlacementGroupRecord

PG_PENDING = "PENDING"
PG_CREATED = "CREATED"
PG_REMOVED = "REMOVED"
PG_RESCHEDULING = "RESCHEDULING"
PG_STATES = (PG_PENDING, PG_CREATED, PG_RESCHEDULING, PG_REMOVED)

RESERVED = "RESERVED"
BUNDLES_LOST = "BUNDLES_LOST"
RESTORED = "RESTORED"
REMOVED = "REMOVED"

#: state -> event -> the state it leads to
TRANSITIONS: dict[str, dict[str, str]] = {
    PG_PENDING: {RESERVED: PG_CREATED, RESTORED: PG_RESCHEDULING, REMOVED: PG_REMOVED},
    PG_CREATED: {BUNDLES_LOST: PG_RESCHEDULING, REMOVED: PG_REMOVED},
    PG_RESCHEDULING: {RESERVED: PG_CREATED, REMOVED: PG_REMOVED},
    PG_REMOVED: {},
}


class PlacementGroupStateError(RuntimeError):
    """An event the group's state does not allow (a bug in the node, never the user's)."""


def advance_pg(rec: PlacementGroupRecord, event: str) -> str:
    """Move the group ``rec`` by ``event`` (``TRANSITIONS``); its new state."""
    nxt = TRANSITIONS[rec.state].get(event)
    if nxt is None:
        raise PlacementGroupStateError(f"placement group {rec.pg_id.hex()}: {event} is not allowed when {rec.state}")
    rec.state = nxt
    return nxt


@dataclass
class Round:
    """One group's round of reservations on other nodes."""

    waiting: set[bytes]  # the nodes still to answer
    indices: list[int]  # the bundles this round places
    ok: set[bytes] = field(default_factory=set)  # the nodes that reserved their share
    failed: bool = False  # a node refused (or did not answer)


class TwoPhase:
    """The rounds of two-phase creation in progress (see the module's docstring)."""

    def __init__(self) -> None:
        self._rounds: dict[bytes, Round] = {}

    def __contains__(self, pg_id: object) -> bool:
        return pg_id in self._rounds

    def __len__(self) -> int:
        return len(self._rounds)

    def begin(self, pg_id: bytes, nodes: Iterable[bytes], indices: list[int]) -> None:
        """A round for ``pg_id``: ``nodes`` are asked to reserve their share of ``indices``."""
        self._rounds[pg_id] = Round(set(nodes), indices)

    def answer(self, pg_id: bytes, node_id: bytes, ok: bool) -> Round | None:
        """``node_id`` answered for ``pg_id``: the finished round once no node is left to
        answer (it is then forgotten), else None (None too for a round not in progress)."""
        rnd = self._rounds.get(pg_id)
        if rnd is None:
            return None
        rnd.waiting.discard(node_id)
        if ok:
            rnd.ok.add(node_id)
        else:
            rnd.failed = True
        if rnd.waiting:
            return None
        del self._rounds[pg_id]
        return rnd
