"""Fuzz a live node for longer than the suite does (issue 15): ``python tools/fuzz_node.py``.

Starts a node (``edgeray start``, in a fresh ``EDGERAY_HOME``), then sends batches of
hostile frames from ``tests/protocol/frames.py`` (schema-valid messages, mutations of them, raw
maps, garbage) over fresh authenticated connections, checking after each batch that a normal
driver still gets its own results. Reports how many inputs ran, how the node answered them
(connection closed with a reason, closed silently, or kept open), the node's ``internal error``
log lines (each is a bug: validation should have refused the frame) and its RSS before and after.

    python tools/fuzz_node.py --inputs 12000 --seed 1
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "protocol"), str(ROOT)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=5000, help="frames to send (default 5000)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    home = os.environ["EDGERAY_HOME"] = tempfile.mkdtemp(prefix="erfuzz", dir="/tmp")
    cli = [sys.executable, "-m", "edgeray"]
    subprocess.run([*cli, "start", "--num-cpus", "2"], check=True, stdout=subprocess.DEVNULL)
    try:
        return _fuzz(args, home)
    finally:
        subprocess.run([*cli, "stop"], stdout=subprocess.DEVNULL)
        shutil.rmtree(home, ignore_errors=True)


def _fuzz(args: argparse.Namespace, home: str) -> int:

    from frames import frames
    from hostile import RawClient
    from hypothesis import HealthCheck, given, seed, settings
    from hypothesis import strategies as st

    import edgeray as ray
    from edgeray.client._context import current_client
    from edgeray.protocol import Shutdown

    ray.init(address="auto")

    @ray.remote
    def double(x: int) -> int:
        return 2 * x

    c = current_client()
    address, token = c.address, c._token
    st0 = c.call("status")
    pid = st0["pid"]
    rss0 = _rss_kib(pid)
    outcome: collections.Counter[str] = collections.Counter()
    sent = [0]
    t0 = time.monotonic()

    @seed(args.seed)
    @settings(max_examples=max(1, args.inputs // 3), deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(batch=st.lists(frames(), min_size=1, max_size=5), role=st.sampled_from(["driver", "cli"]))
    def one(batch: list[bytes], role: str) -> None:
        peer = RawClient.connect(address, token)
        try:
            peer.handshake(role)
            for f in batch:
                try:
                    peer.chan.send_frame(f)
                    sent[0] += 1
                except OSError:
                    break
            peer.chan._sock.settimeout(0.2)
            try:
                msg = peer.receive()
                while msg is not None and not isinstance(msg, Shutdown):
                    msg = peer.receive()
                outcome["closed with a reason" if msg is not None else "closed"] += 1
            except (TimeoutError, OSError):
                outcome["kept open"] += 1
        finally:
            peer.close()
        assert ray.get(double.remote(21), timeout=60) == 42

    one()
    elapsed = time.monotonic() - t0
    st1 = c.call("status")
    rss1 = _rss_kib(pid)
    logs = sorted(Path(home).rglob("node.log"))
    internal = sum(p.read_text(errors="replace").count("internal error") for p in logs)
    ray.shutdown()
    print(f"{sent[0]} frames in {sum(outcome.values())} connections, {elapsed:.0f} s: {dict(outcome)}")
    print(f"internal errors in {len(logs)} node log(s): {internal} (each one a frame validation let through)")
    print(f"node tables: objects {st0['objects']['objects']} -> {st1['objects']['objects']}, "
          f"functions {st0['functions']} -> {st1['functions']}, jobs {st0['jobs']} -> {st1['jobs']}")
    print(f"node RSS: {rss0 / 1024:.0f} -> {rss1 / 1024:.0f} MiB")
    return 1 if internal else 0


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


if __name__ == "__main__":
    sys.exit(main())
