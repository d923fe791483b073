"""Every message edgeray sends, as typed dataclasses, and their CBOR encoding.

On the wire a message is a CBOR map ``{"t": TAG, field: value, ...}``. Decoding checks the tag is
known, every field is present with its declared type, and no unknown field is present, before any
handler sees the message. Values and code travel as opaque ``bytes`` fields (pickle protocol 5
payloads), never decoded here.

Conventions: ids are raw bytes (task 16, object 20, actor/worker/node 16, job 4); ``req`` is a
request id chosen by the caller, echoed in the ``Reply``; an object *payload* is a map
``{"id": bytes, "data": bytes|None, "loc": [offset, size]|None, "err": bool, "refs": [ids]}``.
"""

from __future__ import annotations

import dataclasses
import io
import threading
from typing import Any, ClassVar

import cbor2

from ..exceptions import ProtocolError
from . import _schema as S
from ._plain import loads_cbor, loads_plain
from ._spec import ACTOR_CALL, ACTOR_CREATE, TASK, validate_spec

__all__ = [
    "encode_spec",
    "decode_spec",
    "Hello",
    "Welcome",
    "Refused",
    "Call",
    "Reply",
    "RegisterFunction",
    "SubmitTask",
    "Execute",
    "TaskDone",
    "PutObject",
    "Promise",
    "Publish",
    "ObjectReady",
    "TaskEvents",
    "Subscribe",
    "AddRef",
    "DelRef",
    "Unmap",
    "Blocked",
    "Unblocked",
    "Log",
    "Shutdown",
    "CancelTask",
    "Heartbeat",
    "ClusterState",
    "ForwardTask",
]

PROTOCOL_VERSION = 1
#: edgeray's release (``edgeray.__version__``, which a test checks it equals): every peer says it
#: in its ``Hello`` and a node refuses another release, as Ray checks its version at connect.
RELEASE = "0.1.0"

_NONE = type(None)
_LEAF_TYPES = {bytes, str, bool, _NONE}
_KINDS = (TASK, ACTOR_CREATE, ACTOR_CALL)


class Message:
    """Base of all messages. Subclasses are slotted dataclasses registered with ``@_message``."""

    TAG: ClassVar[str]
    FIELDS: ClassVar[tuple[tuple[str, tuple[type, ...]], ...]]
    CHECKS: ClassVar[tuple[tuple[str, str, S.Check], ...]]


MESSAGE_TYPES: dict[str, type[Message]] = {}


def _message(tag: str, checks: dict[str, S.Check] | None = None) -> Any:
    """Register a message class (already a slotted dataclass) under ``tag``; ``checks`` are the
    fields' value checks (``_schema``) beyond their annotated types, run on every decode."""

    def register(dc: Any) -> Any:
        hints = dc.__annotations__
        fields = []
        for f in dataclasses.fields(dc):
            fields.append((f.name, _types_of(hints[f.name])))
        unknown = set(checks or ()) - {name for name, _ in fields}
        assert not unknown, f"checks for fields {tag} lacks: {unknown}"
        dc.TAG = tag
        dc.FIELDS = tuple(fields)
        # every field is checked: by its declared check, else as a plain value, unless its
        # annotated types alone say all (bytes, str, bool, None)
        dc.CHECKS = tuple(
            (name, f"{tag}.{name}", (checks or {}).get(name, S.ANY))
            for name, types in fields
            if name in (checks or {}) or not set(types) <= _LEAF_TYPES
        )
        MESSAGE_TYPES[tag] = dc
        return dc

    return register


_TYPE_NAMES: dict[str, tuple[type, ...]] = {
    "bytes": (bytes,),
    "str": (str,),
    "int": (int,),
    "float": (float, int),
    "bool": (bool,),
    "list": (list,),
    "dict": (dict,),
    "Any": (object,),
}


def _types_of(annotation: str) -> tuple[type, ...]:
    out: list[type] = []
    for part in annotation.replace(" ", "").split("|"):
        base = part.split("[", 1)[0]
        if base == "None":
            out.append(_NONE)
        else:
            out.extend(_TYPE_NAMES[base])
    return tuple(out)


# --- shapes inside messages ------------------------------------------------------------------

