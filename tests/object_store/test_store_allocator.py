"""Allocator: best fit, coalescing, reuse of freed blocks; a hypothesis state machine."""

from __future__ import annotations

import random

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
)

from edgeray.object_store import Allocator

A = 4096


def test_basic_allocate_free():
    a = Allocator(10 * A)
    assert a.capacity == 10 * A and a.used == 0 and a.largest_free() == 10 * A
    x = a.allocate(1)
    y = a.allocate(A + 1)
    assert (x, y) == (0, A)
    assert a.used == 3 * A
    assert a.block_size(y) == 2 * A
    assert a.allocate(8 * A) is None  # 7 pages left
    z = a.allocate(7 * A)
    assert z == 3 * A and a.largest_free() == 0 and a.used == a.capacity
    assert a.allocate(0) is None
    a.free(y)
    assert a.largest_free() == 2 * A
    a.free(x)
    assert a.free_blocks() == [(0, 3 * A)]  # coalesced with its right neighbour
    a.free(z)
    assert a.free_blocks() == [(0, 10 * A)] and a.used == 0 and len(a) == 0


def test_errors_and_rounding():
    with pytest.raises(KeyError):
        Allocator(A).free(0)
    a = Allocator(5 * A + 100)
    assert a.capacity == 5 * A
    assert a.allocate(0) == 0 and a.used == A  # zero bytes still takes a unit
    with pytest.raises(ValueError):
        a.allocate(-1)
    with pytest.raises(ValueError):
        Allocator(A, alignment=3000)
    with pytest.raises(KeyError):
        a.free(A)
    assert Allocator(0).allocate(1) is None


def test_same_size_reuses_the_freed_block():
    a = Allocator(1000 * A)
    live = [a.allocate(10 * A) for _ in range(5)]
    victim = live[2]
    a.free(victim)
    assert a.allocate(10 * A) == victim  # the exact hole, not fresh memory at the end
    a.free(live[4])  # merges with the untouched tail
    assert a.allocate(3 * A) == live[4]  # carved from the low, touched end of the tail


def test_best_fit_prefers_smallest_hole():
    a = Allocator(100 * A)
    blocks = [a.allocate(s * A) for s in (5, 1, 3, 1, 8, 1)]
    a.free(blocks[0])  # hole of 5
    a.free(blocks[2])  # hole of 3
    a.free(blocks[4])  # hole of 8
    assert a.allocate(3 * A) == blocks[2]
    assert a.allocate(4 * A) == blocks[0]
    assert a.allocate(6 * A) == blocks[4]


def test_many_live_blocks():
    """10,000 live blocks and 20,000 free + allocate pairs: every allocation is served. (Their
    speed is measured by ``tools/bench_pure.py``, not asserted here: a busy machine broke it.)"""
    a = Allocator(2**40)
    rng = random.Random(1)
    live = [a.allocate(rng.randrange(1, 64) * A) for _ in range(10_000)]
    for _ in range(20_000):
        i = rng.randrange(len(live))
        a.free(live[i])
        live[i] = a.allocate(rng.randrange(1, 64) * A)
    assert None not in live


class AllocatorMachine(RuleBasedStateMachine):
    blocks = Bundle("blocks")

    def __init__(self):
        super().__init__()
        self.alloc = Allocator(64 * 1024, alignment=1024)
        self.live: dict[int, int] = {}

    @rule(target=blocks, size=st.integers(min_value=0, max_value=20_000))
    def allocate(self, size):
        before = self.alloc.largest_free()
        off = self.alloc.allocate(size)
        need = max(1024, -(-size // 1024) * 1024)
        if off is None:
            assert need > before
            return None
        assert need <= before
        assert off % 1024 == 0
        assert off not in self.live
        self.live[off] = need
        return off

    @rule(off=consumes(blocks))
    def free(self, off):
        if off is None:
            return
        self.alloc.free(off)
        del self.live[off]

    @rule(off=st.integers(min_value=0, max_value=64 * 1024))
    def free_of_unknown_offset_is_key_error(self, off):
        if off in self.live:
            return
        with pytest.raises(KeyError):
            self.alloc.free(off)

    @invariant()
    def consistent(self):
        a = self.alloc
        assert dict(a.allocated_blocks()) == self.live
        assert a.used == sum(self.live.values())
        spans = sorted(
            [(o, s, "a") for o, s in self.live.items()] + [(o, s, "f") for o, s in a.free_blocks()]
        )
        pos = 0
        prev_kind = None
        for off, size, kind in spans:
            assert off == pos, "blocks overlap or leave a gap"
            assert size > 0
            assert not (kind == prev_kind == "f"), "two free neighbours were not coalesced"
            pos += size
            prev_kind = kind
        assert pos == a.capacity
        free_sizes = [s for _, s in a.free_blocks()]
        assert a.largest_free() == max(free_sizes, default=0)

    def teardown(self):
        for off in list(self.live):
            self.alloc.free(off)
        assert self.alloc.free_blocks() == [(0, self.alloc.capacity)]
        assert self.alloc.used == 0


AllocatorMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=40, deadline=None
)
TestAllocatorMachine = AllocatorMachine.TestCase
