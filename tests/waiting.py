"""The suite's one way to wait: for a condition, a file, or a line of output, never a fixed time.

``tests/`` is on ``sys.path`` (its ``conftest.py`` puts it there), so any test imports these as
``from waiting import wait_for, wait_for_file, wait_for_line``. The timeouts are generous
limits for a busy 2-core machine, never a measure of speed: a wait that passes its limit fails
the test with what it was waiting for.

* ``wait_for(cond)`` / ``wait_for_async(cond)``: until ``cond()`` is true (in a Trio test, ``cond``
  may be async); they return its value;
* ``wait_for_file``, ``wait_for_gone``, ``wait_for_line``: a file appears, goes, holds a line;
* ``wait_for_exit(pid)``: a process has exited;
* ``holds_for(cond, seconds)``: the one fixed time, "nothing happens within ...", only where no
  event says the thing will not happen.

No test writes its own polling loop or sleeps to let something happen: it waits for that thing.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import trio

T = TypeVar("T")

DEFAULT_TIMEOUT = 30.0
POLL_S = 0.02


class WaitTimeout(AssertionError):
    """A condition did not come true within its limit."""


def wait_for(cond: Callable[[], T], timeout: float = DEFAULT_TIMEOUT, what: str = "") -> T:
    """Poll ``cond()`` until it returns something true, and return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise WaitTimeout(f"timed out after {timeout} s waiting for {what or cond!r}")
        time.sleep(POLL_S)


async def wait_for_async(cond: Callable[[], Any], timeout: float = DEFAULT_TIMEOUT, what: str = "") -> Any:
    """``wait_for`` inside a Trio test: polls without blocking the Trio thread. ``cond`` may be
    an async function (each poll awaits it)."""
    deadline = trio.current_time() + timeout
    while True:
        value = cond()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if trio.current_time() > deadline:
            raise WaitTimeout(f"timed out after {timeout} s waiting for {what or cond!r}")
        await trio.sleep(POLL_S)


def wait_for_file(path: Path | str, timeout: float = DEFAULT_TIMEOUT) -> Path:
    """Wait until ``path`` exists."""
    p = Path(path)
    wait_for(p.exists, timeout, f"{p} to appear")
    return p


def wait_for_line(path: Path | str, needle: str, timeout: float = DEFAULT_TIMEOUT) -> str:
    """Wait until the text file at ``path`` has a line containing ``needle``; return that line."""
    p = Path(path)

    def found() -> str | None:
        try:
            text = p.read_text(errors="replace")
        except OSError:
            return None
        return next((line for line in text.splitlines() if needle in line), None)

    return wait_for(found, timeout, f"a line with {needle!r} in {p}")


def wait_for_gone(path: Path | str, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Wait until ``path`` no longer exists."""
    p = Path(path)
    wait_for(lambda: not p.exists(), timeout, f"{p} to go away")


def wait_for_exit(pid: int, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Wait until the process ``pid`` has exited (a zombie counts as exited)."""
    from edgeray._files import pid_alive

    wait_for(lambda: not pid_alive(pid), timeout, f"process {pid} to exit")


def holds_for(cond: Callable[[], Any], seconds: float, what: str = "") -> None:
    """Assert that ``cond()`` stays true for ``seconds`` ("nothing happens within ..."). The one
    place a fixed time is the test: use it only where no event says the thing will not happen."""
    deadline = time.monotonic() + seconds
    while True:
        assert cond(), f"no longer true within {seconds} s: {what or cond!r}"
        if time.monotonic() > deadline:
            return
        time.sleep(POLL_S)
