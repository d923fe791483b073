"""serialize/deserialize: layout, round trips, zero copy, persistent ids, errors."""

from __future__ import annotations

import math
import pickle
import struct
import threading
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeray.object_store import BUFFER_ALIGNMENT, SerializedObject, deserialize, serialize
from edgeray.object_store._serialization import FLAG_NO_REFS, MAGIC, VERSION


def roundtrip(value, **kw):
    so = serialize(value, **kw.get("ser", {}))
    data = so.to_bytes()
    assert len(data) == so.nbytes
    return deserialize(data, **kw.get("de", {}))


def via_write_into(value):
    so = serialize(value)
    dest = bytearray(so.nbytes + 100)
    so.write_into(memoryview(dest))
    assert bytes(dest[: so.nbytes]) == so.to_bytes()  # padding: zeros in both
    return deserialize(memoryview(dest).toreadonly())


hashable = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary(),
    lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3),
    max_leaves=8,
)
values = st.recursive(
    hashable
    | st.complex_numbers(allow_nan=False)
    | st.binary(min_size=4000, max_size=9000)
    | st.builds(bytearray, st.binary(max_size=5000)),
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(hashable, inner, max_size=5)
        | st.sets(hashable, max_size=4)
        | st.tuples(inner, inner)
    ),
    max_leaves=20,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_roundtrip_python_values(value):
    assert roundtrip(value) == value
    assert via_write_into(value) == value


@pytest.mark.parametrize(
    "value",
    [
        0,
        -1,
        2**100,
        1.5,
        math.inf,
        True,
        None,
        "",
        "héllo",
        3 + 4j,
        b"",
        b"x" * 5000,
        bytearray(b"y" * 10_000),
        [],
        {},
        (1, "a", None),
        {1, 2},
        frozenset({3}),
    ],
)
def test_roundtrip_types_kept(value):
    out = roundtrip(value)
    assert out == value
    assert type(out) is type(value)


def test_large_bytes_travel_out_of_band():
    payload = bytes(range(256)) * 100
    so = serialize(payload)
    assert so.num_buffers == 1
    assert so.nbytes < len(payload) + 200
    out = deserialize(so.to_bytes())
    assert type(out) is bytes and out == payload
    ba = deserialize(serialize(bytearray(payload)).to_bytes())
    assert type(ba) is bytearray and ba == payload
    ba[0] = 7  # a bytearray comes back writable


def test_header_layout():
    arr = np.arange(100, dtype=np.int32)
    so = serialize([arr, arr * 2])
    data = so.to_bytes()
    magic, version, _flags, _res, nbuf, plen = struct.unpack_from("<4sBBHIQ", data)
    assert (magic, version, nbuf) == (MAGIC, VERSION, 2)
    entries = [struct.unpack_from("<QQ", data, 20 + 16 * i) for i in range(nbuf)]
    pickle_end = 20 + 16 * nbuf + plen
    assert entries[0][0] >= pickle_end
    for off, n in entries:
        assert off % BUFFER_ALIGNMENT == 0
        assert n == arr.nbytes
    assert entries[-1][0] + entries[-1][1] == so.nbytes
    assert bytes(data[entries[0][0] : entries[0][0] + arr.nbytes]) == arr.tobytes()


def test_lambdas_closures_and_local_classes():
    k = 10

    def closure(x):
        return x + k

    class Local:
        def __init__(self, v):
            self.v = v

        def double(self):
            return self.v * 2

    out = roundtrip({"f": lambda x: x * 3, "g": closure, "cls": Local, "obj": Local(4)})
    assert out["f"](2) == 6
    assert out["g"](1) == 11
    assert out["obj"].double() == 8
    assert out["cls"](5).double() == 10


