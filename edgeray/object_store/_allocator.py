"""Offsets in an arena: best-fit allocation with coalescing. Pure bookkeeping, no I/O.

Policy: best fit (the smallest free block that holds the request; among equal sizes the
lowest offset), carving from the low end of the block, and merging a freed block with
free neighbours at once. Together this keeps reusing memory that was touched before:

- a freed block of the size asked for is taken again as it is (repeated puts of one size
  land on the same, already-faulted pages);
- the never-touched part of the arena is normally the largest free block (the high end),
  so it is used last, and allocations from it grow upward from the low end.

Free blocks are indexed three ways: by start and by end (dicts, O(1) coalescing) and in a
list sorted by ``(size, start)`` searched with ``bisect`` (O(log n) search; the insert or
removal is a memmove of a list of pointers, which stays in the microseconds for tens of
thousands of blocks).
"""

from __future__ import annotations

from bisect import bisect_left, insort

__all__ = ["Allocator"]


class Allocator:
    """Hands out ``alignment``-aligned offsets in ``[0, capacity)``.

    ``capacity`` is rounded down to a multiple of ``alignment``; every block is a multiple
    of ``alignment`` long (a request of 0 bytes still takes one unit, so offsets are unique).
    """

    __slots__ = (
        "_alignment",
        "_capacity",
        "_used",
        "_allocated",
        "_free_start",
        "_free_end",
        "_by_size",
    )

    def __init__(self, capacity: int, alignment: int = 4096) -> None:
        if alignment <= 0 or alignment & (alignment - 1):
            raise ValueError(f"alignment must be a positive power of two, not {alignment}")
        if capacity < 0:
            raise ValueError(f"capacity must be >= 0, not {capacity}")
        self._alignment = alignment
        self._capacity = capacity - capacity % alignment
        self._used = 0
        self._allocated: dict[int, int] = {}  # start -> size
        self._free_start: dict[int, int] = {}  # start -> size
        self._free_end: dict[int, int] = {}  # end -> start
        self._by_size: list[tuple[int, int]] = []  # sorted (size, start)
        if self._capacity:
            self._add_free(0, self._capacity)

    # --- queries ---------------------------------------------------------------------------

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def alignment(self) -> int:
        return self._alignment

    @property
    def used(self) -> int:
        """Bytes in allocated blocks (each request rounded up to ``alignment``)."""
        return self._used

    @property
    def available(self) -> int:
        """Free bytes in total (maybe not contiguous: see ``largest_free``)."""
        return self._capacity - self._used

    def largest_free(self) -> int:
        """Size of the largest contiguous free block (the largest request that can succeed)."""
        return self._by_size[-1][0] if self._by_size else 0

    def block_size(self, offset: int) -> int:
        """The (rounded) size of the allocated block at ``offset``; KeyError if none."""
        return self._allocated[offset]

    def __len__(self) -> int:
        """Number of allocated blocks."""
        return len(self._allocated)

    def free_blocks(self) -> list[tuple[int, int]]:
        """``(start, size)`` of every free block, by start (for tests and introspection)."""
        return sorted(self._free_start.items())

    def allocated_blocks(self) -> list[tuple[int, int]]:
        """``(start, size)`` of every allocated block, by start."""
        return sorted(self._allocated.items())

    def round_up(self, size: int) -> int:
        a = self._alignment
        return max(a, (size + a - 1) & ~(a - 1))

    # --- allocation ------------------------------------------------------------------------

    def allocate(self, size: int) -> int | None:
        """Offset of a new block of at least ``size`` bytes, or None when no free block fits."""
        if size < 0:
            raise ValueError(f"size must be >= 0, not {size}")
        need = self.round_up(size)
        by_size = self._by_size
        i = bisect_left(by_size, (need, -1))
        if i == len(by_size):
            return None
        block, start = by_size.pop(i)
        del self._free_start[start]
        del self._free_end[start + block]
        if block > need:
            self._add_free(start + need, block - need)
        self._allocated[start] = need
        self._used += need
        return start

    def free(self, offset: int) -> None:
        """Give back the block at ``offset``; KeyError if no block starts there."""
        try:
            size = self._allocated.pop(offset)
        except KeyError:
            raise KeyError(f"no allocated block at offset {offset}") from None
        self._used -= size
        start, end = offset, offset + size
        nxt = self._free_start.get(end)
        if nxt is not None:
            self._remove_free(end, nxt)
            end += nxt
        prev = self._free_end.get(start)
        if prev is not None:
            self._remove_free(prev, start - prev)
            start = prev
        self._add_free(start, end - start)

    # --- internals -------------------------------------------------------------------------

    def _add_free(self, start: int, size: int) -> None:
        self._free_start[start] = size
        self._free_end[start + size] = start
        insort(self._by_size, (size, start))

    def _remove_free(self, start: int, size: int) -> None:
        del self._free_start[start]
        del self._free_end[start + size]
        by_size = self._by_size
        i = bisect_left(by_size, (size, start))
        del by_size[i]

    def __repr__(self) -> str:
        return (
            f"<Allocator used={self._used} capacity={self._capacity} "
            f"blocks={len(self._allocated)} free_blocks={len(self._free_start)}>"
        )
