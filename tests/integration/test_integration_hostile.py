"""An authenticated peer sending what edgeray's own client never would (issue 15, cases 2 and 3).

Each case was seen to take a node down, later, for everyone, or to be believed: a task whose
strategy is a list, an actor whose ``max_restarts`` is a string, a joined node's heartbeat whose
labels contain themselves (CBOR tags 28/29), ``max_task_retries`` a list, ids that are not
bytes, NaN amounts, integers of thousands of digits, cyclic values; a second driver reporting
another driver's task done, or putting a value under its result's id. Now each is refused where
it is decoded (the sender is told why, and its connection ends, or its call fails) and the node
goes on serving the real driver, whose results are its own.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import cbor2
import pytest
from hostile import RawClient
from waiting import wait_for_file

from edgeray.object_store import serialize
from edgeray.protocol import PutObject, TaskDone, encode_spec

pytestmark = pytest.mark.timeout(120)


def node_address(ray: Any) -> tuple[str, str | None]:
    from edgeray.client._context import current_client

    c = current_client()
    return c.address, c._token


def valid_spec(peer: RawClient, **changes: Any) -> dict[str, Any]:
    """A well-formed task spec of ``peer``'s job (with ``changes``)."""
    assert peer.welcome is not None
    spec = {
        "tid": os.urandom(16), "kind": 0, "fn": os.urandom(16), "name": "hostile", "args": b"", "deps": [],
        "nested": [], "rets": 1, "res": {"CPU": 1.0}, "job": peer.welcome.job_id, "owner": peer.welcome.worker_id,
        "opts": {}, "actor": None, "method": None, "seq": 0,
    }
    spec.update(changes)
    return spec


def still_serves(ray: Any) -> None:
    @ray.remote
    def square(x: int) -> int:
        return x * x

    assert ray.get(square.remote(7), timeout=60) == 49
    assert ray.cluster_resources()["CPU"] == 2.0


def self_containing() -> dict[str, Any]:
    d: dict[str, Any] = {}
    d["me"] = d
    return d


HOSTILE_SPECS = {
    "strategy-a-list": {"opts": {"strategy": [1, 2]}},
    "max-task-retries-a-list": {"opts": {"max_task_retries": [1]}},
    "nan-resources": {"res": {"CPU": float("nan")}},
    "infinite-resources": {"res": {"CPU": float("inf")}},
    "dep-id-not-bytes": {"deps": [1, 2]},
    "huge-int": {"seq": 10 ** 3000},
    "short-task-id": {"tid": b"x"},
    "unknown-option": {"opts": {"surprise": 1}},
    "another-jobs-task": {"job": b"\x7f\x7f\x7f\x7f"},
}


@pytest.mark.parametrize("case", sorted(HOSTILE_SPECS))
def test_a_bad_task_spec_is_refused_and_the_node_serves_on(ray: Any, case: str) -> None:
    address, token = node_address(ray)
    peer = RawClient.connect(address, token)
    peer.handshake("driver")
    spec = valid_spec(peer, **HOSTILE_SPECS[case])
    peer.send_map("submit", spec=cbor2.dumps(spec))
    reason = peer.closed_reason()
    assert reason is not None and "protocol error" in reason, reason
    peer.close()
    still_serves(ray)


def test_an_actor_whose_max_restarts_is_a_string_is_refused(ray: Any) -> None:
    address, token = node_address(ray)
    peer = RawClient.connect(address, token)
    peer.handshake("driver")
    spec = valid_spec(peer, kind=1, actor=os.urandom(16), opts={"max_restarts": "many"})
    reply = peer.call("create_actor", {"spec": spec, "meta": {}})
    assert not reply.ok and reply.error_type == "ProtocolError" and "max_restarts" in (reply.error or "")
    assert peer.call("nodes").ok  # the connection goes on
    peer.close()
    still_serves(ray)


RAW_FRAMES = {
    "ids-not-bytes": ("addref", {"ids": [1, "two", None]}),
    "cyclic-call-args": ("call", {"req": 1, "method": "nodes", "args": self_containing()}),
    "bignum-pid-in-log": ("log", {"job_id": b"\0" * 4, "name": "x", "pid": 10 ** 40, "lines": ["x"]}),
    "nan-unmap-count": ("unmap", {"ids": [b"\1" * 20], "counts": [float("nan")]}),
    "datetime-tag": ("sub", {"ids": [cbor2.CBORTag(1, 0)]}),
    "shared-reference-in-free-form-args": ("call", {"req": 1, "method": "kv_get", "args": {"key": "k", "x": [[1]] * 2}}),
}


@pytest.mark.parametrize("case", sorted(RAW_FRAMES))
def test_malformed_fields_close_only_that_connection(ray: Any, case: str) -> None:
    address, token = node_address(ray)
    peer = RawClient.connect(address, token)
    peer.handshake("driver")
    tag, fields = RAW_FRAMES[case]
    peer.send_map(tag, **fields)
    reason = peer.closed_reason()
    assert reason is not None and "protocol error" in reason, reason
    peer.close()
    still_serves(ray)


