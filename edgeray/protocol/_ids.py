"""Object ids as every layer builds them: a task's return values and a put's object.

An object id is 20 bytes: the 16-byte id of the task that makes it, then a 4-byte big-endian
index, 1-based for the task's return values (Ray's rule: ``ObjectID = TaskID + index``) and 0
for an object put by a process (its 16 bytes are then a fresh id of the putter's, never a
task's). This module is the one place that spells the layout out.
"""

from __future__ import annotations

from typing import Any

#: the length of the index that follows a task id in an object id
INDEX_BYTES = 4


def return_id(task_id: bytes, index: int) -> bytes:
    """The object id of a task's ``index``-th return value (1-based, as Ray's)."""
    return task_id + index.to_bytes(INDEX_BYTES, "big")


def return_ids(spec: dict[str, Any]) -> list[bytes]:
    """The ids of the ``spec["rets"]`` return values of the task ``spec``."""
    tid = spec["tid"]
    return [tid + i.to_bytes(INDEX_BYTES, "big") for i in range(1, spec["rets"] + 1)]


def put_id(unique: bytes) -> bytes:
    """The object id of a value put by a process (``unique``: a fresh 16-byte id of its own)."""
    return unique + bytes(INDEX_BYTES)
