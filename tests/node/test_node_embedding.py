"""A node embedded in a Trio program (``open_node``) and a driver in the same process."""

from __future__ import annotations

import pytest
import trio
from inproc import node_config

import edgeray
from edgeray.node import open_node

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]  # (starts a node: the process-level tier)


async def test_init_on_the_nodes_own_trio_thread_fails_at_once_and_works_from_a_thread(edgeray_home: str) -> None:
    """``init(address=node.address)`` on the thread that runs the node would block the node it
    waits for (it hung): it says to call it from a thread, and from one it works."""

    @edgeray.remote
    def inc(x: int) -> int:
        return x + 1

    async with open_node(node_config()) as node:
        for address in (node.address, node.address.removeprefix("ws://")):
            with pytest.raises(RuntimeError, match=r"trio\.to_thread\.run_sync"):
                edgeray.init(address=address)
            assert not edgeray.is_initialized()
        await trio.to_thread.run_sync(lambda: edgeray.init(address=node.address))
        try:
            assert await inc.remote(1) == 2  # an ObjectRef awaited in Trio: the node keeps serving
        finally:
            await trio.to_thread.run_sync(edgeray.shutdown)