def test_class_defined_in_main_of_another_process(child):
    code = (
        "import sys\n"
        "from edgeray.object_store import serialize\n"
        "class Point:\n"
        "    def __init__(self, x): self.x = x\n"
        "    def norm(self): return abs(self.x)\n"
        "def make(x): return Point(x)\n"
        "sys.stdout.write(serialize((Point(-3), make, lambda: 42)).to_bytes().hex())\n"
    )
    data = bytes.fromhex(child(code))
    point, make, fn = deserialize(data)
    assert point.norm() == 3
    assert make(-5).norm() == 5
    assert fn() == 42


class Ref:
    """Stands in for ObjectRef: travels as a persistent id."""

    def __init__(self, ident):
        self.ident = ident

    def __eq__(self, other):
        return isinstance(other, Ref) and other.ident == self.ident

    def __hash__(self):
        return hash(self.ident)


def test_persistent_ids():
    seen = []

    def pid(obj):
        if type(obj) is Ref:
            seen.append(obj.ident)
            return ("ref", obj.ident)
        return None

    def load(p):
        assert p[0] == "ref"
        return Ref(p[1] + "!")

    r1, r2 = Ref("a"), Ref("b")

    def uses_ref():
        return r2

    so = serialize({"top": r1, "nested": [r1, (r2,)], "closure": uses_ref}, persistent_id=pid)
    assert set(seen) == {"a", "b"}
    # The refs are not pickled by value: no class reference to Ref in the stream.
    assert b"Ref" not in so.to_bytes()
    out = deserialize(so.to_bytes(), persistent_load=load)
    assert out["top"] == Ref("a!")
    assert out["nested"] == [Ref("a!"), (Ref("b!"),)]
    assert out["closure"]() == Ref("b!")
    with pytest.raises(pickle.UnpicklingError):
        deserialize(so.to_bytes())


def _flags(so: SerializedObject) -> int:
    return struct.unpack_from("<4sBBHIQ", so.to_bytes())[2]


def test_pickles_without_refs_are_flagged_to_load_directly():
    """The flag is set only when the stream holds no persistent id; loading with a
    persistent_load honours it (a flagged stream never needs one) and ignores a missing flag."""
    pid = lambda o: o.ident if type(o) is Ref else None  # noqa: E731
    plain = serialize(([1, "two", b"3"], {"k": 4.0}), persistent_id=pid)
    assert _flags(plain) & FLAG_NO_REFS
    assert deserialize(plain.to_bytes(), persistent_load=lambda p: pytest.fail("no refs here")) == ([1, "two", b"3"], {"k": 4.0})
    assert _flags(serialize(7, persistent_id=pid)) & FLAG_NO_REFS
    with_ref = serialize([Ref("x"), "Q is a byte the stream may hold"], persistent_id=pid)
    assert not _flags(with_ref) & FLAG_NO_REFS
    assert deserialize(with_ref.to_bytes(), persistent_load=lambda p: Ref(p))[0] == Ref("x")
    quoted = serialize(["Quite plain"], persistent_id=pid)  # a 'Q' byte: flag left off, still fine
    assert deserialize(quoted.to_bytes(), persistent_load=lambda p: pytest.fail("no refs")) == ["Quite plain"]


def test_persistent_load_with_buffers():
    arr = np.arange(1000)
    so = serialize([Ref("x"), arr], persistent_id=lambda o: o.ident if type(o) is Ref else None)
    out = deserialize(so.to_bytes(), persistent_load=lambda p: Ref(p))
    assert out[0] == Ref("x")
    np.testing.assert_array_equal(out[1], arr)


