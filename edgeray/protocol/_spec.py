"""The task specification: what ``SubmitTask``, ``Execute`` and ``ForwardTask`` carry.

A spec is a plain map (fast to encode and decode; the node forwards the submitter's bytes
unchanged). Its fields, each checked by ``validate_spec`` before the node acts on it:

``tid`` task id · ``kind`` 0 task, 1 actor creation, 2 actor call · ``fn`` code id (None for
calls) · ``name`` display name · ``args`` pickled (args, kwargs) with top-level refs as
placeholders · ``deps`` top-level object ids · ``nested`` ids nested inside args · ``rets``
number of returns · ``res`` resources · ``job`` job id · ``owner`` submitter's worker id ·
``opts`` the options below · ``actor`` actor id · ``method`` method name · ``seq`` per-caller
sequence number of actor calls.

Options (``opts``), every one optional, as ``api`` wires them: retries and restarts (Ray's
meanings; -1 is forever), concurrency, the actor's name and lifetime, the scheduling
``strategy`` (a plugin's name, or a map tagged by ``kind``), ``env_vars``, ``placement_cpu``
(an actor's 1 CPU to be placed), ``generator`` (how a generator call returns). Anything else,
or a value of another shape, is refused: the node keeps these values and acts on them much
later (when a worker dies, when it schedules), where a bad one would fail for everyone.
"""

from __future__ import annotations

from typing import Any

from ..exceptions import ProtocolError
from . import _schema as S

TASK = 0
ACTOR_CREATE = 1
ACTOR_CALL = 2
MAX_RETURNS = 10_000

TaskSpec = dict[str, Any]


class StrategyName(S.Text):
    """A scheduling strategy plugin's name (letters, digits, ``_``)."""

    __slots__ = ()

    def __call__(self, v: Any, where: str) -> None:
        super().__call__(v, where)
        if not v or not v.replace("_", "").isalnum():
            raise S.fail(where, f"not a strategy name: {v!r:.40}")


class Tagged(S.Schema):
    """A map whose ``key`` names which of ``variants`` (records) it is."""

    __slots__ = ("key", "variants")

    def __init__(self, key: str, variants: dict[str, S.Record]) -> None:
        self.key, self.variants = key, variants

    def __call__(self, v: Any, where: str) -> None:
        if type(v) is not dict:
            raise S.fail(where, f"expected a map, got {type(v).__name__}")
        tag = v.get(self.key)
        variant = self.variants.get(tag) if type(tag) is str else None
        if variant is None:
            raise S.fail(where, f"{self.key} must be one of {sorted(self.variants)}, got {tag!r:.40}")
        variant(v, where)


COUNT = S.Integer(-1, 1 << 31)  # -1: forever / no limit
STRATEGY = S.Either(
    StrategyName(256),
    Tagged("kind", {
        "NODE_AFFINITY": S.Record({
            "kind": S.Text(32), "node_id": S.Text(64), "soft": S.BOOLEAN,
            "spill_on_unavailable": S.BOOLEAN, "fail_on_unavailable": S.BOOLEAN,
        }, required=("node_id",)),
        "PLACEMENT_GROUP": S.Record({
            "kind": S.Text(32), "pg_id": S.Nullable(S.PG_ID), "ready_id": S.Nullable(S.OBJECT_ID),
            "bundle_index": S.Integer(-1, 1 << 31), "capture_child_tasks": S.BOOLEAN,
        }),
        "NAMED": S.Record({"kind": S.Text(32), "name": StrategyName(256), "params": S.MapOf(S.Text(256), S.ANY)},
                          required=("name",)),
    }),
)
OPTIONS = S.Record({
    "max_retries": COUNT,
    "max_restarts": COUNT,
    "max_task_retries": COUNT,
    "max_pending_calls": COUNT,
    "max_calls": S.Integer(0, 1 << 31),
    "max_concurrency": S.Integer(1, 1 << 31),
    "concurrency_groups": S.MapOf(S.Text(256), S.Integer(1, 1 << 31), max_len=1024),
    "concurrency_group": S.Text(256),
    "name": S.NAME,
    "namespace": S.NAME,
    "lifetime": S.OneOf("detached", "non_detached"),
    "get_if_exists": S.BOOLEAN,
    "retry_exceptions": S.Either(S.BOOLEAN, S.Blob()),  # or the pickled exception types
    "strategy": STRATEGY,
    "env_vars": S.MapOf(S.Text(S.MAX_NAME), S.Text(1 << 20), max_len=1 << 14),
    "placement_cpu": S.Number(0, 1 << 20),
    "generator": S.OneOf("dynamic", "streaming"),
})
SPEC_FIELDS: dict[str, S.Check] = {
    "tid": S.TASK_ID,
    "kind": S.OneOf(TASK, ACTOR_CREATE, ACTOR_CALL),
    "fn": S.Nullable(S.Ident(S.ID_LEN)),
    "name": S.NAME,
    "args": S.Blob(),
    "deps": S.OBJECT_IDS,
    "nested": S.OBJECT_IDS,
    "rets": S.Integer(0, MAX_RETURNS),
    "res": S.RESOURCES,
    "job": S.JOB_ID,
    "owner": S.WORKER_ID,
    "opts": OPTIONS,
    "actor": S.Nullable(S.ACTOR_ID),
    "method": S.Nullable(S.Text(256)),
    "seq": S.Integer(0, 1 << 63),
}
SPEC = S.Record(SPEC_FIELDS, required=tuple(SPEC_FIELDS))


def validate_spec(spec: Any) -> TaskSpec:
    """``spec`` if it is a well-formed task spec (see the module header); else ``ProtocolError``."""
    SPEC(spec, "task spec")
    if spec["kind"] != TASK and spec["actor"] is None:
        raise ProtocolError("task spec: an actor task without an actor id")
    return spec