#: what a peer says of itself in its ``Hello`` (drivers and workers: ``hostname``,
#: ``embedded``; nodes: the rest, as ``NodeLinks`` sends it)
HELLO_INFO = S.Record({
    "hostname": S.Text(256), "embedded": S.BOOLEAN, "node_id": S.NODE_ID, "address": S.Text(1024),
    "join": S.BOOLEAN, "total": S.UNITS, "available": S.UNITS, "labels": S.LABELS,
    "incarnation": S.Integer(0, 1 << 63),
})
#: one node of ``ClusterState``
NODE_ENTRY = S.Record({
    "node_id": S.NODE_ID, "address": S.Text(1024), "hostname": S.Text(256), "alive": S.BOOLEAN,
    "head": S.BOOLEAN, "total": S.UNITS, "available": S.UNITS, "labels": S.LABELS,
    "incarnation": S.Integer(0, 1 << 63),
}, required=("node_id",))
#: code sent along with a ``ForwardTask``: ``[fn_id, blob, name]``
FUNCTION = S.ListOf(S.Either(S.Ident(S.ID_LEN), S.Blob(), S.NAME), max_len=3)
FORWARDED_ACTOR = S.Record({
    "name": S.Text(), "namespace": S.Text(), "meta": S.MapOf(S.Text(), S.ANY), "class_name": S.Text(),
    "detached": S.BOOLEAN, "job_id": S.JOB_ID, "restarts": S.Integer(0, 1 << 62),
})
FORWARDED_JOB = S.Record({"namespace": S.Text()})


# --- handshake -------------------------------------------------------------------------------


@_message("hello", checks={
    "token": S.Text(4096),
    "role": S.OneOf("driver", "worker", "node", "cli", "caller"),
    "pid": S.Integer(0, 1 << 32),
    "worker_id": S.Nullable(S.WORKER_ID),
    "job_id": S.Nullable(S.JOB_ID),
    "namespace": S.Nullable(S.NAME),
    "info": S.Nullable(HELLO_INFO),
    "release": S.Nullable(S.Text(64)),
})
@dataclasses.dataclass(slots=True)
class Hello(Message):
    """First frame from a client: proves the token and says who it is."""

    token: str
    role: str  # "driver" | "worker" | "node" | "cli" | "caller" (a direct caller of an actor's worker)
    pid: int
    version: int
    worker_id: bytes | None = None
    job_id: bytes | None = None
    namespace: str | None = None
    info: dict | None = None
    release: str | None = None  # the peer's edgeray version (None: a peer from before it was sent)


@_message("welcome")
@dataclasses.dataclass(slots=True)
class Welcome(Message):
    node_id: bytes
    worker_id: bytes
    job_id: bytes
    namespace: str
    arena: dict | None
    info: dict


@_message("refused")
@dataclasses.dataclass(slots=True)
class Refused(Message):
    reason: str


# --- control plane: one generic request/response ---------------------------------------------


@_message("call", checks={"req": S.Integer(0, 1 << 63), "method": S.Text(64)})
@dataclasses.dataclass(slots=True)
class Call(Message):
    """A control-plane request (``method`` names the operation, ``args`` its arguments)."""

    req: int
    method: str
    args: dict


@_message("reply", checks={
    "req": S.Integer(0, 1 << 63),
    "error": S.Nullable(S.Text(1 << 20)),
    "error_type": S.Nullable(S.Text(256)),
})
@dataclasses.dataclass(slots=True)
class Reply(Message):
    req: int
    ok: bool
    value: Any = None
    error: str | None = None
    error_type: str | None = None


# --- tasks -----------------------------------------------------------------------------------


@_message("regfn", checks={"fn_id": S.Ident(S.ID_LEN), "name": S.NAME})
@dataclasses.dataclass(slots=True)
class RegisterFunction(Message):
    """Code (cloudpickle bytes) for a function or class, stored once per id on the node."""

    fn_id: bytes
    blob: bytes
    name: str


@_message("submit")
@dataclasses.dataclass(slots=True)
class SubmitTask(Message):
    """A task, actor creation or actor call: ``spec`` is the CBOR encoding of a map validated by
    ``raylet.TaskSpec`` (``encode_spec``). Kept encoded so the node forwards those bytes in
    ``Execute`` instead of encoding the map again (the costliest step of a call's path)."""

    spec: bytes


@_message("exec", checks={"deps": S.PAYLOADS})
@dataclasses.dataclass(slots=True)
class Execute(Message):
    """Node to worker: run ``spec`` (encoded as in ``SubmitTask``) with its resolved top-level
    dependencies (payloads)."""

    spec: bytes
    deps: list
    env: dict | None = None


@_message("done", checks={
    "task_id": S.TASK_ID,
    "results": S.PAYLOADS,
    "error": S.Nullable(S.Text(1 << 20)),
})
@dataclasses.dataclass(slots=True)
class TaskDone(Message):
    """Worker to node: the task's return values (payloads)."""

    task_id: bytes
    results: list
    failed: bool = False
    retryable: bool = False
    error: str | None = None  # the failure as text, for the node's own messages (it never unpickles)


