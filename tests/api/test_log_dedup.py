"""Ray's log dedup rules (``LogDeduplicator``), on batches with a clock the test moves."""

from __future__ import annotations

from edgeray.api._log_printer import TQDM_MAGIC, LogBatch, LogDeduplicator, canonical


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def lines(batches: list[LogBatch]) -> list[tuple[int, str]]:
    return [(b.pid, line + b.mark) for b in batches for line in b.lines]


def test_one_worker_is_never_deduplicated() -> None:
    d = LogDeduplicator(5, None, None, Clock())
    for _ in range(3):
        assert lines(d.deduplicate(LogBatch("f", 1, "out", ["hello world", "id=123 0x13"]))) == [
            (1, "hello world"), (1, "id=123 0x13")]
    assert d.flush() == []


def test_many_workers_are_counted_until_the_window_passes() -> None:
    clock = Clock()
    d = LogDeduplicator(5, None, None, clock)
    assert lines(d.deduplicate(LogBatch("f", 1, "out", ["task 1 done"]))) == [(1, "task 1 done")]
    assert lines(d.deduplicate(LogBatch("f", 2, "out", ["task 2 done"]))) == []
    assert lines(d.deduplicate(LogBatch("f", 3, "out", ["task 3 done"]))) == []
    clock.t += 5
    got = lines(d.expire())
    assert len(got) == 1 and got[0][0] == 3 and got[0][1].startswith("task 3 done [repeated 2x across cluster] (")
    # counting goes on in a new window; one more is printed as is; the hint only the first time
    assert lines(d.deduplicate(LogBatch("f", 4, "out", ["task 4 done"]))) == []
    clock.t += 5
    assert lines(d.expire()) == [(4, "task 4 done")]


def test_what_is_never_deduplicated_and_what_is_skipped() -> None:
    d = LogDeduplicator(5, "ALLOW", "SKIP", Clock())
    for pid in (1, 2):
        got = lines(d.deduplicate(LogBatch("f", pid, "out", ["ALLOW me", "SKIP me", "123 456", TQDM_MAGIC + " {}"])))
        assert got == [(pid, "ALLOW me"), (pid, "123 456"), (pid, TQDM_MAGIC + " {}")]
    assert canonical("worker 12 at 0xff ready") == "worker at ready"


def test_the_schedulers_messages_are_counted_from_one_source() -> None:
    d = LogDeduplicator(5, None, None, Clock())
    for _ in range(3):
        d.deduplicate(LogBatch("scheduler", 0, "err", ["no node has GPU"]))
    got = lines(d.flush())
    assert got == [(0, got[0][1])] and got[0][1].startswith("no node has GPU [repeated 2x across cluster]")
