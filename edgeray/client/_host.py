"""What the parts of a client that send calls past the node (``TaskLeases``, ``ActorLanes``,
``DirectChannel``) and the ``Submitter`` need from the client: declared here as ``Protocol``s,
given to them when they are built (``CoreClient`` is the one implementation)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ..protocol import Log, Message


class CallerHost(Protocol):
    """The client, as its leases and direct lanes see it."""

    role: str
    worker_id: bytes

    @property
    def token(self) -> str | None: ...

    @property
    def max_frame(self) -> int: ...

    def send(self, msg: Message) -> None:
        """Send to the node (after the queued reference operations)."""

    def submit(self, spec: dict[str, Any]) -> None:
        """Submit a task or actor call via the node."""

    def call(self, method: str, args: dict[str, Any] | None = None, timeout: float | None = None,
             on_late: Callable[[bool, Any], None] | None = None) -> Any:
        """A blocking control call to the node."""

    def call_async(self, method: str, args: dict[str, Any], callback: Callable[[bool, Any], None]) -> None:
        """A control call to the node, answered on the reader thread."""

    def run_in_helper(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on a helper thread (not the reader's)."""

    def on_ready(self, oid: bytes, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the object's payload is here."""

    def log_output(self, msg: Log) -> None:
        """Print a worker's output lines (a driver's)."""

    def expect_direct(self, ids: list[bytes]) -> None:
        """These results will come back past the node (``Ownership.expect_direct``)."""

    def direct_to_node(self, ids: list[bytes]) -> None:
        """... they went via the node after all."""

    def direct_results(self, payloads: list[dict[str, Any]]) -> None:
        """... they came back (or failed)."""


class SubmitHost(Protocol):
    """The client, as its ``Submitter`` sees it."""

    def submit(self, spec: dict[str, Any]) -> None:
        """Submit via the node."""

    def inline_payloads(self, ids: list[bytes]) -> list[dict[str, Any]] | None:
        """The small values of ``ids`` this process has, or None if one needs the node."""

    def hold(self, ids: list[bytes]) -> list[Any]:
        """New counted refs to ``ids`` (kept while a call that skipped the node needs them)."""