# --- objects ---------------------------------------------------------------------------------


@_message("put", checks={"payload": S.PAYLOAD})
@dataclasses.dataclass(slots=True)
class PutObject(Message):
    """A client publishes an object it owns (inline ``data``, or ``loc`` in the node's arena)."""

    payload: dict


@_message("promise", checks={"ids": S.OBJECT_IDS})
@dataclasses.dataclass(slots=True)
class Promise(Message):
    """A client will publish these objects (results of its direct actor calls, whose refs it is
    passing on): the node expects them, with the client as a holder, until ``PutObject``."""

    ids: list


@_message("publish", checks={"owner": S.WORKER_ID, "payloads": S.PAYLOADS})
@dataclasses.dataclass(slots=True)
class Publish(Message):
    """An actor's worker seals the results of a direct call (too large to travel inline, or
    holding refs) on behalf of the caller ``owner``, who becomes their holder and is sent them."""

    owner: bytes
    payloads: list


@_message("taskev")
@dataclasses.dataclass(slots=True)
class TaskEvents(Message):
    """A worker's report of the calls it ran for direct callers, which its node never saw
    (``gcs._task_events``): ``[task_id, state, kind, name, job_id, actor_id|None,
    error_type|None, start_time|None, time]`` each. ``owner``: sent by the submitter of the
    tasks instead (a driver or worker whose leased worker died before it reported them)."""

    events: list
    owner: bool = False


@_message("ready", checks={"payload": S.PAYLOAD})
@dataclasses.dataclass(slots=True)
class ObjectReady(Message):
    payload: dict


@_message("sub", checks={"ids": S.OBJECT_IDS})
@dataclasses.dataclass(slots=True)
class Subscribe(Message):
    """Push an ``ObjectReady`` for each of ``ids`` once it is ready (now, if it is)."""

    ids: list


@_message("addref", checks={"ids": S.OBJECT_IDS})
@dataclasses.dataclass(slots=True)
class AddRef(Message):
    ids: list


@_message("delref", checks={"ids": S.OBJECT_IDS})
@dataclasses.dataclass(slots=True)
class DelRef(Message):
    ids: list


@_message("unmap", checks={"ids": S.OBJECT_IDS, "counts": S.ListOf(S.Integer(1, 1 << 31))})
@dataclasses.dataclass(slots=True)
class Unmap(Message):
    """The sender no longer reads these shared-memory objects: ``counts[i]`` leases of ``ids[i]``
    (each payload with a ``loc`` the node handed out as a lease) are returned."""

    ids: list
    counts: list


@_message("blocked", checks={"task_id": S.TASK_ID})
@dataclasses.dataclass(slots=True)
class Blocked(Message):
    """The worker's running task waits in get/wait: its CPU may be lent to others."""

    task_id: bytes


@_message("unblocked", checks={"task_id": S.TASK_ID})
@dataclasses.dataclass(slots=True)
class Unblocked(Message):
    task_id: bytes


@_message("cancel", checks={"task_id": S.TASK_ID})
@dataclasses.dataclass(slots=True)
class CancelTask(Message):
    task_id: bytes
    force: bool
    recursive: bool


# --- between nodes ---------------------------------------------------------------------------


@_message("hb", checks={"total": S.UNITS, "available": S.UNITS, "labels": S.LABELS})
@dataclasses.dataclass(slots=True)
class Heartbeat(Message):
    """A joined node to the head: its resources now (units of 1/10000, as ``NodeResources``)."""

    total: dict
    available: dict
    labels: dict


@_message("cluster", checks={"nodes": S.ListOf(NODE_ENTRY, max_len=1 << 16)})
@dataclasses.dataclass(slots=True)
class ClusterState(Message):
    """The head to its joined nodes: every node it knows, as maps with ``node_id`` (bytes),
    ``address``, ``hostname``, ``alive``, ``head``, ``total``, ``available`` (units), ``labels``."""

    nodes: list


@_message("fwd", checks={
    "deps": S.PAYLOADS,
    "fns": S.ListOf(FUNCTION, max_len=1 << 16),
    "actor": S.Nullable(FORWARDED_ACTOR),
    "job": S.Nullable(FORWARDED_JOB),
})
@dataclasses.dataclass(slots=True)
class ForwardTask(Message):
    """One node hands a task, actor creation or actor call to another: ``spec`` as in
    ``SubmitTask``; ``deps`` its resolved top-level arguments (payloads, where a large one is a
    *marker* ``{"id", "node", "size", ...}`` naming the node that holds its bytes); ``fns`` code
    the receiver has not been sent yet (``[fn_id, blob, name]`` each); ``actor`` the actor's
    record for a creation (``name``, ``namespace``, ``meta``); ``job`` the job's namespace."""

    spec: bytes
    deps: list
    fns: list
    actor: dict | None = None
    job: dict | None = None  # the job's ``namespace``