def test_a_joined_nodes_self_referencing_labels_are_refused(ray: Any) -> None:
    """Tags 28/29 made labels that contain themselves; the head's broadcast of the cluster
    state could not encode them again."""
    address, token = node_address(ray)
    peer = RawClient.connect(address, token)
    info = {"node_id": os.urandom(16), "address": "ws://127.0.0.1:9", "hostname": "elsewhere", "join": True,
            "total": {"CPU": 10_000}, "available": {"CPU": 10_000}, "labels": {}}
    peer.handshake("node", info=info)
    peer.send_map("hb", total={"CPU": 10_000}, available={"CPU": 10_000}, labels=self_containing())
    reason = peer.closed_reason()
    assert reason is not None and "hb.labels" in reason, reason  # (a map where a label string goes)
    peer.close()
    still_serves(ray)
    assert any(n["Alive"] for n in ray.nodes())


@pytest.fixture
def via_node(monkeypatch: pytest.MonkeyPatch, ray_init: Any) -> Any:
    """A session whose tasks all go via the node (no leased workers), as a remote driver's do."""
    monkeypatch.setenv("EDGERAY_DIRECT_CALLS", "0")
    return ray_init(num_cpus=2)


def blocked_task(ray: Any, tmp_path: Path) -> tuple[Any, Path]:
    go, started = tmp_path / "go", tmp_path / "started"

    @ray.remote(max_retries=0)
    def wait_then_answer() -> str:
        import time
        from pathlib import Path

        Path(started).touch()
        while not Path(go).exists():
            time.sleep(0.01)
        return "real"

    ref = wait_then_answer.remote()
    wait_for_file(started, 60)
    return ref, go


def _forged_done(oid: bytes, payload: dict[str, Any]) -> Any:
    return TaskDone(oid[:16], [payload])


def _forged_put(oid: bytes, payload: dict[str, Any]) -> Any:
    return PutObject(payload)


@pytest.mark.parametrize(
    ("forge", "refusal"),
    [(_forged_done, "done from a driver"), (_forged_put, "result of a task")],
    ids=["another-driver-reports-my-task-done", "another-driver-puts-under-my-result"],
)
def test_another_driver_cannot_forge_my_result(via_node: Any, tmp_path: Path, forge: Any, refusal: str) -> None:
    ray = via_node
    ref, go = blocked_task(ray, tmp_path)
    address, token = node_address(ray)
    forger = RawClient.connect(address, token)
    forger.handshake("driver")
    forged = {"id": ref._id, "data": serialize("forged").to_bytes(), "loc": None, "err": False, "refs": []}
    forger.send(forge(ref._id, forged))
    reason = forger.closed_reason()
    assert reason is not None and refusal in reason, reason
    forger.close()
    go.touch()
    assert ray.get(ref, timeout=60) == "real"


def test_valid_specs_still_pass(ray: Any) -> None:
    """(The refusals above are of the bad field, not of raw specs: a well-formed one is taken.)"""
    address, token = node_address(ray)
    peer = RawClient.connect(address, token)
    peer.handshake("driver")
    spec = valid_spec(peer, res={"CPU": 0.5}, opts={"max_retries": 0, "strategy": "SPREAD"})
    peer.send_map("submit", spec=encode_spec(spec))
    assert peer.call("nodes").ok
    peer.close()
    still_serves(ray)


@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("reserve_bundles", {"pg_id": b"\x01" * 16, "bundles": [[0, {"CPU": 10_000}]]}),
        ("release_bundles", {"pg_id": b"\x01" * 16}),
        ("read_object", {"id": b"\x02" * 20, "offset": 0, "size": 10}),
        ("stop", {}),
    ],
)
def test_node_only_and_cli_only_calls_are_refused_to_a_driver(ray: Any, method: str, args: dict[str, Any]) -> None:
    """A driver (any job's user code) cannot reserve bundles that nothing would release, read
    another node's objects by id, or stop the node: those are for nodes and the local CLI."""
    address, token = node_address(ray)
    peer = RawClient.connect(address, token)
    peer.handshake("driver")
    reply = peer.call(method, args)
    assert not reply.ok and reply.error_type == "ProtocolError", reply
    assert "connections only" in str(reply.error)
    assert peer.call("nodes").ok  # its connection goes on
    peer.close()
    still_serves(ray)
    assert ray.available_resources()["CPU"] == 2.0  # nothing was reserved


def test_another_driver_cannot_cancel_my_task(via_node: Any, tmp_path: Path) -> None:
    from edgeray.protocol import CancelTask

    ray = via_node
    ref, go = blocked_task(ray, tmp_path)
    address, token = node_address(ray)
    other = RawClient.connect(address, token)
    other.handshake("driver")
    other.send(CancelTask(ref._id[:16], True, False))
    reason = other.closed_reason()
    assert reason is not None and "its own job only" in reason, reason
    other.close()
    go.touch()
    assert ray.get(ref, timeout=60) == "real"
