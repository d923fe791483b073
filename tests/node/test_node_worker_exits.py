"""A worker's death is acted on after its connection is read to the end (its last TaskDone
first), at once when it is closed already, and after DRAIN_S when a grandchild keeps its socket
open (no processes: a fake pool, Trio's autojump clock)."""

from __future__ import annotations

import trio
import trio.testing

from edgeray.node._worker_exits import DRAIN_S, WorkerExits


async def test_an_exit_waits_for_the_connection_then_for_drain_s_at_most(autojump_clock: trio.abc.Clock) -> None:
    connected = {b"w1", b"w2"}
    reported: list[tuple[bytes, int | None]] = []
    async with trio.open_nursery() as nursery:
        exits = WorkerExits(lambda w: w in connected, lambda w, rc: reported.append((w, rc)), nursery.start_soon)
        exits.exited(b"gone", 0)  # its connection closed before: at once
        assert reported == [(b"gone", 0)]

        exits.exited(b"w1", 1)  # frames may still be unread
        await trio.testing.wait_all_tasks_blocked()
        assert reported == [(b"gone", 0)] and exits.waiting() == 1
        connected.discard(b"w1")
        exits.disconnected(b"w1")
        assert reported[-1] == (b"w1", 1)

        exits.exited(b"w2", -9)  # a forked child holds its socket: acted on after DRAIN_S
        start = trio.current_time()
        while exits.waiting():
            await trio.sleep(0.1)
        assert reported[-1] == (b"w2", -9) and trio.current_time() - start >= DRAIN_S
        exits.disconnected(b"w2")  # (closing later reports nothing twice)
        assert [w for w, _ in reported].count(b"w2") == 1
        exits.disconnected(b"never-exited")
        assert len(reported) == 3
