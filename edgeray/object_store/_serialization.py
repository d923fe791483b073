"""Values to bytes and back: pickle protocol 5 with out-of-band buffers.

Encoded layout (all integers little-endian)::

    offset 0   header   "<4sBBHIQ": magic b"ERv5", version 1, flags 0, reserved 0,
                        number of buffers N, pickle length P
    offset 20  N x "<QQ": each buffer's offset (from the start of the encoding) and length
    then       the pickle stream (P bytes)
    then       each out-of-band buffer, starting at a multiple of 64 bytes

The buffers are the ``PickleBuffer`` views that pickle hands to ``buffer_callback``
(numpy arrays, large top-level ``bytes``/``bytearray``). They are never copied into the
pickle stream: ``SerializedObject`` keeps views of them and copies each exactly once, into
the destination given to ``write_into`` (or into the result of ``to_bytes``).
``deserialize`` gives pickle memoryview slices of the input, so a numpy array read from a
read-only view over shared memory is a read-only view over that same memory.
"""

from __future__ import annotations

import copyreg
import io
import pickle
import struct
import weakref
from collections import ChainMap
from collections.abc import Callable
from types import CodeType, FunctionType
from typing import Any

import cloudpickle

__all__ = ["SerializedObject", "serialize", "deserialize", "MAGIC", "VERSION", "BUFFER_ALIGNMENT"]

MAGIC = b"ERv5"
VERSION = 1
#: Every out-of-band buffer starts at a multiple of this (relative to the encoding's start).
BUFFER_ALIGNMENT = 64
#: Top-level ``bytes``/``bytearray`` values at least this large travel out of band.
_OOB_BYTES_MIN = 4096

_HEADER = struct.Struct("<4sBBHIQ")
_BUFENTRY = struct.Struct("<QQ")
_HEADER_SIZE = _HEADER.size  # 20
_BUFENTRY_SIZE = _BUFENTRY.size  # 16
_unpack_entry = _BUFENTRY.unpack_from
_PROTOCOL = 5

# Exact types that cannot contain an ObjectRef (nor anything cloudpickle handles
# differently from pickle): encoded with the C pickler directly, no Pickler object built.
_ATOMIC = frozenset({int, float, bool, type(None), str, complex})
_pickle_dumps = pickle.dumps
_pickle_loads = pickle.loads
_pack_header = _HEADER.pack
_unpack_header = _HEADER.unpack_from
_PickleBuffer = pickle.PickleBuffer
#: header flag: the pickle stream holds no persistent id (no ObjectRef), so it loads with the
#: C unpickler directly. Set when the stream has no BINPERSID opcode byte at all (a byte 'Q' in
#: the data only costs the slower path).
FLAG_NO_REFS = 1


def _align(n: int) -> int:
    return (n + BUFFER_ALIGNMENT - 1) & ~(BUFFER_ALIGNMENT - 1)


# Classes and functions cloudpickle decided to pickle by reference (importable by name):
# its check costs a few microseconds per class (an ndarray pickles two), so remember the
# answer. Weak, so dynamic classes still go; reset if ``register_pickle_by_value`` changes.
_by_reference: weakref.WeakSet[Any] = weakref.WeakSet()
_by_value_modules: set[str] | None = getattr(
    getattr(cloudpickle, "cloudpickle", None), "_PICKLE_BY_VALUE_MODULES", None
)
_by_value_seen: set[str] = set()
_cloudpickle_reducer_override = cloudpickle.CloudPickler.reducer_override
_cloudpickle_code_reduce = cloudpickle.CloudPickler._dispatch_table[CodeType]
#: where ``co_filename`` is in the arguments cloudpickle rebuilds a code object from (3.11+)
_CO_FILENAME_ARG = 10


def _code_reduce(code: CodeType) -> Any:
    """cloudpickle's reducer for code objects, but keeping ``co_filename``: cloudpickle 3.1
    writes ``<dynamic-code>`` (for deterministic pickles), and then a remote error's traceback
    cannot say the file of the user's function (Ray's cloudpickle keeps it)."""
    rebuild, args = _cloudpickle_code_reduce(code)
    if len(args) > _CO_FILENAME_ARG and args[_CO_FILENAME_ARG] == "<dynamic-code>":
        args = (*args[:_CO_FILENAME_ARG], code.co_filename, *args[_CO_FILENAME_ARG + 1:])
    return rebuild, args


