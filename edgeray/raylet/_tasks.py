"""The task specification carried by ``SubmitTask``/``Execute``, and its validation.

A spec is a plain dict (fast to encode and decode); ``validate_spec`` checks it field by field
before the node acts on it. Fields:

``tid`` task id (16 bytes) · ``kind`` 0 task, 1 actor creation, 2 actor call · ``fn`` code id ·
``name`` display name · ``args`` pickled (args, kwargs) with top-level refs as placeholders ·
``deps`` top-level object ids · ``nested`` ids nested inside args · ``rets`` number of returns ·
``res`` resources · ``job`` job id · ``owner`` submitter's worker id · ``opts`` other options
(max_retries, retry_exceptions, strategy, env, actor options) · ``actor`` actor id · ``method``
method name · ``seq`` per-caller sequence number of actor calls.
"""

from __future__ import annotations

import struct
from typing import Any

from ..exceptions import ProtocolError

TASK = 0
ACTOR_CREATE = 1
ACTOR_CALL = 2

TaskSpec = dict[str, Any]

_FIELDS: dict[str, tuple[type, ...]] = {
    "tid": (bytes,),
    "kind": (int,),
    "fn": (bytes, type(None)),
    "name": (str,),
    "args": (bytes,),
    "deps": (list,),
    "nested": (list,),
    "rets": (int,),
    "res": (dict,),
    "job": (bytes,),
    "owner": (bytes,),
    "opts": (dict,),
    "actor": (bytes, type(None)),
    "method": (str, type(None)),
    "seq": (int,),
}

_RET = struct.Struct(">I")


def return_id(task_id: bytes, index: int) -> bytes:
    """The object id of a task's ``index``-th return value (1-based, as Ray's)."""
    return task_id + _RET.pack(index)


def return_ids(spec: TaskSpec) -> list[bytes]:
    tid = spec["tid"]
    return [tid + _RET.pack(i) for i in range(1, spec["rets"] + 1)]


def validate_spec(spec: Any) -> TaskSpec:
    if not isinstance(spec, dict):
        raise ProtocolError("task spec must be a map")
    for name, types in _FIELDS.items():
        v = spec.get(name)
        if not isinstance(v, types):
            raise ProtocolError(f"task spec field {name!r}: expected {types[0].__name__}, got {type(v).__name__}")
    if len(spec) != len(_FIELDS):
        extra = set(spec) - set(_FIELDS)
        raise ProtocolError(f"task spec has unknown fields {sorted(map(str, extra))}")
    if spec["kind"] not in (TASK, ACTOR_CREATE, ACTOR_CALL):
        raise ProtocolError(f"task spec kind {spec['kind']} unknown")
    if len(spec["tid"]) != 16:
        raise ProtocolError("task id must be 16 bytes")
    if not 0 <= spec["rets"] <= 10_000:
        raise ProtocolError("bad number of returns")
    for d in spec["deps"]:
        if not isinstance(d, bytes):
            raise ProtocolError("dependency ids must be bytes")
    for k, v in spec["res"].items():
        if not isinstance(k, str) or not isinstance(v, int | float) or v < 0:
            raise ProtocolError(f"bad resource {k!r}: {v!r}")
    if spec["kind"] != TASK and spec["actor"] is None:
        raise ProtocolError("actor task without actor id")
    return spec
