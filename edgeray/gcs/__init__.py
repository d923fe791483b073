"""The GCS: cluster-wide tables (nodes, jobs, actors, named actors, functions, KV), written
through to a persistence backend (``DurableGcs``) for what must survive a restart.

Rule: imports ``edgeray.protocol``, ``edgeray.plugins``, ``edgeray.exceptions`` and the standard
library; the tables are plain synchronous objects owned by the head node's Trio thread.
"""

from ._directory import ActorDirectory, DirectoryEffects
from ._durable import DurableGcs
from ._tables import ActorRecord, GcsTables, JobRecord, PlacementGroupRecord

__all__ = ["ActorDirectory", "ActorRecord", "DirectoryEffects", "DurableGcs", "GcsTables", "JobRecord", "PlacementGroupRecord"]
