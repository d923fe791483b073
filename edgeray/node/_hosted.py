"""The nodes a Trio run hosts (``open_node``/``serve_node`` in this process), by address.

A driver whose ``init()`` would connect to a node that runs on its own thread would block that
thread, and with it the node that should answer: ``init()`` asks ``hosted_on_this_thread`` first
and says so at once. The set is kept per Trio run (a ``RunVar``), so code on another thread
(``trio.to_thread.run_sync``) or in another Trio run, or another process's node, is not affected.
"""

from __future__ import annotations

import trio

_HOSTED: trio.lowlevel.RunVar[frozenset[str]] = trio.lowlevel.RunVar("edgeray_hosted_nodes", default=frozenset())


def _names(address: str, unix_path: str) -> set[str]:
    return {address, unix_path, f"unix:{unix_path}"}


def add(address: str, unix_path: str) -> None:
    _HOSTED.set(_HOSTED.get() | _names(address, unix_path))


def discard(address: str, unix_path: str) -> None:
    _HOSTED.set(_HOSTED.get() - _names(address, unix_path))


def hosted_on_this_thread(address: str) -> bool:
    """Whether the node at ``address`` runs in the Trio run of the calling thread."""
    try:
        trio.lowlevel.current_trio_token()
    except RuntimeError:  # not on a Trio thread
        return False
    return address in _HOSTED.get()
