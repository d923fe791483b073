"""What a client does with the results of calls that skipped its node (direct actor calls,
tasks on leased workers): ``CoreClient`` takes these methods from ``DirectResults``.

Such results come back on the worker's connection and live in the caller, like small puts,
until their refs leave the process; the node learns of them only then (``Promise`` if the value
is not back yet, ``PutObject`` once it is). Results a worker sealed on the node instead
(``Publish``: too large, or holding refs) reach the caller with the node's ``ObjectReady``.
"""

from __future__ import annotations

from typing import Any

from ._state import ClientState


class DirectResults(ClientState):
    """Mixed into ``CoreClient``, whose state it shares (``ClientState``)."""

    def flush_refs(self) -> None:
        raise NotImplementedError

    def inline_payloads(self, ids: list[bytes]) -> list[dict[str, Any]] | None:
        """The values of ``ids`` as inline payloads this process has (small puts, results come
        back), to send along with a direct call; None if any is missing, large, an error or
        holds refs (the node must resolve it)."""
        out = []
        p = self._own.payloads
        for oid in ids:
            payload = p.get(oid)
            if payload is None or payload.get("loc") is not None or payload.get("err") or payload.get("refs"):
                return None
            if not isinstance(payload.get("data"), bytes):
                return None
            out.append(payload)
        return out

    def expect_direct(self, ids: list[bytes]) -> None:
        """These results of an actor call meant to go directly will come back on the actor's
        connection (the node does not know them: never ask it, never tell it we drop them)."""
        with self._lock:
            self._own.expect_direct(ids)

    def direct_to_node(self, ids: list[bytes]) -> None:
        """The call went via the node after all (just submitted): the node counts us as the
        holder of its results, so a ref dropped meanwhile is dropped there too."""
        with self._lock:
            self._pending_ref_ops.extend(self._own.direct_to_node(ids))

    def direct_results(self, payloads: list[dict[str, Any]]) -> None:
        """A direct call's results: inline payloads (kept here, like a small put, and published
        if promised), or ``{"id", "published": True}`` markers (the worker sealed the value on the
        node for us, which sends it: see ``_published_result``)."""
        hit: list[Any] = []
        with self._lock:
            ops, ready = self._own.direct_results(payloads, self._waiters)
            for oid, err in ready:
                hit.extend((w, err) for w in self._waiters.pop(oid, ()))
            if ops:
                self._pending_ref_ops.extend(ops)
        if ops:
            self.flush_refs()
        for w, failed in hit:
            w.hit(failed)

    def _published_result(self, payload: dict[str, Any]) -> bool:
        """The node sends a direct call's result its worker sealed there (``Publish``), and
        counts us as its holder from now on: keep it, or let go of it if its ref is gone.
        (Deciding here, not when the worker's marker comes, keeps the ``DelRef`` after the
        node's ``Publish``: the two come from different connections.) False if it is not one."""
        with self._lock:
            outcome = self._own.published_result(payload, self._waiters)
            if outcome is None:
                return False
            ops, kept = outcome
            self._pending_ref_ops.extend(ops)
            waiters = self._waiters.pop(payload["id"], None) if kept else None
        if waiters:
            failed = bool(payload.get("err"))
            for w in waiters:
                w.hit(failed)
        return True
