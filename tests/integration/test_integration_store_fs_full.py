"""A store whose file system fills up (issue 15): the writer gets ``ObjectStoreFullError``, never
SIGBUS, and the node keeps serving.

The node's arena is a file (``force_file``) in a 64 MiB tmpfs mounted for the test, while the
store is configured for 256 MiB: the arena is sparse, so a value bigger than the free space of
that file system but within the store's capacity used to be handed an offset whose pages could
not be backed, and the first write past the end of the file system's room killed the writing
process (a driver's put, a worker's result) with SIGBUS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from mounts import small_tmpfs

from edgeray._files import pid_alive

pytestmark = pytest.mark.timeout(240)

PY = sys.executable
MiB = 1 << 20
FS_SIZE = 64 * MiB


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 64 MiB tmpfs mounted for this test (skipped where mounting is not permitted)."""
    with small_tmpfs(tmp_path / "small_fs", FS_SIZE) as mnt:
        yield mnt


def start_node(cfg: Path) -> int:
    r = subprocess.run([PY, "-m", "edgeray", "start", "--num-cpus", "1", "--config", str(cfg)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return int(json.loads((Path(os.environ["EDGERAY_HOME"]) / "address.json").read_text())["pid"])


DRIVER = textwrap.dedent(
    """
    import json, os, sys
    import numpy as np
    import edgeray as ray

    MiB = 1 << 20
    ray.init(address="auto")
    out = {}

    def attempt(key, fn):
        try:
            fn()
            out[key] = "ok"
        except ray.exceptions.ObjectStoreFullError as e:
            out[key] = "full: " + str(e)
        except Exception as e:
            out[key] = "other: " + type(e).__name__ + ": " + str(e)
        print(key, "done", flush=True)

    keep = ray.put(np.full(16 * MiB, 7, dtype=np.uint8))  # fits: stays readable throughout
    attempt("put", lambda: ray.put(np.ones(96 * MiB, dtype=np.uint8)))

    @ray.remote(max_retries=0)
    def produce():
        import numpy
        return numpy.ones(96 * MiB, dtype=numpy.uint8)

    attempt("task", lambda: ray.get(produce.remote(), timeout=120))

    @ray.remote
    class Maker:
        def big(self):
            import numpy
            return numpy.ones(96 * MiB, dtype=numpy.uint8)

        def pid(self):
            return os.getpid()

    m = Maker.remote()
    pid = ray.get(m.pid.remote(), timeout=60)
    attempt("actor", lambda: ray.get(m.big.remote(), timeout=120))
    out["actor_same_pid"] = ray.get(m.pid.remote(), timeout=60) == pid
    out["keep"] = int(ray.get(keep).sum()) == 16 * MiB * 7
    small = ray.put(np.full(4 * MiB, 3, dtype=np.uint8))
    out["small"] = int(ray.get(small)[-1]) == 3
    print("RESULT " + json.dumps(out), flush=True)
    ray.shutdown()
    """
)


def test_a_value_bigger_than_the_free_space_raises_and_the_node_keeps_serving(small_fs: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "node.toml"
    cfg.write_text(
        "[object_store]\n"
        f"memory = {256 * MiB}\n"
        "force_file = true\n"
        f'fallback_dir = "{small_fs}"\n'
        "spilling = false\n"
    )
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    pid = start_node(cfg)
    try:
        r = subprocess.run([PY, str(script)], capture_output=True, text=True, timeout=200)
        assert r.returncode == 0, f"driver died (rc {r.returncode}):\n{r.stdout}\n{r.stderr[-3000:]}"
        line = next(x for x in r.stdout.splitlines() if x.startswith("RESULT "))
        out = json.loads(line[len("RESULT "):])
        for key in ("put", "task", "actor"):
            assert out[key].startswith("full: "), (key, out[key])
            assert str(small_fs) in out[key] and "free" in out[key], (key, out[key])
        assert out["actor_same_pid"], "the actor's worker died writing its result"
        assert out["keep"] and out["small"], out
        assert pid_alive(pid)

        import edgeray as ray

        ray.init(address="auto")  # a new driver is served as before
        try:
            assert int(ray.get(ray.put(np.full(2 * MiB, 5, dtype=np.uint8)))[0]) == 5
        finally:
            ray.shutdown()
    finally:
        subprocess.run([PY, "-m", "edgeray", "stop"], capture_output=True, timeout=60)
