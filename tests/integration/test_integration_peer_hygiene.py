"""What a connection leaves behind when it ends (issue 15): nothing.

A driver's queued work ends with its job (tasks infeasible when it leaves never run later for a
job that is gone), and thousands of drivers that connect, register code, put, promise,
subscribe, start writing an object and vanish leave the node's tables and memory where they
were. The node's RSS is compared before and after (a memory bound, not a speed bound).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from hostile import RawClient
from waiting import wait_for

from edgeray.object_store import serialize
from edgeray.protocol import (
    AddRef,
    Call,
    Promise,
    PutObject,
    RegisterFunction,
    SubmitTask,
    Subscribe,
    encode_spec,
)

pytestmark = pytest.mark.timeout(300)

CYCLES = 10_000
BLOB = 16 << 10  # code registered by each connection: 160 MB in all if it were kept


def node(ray: Any) -> tuple[str, str | None]:
    from edgeray.client._context import current_client

    c = current_client()
    return c.address, c._token


def status() -> dict[str, Any]:
    from edgeray.client._context import current_client

    return current_client().call("status")


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def spec_for(peer: RawClient, res: dict[str, float]) -> dict[str, Any]:
    assert peer.welcome is not None
    return {
        "tid": os.urandom(16), "kind": 0, "fn": os.urandom(16), "name": "left-behind", "args": b"", "deps": [],
        "nested": [], "rets": 1, "res": res, "job": peer.welcome.job_id, "owner": peer.welcome.worker_id,
        "opts": {}, "actor": None, "method": None, "seq": 0,
    }


def test_tasks_infeasible_when_their_driver_leaves_are_dropped(ray: Any) -> None:
    address, token = node(ray)
    peer = RawClient.connect(address, token)
    peer.handshake("driver")
    peer.send(SubmitTask(encode_spec(spec_for(peer, {"CPU": 1.0, "not_here_yet": 1.0}))))
    wait_for(lambda: len(status()["infeasible"]) == 1, what="the task is listed infeasible")
    peer.close()
    wait_for(lambda: status()["infeasible"] == [], what="the gone driver's infeasible task dropped")


def _one_connection(address: str, token: str | None) -> None:
    peer = RawClient.connect(address, token)
    peer.handshake("driver")
    fn = os.urandom(16)
    peer.send(RegisterFunction(fn, os.urandom(BLOB), "f"))
    oid = os.urandom(16) + b"\0\0\0\0"
    peer.send(PutObject({"id": oid, "data": serialize("x").to_bytes(), "loc": None, "err": False, "refs": []}))
    peer.send(AddRef([oid]))
    peer.send(Promise([os.urandom(20)]))
    peer.send(Subscribe([os.urandom(20)]))
    peer.req += 1
    peer.send(Call(peer.req, "create_object", {"id": os.urandom(20), "size": 1 << 16}))  # never sealed
    assert peer.call("nodes").ok  # (everything above was taken before this answer)
    peer.close()


def test_thousands_of_connections_leave_the_node_as_it_was(ray: Any) -> None:
    address, token = node(ray)
    up = wait_for(lambda: (s := status())["peers"] == s["workers"] + 1 and s, what="the pool's workers to connect")
    peers = up["peers"]  # this driver and the pool's workers
    _one_connection(address, token)  # warm up the code paths once
    wait_for(lambda: status()["peers"] == peers, what="the warm-up connection to end")
    before = status()
    pid = before["pid"]
    rss_before = rss_kib(pid)
    for _ in range(CYCLES):
        _one_connection(address, token)

    def settled() -> dict[str, Any] | None:
        s = status()
        return s if s["peers"] == before["peers"] else None

    after = wait_for(settled, what="every connection to end")
    assert after["objects"] == before["objects"]
    assert after["store"]["used"] == before["store"]["used"]
    assert after["functions"] == before["functions"]
    assert after["jobs"] <= 1000 + 2  # ended jobs kept in memory, plus this session's
    grown_mib = (rss_kib(pid) - rss_before) / 1024
    assert grown_mib < 30, f"the node grew by {grown_mib:.0f} MiB over {CYCLES} connections"


def test_idle_extra_workers_the_node_stops_leave_no_record(ray: Any, tmp_path: Any) -> None:
    """Workers started beyond the pool for blocked tasks are stopped after 10 s idle; their
    records went only half way (marked dead, never removed), so the table only grew."""
    go = tmp_path / "go"

    @ray.remote
    def leaf(i: int) -> int:
        import time
        from pathlib import Path

        while not Path(go).exists():
            time.sleep(0.01)
        return i

    @ray.remote
    def parent(i: int) -> int:
        return ray.get(leaf.remote(i)) + 1  # blocked in get: its CPU goes to the child

    pool = status()["workers"]
    refs = [parent.remote(i) for i in range(4)]
    wait_for(lambda: status()["workers"] >= pool + 3, timeout=120, what="workers started beyond the pool")
    go.touch()
    assert ray.get(refs, timeout=120) == [1, 2, 3, 4]
    wait_for(lambda: status()["workers"] == pool, timeout=120, what="the extra workers stopped and forgotten")
