"""The control calls (``Call.method``) and the shape of each one's ``args``.

``check_call(method, args)`` raises ``ProtocolError`` for an unknown method or arguments of
another shape; the node answers that with an error ``Reply`` and does nothing else. Handlers
still say what a value *means* is wrong (a name taken, an actor unknown) with their own errors;
what they receive has the types and bounds below.

Who may call what is the node's to check (``node._calls``): the directory calls and
``reserve_bundles``/``release_bundles``/``lease_object`` are for other nodes, the rest for anyone
authenticated.
"""

from __future__ import annotations

from typing import Any

from ..exceptions import ProtocolError
from . import _schema as S

_NAME = S.Text()
_NS = S.Nullable(S.Text())
_META = S.MapOf(S.Text(), S.ANY)
_BUNDLE = S.MapOf(S.Text(256), S.Number(), max_len=1024)
_BUNDLE_UNITS = S.ListOf(S.Either(S.Integer(0, 1 << 31), S.UNITS), max_len=2)
_BUNDLE_KEY = S.ListOf(S.Either(S.PG_ID, S.Integer(0, 1 << 31)), max_len=2)  # [pg_id, index]
_ACTOR = S.Record({"actor_id": S.ACTOR_ID}, required=("actor_id",))
_OBJECT = S.Record({"id": S.OBJECT_ID}, required=("id",))
_NOTHING = S.Record({})
_SIGNED = S.Number(-float(S.MAX_AMOUNT), float(S.MAX_AMOUNT))
_METRIC_SERIES = S.Record({
    "tags": S.MapOf(S.Text(256), S.Text(1024), max_len=64),
    "value": _SIGNED,  # a counter's increase since the last report, a gauge's value
    "buckets": S.ListOf(S.Integer(0, S.MAX_AMOUNT), max_len=257),  # a histogram's new counts per bucket
    "sum": _SIGNED,
    "count": S.Integer(0, S.MAX_AMOUNT),
})
_USER_METRIC = S.Record({
    "name": S.Text(256),
    "kind": S.OneOf("counter", "gauge", "histogram"),
    "description": S.Text(4096),
    "boundaries": S.ListOf(S.Number(0.0, float(S.MAX_AMOUNT)), max_len=256),
    "series": S.ListOf(_METRIC_SERIES, max_len=4096),
}, required=("name", "kind", "series"))

CALL_ARGS: dict[str, S.Record] = {
    # actors
    "create_actor": S.Record({"spec": S.MapOf(S.Text(64), S.ANY, max_len=64), "meta": _META}, required=("spec", "meta")),
    "get_actor": S.Record({"name": _NAME, "namespace": _NS}, required=("name",)),
    "kill_actor": S.Record({"actor_id": S.ACTOR_ID, "no_restart": S.BOOLEAN, "exiting": S.BOOLEAN}, required=("actor_id",)),
    "actor_state": _ACTOR,
    "actor_direct": _ACTOR,
    "list_named_actors": S.Record({"all_namespaces": S.BOOLEAN}),
    # workers
    "lease_worker": S.Record({"res": S.RESOURCES}, required=("res",)),
    "return_lease": S.Record({"worker_id": S.WORKER_ID}, required=("worker_id",)),
    "worker_exit_cause": S.Record({"worker_id": S.WORKER_ID}, required=("worker_id",)),
    # views
    "nodes": _NOTHING,
    "cluster_resources": _NOTHING,
    "available_resources": _NOTHING,
    "status": _NOTHING,
    "stop": _NOTHING,
    "list": S.Record({"kind": S.Text(64), "local": S.BOOLEAN}, required=("kind",)),
    # objects, functions, kv
    # "written": objects this peer created and has written since (spillable before the seal)
    "create_object": S.Record({"id": S.OBJECT_ID, "size": S.Integer(1, 1 << 62),
                               "written": S.ListOf(S.OBJECT_ID, max_len=1 << 16)}, required=("id", "size")),
    "drop_created": S.Record({"ids": S.ListOf(S.OBJECT_ID, max_len=1 << 16)}, required=("ids",)),
    "map_object": _OBJECT,
    "read_object": S.Record({"id": S.OBJECT_ID, "offset": S.Integer(0, 1 << 62), "size": S.Integer(0, 1 << 31)},
                            required=("id", "offset", "size")),
    "lease_object": _OBJECT,
    "get_function": S.Record({"fn_id": S.Ident(S.ID_LEN)}, required=("fn_id",)),
    "kv_put": S.Record({"key": S.Text(), "value": S.Blob()}, required=("key", "value")),
    "kv_get": S.Record({"key": S.Text()}, required=("key",)),
    # placement groups
    "create_placement_group": S.Record({
        "pg_id": S.PG_ID, "ready_id": S.OBJECT_ID, "ready_value": S.Blob(),
        "bundles": S.ListOf(_BUNDLE, max_len=1 << 12), "strategy": S.Text(32), "name": S.Nullable(S.Text()),
        "lifetime": S.Nullable(S.Text(32)),
    }, required=("pg_id", "ready_id", "bundles")),
    "remove_placement_group": S.Record({"pg_id": S.PG_ID}, required=("pg_id",)),
    "placement_group_table": S.Record({"pg_id": S.Nullable(S.PG_ID)}),
    "get_placement_group": S.Record({"name": _NAME}, required=("name",)),
    # between nodes
    "reserve_bundles": S.Record({"pg_id": S.PG_ID, "bundles": S.ListOf(_BUNDLE_UNITS, max_len=1 << 12),
                                 "detached": S.BOOLEAN}, required=("pg_id", "bundles")),
    "release_bundles": S.Record({"pg_id": S.PG_ID}, required=("pg_id",)),
    "actor_placed": S.Record({
        "actor_id": S.ACTOR_ID, "node_id": S.NODE_ID, "class_name": S.Text(), "name": S.Text(), "namespace": S.Text(),
        "meta": _META,
    }, required=("actor_id", "node_id")),
    "bundles_held": S.Record({"node_id": S.NODE_ID, "bundles": S.ListOf(_BUNDLE_KEY, max_len=1 << 16)},
                             required=("node_id",)),
    "locate_actor": _ACTOR,
    "lookup_actor": S.Record({"name": _NAME, "namespace": _NS}, required=("name",)),
    "register_name": S.Record({"name": _NAME, "namespace": _NS, "actor_id": S.ACTOR_ID},
                              required=("name", "actor_id")),
    "actor_dead": _ACTOR,
    "named_actors": S.Record({"all_namespaces": S.BOOLEAN, "namespace": _NS}),
    "membership": _NOTHING,
    # user metrics (``edgeray.util.metrics``), batched by each process: see ``node._user_metrics``
    "report_metrics": S.Record({"metrics": S.ListOf(_USER_METRIC, max_len=1024)}, required=("metrics",)),
}


def check_call(method: str, args: dict[str, Any]) -> None:
    """``ProtocolError`` unless ``method`` is a known call and ``args`` fit its schema."""
    schema = CALL_ARGS.get(method)
    if schema is None:
        raise ProtocolError(f"unknown method {method!r}")
    schema(args, method)
