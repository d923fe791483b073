"""The object store as a user relies on it (issue 3): zero copy, lifetimes, spilling, limits.

Real nodes and workers; what the node stores is read back with the ``list objects`` and
``status`` calls that ``edgeray memory`` / ``edgeray status`` use.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from waiting import WaitTimeout, holds_for, wait_for

from edgeray._files import pid_alive

pytestmark = pytest.mark.timeout(240)

PY = sys.executable
MiB = 1 << 20


def node_call(method: str, args: dict[str, Any] | None = None) -> Any:
    from edgeray.client._context import current_client

    return current_client().call(method, args or {})


def stored() -> dict[str, dict[str, Any]]:
    return {row["object_id"]: row for row in node_call("list", {"kind": "objects"})}


def store_stats() -> dict[str, Any]:
    return node_call("status")["store"]


def wait_until(cond: Any, timeout: float = 30.0, what: str = "condition") -> None:
    """``wait_for``, failing with a few of the objects stored."""
    try:
        wait_for(cond, timeout, what)
    except WaitTimeout as e:
        pytest.fail(f"{e}; stored: {list(stored().values())[:5]}")


def gone(oid: str) -> bool:
    gc.collect()
    return oid not in stored()


def assert_stays(oid: str, seconds: float = 0.4) -> None:
    """The object is stored now and still after ``seconds`` (no late free: no event says an
    object will not be freed, so a fixed time is the test here)."""
    holds_for(lambda: oid in stored(), seconds, f"object {oid} kept while still referenced")


def arena_offset(arr: Any) -> tuple[str, int] | None:
    """(file, offset in it) of the memory behind ``arr``, when it is an edgeray arena."""
    addr = arr.__array_interface__["data"][0]
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split()
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            if lo <= addr < hi and len(parts) >= 6 and "edgeray_" in parts[5]:
                return parts[5], addr - lo + int(parts[2], 16)
    return None


# --------------------------------------------------------------------------- zero copy


def test_one_gib_array_reaches_a_task_without_a_copy(ray_init) -> None:
    ray = ray_init(num_cpus=1, object_store_memory=2 << 30)
    a = np.arange((1 << 30) // 8, dtype=np.int64)
    ref = ray.put(a)
    del a

    @ray.remote
    def inspect(x):
        import numpy

        addr, where = x.__array_interface__["data"][0], None
        with open("/proc/self/maps") as f:  # the same lookup as arena_offset, in the worker
            for line in f:
                parts = line.split()
                lo, hi = (int(v, 16) for v in parts[0].split("-"))
                if lo <= addr < hi and len(parts) >= 6 and "edgeray_" in parts[5]:
                    where = (parts[5], addr - lo + int(parts[2], 16))
        return where, bool(x.flags.writeable), int(x[-1]), int(numpy.sum(x[:1000]))

    where, writeable, last, head = ray.get(inspect.remote(ref))
    b = ray.get(ref)
    assert where is not None, "the task's array is not in the shared arena (it was copied)"
    assert where == arena_offset(b), "the task and the driver do not see the same shared buffer"
    assert not writeable and not b.flags.writeable
    assert last == (1 << 27) - 1 and head == sum(range(1000))


# --------------------------------------------------------------------------- lifetimes


@pytest.fixture
def ray1(ray_init):
    return ray_init(num_cpus=2, object_store_memory=256 * MiB)


def big(i: int = 1) -> np.ndarray:
    return np.full(2 * MiB, i, dtype=np.uint8)  # above the inline threshold: in shared memory


def test_freed_when_the_driver_drops_its_ref(ray1) -> None:
    ray = ray1
    ref = ray.put(big())
    oid = ref.hex()
    assert stored()[oid]["where"] == "shared_memory"
    value = ray.get(ref)
    del ref
    assert_stays(oid)  # the array the driver still reads keeps it
    del value
    wait_until(lambda: gone(oid), what="object freed after its last ref and view went away")
    assert store_stats()["used"] == 0


def test_task_argument_keeps_the_object_until_the_task_is_done(ray1) -> None:
    ray = ray1

    @ray.remote
    def slow_sum(x):
        import time

        time.sleep(1.0)
        return int(x.sum())

    ref = ray.put(big(3))
    oid = ref.hex()
    out = slow_sum.remote(ref)
    del ref
    gc.collect()
    assert_stays(oid, 0.5)
    assert ray.get(out) == 3 * 2 * MiB
    wait_until(lambda: gone(oid), what="argument freed after the task finished")


def test_nested_ref_lives_as_long_as_the_outer_object(ray1) -> None:
    ray = ray1
    inner = ray.put(big(5))
    ioid = inner.hex()
    outer = ray.put({"inner": [inner]})
    ooid = outer.hex()
    del inner
    assert_stays(ioid)
    got = ray.get(outer)["inner"][0]
    assert int(ray.get(got)[0]) == 5
    del got
    assert_stays(ioid)
    del outer
    wait_until(lambda: gone(ioid) and gone(ooid), what="outer and nested objects freed")


def test_task_result_is_freed_with_its_ref(ray1) -> None:
    ray = ray1

    @ray.remote
    def make():
        import numpy

        return numpy.ones(3 * MiB, dtype=numpy.uint8)

    ref = make.remote()
    assert int(ray.get(ref).sum()) == 3 * MiB
    oid = ref.hex()
    assert stored()[oid]["where"] == "shared_memory"
    del ref
    wait_until(lambda: gone(oid), what="task result freed")


def test_actor_state_keeps_the_object_until_the_actor_dies(ray1) -> None:
    ray = ray1

    @ray.remote
    class Keeper:
        def keep(self, refs):
            self.refs = refs  # a nested ref: the actor now holds it
            return True

        def total(self):
            import edgeray

            return int(edgeray.get(self.refs[0]).sum())

    k = Keeper.remote()
    ref = ray.put(big(2))
    oid = ref.hex()
    assert ray.get(k.keep.remote([ref]))
    del ref
    assert_stays(oid, 0.6)
    assert ray.get(k.total.remote()) == 2 * 2 * MiB
    ray.kill(k)
    wait_until(lambda: gone(oid), what="object freed when the actor holding it died")


CLOSURE_DRIVER = textwrap.dedent(
    """
    import gc, sys, time
    import numpy as np
    import edgeray as ray

    ray.init(address="auto")
    ref = ray.put(np.full(2 << 20, 7, dtype=np.uint8))

    @ray.remote
    def uses_closure():
        return int(ray.get(ref)[0])

    assert ray.get(uses_closure.remote()) == 7
    print(ref.hex(), flush=True)
    del ref
    gc.collect()
    sys.stdin.readline()  # the test checks the object is still stored, then lets us exit
    ray.shutdown()
    """
)


def test_closure_capture_keeps_the_object_for_the_job(edgeray_home: str, tmp_path: Path) -> None:
    """Ray's rule: a ref captured in a remote function's closure is pinned for the job."""
    import edgeray as ray

    r = subprocess.run([PY, "-m", "edgeray", "start", "--num-cpus", "1"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    try:
        script = tmp_path / "closure.py"
        script.write_text(CLOSURE_DRIVER)
        proc = subprocess.Popen([PY, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None and proc.stdin is not None
            oid = proc.stdout.readline().strip()
            assert len(oid) == 40, oid
            ray.init(address="auto")
            assert_stays(oid, 0.5)
            proc.stdin.write("\n")
            proc.stdin.flush()
            assert proc.wait(timeout=60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        wait_until(lambda: gone(oid), what="closure-captured object freed when its job ended")
        ray.shutdown()
    finally:
        subprocess.run([PY, "-m", "edgeray", "stop"], capture_output=True, timeout=60)


# --------------------------------------------------------------------------- a full store


def test_three_times_the_store_spills_and_reads_back(ray_init) -> None:
    ray = ray_init(num_cpus=2, object_store_memory=128 * MiB)
    n, size = 24, 16 * MiB  # 384 MiB through a 128 MiB store
    refs = [ray.put(np.full(size, i, dtype=np.uint8)) for i in range(n)]
    st = store_stats()
    assert st["num_spills"] >= n - 128 // 16, st
    assert st["spilled_bytes"] > 0 and st["used"] <= st["capacity"]
    spilled = [row for row in stored().values() if row["where"] == "spilled"]
    assert spilled, "edgeray memory shows no spilled object"

    @ray.remote
    def check(x, i):
        return x.nbytes == size and int(x[0]) == i and int(x[-1]) == i

    assert all(ray.get([check.remote(r, i) for i, r in enumerate(refs)]))
    for i, r in enumerate(refs):  # the driver reads every one back, spilled or not
        v = ray.get(r)
        assert v.nbytes == size and int(v[size // 2]) == i
        del v

    @ray.remote
    def produce(i):
        import numpy

        return numpy.full(size, 100 + i, dtype=numpy.uint8)

    made = [produce.remote(i) for i in range(n)]  # task results spill too
    assert [int(ray.get(r)[7]) for r in made] == [100 + i for i in range(n)]
    assert store_stats()["num_restores"] > 0
    del refs, made, r
    wait_until(lambda: gc.collect() is not None and store_stats()["num_objects"] == 0, what="every object freed")
    assert store_stats()["spilled_bytes"] == 0


def test_store_full_without_spilling_raises_and_keeps_what_is_stored(ray_init, tmp_path: Path) -> None:
    cfg = tmp_path / "node.toml"
    cfg.write_text("[object_store]\nmemory = 67108864\nspilling = false\n")
    ray = ray_init(num_cpus=1, _config_file=str(cfg))
    a = ray.put(np.full(28 * MiB, 1, dtype=np.uint8))
    b = ray.put(np.full(28 * MiB, 2, dtype=np.uint8))
    with pytest.raises(ray.exceptions.ObjectStoreFullError, match="spilling is disabled"):
        ray.put(np.full(28 * MiB, 3, dtype=np.uint8))
    assert int(ray.get(a)[-1]) == 1 and int(ray.get(b)[-1]) == 2  # nothing stored was lost

    @ray.remote
    def too_big():
        import numpy

        return numpy.zeros(40 * MiB, dtype=numpy.uint8)

    with pytest.raises(ray.exceptions.ObjectStoreFullError):
        ray.get(too_big.remote())
    assert int(ray.get(a).sum()) == 28 * MiB
    del a
    wait_until(lambda: store_stats()["used"] <= 29 * MiB, what="room made by freeing a")
    c = ray.put(np.full(28 * MiB, 3, dtype=np.uint8))  # room again
    assert int(ray.get(c)[0]) == 3


@pytest.mark.parametrize("kind", ["tuple", "generator"])
def test_a_task_returning_more_than_the_store_holds_spills_its_returns(ray_init, kind: str) -> None:
    """Ray's case of a ``num_returns=100`` task of 100 MB values on a 150 MiB store, scaled
    down: each return fits, all of them do not. With spilling on (the default) the earlier
    returns spill while the later ones are written; each reads back."""
    ray = ray_init(num_cpus=1, object_store_memory=24 * MiB)
    n, size = 6, 8 * MiB  # 48 MiB of returns through a 24 MiB store

    @ray.remote(num_returns=n)
    def as_tuple():
        import numpy

        return tuple(numpy.full(size, i, dtype=numpy.uint8) for i in range(n))

    @ray.remote(num_returns=n)
    def as_generator():
        import numpy

        for i in range(n):
            yield numpy.full(size, i, dtype=numpy.uint8)

    refs = (as_tuple if kind == "tuple" else as_generator).remote()
    for i, r in enumerate(refs):
        v = ray.get(r, timeout=60)
        assert v.nbytes == size and int(v[0]) == i and int(v[-1]) == i
        del v
    assert store_stats()["num_spills"] > 0
    del refs, r
    wait_until(lambda: gc.collect() is not None and store_stats()["num_objects"] == 0, what="every return freed")


def test_a_generator_with_num_returns_stores_each_value_as_it_is_yielded(ray_init) -> None:
    """As Ray does, so that the task holds one value at a time, not all of them: before each
    yield, the store holds every value yielded before."""
    ray = ray_init(num_cpus=1, object_store_memory=64 * MiB)

    @ray.remote(num_returns=4)
    def counting():
        import numpy

        from edgeray.client._context import current_client

        for _ in range(4):
            a = numpy.zeros(MiB, dtype=numpy.int64)  # (in shared memory)
            a[0] = current_client().call("status")["store"]["num_objects"]
            yield a

    counts = [int(ray.get(r, timeout=60)[0]) for r in counting.remote()]
    assert [c - counts[0] for c in counts] == [0, 1, 2, 3], counts


def test_a_generator_task_whose_worker_dies_after_storing_some_values_is_retried(ray_init, tmp_path: Path) -> None:
    """Its worker died with two values written (the first already spillable, the second half
    sealed): the retry stores them again, and nothing of the first attempt stays in the store."""
    ray = ray_init(num_cpus=1, object_store_memory=64 * MiB)
    marker = tmp_path / "died-once"

    @ray.remote(num_returns=3, max_retries=1)
    def dies_once():
        import os

        import numpy

        for i in range(3):
            if i == 2 and not os.path.exists(marker):
                open(marker, "w").close()
                os._exit(1)
            yield numpy.full(4 * MiB, i, dtype=numpy.uint8)

    refs = dies_once.remote()
    assert [int(ray.get(r, timeout=60)[-1]) for r in refs] == [0, 1, 2]
    assert marker.exists()
    del refs
    wait_until(lambda: gc.collect() is not None and store_stats()["num_objects"] == 0, what="every value freed")


@pytest.mark.parametrize("strategy", ["DEFAULT", "SPREAD"])  # (SPREAD: through the node, not a leased worker)
def test_a_multi_return_task_whose_return_cannot_be_stored_resolves_every_return(ray_init, strategy: str) -> None:
    """A return larger than the whole store fails the task with ``ObjectStoreFullError`` in
    every return; the one written before it does not stay half-created in the store."""
    ray = ray_init(num_cpus=1, object_store_memory=24 * MiB)

    @ray.remote(num_returns=3)
    def second_too_big():
        import numpy

        return numpy.ones(4 * MiB, dtype=numpy.uint8), numpy.ones(40 * MiB, dtype=numpy.uint8), "small"

    refs = second_too_big.options(scheduling_strategy=strategy).remote()
    for r in refs:
        with pytest.raises(ray.exceptions.ObjectStoreFullError):
            ray.get(r, timeout=60)
    del refs, r
    wait_until(lambda: gc.collect() is not None and store_stats()["num_objects"] == 0,
               what="the return written before the failure dropped from the store")
    assert int(ray.get(ray.put(np.ones(16 * MiB, dtype=np.uint8))).sum()) == 16 * MiB  # its room is free


def test_object_larger_than_the_store_is_refused_clearly(ray_init) -> None:
    ray = ray_init(num_cpus=1, object_store_memory=64 * MiB)
    with pytest.raises(ray.exceptions.ObjectStoreFullError, match="larger than the whole object store"):
        ray.put(np.zeros(80 * MiB, dtype=np.uint8))
    assert int(ray.get(ray.put(np.ones(MiB, dtype=np.uint8))).sum()) == MiB


def test_edgeray_memory_lists_objects_and_where_they_are(edgeray_home: str) -> None:
    import edgeray as ray

    r = subprocess.run([PY, "-m", "edgeray", "start", "--num-cpus", "1", "--object-store-memory", str(64 * MiB)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    try:
        ray.init(address="auto")
        refs = [ray.put(np.full(20 * MiB, i, dtype=np.uint8)) for i in range(5)]
        small = ray.put(list(range(100)))
        holder = ray.put([small])  # publishes the small object to the node (a nested ref)
        r = subprocess.run([PY, "-m", "edgeray", "memory"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        out = r.stdout
        for ref in refs:
            assert ref.hex() in out
        assert small.hex() in out and holder.hex() in out
        assert "spilled" in out and "shared_memory" in out and "LOCAL_REFERENCE" in out and "inline" in out
        assert "Spilled 20.00MiB" in out or "Spilled 40.00MiB" in out or "Spilled 60.00MiB" in out, out
        assert "Plasma memory usage" in out
        del refs, small, holder
        ray.shutdown()
    finally:
        subprocess.run([PY, "-m", "edgeray", "stop"], capture_output=True, timeout=60)


# --------------------------------------------------------------------------- crash safety


def test_after_kill_9_a_restarted_node_removes_the_dead_sessions_memory(edgeray_home: str, tmp_path: Path) -> None:
    import edgeray as ray

    home = Path(edgeray_home)
    cfg = tmp_path / "node.toml"
    cfg.write_text("[object_store]\nmemory = 67108864\n")

    def start() -> int:
        r = subprocess.run([PY, "-m", "edgeray", "start", "--num-cpus", "1", "--config", str(cfg)],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return int(json.loads((home / "address.json").read_text())["pid"])

    pid = start()
    try:
        ray.init(address="auto")
        refs = [ray.put(np.full(24 * MiB, i, dtype=np.uint8)) for i in range(4)]  # spills
        assert store_stats()["num_spills"] > 0
        mine = [n for n in os.listdir("/dev/shm") if n.startswith(f"edgeray_{pid}_")]
        spill_dirs = [n for n in os.listdir(home / "spill") if n.startswith(f"edgeray_{pid}_")]
        assert mine and spill_dirs
        os.kill(pid, signal.SIGKILL)
        ray.shutdown()
        del refs
        wait_until(lambda: not pid_alive(pid), what="node gone")
        assert all(os.path.exists(f"/dev/shm/{n}") for n in mine)  # kill -9 left them
        pid2 = start()
        assert pid2 != pid
        assert not [n for n in os.listdir("/dev/shm") if n.startswith(f"edgeray_{pid}_")]
        assert not [n for n in os.listdir(home / "spill") if n.startswith(f"edgeray_{pid}_")]
        ray.init(address="auto")
        assert int(ray.get(ray.put(np.full(8 * MiB, 9, dtype=np.uint8)))[0]) == 9
        ray.shutdown()
    finally:
        subprocess.run([PY, "-m", "edgeray", "stop"], capture_output=True, timeout=60)
