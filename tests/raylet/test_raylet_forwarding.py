"""Forwarding driven alone: a recording ``send`` per node and a set of the nodes alive."""

from __future__ import annotations

from typing import Any

from edgeray.protocol import AddRef, DelRef, Message, Subscribe
from edgeray.raylet import Forwarding

A, B = b"A" * 16, b"B" * 16


class Task:
    def __init__(self, n: int) -> None:
        self.spec: dict[str, Any] = {"tid": n.to_bytes(16, "big")}


class Links:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, Message]] = []
        self.alive = {A, B}

    def send(self, node_id: bytes, msg: Message) -> None:
        self.sent.append((node_id, msg))

    def is_alive(self, node_id: bytes) -> bool:
        return node_id in self.alive


def world() -> tuple[Forwarding[Task], Links]:
    links = Links()
    return Forwarding(links), links


def test_a_function_travels_once_per_node() -> None:
    f, _ = world()
    assert f.needs_function(A, b"fn") and not f.needs_function(A, b"fn")
    assert f.needs_function(B, b"fn")
    f.node_gone(A)  # a node that comes back has forgotten it
    assert f.needs_function(A, b"fn")


def test_a_value_is_expected_only_from_the_node_that_runs_its_task_or_holds_it() -> None:
    f, _ = world()
    t = Task(1)
    f.sent(A, t)
    result = t.spec["tid"] + b"\x00\x00\x00\x01"
    assert f.expects(A, result) and not f.expects(B, result)
    assert f.task_for(A, result) is t and f.task_for(B, result) is None
    assert f.finished(A, t.spec["tid"]) is t and f.finished(A, t.spec["tid"]) is None
    assert not f.expects(A, result)
    f.holds_result(result, A)  # the result stays there, held for us
    assert f.expects(A, result) and f.holds(result)


def test_subscribing_sends_addref_then_subscribe_and_freeing_sends_delref() -> None:
    f, links = world()
    f.subscribe_from(b"o" * 20, A)
    assert [(n, type(m)) for n, m in links.sent] == [(A, AddRef), (A, Subscribe)]
    f.freed(b"o" * 20)
    assert links.sent[-1][0] == A and isinstance(links.sent[-1][1], DelRef) and not f.holds(b"o" * 20)
    f.freed(b"o" * 20)  # once only
    assert len(links.sent) == 3


def test_nothing_is_sent_to_a_dead_node_and_what_only_it_held_is_lost() -> None:
    f, links = world()
    f.subscribe_from(b"x" * 20, A)
    f.subscribe_from(b"y" * 20, A)
    f.subscribe_from(b"z" * 20, B)
    t = Task(2)
    f.sent(A, t)
    links.alive.discard(A)
    links.sent.clear()
    assert f.node_gone(A) == {t.spec["tid"]: t} and f.node_gone(A) == {}
    assert f.lost_with(A) == {b"x" * 20, b"y" * 20} and f.lost_with(A) == set()
    assert f.holds(b"z" * 20) and not f.holds(b"x" * 20)
    f.holds_result(b"w" * 20, A)
    f.freed(b"w" * 20)
    assert links.sent == []


def test_a_result_already_held_keeps_its_first_holder() -> None:
    f, _ = world()
    f.subscribe_from(b"o" * 20, A)
    f.holds_result(b"o" * 20, B)
    assert f.expects(A, b"o" * 20) and not f.expects(B, b"o" * 20)
