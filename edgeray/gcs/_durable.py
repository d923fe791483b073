"""What the GCS keeps across a restart of its node, through a persistence backend plugin.

Written through as the tables change: detached actors (their creation spec, so they can be
created again, and the node they run on), the code of their classes, detached placement groups,
the jobs (so ids never repeat and ``list jobs`` keeps its history) and the KV store.
Everything else (drivers, tasks, job-scoped actors and groups) ends with the node's processes
anyway. Values are CBOR maps (the protocol's spec codec).
"""

from __future__ import annotations

from typing import Any

from ..plugins import PersistenceBackend
from ..protocol import decode_spec, encode_spec

__all__ = ["DurableGcs"]

ACTORS, FUNCTIONS, PGS, KV, JOBS = "actors", "functions", "placement_groups", "kv", "jobs"


class DurableGcs:
    def __init__(self, backend: PersistenceBackend) -> None:
        self.backend = backend

    # -- writes -------------------------------------------------------------------------
    def save_actor(self, actor_id: bytes, record: dict[str, Any]) -> None:
        self.backend.put(ACTORS, actor_id.hex(), encode_spec(record))

    def drop_actor(self, actor_id: bytes) -> None:
        self.backend.delete(ACTORS, actor_id.hex())

    def save_function(self, fn_id: bytes, blob: bytes, name: str) -> None:
        self.backend.put(FUNCTIONS, fn_id.hex(), encode_spec({"blob": blob, "name": name}))

    def save_pg(self, pg_id: bytes, record: dict[str, Any]) -> None:
        self.backend.put(PGS, pg_id.hex(), encode_spec(record))

    def drop_pg(self, pg_id: bytes) -> None:
        self.backend.delete(PGS, pg_id.hex())

    def save_job(self, job_id: bytes, record: dict[str, Any]) -> None:
        self.backend.put(JOBS, job_id.hex(), encode_spec(record))

    def kv_put(self, key: str, value: bytes) -> None:
        self.backend.put(KV, key, value)

    # -- reads (at start) ----------------------------------------------------------------
    def actors(self) -> list[dict[str, Any]]:
        return [decode_spec(v) for _, v in self.backend.scan(ACTORS)]

    def functions(self) -> dict[bytes, tuple[bytes, str]]:
        out = {}
        for k, v in self.backend.scan(FUNCTIONS):
            d = decode_spec(v)
            out[bytes.fromhex(k)] = (d["blob"], d["name"])
        return out

    def pgs(self) -> list[dict[str, Any]]:
        return [decode_spec(v) for _, v in self.backend.scan(PGS)]

    def jobs(self) -> list[tuple[bytes, dict[str, Any]]]:
        return [(bytes.fromhex(k), decode_spec(v)) for k, v in self.backend.scan(JOBS)]

    def kv(self) -> dict[str, bytes]:
        return dict(self.backend.scan(KV))

    def close(self) -> None:
        self.backend.close()
