"""ActorDirectory: the head's directory of actors placed on any node, driven alone (a recording
fake for its effects, the head's own tables as plain records)."""

from __future__ import annotations

from typing import Any

import pytest

from edgeray.gcs import ActorDirectory, ActorRecord, GcsTables

HEAD = b"h" * 16
OTHER = b"o" * 16


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def actor_placed(self, actor_id: bytes, node_id: bytes) -> None:
        self.events.append(("placed", actor_id, node_id))

    def bundles_held(self, node_id: bytes, bundles: list[Any]) -> None:
        self.events.append(("bundles", node_id, bundles))


def directory() -> tuple[ActorDirectory, GcsTables, Recorder]:
    tables, fx = GcsTables(), Recorder()
    return ActorDirectory(tables, HEAD, fx), tables, fx


def place(d: ActorDirectory, aid: bytes, name: str = "", namespace: str = "ns") -> None:
    d.call("actor_placed", {"actor_id": aid, "node_id": OTHER, "class_name": "C", "name": name,
                            "namespace": namespace, "meta": {"m": 1}})


def test_placed_actors_are_located_and_looked_up_by_name() -> None:
    d, _, fx = directory()
    place(d, b"a1", name="counter")
    assert fx.events == [("placed", b"a1", OTHER)]
    assert d.call("locate_actor", {"actor_id": b"a1"}) == {
        "node_id": OTHER, "class_name": "C", "name": "counter", "namespace": "ns", "meta": {"m": 1}}
    assert d.call("lookup_actor", {"name": "counter", "namespace": "ns"})["actor_id"] == b"a1"
    assert d.call("lookup_actor", {"name": "counter", "namespace": "other"}) is None
    assert d.call("locate_actor", {"actor_id": b"zz"}) is None


def test_a_name_is_taken_once_across_the_cluster_and_freed_by_death() -> None:
    d, _, _ = directory()
    assert d.call("register_name", {"name": "n", "namespace": "ns", "actor_id": b"a1"}) == {"taken": False}
    assert d.call("register_name", {"name": "n", "namespace": "ns", "actor_id": b"a1"}) == {"taken": False}  # (itself)
    taken = d.call("register_name", {"name": "n", "namespace": "ns", "actor_id": b"a2"})
    assert taken == {"taken": True, "actor_id": b"a1"}  # (not placed yet: nowhere to say)
    place(d, b"a1", name="n")
    assert d.call("register_name", {"name": "n", "namespace": "ns", "actor_id": b"a2"})["node_id"] == OTHER
    assert d.call("named_actors", {}) == [("ns", "n")]
    d.call("actor_dead", {"actor_id": b"a1"})
    assert d.call("named_actors", {}) == []
    assert d.call("locate_actor", {"actor_id": b"a1"}) is None
    assert d.call("register_name", {"name": "n", "namespace": "ns", "actor_id": b"a2"}) == {"taken": False}


def test_names_of_the_heads_own_actors_count() -> None:
    d, tables, _ = directory()
    rec = ActorRecord(actor_id=b"local", spec={"opts": {}}, class_name="L", name="x", namespace="ns",
                      job_id=b"j", detached=False, meta={"k": 2})
    tables.register_actor(rec)
    assert d.call("register_name", {"name": "x", "namespace": "ns", "actor_id": b"a2"}) == {
        "taken": True, "actor_id": b"local", "node_id": HEAD, "class_name": "L", "meta": {"k": 2}}
    place(d, b"a3", name="y")
    assert d.call("named_actors", {}) == [("ns", "x"), ("ns", "y")]


def test_bundles_held_go_to_the_effects_and_unknown_methods_raise() -> None:
    d, _, fx = directory()
    d.call("bundles_held", {"node_id": OTHER, "bundles": [[b"pg", 0]]})
    assert fx.events == [("bundles", OTHER, [[b"pg", 0]])]
    with pytest.raises(ValueError, match="unknown directory method"):
        d.call("nope", {})
