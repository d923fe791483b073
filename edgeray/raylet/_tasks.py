"""Task specs as the raylet uses them: the kinds, return ids, and the spec's validation.

The spec itself (its fields and options, and ``validate_spec``) is part of the wire contract
and lives in ``edgeray.protocol._spec``; these names are re-exported here for the node.
"""

from __future__ import annotations

import struct

from ..protocol._spec import ACTOR_CALL, ACTOR_CREATE, TASK, TaskSpec, validate_spec

__all__ = ["ACTOR_CALL", "ACTOR_CREATE", "TASK", "TaskSpec", "validate_spec", "return_id", "return_ids"]

_RET = struct.Struct(">I")


def return_id(task_id: bytes, index: int) -> bytes:
    """The object id of a task's ``index``-th return value (1-based, as Ray's)."""
    return task_id + _RET.pack(index)


def return_ids(spec: TaskSpec) -> list[bytes]:
    tid = spec["tid"]
    return [tid + _RET.pack(i) for i in range(1, spec["rets"] + 1)]
