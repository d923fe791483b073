"""The GCS: cluster-wide tables (jobs, actors, named actors, functions, KV), written through to
a persistence backend (``DurableGcs``) for what must survive a restart; the actor lifecycle
(``ActorLifecycle``: the states, their transitions as data, death and the one restart path),
the head's actor directory (``ActorDirectory``), placement groups' states and the rounds of
their two-phase creation (``_pg_lifecycle``: ``advance_pg``, ``TwoPhase``). Each part owns its
data and acts on the node only through the effects interface it is given at construction
(``ActorEffects``, ``DirectoryEffects``); none refers to the node.

Rule: imports ``edgeray.protocol``, ``edgeray.plugins``, ``edgeray.exceptions`` and the standard
library; the tables and parts are plain synchronous objects (no I/O, no clock) owned by the
node's Trio thread.
"""

from ._actor_lifecycle import (
    ActorEffects,
    ActorLifecycle,
    ActorStateError,
    Loss,
    advance,
    caller_key,
)
from ._directory import ActorDirectory, DirectoryEffects
from ._durable import DurableGcs
from ._tables import ActorRecord, GcsTables, JobRecord, PlacementGroupRecord

__all__ = [
    "ActorDirectory",
    "ActorEffects",
    "ActorLifecycle",
    "ActorRecord",
    "ActorStateError",
    "DirectoryEffects",
    "DurableGcs",
    "GcsTables",
    "JobRecord",
    "Loss",
    "PlacementGroupRecord",
    "advance",
    "caller_key",
]
