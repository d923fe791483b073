"""Task specs as the raylet uses them: the kinds, return ids, and the spec's validation.

The spec itself (its fields and options, and ``validate_spec``) and the return ids are part of
the wire contract and live in ``edgeray.protocol`` (``_spec``, ``_ids``); these names are
re-exported here for the node.
"""

from __future__ import annotations

from ..protocol._ids import return_id, return_ids
from ..protocol._spec import ACTOR_CALL, ACTOR_CREATE, TASK, TaskSpec, validate_spec

__all__ = ["ACTOR_CALL", "ACTOR_CREATE", "TASK", "TaskSpec", "validate_spec", "return_id", "return_ids"]
