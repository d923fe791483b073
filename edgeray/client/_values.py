"""What a client does with references and values: counting the ObjectRefs this process holds
(and telling its node, in batches), pickling values with the refs inside them, and reading
objects, also from shared memory under the node's leases. ``CoreClient`` takes these methods
from ``Values``.

A process tells its node only when its count of an object goes 0 -> 1 (``AddRef``) or back
(``DelRef``); the operations queue (also from ``__del__``, inside the garbage collector) and
leave with the next message or within ``FLUSH_INTERVAL``, netted by ``coalesce_ref_ops``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import exceptions as exc
from ..object_store import Arena, SerializedObject, deserialize, serialize
from ..protocol import AddRef, DelRef, Message, Unmap, put_id
from ._refs import ObjectRef
from ._state import ClientState
from ._views import ViewLeases

if TYPE_CHECKING:
    from ._client import CoreClient


class Values(ClientState):
    """Mixed into ``CoreClient``, whose state it shares (``ClientState``)."""

    _views: ViewLeases
    _empty_args: bytes | None
    arena: Arena | None

    def send(self, msg: Message) -> None:
        raise NotImplementedError

    def _as_client(self) -> CoreClient:
        # always a CoreClient: the only class that mixes this in
        return self  # type: ignore[return-value]

    def call(self, method: str, args: dict[str, Any] | None = None, timeout: float | None = None,
             on_late: Callable[[bool, Any], None] | None = None) -> Any:
        raise NotImplementedError

    # -- references (the rules are ``Ownership``'s; the messages queue in order) ---------------
    def incref(self, oid: bytes) -> None:
        with self._lock:
            ops = self._own.take(oid)
            if ops:
                self._pending_ref_ops.extend(ops)

    def decref(self, oid: bytes) -> None:
        with self._lock:
            ops = self._own.drop(oid)
            if ops:
                self._pending_ref_ops.extend(ops)

    def cache_payload(self, payload: dict[str, Any]) -> None:
        """Keep an inline payload the node also has (it told us its value in a reply)."""
        with self._lock:
            self._own.cache(payload)

    def owned_ref(self, oid: bytes) -> ObjectRef:
        """A ref to an object the node already counts this process as holding."""
        with self._lock:
            self._own.owned(oid)
        return ObjectRef(oid, self._as_client(), _counted=False)

    def returned_refs(self, ids: list[bytes]) -> list[ObjectRef]:
        """Refs to the returns of a task just submitted (via the node, which pushes them here)."""
        with self._lock:
            for oid in ids:
                self._own.owned(oid)
            self._own.returns_submitted(ids)
        client = self._as_client()
        return [ObjectRef(oid, client, _counted=False) for oid in ids]

    def ensure_published(self, oid: bytes) -> None:
        """Make sure the node has the value of an object this process put or got back from a
        direct actor call (before its ref leaves); ``Promise`` it if the value is not back yet."""
        if not self._own.needs_publish(oid):
            return
        with self._lock:
            msg = self._own.publish(oid)
        if msg is not None:
            self.send(msg)

    def put_error(self, error: BaseException) -> ObjectRef:
        """A new object of this process whose ``get`` raises ``error`` (what a generator task
        raised, stored after the values it yielded)."""
        client = self._as_client()
        oid = put_id(client.new_id())
        data = self.serialize(error)[0].to_bytes()
        with self._lock:
            self._own.put_local(oid, data, err=True)
        return ObjectRef(oid, client, _counted=False)

    # -- values -------------------------------------------------------------------------------
    def serialize(self, value: Any) -> tuple[SerializedObject, list[bytes]]:
        """Pickle ``value``; ObjectRefs inside become ids (returned, and published first)."""
        contained: list[bytes] = []

        def persistent_id(obj: Any) -> Any:
            if type(obj) is ObjectRef:
                oid = obj._id
                contained.append(oid)
                if self._own.needs_publish(oid):
                    self.ensure_published(oid)
                return oid
            return None

        return serialize(value, persistent_id), contained

    def _load_ref(self, pid: Any) -> ObjectRef:
        if not isinstance(pid, bytes):
            raise exc.RaySystemError(f"unexpected persistent id {pid!r}")
        return ObjectRef(pid, self._as_client())

    def empty_args(self) -> bytes:
        """The pickled ``([], {})`` of a call without arguments (made once)."""
        blob = self._empty_args
        if blob is None:
            blob = self._empty_args = self.serialize(([], {}))[0].to_bytes()
        return blob

    def load_borrowed_ref(self, pid: Any) -> ObjectRef:
        """A ref that someone else keeps alive (not counted here): closure captures."""
        if not isinstance(pid, bytes):
            raise exc.RaySystemError(f"unexpected persistent id {pid!r}")
        return ObjectRef(pid, None)

    def deserialize_payload(self, payload: dict[str, Any], *, leased: bool = False, timeout: float | None = None) -> Any:
        """The value of a payload (raising the remote error if it is one).

        ``leased``: the payload's ``loc`` is a lease the node gave this process (an ``Execute``
        argument); otherwise a shared-memory object is read under a lease held already by a
        live view, or one asked for now (``map_object``), within ``timeout`` seconds (the node
        may first copy it from another node or recompute it): else ``GetTimeoutError``.
        """
        if payload.get("loc") is not None:
            if self.arena is None:
                raise exc.RaySystemError("object lives in shared memory this process cannot map")
            view_or_payload = self._open_view(payload, leased, timeout)
            if isinstance(view_or_payload, dict):  # the node sent the bytes instead
                return self.deserialize_payload(view_or_payload)
            value = deserialize(view_or_payload, self._load_ref)
        elif payload.get("err"):
            try:
                value = deserialize(payload["data"], self._load_ref)
            except Exception as e:
                raise exc.RaySystemError(f"The task failed with an exception that cannot be deserialized here: {e!r}") from None
        else:
            value = deserialize(payload["data"], self._load_ref)
        if payload.get("err"):
            if isinstance(value, exc.RayTaskError):
                raise value.as_instanceof_cause()
            if isinstance(value, BaseException):
                raise value
            raise exc.RaySystemError(f"bad error payload: {value!r}")
        return value

    def _open_view(self, payload: dict[str, Any], leased: bool, timeout: float | None = None) -> memoryview | dict[str, Any]:
        """A read-only view of a shared-memory object, kept alive (and in memory) while it lives."""
        oid = payload["id"]
        loc = self._views.open(oid, payload["loc"] if leased else None)
        if loc is None:
            fresh = self.call("map_object", {"id": oid}, timeout, functools.partial(self._late_map, oid))
            if fresh.get("loc") is None:
                return fresh  # inline bytes or an error: nothing was leased
            loc = self._views.open(oid, fresh["loc"])
            assert loc is not None
        assert self.arena is not None
        self.incref(oid)  # the object itself stays referenced while any view of it lives
        try:
            return self.arena.read_view(loc[0], loc[1], on_release=functools.partial(self._release_view, oid))
        except BaseException:
            self._release_view(oid)
            raise

    def _late_map(self, oid: bytes, ok: bool, fresh: Any) -> None:
        """A ``map_object`` answered after its ``get`` timed out: give back the lease it grants."""
        if ok and isinstance(fresh, dict) and fresh.get("loc") is not None:
            with self._lock:
                self._pending_ref_ops.append(Unmap([oid], [1]))

    def return_lease(self, payload: dict[str, Any]) -> None:
        """Give back the lease of a leased payload that will not be read."""
        if payload.get("loc") is not None:
            with self._lock:
                self._pending_ref_ops.append(Unmap([payload["id"]], [1]))

    def _release_view(self, oid: bytes) -> None:
        """The last use of one view is gone (runs inside the garbage collector: queue only)."""
        try:
            leases = self._views.close(oid)
            if leases:
                with self._lock:
                    self._pending_ref_ops.append(Unmap([oid], [leases]))
            self.decref(oid)
        except Exception:
            pass


def coalesce_ref_ops(ops: list[Message]) -> list[Message]:
    """The queued operations as few messages, with the same effect on the node.

    Each run of ``AddRef``/``DelRef`` between other messages (kept in place, in order) becomes at
    most one ``AddRef`` and then one ``DelRef``. The node keeps a *set* of holders, so per object
    only the run's last operation counts, and only if the node's view changes: an object the
    run first added and last deleted (a ref unpickled and dropped, like the 10,000 inside a
    list that is read and thrown away) costs nothing. Adds go before deletes: a deleted
    container must not free objects nested in it before this process is counted as holding
    them."""
    out: list[Message] = []
    first: dict[bytes, bool] = {}  # object -> its first operation in this run was an add
    last: dict[bytes, bool] = {}  # object -> its last one was (in first-seen order)

    def end_run() -> None:
        if last:
            adds = [i for i, add in last.items() if add and first[i]]
            dels = [i for i, add in last.items() if not add and not first[i]]
            if adds:
                out.append(AddRef(adds))
            if dels:
                out.append(DelRef(dels))
            first.clear()
            last.clear()

    for m in ops:
        kind = type(m)
        if kind is AddRef or kind is DelRef:
            add = kind is AddRef
            for oid in m.ids:  # type: ignore[attr-defined]
                first.setdefault(oid, add)
                last[oid] = add
        else:
            end_run()
            out.append(m)
    end_run()
    return out