def test_numpy_zero_copy_and_read_only():
    arr = np.arange(10_000, dtype=np.float64).reshape(100, 100)
    fortran = np.asfortranarray(arr[:50])
    so = serialize({"a": arr, "f": fortran, "s": arr[::2]})
    buf = bytearray(so.nbytes)
    so.write_into(memoryview(buf))
    ro = memoryview(buf).toreadonly()
    out = deserialize(ro)
    np.testing.assert_array_equal(out["a"], arr)
    np.testing.assert_array_equal(out["f"], fortran)
    np.testing.assert_array_equal(out["s"], arr[::2])
    backing = np.frombuffer(buf, dtype=np.uint8)
    assert np.shares_memory(out["a"], backing)
    assert np.shares_memory(out["f"], backing)
    assert not out["a"].flags.writeable
    assert out["a"].ctypes.data % BUFFER_ALIGNMENT == (backing.ctypes.data % BUFFER_ALIGNMENT)
    with pytest.raises(ValueError):
        out["a"][0, 0] = 1
    # Over writable memory the arrays are writable views (the caller decides).
    out_w = deserialize(memoryview(buf))
    assert out_w["a"].flags.writeable


def test_numpy_dtypes_roundtrip():
    arrays = [
        np.zeros((3, 0)),
        np.array(["a", "bcd"]),
        np.arange(12, dtype=np.uint16).reshape(3, 4),
        np.array([(1, 2.0)], dtype=[("i", "i4"), ("f", "f8")]),
        np.array([1, "x", None], dtype=object),
    ]
    for a in arrays:
        out = roundtrip(a)
        assert out.dtype == a.dtype and out.shape == a.shape
        assert (out == a).all() if a.size else out.size == 0


def test_write_into_copies_each_buffer_once():
    arr = np.ones(8 * 2**20, dtype=np.uint8)  # 8 MiB
    dest = bytearray(arr.nbytes + 4096)
    tracemalloc.start()
    try:
        so = serialize({"big": arr})
        so.write_into(memoryview(dest))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 * 2**20, f"serialize + write_into allocated {peak} bytes"
    out = deserialize(memoryview(dest))
    assert np.shares_memory(out["big"], np.frombuffer(dest, np.uint8))
    assert out["big"].sum() == arr.nbytes


def test_write_into_checks_destination():
    so = serialize(np.arange(100))
    with pytest.raises(ValueError, match="needs"):
        so.write_into(memoryview(bytearray(so.nbytes - 1)))
    with pytest.raises(TypeError):
        so.write_into(memoryview(bytes(so.nbytes)))


@pytest.mark.parametrize(
    "value, name",
    [
        (threading.Lock(), "lock"),
        ((i for i in range(3)), "generator"),
        ({"x": threading.Lock()}, "dict"),
    ],
)
def test_unpicklable_values_give_clear_type_error(value, name):
    with pytest.raises(TypeError, match=f"Could not serialize {name}") as info:
        serialize(value)
    assert info.value.__cause__ is not None


def test_garbage_is_rejected():
    with pytest.raises(ValueError, match="magic"):
        deserialize(b"x" * 40)
    with pytest.raises(ValueError, match="shorter"):
        deserialize(b"ERv5")
    data = serialize(np.arange(100)).to_bytes()
    with pytest.raises(ValueError, match="truncated"):
        deserialize(data[:-8])


def test_repr_and_type():
    so = serialize(1)
    assert isinstance(so, SerializedObject)
    assert "nbytes" in repr(so)
    assert deserialize(so.to_bytes()) == 1


def test_by_reference_cache_follows_register_pickle_by_value(monkeypatch):
    import sys
    import types

    import cloudpickle

    mod = types.ModuleType("ertest_dynamic_module")
    exec("def f(x):\n    return x * 7\nclass K:\n    v = 3\n", mod.__dict__)
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    by_ref = serialize((mod.f, mod.K)).to_bytes()
    assert b"ertest_dynamic_module" in by_ref
    f, k = deserialize(by_ref)
    assert f is mod.f and k is mod.K
    serialize((mod.f, mod.K))  # cached now
    cloudpickle.register_pickle_by_value(mod)
    try:
        by_value = serialize((mod.f, mod.K)).to_bytes()
    finally:
        cloudpickle.unregister_pickle_by_value(mod)
    monkeypatch.delitem(sys.modules, mod.__name__)
    f, k = deserialize(by_value)  # loads without the module
    assert f(2) == 14 and k.v == 3 and f is not mod.f