class _Pickler(cloudpickle.CloudPickler):
    """cloudpickle's pickler whose ``persistent_id`` is the caller's callback.

    The callback is installed through the C pickler's ``persistent_id`` attribute, so no
    Python wrapper runs per pickled object; when it returns something other than None,
    that is the object's persistent id.
    """

    # (cloudpickle's own table, one entry changed: no deeper a ChainMap than cloudpickle's)
    dispatch_table = ChainMap({**cloudpickle.CloudPickler._dispatch_table, CodeType: _code_reduce}, copyreg.dispatch_table)

    def __init__(
        self,
        file: Any,
        persistent_id: Callable[[Any], Any | None] | None,
        buffer_callback: Callable[[pickle.PickleBuffer], Any],
    ) -> None:
        super().__init__(file, protocol=_PROTOCOL, buffer_callback=buffer_callback)
        if persistent_id is not None:
            self.persistent_id = persistent_id

    def reducer_override(self, obj: Any) -> Any:
        t = type(obj)
        if (t is type or t is FunctionType) and _by_value_modules is not None:
            global _by_value_seen
            if _by_value_modules != _by_value_seen:
                _by_reference.clear()
                _by_value_seen = set(_by_value_modules)
            if obj in _by_reference:
                return NotImplemented
            reduced = _cloudpickle_reducer_override(self, obj)
            if reduced is NotImplemented:
                _by_reference.add(obj)
            return reduced
        return _cloudpickle_reducer_override(self, obj)


class _OutOfBandBytes:
    """Pickles a large ``bytes``/``bytearray`` with its payload as an out-of-band buffer."""

    __slots__ = ("value",)

    def __init__(self, value: bytes | bytearray) -> None:
        self.value = value

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        # Loads as bytes(<memoryview>) / bytearray(<memoryview>): one copy out of the buffer.
        return (type(self.value), (_PickleBuffer(self.value),))


class SerializedObject:
    """A value encoded as header + pickle stream + out-of-band buffers (not yet joined).

    ``nbytes`` is the total size of the encoding. ``write_into`` copies it into a
    destination (shared memory) with each buffer copied exactly once; ``to_bytes`` returns
    it as one ``bytes`` object.
    """

    __slots__ = ("nbytes", "_head", "_pickle", "_buffers", "_offsets")

    def __init__(self, pickled: bytes, buffers: list[memoryview], flags: int = 0) -> None:
        nbuf = len(buffers)
        pickle_start = _HEADER_SIZE + nbuf * _BUFENTRY.size
        end = pickle_start + len(pickled)
        if nbuf:
            offsets = []
            table = bytearray()
            for buf in buffers:
                end = _align(end)
                offsets.append(end)
                table += _BUFENTRY.pack(end, buf.nbytes)
                end += buf.nbytes
            self._head = _pack_header(MAGIC, VERSION, flags, 0, nbuf, len(pickled)) + bytes(table)
            self._offsets = offsets
        else:
            self._head = _pack_header(MAGIC, VERSION, flags, 0, 0, len(pickled))
            self._offsets = []
        self._pickle = pickled
        self._buffers = buffers
        self.nbytes = end

    @property
    def num_buffers(self) -> int:
        return len(self._buffers)

    def __repr__(self) -> str:
        return f"<SerializedObject nbytes={self.nbytes} buffers={len(self._buffers)}>"

    def to_bytes(self) -> bytes:
        """The whole encoding as one ``bytes`` object (each buffer copied once)."""
        if not self._buffers:
            return self._head + self._pickle
        parts: list[Any] = [self._head, self._pickle]
        pos = len(self._head) + len(self._pickle)
        for off, buf in zip(self._offsets, self._buffers, strict=True):
            if off > pos:
                parts.append(bytes(off - pos))
            parts.append(buf)
            pos = off + buf.nbytes
        return b"".join(parts)

    def write_into(self, dest: memoryview) -> None:
        """Copy the encoding into ``dest`` (writable, ``len(dest) >= nbytes``).

        Each buffer is copied exactly once, straight from the original object into ``dest``.
        Alignment padding is left as it is (it is never read).
        """
        if dest.readonly:
            raise TypeError("write_into needs a writable destination")
        if dest.nbytes < self.nbytes:
            raise ValueError(
                f"destination holds {dest.nbytes} bytes, the serialized object needs {self.nbytes}"
            )
        if dest.format != "B" or dest.ndim != 1:
            dest = dest.cast("B")
        head = self._head
        hlen = len(head)
        dest[:hlen] = head
        pend = hlen + len(self._pickle)
        dest[hlen:pend] = self._pickle
        for off, buf in zip(self._offsets, self._buffers, strict=True):
            dest[off : off + buf.nbytes] = buf


