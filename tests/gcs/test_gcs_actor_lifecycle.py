"""ActorLifecycle: an actor's states and its one restart path, driven alone: the GCS tables hold
plain records, a recording fake stands for the node (``ActorEffects``), calls are bare records."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import pytest

from edgeray import exceptions as exc
from edgeray.gcs import (
    ActorLifecycle,
    ActorRecord,
    ActorStateError,
    GcsTables,
    Loss,
    advance,
    caller_key,
)
from edgeray.gcs import _actor_lifecycle as life

NODE = b"n" * 16
OWNER = b"o" * 16


@dataclass
class Call:
    spec: dict[str, Any]
    retries_left: int = 0
    done: bool = False
    worker: Any = "w"


@dataclass
class Recorder:
    events: list[tuple[Any, ...]] = field(default_factory=list)

    def fail_call(self, call: Any, error: BaseException) -> None:
        self.events.append(("fail", call.spec["name"], type(error).__name__, str(error)))

    def forget_running(self, tid: bytes) -> None:
        self.events.append(("forget", tid))

    def restarting(self, actor: ActorRecord) -> None:
        self.events.append(("restarting", actor.restarts))

    def recreate(self, actor: ActorRecord, loss: Loss, creation: Any) -> None:
        self.events.append(("recreate", loss.source, creation))

    def failed(self) -> list[str]:
        return [e[1] for e in self.events if e[0] == "fail"]


def actor(max_restarts: int = 1, unordered: bool = False, name: str = "") -> tuple[ActorLifecycle, ActorRecord, Recorder]:
    tables, fx = GcsTables(), Recorder()
    rec = ActorRecord(actor_id=b"a" * 16, spec={"opts": {"max_restarts": max_restarts}, "deps": []}, class_name="Counter",
                      name=name, namespace="ns", job_id=b"j", detached=False, meta={"unordered": unordered})
    tables.register_actor(rec)
    return ActorLifecycle(tables, fx), rec, fx


def call(i: int, retries: int = 0) -> Call:
    return Call({"tid": bytes([i]) * 16, "name": f"c{i}", "owner": OWNER, "opts": {}, "actor": b"a" * 16}, retries)


def send(rec: ActorRecord, *calls: Call) -> None:
    for c in calls:
        rec.inflight[c.spec["tid"]] = c


def queued(rec: ActorRecord) -> list[str]:
    return [c.spec["name"] for q in rec.queues.values() for c in q]


@pytest.mark.parametrize(("state", "event", "after"), [
    (life.PENDING, life.CREATED, life.ALIVE),
    (life.RESTARTING, life.CREATED, life.ALIVE),
    (life.PENDING, life.PLACED, life.ALIVE),
    (life.ALIVE, life.LOST, life.RESTARTING),
    (life.PENDING, life.RESTORED, life.RESTARTING),
    (life.DEAD, life.ADOPTED, life.PENDING),
    (life.DEAD, life.DIED, life.DEAD),
])
def test_legal_transitions(state: str, event: str, after: str) -> None:
    _, rec, _ = actor()
    rec.state = state
    assert advance(rec, event) == after and rec.state == after


@pytest.mark.parametrize(("state", "event"), [
    (life.ALIVE, life.CREATED), (life.DEAD, life.CREATED), (life.DEAD, life.LOST), (life.DEAD, life.PLACED),
    (life.ALIVE, life.RESTORED), (life.RESTARTING, life.RESTORED),
])
def test_illegal_transitions_raise_and_leave_the_state(state: str, event: str) -> None:
    _, rec, _ = actor()
    rec.state = state
    with pytest.raises(ActorStateError):
        advance(rec, event)
    assert rec.state == state


def test_every_state_has_its_rules_and_every_rule_leads_to_a_state() -> None:
    assert set(life.TRANSITIONS) == set(life.STATES)
    assert all(nxt in life.STATES for rules in life.TRANSITIONS.values() for nxt in rules.values())
    assert all(life.DIED in rules for rules in life.TRANSITIONS.values())


def test_a_crashed_worker_restarts_the_actor_and_retries_its_calls_running_last() -> None:
    lc, rec, fx = actor(max_restarts=2)
    advance(rec, life.CREATED)
    rec.worker_id = b"w" * 16
    running, waiting1, waiting2, behind = call(1, retries=1), call(2, retries=-1), call(3, retries=1), call(4)
    send(rec, running, waiting1, waiting2)
    rec.queues[caller_key(behind.spec)] = deque([behind])
    assert lc.lose(rec, Loss.worker(-9), creation="the-task")
    assert (rec.state, rec.restarts, rec.worker_id, rec.inflight) == (life.RESTARTING, 1, None, {})
    assert queued(rec) == ["c2", "c3", "c4", "c1"]  # the running one may have crashed it: last
    assert (running.retries_left, waiting1.retries_left, waiting2.retries_left) == (0, -1, 0)
    assert running.worker is None
    assert fx.events[0] == ("restarting", 1) and fx.events[-1] == ("recreate", "worker", "the-task")
    assert sorted(e[1] for e in fx.events if e[0] == "forget") == [bytes([i]) * 16 for i in (1, 2, 3)]


def test_an_unordered_actors_sent_calls_all_count_as_running() -> None:
    lc, rec, _ = actor(unordered=True)
    send(rec, call(1, retries=1), call(2, retries=1))
    rec.queues[OWNER] = deque([call(3)])
    lc.lose(rec, Loss.worker(1), None)
    assert queued(rec) == ["c3", "c1", "c2"]


def test_calls_without_retries_fail_when_the_actor_restarts() -> None:
    lc, rec, fx = actor()
    send(rec, call(1))
    assert lc.lose(rec, Loss.worker(137))
    (fail,) = [e for e in fx.events if e[0] == "fail"]
    assert fail[1:3] == ("c1", "RayActorError") and "(exit code 137); it is restarting" in fail[3]
    assert queued(rec) == []


def test_spent_restarts_kill_the_actor_and_fail_its_calls() -> None:
    lc, rec, fx = actor(max_restarts=1, name="x")
    rec.restarts = 1
    send(rec, call(1, retries=5))
    rec.queues[OWNER] = deque([call(2), Call(call(3).spec, done=True)])
    assert not lc.lose(rec, Loss.worker(1), creation="t")
    assert rec.state == life.DEAD and rec.restarts == 1
    assert rec.death_cause == "The actor's worker process died (exit code 1) and max_restarts=1 is spent."
    assert fx.failed() == ["c2", "c1"]  # (c3, cancelled while queued, has its result already)
    assert not any(e[0] in ("recreate", "restarting") for e in fx.events)
    assert ("ns", "x") not in lc._tables.named  # its name is free again


def test_infinite_restarts() -> None:
    lc, rec, _ = actor(max_restarts=-1)
    for _ in range(5):
        assert lc.lose(rec, Loss.worker(1))
    assert rec.restarts == 5


def test_a_lost_forwarded_creation_requeues_the_calls_in_order() -> None:
    lc, rec, fx = actor()
    advance(rec, life.PLACED)
    rec.host = NODE
    send(rec, call(1, retries=1), call(2, retries=1))
    rec.queues[OWNER] = deque([call(3)])
    assert lc.lose(rec, Loss.forward("the node died"), creation="fwd")
    assert queued(rec) == ["c1", "c2", "c3"] and rec.host is None
    assert fx.events[-1] == ("recreate", "forward", "fwd")
    rec.restarts = 1
    assert not lc.lose(rec, Loss.forward("the node died"))
    assert rec.death_cause == "the node died, and max_restarts=1 is spent."


def test_a_dead_host_leaves_the_calls_to_their_own_losses() -> None:
    lc, rec, fx = actor()
    rec.state, rec.host = life.ALIVE, NODE
    c = call(1, retries=1)
    send(rec, c)
    assert lc.lose(rec, Loss.host(NODE, args_lost=False))
    assert rec.inflight == {c.spec["tid"]: c} and fx.events[-1] == ("recreate", "host", None)
    lc.call_lost(rec, c, "its node died")  # now: first in its queue again
    assert queued(rec) == ["c1"] and rec.inflight == {} and c.retries_left == 0


def test_a_dead_host_with_the_constructors_arguments_lost_kills_the_actor() -> None:
    lc, rec, fx = actor(max_restarts=3)
    rec.state, rec.host = life.ALIVE, NODE
    rec.queues[OWNER] = deque([call(1)])
    assert not lc.lose(rec, Loss.host(NODE, args_lost=True))
    assert rec.state == life.DEAD and rec.death_cause is not None and "arguments are lost" in rec.death_cause
    assert isinstance(rec.death_exc, exc.ActorDiedError)
    (fail,) = [e for e in fx.events if e[0] == "fail"]
    assert fail[2] == "ActorDiedError" and "The actor Counter is dead: the node" in fail[3]


def test_a_lost_call_of_an_actor_not_restarting_fails() -> None:
    lc, rec, fx = actor()
    rec.state = life.ALIVE
    c = call(1, retries=3)
    send(rec, c)
    lc.call_lost(rec, c, "its node died")
    lc.call_lost(None, call(2), "its node died")
    assert [e[1:3] for e in fx.events] == [("c1", "RayActorError"), ("c2", "RayActorError")]
    assert rec.inflight == {}


def test_a_dead_actor_stays_dead() -> None:
    lc, rec, fx = actor(max_restarts=-1)
    lc.die(rec, "killed")
    rec.queues[OWNER] = deque([call(1)])
    assert not lc.lose(rec, Loss.worker(1))
    assert rec.state == life.DEAD and rec.restarts == 0 and fx.failed() == ["c1"]
