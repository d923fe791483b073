"""Fetching objects between nodes: copying the bytes a *marker* points at into this node's store
(Ray's object manager pull).

``Fetcher`` owns the fetches in progress and their counters, and acts through what it is given:
a lookup of the directory's entries (whose entry holds the marker), the node's store, and
``FetchEffects`` (a link to a node, whether a node is alive, starting a background task).

The rules:

- ``localize(ids, then)``: every entry among ``ids`` that holds a marker is fetched, then
  ``then()`` is called once (at once if none does). One fetch per object: a second caller waits
  for the one in progress.
- A fetch copies the object (on one machine from the other node's arena through a lease given
  back with ``Unmap``; otherwise in ``CHUNK``-byte ``read_object`` calls, ``WINDOW`` in flight)
  into bytes it created and seals. A failed copy is tried again ``retry_delay`` later while the
  node is thought alive, up to ``tries`` times; then the entry's value becomes an
  ``ObjectLostError`` (with ``lost_from``).
- The result replaces the entry's value only if the entry still holds the marker it fetched (it
  may have been recomputed or freed meanwhile); otherwise the copy's bytes are deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import trio

from .. import exceptions as exc
from ..protocol import Message, Unmap
from ._directory import is_marker, lost_payload
from ._objects import ObjectEntry

log = logging.getLogger("edgeray.node")

#: Bytes per ``read_object`` request, and how many are in flight per fetch.
CHUNK = 8 << 20
WINDOW = 3
#: Tries to copy an object from a node that is still thought alive (``RETRY_DELAY`` s apart).
FETCH_TRIES = 25
RETRY_DELAY = 0.2


class Link(Protocol):
    """An outgoing connection to another node (``node._links.NodeLink``)."""

    closed: bool

    def send(self, msg: Message) -> None: ...

    def call(self, method: str, args: dict[str, Any], callback: Callable[[bool, Any, str | None], None] | None) -> None: ...

    async def call_async(self, method: str, args: dict[str, Any]) -> Any: ...


class Arena(Protocol):
    def write_view(self, offset: int, size: int) -> memoryview: ...


class FetchStore(Protocol):
    """The operations of ``object_store.ObjectStore`` a fetch uses."""

    @property
    def arena(self) -> Arena: ...

    def create(self, object_id: bytes, size: int) -> int: ...

    def seal(self, object_id: bytes) -> None: ...

    def delete(self, object_id: bytes) -> None: ...


class FetchEffects(Protocol):
    """What fetching needs from the rest of the node."""

    def link(self, node_id: bytes) -> Link:
        """The link to ``node_id`` (opened if need be)."""

    def arena_of(self, link: Link) -> Arena | None:
        """The arena of the node at the other end of ``link`` if it is on this machine."""

    def is_alive(self, node_id: bytes) -> bool: ...

    def start_soon(self, fn: Callable[..., Awaitable[None]], *args: Any) -> None:
        """Run ``fn(*args)`` in the background (the node's nursery)."""


class Fetcher:
    """The fetches of one node (see the module's docstring)."""

    def __init__(self, entry: Callable[[bytes], ObjectEntry | None], store: FetchStore, effects: FetchEffects, *,
                 tries: int = FETCH_TRIES, retry_delay: float = RETRY_DELAY) -> None:
        self._entry = entry
        self._store = store
        self._effects = effects
        self.tries = tries
        self.retry_delay = retry_delay
        self.fetching: dict[bytes, list[Callable[[], None]]] = {}  # object -> who waits for it
        self.stats = {"objects_fetched": 0, "bytes_fetched": 0}

    def localize(self, oids: list[bytes], then: Callable[[], None]) -> None:
        """Bring every marker among ``oids``' entries into this node's store, then ``then()``."""
        todo = [oid for oid in oids if (e := self._entry(oid)) is not None and is_marker(e.payload)]
        if not todo:
            then()
            return
        remaining = [len(todo)]

        def one_done() -> None:
            remaining[0] -= 1
            if remaining[0] == 0:
                then()

        for oid in todo:
            waiting = self.fetching.get(oid)
            if waiting is not None:
                waiting.append(one_done)
                continue
            self.fetching[oid] = [one_done]
            e = self._entry(oid)
            assert e is not None and e.payload is not None
            self._effects.start_soon(self._fetch, dict(e.payload))

    async def _fetch(self, marker: dict[str, Any]) -> None:
        """Copy the object ``marker`` points at into this node's store. A failed copy is tried
        again while its node is thought alive; once it is declared dead, the node has already
        recomputed or failed the object, and that answer is kept."""
        oid, node_id = marker["id"], marker["node"]
        payload: dict[str, Any] | None = None
        for attempt in range(self.tries):
            try:
                payload = await self._copy_here(marker)
                break
            except Exception as e:
                if not self._effects.is_alive(node_id) or attempt == self.tries - 1:
                    log.warning("could not fetch object %s from node %s: %s", oid.hex(), node_id.hex()[:12], e)
                    payload = {**lost_payload(oid, f"fetching it from node {node_id.hex()} failed: {e}"), "lost_from": node_id}
                    break
                await trio.sleep(self.retry_delay)
        entry = self._entry(oid)
        ours = payload is not None and payload.get("loc") is not None
        if entry is not None and entry.payload is not None and entry.payload.get("node") == node_id:
            entry.payload = payload  # still the marker we fetched (not recomputed meanwhile)
        elif ours:
            self._store.delete(oid)
        for cb in self.fetching.pop(oid, []):
            cb()

    async def _copy_here(self, marker: dict[str, Any]) -> dict[str, Any]:
        oid, node_id, size = marker["id"], marker["node"], int(marker.get("size") or 0)
        store = self._store
        if not self._effects.is_alive(node_id):
            raise ConnectionError(f"node {node_id.hex()} holding it is dead")
        link = self._effects.link(node_id)
        offset = store.create(oid, size)
        try:
            view = store.arena.write_view(offset, size)
            other = self._effects.arena_of(link)
            if other is not None:  # on this machine: one copy, from its arena to ours
                loc = await link.call_async("lease_object", {"id": oid})
                try:
                    view[:] = other.write_view(int(loc[0]), size)
                finally:
                    link.send(Unmap([oid], [1]))
            else:
                await read_chunks(link, oid, size, view)
            store.seal(oid)
        except BaseException:
            store.delete(oid)
            raise
        self.stats["objects_fetched"] += 1
        self.stats["bytes_fetched"] += size
        return {"id": oid, "data": None, "loc": [offset, size], "err": False, "refs": marker.get("refs") or []}


async def read_chunks(link: Link, oid: bytes, size: int, view: memoryview) -> None:
    """Copy ``size`` bytes of ``oid`` into ``view``, ``WINDOW`` chunk requests in flight."""
    positions = list(range(0, size, CHUNK))
    limit = trio.Semaphore(WINDOW)

    async def one(pos: int) -> None:
        n = min(CHUNK, size - pos)
        try:
            data = await link.call_async("read_object", {"id": oid, "offset": pos, "size": n})
        finally:
            limit.release()
        if not isinstance(data, bytes) or len(data) != n:
            raise exc.ObjectLostError(oid.hex(), "the holding node sent a short chunk")
        view[pos : pos + n] = data

    async with trio.open_nursery() as nursery:
        for pos in positions:
            await limit.acquire()
            nursery.start_soon(one, pos)
