"""Ray's ID types (``TaskID``, ``NodeID``, ``JobID``, ``ActorID``, ``WorkerID``), as edgeray gives
them: the id's hex string, with the ``hex()``, ``binary()`` and ``is_nil()`` of Ray's ID objects.
Being strings, they compare equal to what ``get_task_id()`` and the other ``get_*_id()`` return."""

from __future__ import annotations


class BaseID(str):
    __slots__ = ()

    @classmethod
    def from_bytes(cls, raw: bytes) -> BaseID:
        return cls(raw.hex())

    def hex(self) -> str:
        return str(self)

    def binary(self) -> bytes:
        return bytes.fromhex(self)

    def is_nil(self) -> bool:
        return not self or set(self) == {"f"}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)})"


class TaskID(BaseID):
    __slots__ = ()


class NodeID(BaseID):
    __slots__ = ()


class JobID(BaseID):
    __slots__ = ()


class ActorID(BaseID):
    __slots__ = ()


class WorkerID(BaseID):
    __slots__ = ()
