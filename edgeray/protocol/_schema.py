"""Checks for the values inside messages: ids, bounded strings and lists, payloads, resources.

A *check* is a function ``check(value, where)`` that returns nothing or raises ``ProtocolError``
naming ``where`` (the message and field) and what is wrong. Messages declare a check per field
(``_messages``), the task spec declares one per field and option (``_spec``), and the control
calls one per argument (``_calls``); each is applied where the frame is decoded, so a handler
only ever sees values of the declared shape.

Id lengths (raw bytes): task, actor, worker, node, placement group, function 16; object 20 (its
task's id and a 4-byte index); job 4.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..exceptions import ProtocolError
from ._plain import check_plain

Check = Callable[[Any, str], None]

ID_LEN = 16
OBJECT_ID_LEN = 20
JOB_ID_LEN = 4
#: the most ids, payloads, list entries or map entries one field may hold
MAX_ITEMS = 1 << 20
#: the longest name, namespace, method or label a field may hold
MAX_NAME = 4096
#: the largest resource amount (in units of 1/10000) and count any field may say
MAX_AMOUNT = 1 << 53


def fail(where: str, what: str) -> ProtocolError:
    return ProtocolError(f"{where}: {what}")


class Schema:
    """A check as data: its parameters are attributes, so tests derive values from it."""

    __slots__ = ()

    def __call__(self, v: Any, where: str) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        names: tuple[str, ...] = self.__slots__  # type: ignore[assignment]
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in names)
        return f"{type(self).__name__}({args})"


class AnyValue(Schema):
    """Anything plain (``_plain.check_plain``): the free-form parts of a message."""

    __slots__ = ()

    def __call__(self, v: Any, where: str) -> None:
        try:
            check_plain(v)
        except ProtocolError as e:
            raise fail(where, str(e)) from None


class Boolean(Schema):
    __slots__ = ()

    def __call__(self, v: Any, where: str) -> None:
        if type(v) is not bool:
            raise fail(where, f"expected a boolean, got {type(v).__name__}")


class Ident(Schema):
    __slots__ = ("length",)

    def __init__(self, length: int) -> None:
        self.length = length

    def __call__(self, v: Any, where: str) -> None:
        if type(v) is not bytes or len(v) != self.length:
            raise fail(where, f"expected a {self.length}-byte id")


class Nullable(Schema):
    __slots__ = ("inner",)

    def __init__(self, inner: Check) -> None:
        self.inner = inner

    def __call__(self, v: Any, where: str) -> None:
        if v is not None:
            self.inner(v, where)


class Text(Schema):
    __slots__ = ("max_len",)

    def __init__(self, max_len: int = MAX_NAME) -> None:
        self.max_len = max_len

    def __call__(self, v: Any, where: str) -> None:
        if type(v) is not str:
            raise fail(where, f"expected a string, got {type(v).__name__}")
        if len(v) > self.max_len:
            raise fail(where, f"a string longer than {self.max_len}")


class Blob(Schema):
    __slots__ = ("max_len",)

    def __init__(self, max_len: int | None = None) -> None:
        self.max_len = max_len

    def __call__(self, v: Any, where: str) -> None:
        if type(v) is not bytes:
            raise fail(where, f"expected bytes, got {type(v).__name__}")
        if self.max_len is not None and len(v) > self.max_len:
            raise fail(where, f"more than {self.max_len} bytes")


class Integer(Schema):
    __slots__ = ("lo", "hi")

    def __init__(self, lo: int = 0, hi: int = MAX_AMOUNT) -> None:
        self.lo, self.hi = lo, hi

    def __call__(self, v: Any, where: str) -> None:
        if type(v) is not int or not self.lo <= v <= self.hi:
            raise fail(where, f"expected an integer in [{self.lo}, {self.hi}], got {v!r:.40}")


class Number(Schema):
    __slots__ = ("lo", "hi")

    def __init__(self, lo: float = 0.0, hi: float = float(MAX_AMOUNT)) -> None:
        self.lo, self.hi = lo, hi

    def __call__(self, v: Any, where: str) -> None:
        t = type(v)
        if (t is not int and t is not float) or not self.lo <= v <= self.hi:  # (NaN compares False)
            raise fail(where, f"expected a number in [{self.lo:g}, {self.hi:g}], got {v!r:.40}")


class OneOf(Schema):
    __slots__ = ("choices", "types")

    def __init__(self, *choices: Any) -> None:
        self.choices = frozenset(choices)
        self.types = frozenset(map(type, choices))  # (True is not 1 here)

    def __call__(self, v: Any, where: str) -> None:
        if type(v) not in self.types or v not in self.choices:
            raise fail(where, f"expected one of {sorted(map(repr, self.choices))}, got {v!r:.40}")


class Either(Schema):
    __slots__ = ("options",)

    def __init__(self, *options: Check) -> None:
        self.options = options

    def __call__(self, v: Any, where: str) -> None:
        errors = []
        for c in self.options:
            try:
                c(v, where)
                return
            except ProtocolError as e:
                errors.append(str(e).removeprefix(f"{where}: "))
        raise fail(where, " or ".join(errors))


class ListOf(Schema):
    __slots__ = ("item", "max_len")

    def __init__(self, item: Check, max_len: int = MAX_ITEMS) -> None:
        self.item, self.max_len = item, max_len

    def __call__(self, v: Any, where: str) -> None:
        if type(v) is not list:
            raise fail(where, f"expected a list, got {type(v).__name__}")
        if len(v) > self.max_len:
            raise fail(where, f"more than {self.max_len} entries")
        item = self.item
        for x in v:
            item(x, where)


class Ids(Schema):
    """A list of ids (the commonest field: checked without a call per id)."""

    __slots__ = ("length", "max_len")

    def __init__(self, length: int, max_len: int = MAX_ITEMS) -> None:
        self.length, self.max_len = length, max_len

    def __call__(self, v: Any, where: str) -> None:
        if type(v) is not list:
            raise fail(where, f"expected a list of ids, got {type(v).__name__}")
        if len(v) > self.max_len:
            raise fail(where, f"more than {self.max_len} ids")
        n = self.length
        for x in v:
            if type(x) is not bytes or len(x) != n:
                raise fail(where, f"expected {n}-byte ids")


class MapOf(Schema):
    __slots__ = ("key", "value", "max_len")

    def __init__(self, key: Check, value: Check, max_len: int = MAX_ITEMS) -> None:
        self.key, self.value, self.max_len = key, value, max_len

    def __call__(self, v: Any, where: str) -> None:
        if type(v) is not dict:
            raise fail(where, f"expected a map, got {type(v).__name__}")
        if len(v) > self.max_len:
            raise fail(where, f"more than {self.max_len} entries")
        key, value = self.key, self.value
        for k, x in v.items():
            key(k, where)
            value(x, where)


class Record(Schema):
    """A map with these keys (``required`` ones present), each checked; others refused unless
    ``open_``."""

    __slots__ = ("fields", "required", "open_")

    def __init__(self, fields: dict[str, Check], *, required: tuple[str, ...] = (), open_: bool = False) -> None:
        self.fields, self.required, self.open_ = fields, required, open_

    def __call__(self, v: Any, where: str) -> None:
        if type(v) is not dict:
            raise fail(where, f"expected a map, got {type(v).__name__}")
        for name in self.required:
            if name not in v:
                raise fail(where, f"missing {name!r}")
        fields = self.fields
        for k, x in v.items():
            c = fields.get(k) if type(k) is str else None
            if c is None:
                if self.open_:
                    continue
                raise fail(where, f"unknown key {k!r:.40}")
            try:
                c(x, where)
            except ProtocolError as e:  # (the key's path is only spelled out for an error)
                raise ProtocolError(str(e).replace(f"{where}: ", f"{where}.{k}: ", 1)) from None


class Payload(Record):
    """An object payload: the record below, with ``loc`` exactly ``[offset, size]``."""

    __slots__ = ()

    def __call__(self, v: Any, where: str) -> None:
        Record.__call__(self, v, where)
        loc = v.get("loc")
        if loc is not None and len(loc) != 2:
            raise fail(where, "loc must be [offset, size]")


# the checks without parameters
ANY = AnyValue()
BOOLEAN = Boolean()


TASK_ID = Ident(ID_LEN)
ACTOR_ID = Ident(ID_LEN)
WORKER_ID = Ident(ID_LEN)
NODE_ID = Ident(ID_LEN)
PG_ID = Ident(ID_LEN)
OBJECT_ID = Ident(OBJECT_ID_LEN)
JOB_ID = Ident(JOB_ID_LEN)
OBJECT_IDS = Ids(OBJECT_ID_LEN)
NAME = Text()
#: resources as amounts (``res`` of a spec) and as units of 1/10000 (between nodes)
RESOURCES = MapOf(Text(256), Number(), max_len=1024)
UNITS = MapOf(Text(256), Integer(-MAX_AMOUNT, MAX_AMOUNT), max_len=1024)  # (available may dip below 0)
LABELS = MapOf(Text(256), Text(MAX_NAME), max_len=1024)

#: an object payload, the tagged union of ``_messages``' header: an inline value (``data``), a
#: value in the node's arena (``loc``), a failure (``err`` with ``data``), a value held by
#: another node (``node``, ``size``), a value a worker sealed (``published``), a bounced result,
#: a value lost with the node it was fetched from (``lost_from``)
PAYLOAD = Payload(
    {
        "id": OBJECT_ID,
        "data": Nullable(Blob()),
        "loc": Nullable(ListOf(Integer(0, 1 << 62), max_len=2)),
        "err": BOOLEAN,
        "refs": OBJECT_IDS,
        "node": Nullable(NODE_ID),
        "size": Integer(0, 1 << 62),
        "bounce": BOOLEAN,
        "published": BOOLEAN,
        "lost_from": NODE_ID,
    },
    required=("id",),
)
PAYLOADS = ListOf(PAYLOAD)
