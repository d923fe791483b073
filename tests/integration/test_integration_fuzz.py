"""Fuzzing a live node (issue 15): hostile frames from an authenticated peer, then a normal
driver's round trip must still work and its results be its own.

Inputs come from the wire schemas (``tests/protocol/frames.py``): valid messages, mutations of
them, raw maps and garbage, a few per connection. The node may refuse a frame (and close that
connection) or act on it; it must never die, never stop answering, and never take something a
frame said as another peer's. A longer run of the same inputs: ``tools/fuzz_node.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent.parent / "protocol"))
from frames import frames  # noqa: E402
from hostile import RawClient  # noqa: E402

pytestmark = pytest.mark.timeout(600)

RAY_INIT_KWARGS = {"num_cpus": 2}
EXAMPLES = 300


@pytest.fixture(scope="module")
def fuzzed(ray_module: Any) -> Any:
    @ray_module.remote
    def double(x: int) -> int:
        return 2 * x

    from edgeray.client._context import current_client

    c = current_client()
    return ray_module, double, c.address, c._token


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch=st.lists(frames(), min_size=1, max_size=4), role=st.sampled_from(["driver", "cli", "worker"]))
def test_hostile_frames_never_stop_the_node(fuzzed: Any, batch: list[bytes], role: str) -> None:
    ray, double, address, token = fuzzed
    peer = RawClient.connect(address, token)
    try:
        if role == "worker":  # an unknown worker id: refused at the handshake, nothing decoded after
            peer.chan.send_frame(peer.conn.hello("worker", 1, worker_id=b"\x01" * 16))
        else:
            peer.handshake(role)
        for f in batch:
            try:
                peer.chan.send_frame(f)
            except OSError:  # the node closed this connection already
                break
    finally:
        peer.close()
    assert ray.get(double.remote(21), timeout=60) == 42
