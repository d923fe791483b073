"""Object ids: the one place that lays out a task's return ids and a put's id."""

from edgeray.protocol import put_id, return_id, return_ids


def test_return_ids_are_the_task_id_and_a_one_based_big_endian_index() -> None:
    tid = bytes(range(16))
    assert return_ids({"tid": tid, "rets": 3}) == [tid + b"\x00\x00\x00\x01", tid + b"\x00\x00\x00\x02",
                                                   tid + b"\x00\x00\x00\x03"]
    assert return_id(tid, 258) == tid + b"\x00\x00\x01\x02"
    assert return_ids({"tid": tid, "rets": 0}) == []


def test_a_put_id_ends_in_index_zero_so_it_is_never_a_return_id() -> None:
    unique = b"\xff" * 16
    assert put_id(unique) == unique + b"\x00" * 4
    assert put_id(unique) not in return_ids({"tid": unique, "rets": 5})