def serialize(
    value: Any, persistent_id: Callable[[Any], Any | None] | None = None
) -> SerializedObject:
    """Encode ``value`` with pickle protocol 5 (cloudpickle), buffers out of band.

    ``persistent_id(obj)`` is consulted for the objects in the value (the caller turns
    ObjectRefs into ids with it); a non-None result is stored as that object's persistent
    id. Exact ``int/float/bool/None/str/complex`` values take a fast path that never calls
    it. Raises ``TypeError("Could not serialize <type>: ...")`` for unpicklable values.
    """
    tp = type(value)
    if tp in _ATOMIC:
        return SerializedObject(_pickle_dumps(value, _PROTOCOL), [], FLAG_NO_REFS)
    buffers: list[memoryview] = []

    def buffer_callback(pb: pickle.PickleBuffer) -> None:
        # raw() is a flat 'B' view of the (contiguous) buffer; it keeps the owner alive.
        buffers.append(pb.raw())

    try:
        if (tp is bytes or tp is bytearray) and len(value) >= _OOB_BYTES_MIN:
            pickled = _pickle_dumps(
                _OutOfBandBytes(value), _PROTOCOL, buffer_callback=buffer_callback
            )
        else:
            f = io.BytesIO()
            _Pickler(f, persistent_id, buffer_callback).dump(value)
            pickled = f.getvalue()
    except Exception as e:
        raise TypeError(f"Could not serialize {tp.__name__}: {e}") from e
    return SerializedObject(pickled, buffers, FLAG_NO_REFS if persistent_id is None or b"Q" not in pickled else 0)


def deserialize(
    data: bytes | bytearray | memoryview, persistent_load: Callable[[Any], Any] | None = None
) -> Any:
    """Decode what ``serialize`` produced; zero-copy for the out-of-band buffers.

    The buffers handed to pickle are slices of ``data``: a numpy array in the value is a
    view over ``data`` (read-only when ``data`` is ``bytes`` or a read-only memoryview).
    ``persistent_load(pid)`` turns persistent ids back into objects (ObjectRefs).
    ``data`` may be longer than the encoding (e.g. a page-rounded shared-memory view).
    Raises ``ValueError`` when ``data`` is not an encoding this module wrote.
    """
    mv = memoryview(data)
    if mv.ndim != 1 or mv.format != "B":
        mv = mv.cast("B")
    size = mv.nbytes
    if size < _HEADER_SIZE:
        raise ValueError(f"not a serialized object: {size} bytes is shorter than a header")
    magic, version, flags, _res, nbuf, plen = _unpack_header(mv)
    if magic != MAGIC:
        raise ValueError(f"not a serialized object: bad magic {bytes(magic)!r}")
    if version != VERSION:
        raise ValueError(f"unsupported serialization version {version}")
    pstart = _HEADER_SIZE + nbuf * _BUFENTRY_SIZE
    pend = pstart + plen
    if pend > size:
        raise ValueError("truncated serialized object")
    stream = mv[pstart:pend]
    if nbuf:
        buffers = []
        for i in range(nbuf):
            off, n = _unpack_entry(mv, _HEADER_SIZE + i * _BUFENTRY_SIZE)
            if off + n > size:
                raise ValueError("truncated serialized object")
            buffers.append(mv[off : off + n])
    else:
        buffers = None
    if persistent_load is None or flags & FLAG_NO_REFS:
        return _pickle_loads(stream, buffers=buffers)
    up = pickle.Unpickler(io.BytesIO(stream), buffers=buffers)
    up.persistent_load = persistent_load  # type: ignore[method-assign]
    return up.load()