# --- misc ------------------------------------------------------------------------------------


@_message("log", checks={
    "job_id": S.JOB_ID,
    "name": S.NAME,
    "pid": S.Integer(0, 1 << 32),
    "lines": S.ListOf(S.Text(1 << 20), max_len=1 << 16),
    "stream": S.OneOf("out", "err"),
})
@dataclasses.dataclass(slots=True)
class Log(Message):
    """Lines a worker printed, forwarded to the job's driver with a ``(name pid=N)`` prefix."""

    job_id: bytes
    name: str
    pid: int
    lines: list
    stream: str = "out"


@_message("shutdown", checks={"reason": S.Text(1 << 16)})
@dataclasses.dataclass(slots=True)
class Shutdown(Message):
    reason: str = ""


# --- codec -----------------------------------------------------------------------------------


_encoders = threading.local()


def _dumps(obj: Any) -> bytes:
    """``cbor2.dumps`` with one encoder per thread: building the encoder and its buffer cost
    more than encoding a small message (~6 µs of ~8)."""
    try:
        enc, buf = _encoders.pair
    except AttributeError:
        buf = io.BytesIO()
        enc = cbor2.CBOREncoder(buf)
        _encoders.pair = (enc, buf)
    try:
        enc.encode(obj)
        return buf.getvalue()
    except BaseException:
        del _encoders.pair  # a half-written value: start the next one afresh
        raise
    finally:
        buf.seek(0)
        buf.truncate()


def encode_message(msg: Message) -> bytes:
    d: dict[str, Any] = {"t": msg.TAG}
    for name, _ in msg.FIELDS:
        d[name] = getattr(msg, name)
    return _dumps(d)


def encode_spec(spec: dict[str, Any]) -> bytes:
    """A task spec as carried by ``SubmitTask`` and ``Execute``."""
    return _dumps(spec)


def decode_spec(data: bytes, *, checked: bool = False, trusted: bool = False) -> dict[str, Any]:
    """The map inside a ``SubmitTask``/``Execute``/``ForwardTask``; ``ProtocolError`` if it is
    not one. Plain values only; with ``checked`` (the node), every field and option is checked
    too (``_spec.validate_spec``, which also refuses what the plain walk would). ``trusted``: a
    worker's, whose specs come from its node (which checked them) or from a direct caller
    holding the token, which may run any code in it anyway: only the map and its id and kind."""
    if checked:
        return validate_spec(loads_cbor(data))
    if trusted:
        spec = loads_cbor(data)
        if type(spec) is not dict or type(spec.get("tid")) is not bytes or spec.get("kind") not in _KINDS:
            raise ProtocolError("a task spec must be a CBOR map with a task id and kind")
        return spec
    spec = loads_plain(data)
    if not isinstance(spec, dict):
        raise ProtocolError("a task spec must be a CBOR map")
    return spec


def decode_message(data: bytes, loads: Any = loads_cbor) -> Message:
    """Decode and validate one message; ``ProtocolError`` on anything malformed. Every field
    passes its check (``CHECKS``), which refuses what the restricted decoder would (``_plain``);
    ``loads_strict`` decodes before a peer has authenticated (no tag is even built)."""
    d = loads(data)
    if not isinstance(d, dict):
        raise ProtocolError("a message must be a CBOR map")
    tag = d.pop("t", None)
    cls = MESSAGE_TYPES.get(tag) if isinstance(tag, str) else None
    if cls is None:
        raise ProtocolError(f"unknown message type {tag!r}")
    values = []
    for name, types in cls.FIELDS:
        if name in d:
            v = d.pop(name)
        else:
            default = _default_of(cls, name)
            if default is dataclasses.MISSING:
                raise ProtocolError(f"{tag}: missing field {name!r}")
            v = default
        if not isinstance(v, types):
            raise ProtocolError(f"{tag}: field {name!r} has type {type(v).__name__}")
        values.append(v)
    if d:
        raise ProtocolError(f"{tag}: unknown fields {sorted(map(str, d))}")
    msg = cls(*values)
    for name, where, check in cls.CHECKS:
        check(getattr(msg, name), where)
    return msg


_DEFAULTS: dict[tuple[type, str], Any] = {}


def _default_of(cls: type, name: str) -> Any:
    key = (cls, name)
    if key not in _DEFAULTS:
        for f in dataclasses.fields(cls):
            _DEFAULTS[(cls, f.name)] = f.default
    return _DEFAULTS[key]
