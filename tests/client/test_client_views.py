"""ViewLeases: the bookkeeping of shared-memory reads (no node, no sockets)."""

from __future__ import annotations

from edgeray.client._views import ViewLeases

A = b"a" * 20


def test_no_lease_means_ask_the_node() -> None:
    v = ViewLeases()
    assert v.open(A, None) is None
    assert v.reading() == {}


def test_leases_return_when_the_last_view_closes() -> None:
    v = ViewLeases()
    assert v.open(A, [4096, 100]) == (4096, 100)  # a leased Execute argument
    assert v.open(A, None) == (4096, 100)  # a second view reuses the lease held
    assert v.open(A, [4096, 100]) == (4096, 100)  # another lease for the same place
    assert v.reading() == {A: 3}
    assert v.close(A) == 0 and v.close(A) == 0
    assert v.close(A) == 2  # both leases go back together
    assert v.open(A, None) is None  # and the place is forgotten: it may move now


def test_objects_are_independent() -> None:
    v = ViewLeases()
    b = b"b" * 20
    v.open(A, [0, 1])
    v.open(b, [8192, 1])
    assert v.close(b) == 1
    assert v.open(A, None) == (0, 1)
    assert v.close(A) == 0 and v.close(A) == 1
