"""``Submitter``: the path of each task and actor call, driven with recording fakes (no node,
no workers)."""

from __future__ import annotations

from typing import Any

from edgeray.client._leases import TaskLeases
from edgeray.client._submitter import Submitter

A, B = b"a" * 20, b"b" * 20
SMALL: dict[str, Any] = {"id": A, "data": b"v", "loc": None, "err": False, "refs": []}


class Host:
    def __init__(self, have: dict[bytes, dict[str, Any]] | None = None) -> None:
        self.have = have or {}
        self.via_node: list[dict[str, Any]] = []

    def submit(self, spec: dict[str, Any]) -> None:
        self.via_node.append(spec)

    def inline_payloads(self, ids: list[bytes]) -> list[dict[str, Any]] | None:
        if all(i in self.have for i in ids):
            return [self.have[i] for i in ids]
        return None

    def hold(self, ids: list[bytes]) -> list[Any]:
        return [("ref", i) for i in ids]


class Leases:
    shape = staticmethod(TaskLeases.shape)

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.sent: list[tuple[dict[str, Any], Any, list[Any]]] = []

    def submit(self, spec: dict[str, Any], key: Any, args: list[Any]) -> None:
        self.sent.append((spec, key, args))


class Lanes:
    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.sent: list[tuple[bytes, dict[str, Any], bool, list[Any], bool]] = []

    def submit(self, actor_id: bytes, name: str, spec: dict[str, Any], direct: bool, keep: list[Any], *,
               unordered: bool = False) -> None:
        self.sent.append((actor_id, spec, direct, keep, unordered))


def task(nested: list[bytes] | None = None, res: dict[str, float] | None = None, **opts: Any) -> dict[str, Any]:
    return {"tid": b"t" * 16, "nested": nested or [], "res": res or {"CPU": 1.0}, "opts": opts}


def harness(have: dict[bytes, dict[str, Any]] | None = None, enabled: bool = True) -> tuple[Submitter, Host, Leases, Lanes]:
    host, leases, lanes = Host(have), Leases(enabled), Lanes(enabled)
    return Submitter(host, leases, lanes), host, leases, lanes


def test_a_plain_task_goes_to_a_leased_worker() -> None:
    sub, host, leases, _ = harness()
    sub.task(task(), [])
    assert not host.via_node and leases.sent[0][1] == (("CPU", 1.0),)


def test_small_arguments_here_travel_with_the_task() -> None:
    sub, host, leases, _ = harness({A: SMALL})
    sub.task(spec := task(), [A])
    assert spec["_deps"] == [SMALL] and leases.sent[0][2] == [("ref", A)]


def test_an_argument_the_node_must_resolve_sends_the_task_via_the_node() -> None:
    sub, host, leases, _ = harness({A: SMALL})
    sub.task(spec := task(), [A, B])
    assert host.via_node == [spec] and "_deps" not in spec and not leases.sent


def test_tasks_no_lease_can_run_go_via_the_node() -> None:
    for spec in (task(nested=[A]), task(res={"GPU": 1.0}), task(strategy="SPREAD"), task(max_calls=1)):
        sub, host, leases, _ = harness()
        sub.task(spec, [])
        assert host.via_node == [spec] and not leases.sent


def test_leases_off_everything_goes_via_the_node() -> None:
    sub, host, leases, lanes = harness(enabled=False)
    sub.task(t := task(), [])
    sub.actor_call(b"x" * 16, "C", c := task(), [], [], [])
    assert host.via_node == [t, c] and not leases.sent and not lanes.sent


def test_an_actor_call_with_small_arguments_goes_direct() -> None:
    sub, host, _, lanes = harness({A: SMALL})
    creation = type("Ref", (), {"_id": B})()
    sub.actor_call(b"x" * 16, "C", spec := task(), [A], [], ["kept"], creation=creation, unordered=True)
    actor, sent, direct, held, unordered = lanes.sent[0]
    assert direct and unordered and sent["_deps"] == [SMALL]
    assert held == ["kept", ("ref", A), creation] and spec["nested"] == [B]
    assert not host.via_node


def test_an_actor_call_with_nested_refs_keeps_its_lane_but_not_direct() -> None:
    sub, host, _, lanes = harness({A: SMALL})
    sub.actor_call(b"x" * 16, "C", task(nested=[B]), [A], [B], [])
    _, spec, direct, held, _ = lanes.sent[0]
    assert not direct and "_deps" not in spec and held == [("ref", A), ("ref", B)]


def test_a_retried_actors_calls_go_via_the_node_pinning_the_actor() -> None:
    sub, host, _, lanes = harness()
    creation = type("Ref", (), {"_id": B})()
    sub.actor_call(b"x" * 16, "C", spec := task(), [], [], [], creation=creation, retried=True)
    assert host.via_node == [spec] and spec["nested"] == [B] and not lanes.sent
