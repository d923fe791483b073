"""A task's results, stored one by one as they are made.

Small results travel inline in the ``TaskDone``; larger ones are written into the node's store.
Each create tells the node which results were written before it, so that the store may spill
them to make room for the next (Ray stores each return as it comes and spills earlier ones
likewise): a task whose returns are larger together than the store still finishes. A task that
fails after writing some drops them (``drop_created``) rather than leaving them half-made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..protocol import return_id

if TYPE_CHECKING:
    from ..client import CoreClient


class ResultWriter:
    """The results of the task ``task_id``, in order: ``add`` a value, ``add_error`` an error's
    bytes; ``payloads`` for its ``TaskDone``; ``drop`` if the task fails after all."""

    def __init__(self, client: CoreClient, task_id: bytes) -> None:
        self._client = client
        self._tid = task_id
        self.payloads: list[dict[str, Any]] = []
        self._created: list[bytes] = []  # written into the store (sealed by the TaskDone)
        self._unsent: list[bytes] = []  # written, not told to the node yet

    def __len__(self) -> int:
        return len(self.payloads)

    def _next_id(self) -> bytes:
        return return_id(self._tid, len(self.payloads) + 1)

    def add(self, value: Any) -> None:
        """Store ``value`` as the next result (raises ``ObjectStoreFullError`` if it cannot be)."""
        client = self._client
        oid = self._next_id()
        so, contained = client.serialize(value)
        p = client.make_payload(oid, so, contained, self._unsent)
        if p["loc"] is not None:
            self._created.append(oid)
            self._unsent = [oid]
        self.payloads.append(p)

    def add_error(self, data: bytes) -> None:
        """The next result is an error (``data``: the pickled exception its ``get`` raises)."""
        self.payloads.append({"id": self._next_id(), "data": data, "loc": None, "err": True, "refs": []})

    def drop(self) -> None:
        """The task fails after all: free what was written (it will never be sealed)."""
        created, self._created, self._unsent = self._created, [], []
        if created:
            try:
                self._client.call("drop_created", {"ids": created})
            except Exception:  # the node is gone: it drops them with this process's connection
                pass
