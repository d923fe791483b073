"""A multi-node cluster on one machine, for tests and experiments (Ray's ``cluster_utils``).

Each node is a real ``edgeray start --block`` process with its own store and workers, joined to
the head over a loopback WebSocket::

    from edgeray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    worker = cluster.add_node(num_cpus=2, resources={"special": 1})
    edgeray.init(address=cluster.address)
    ...
    cluster.remove_node(worker)       # SIGTERM (graceful) or, allow_graceful=False, SIGKILL
    cluster.shutdown()

Standard library only (it starts processes; it runs no node itself).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from typing import Any

from ._launch import python_command

__all__ = ["Cluster", "ClusterNode"]

#: The store of a node started here, unless ``object_store_memory`` says otherwise.
DEFAULT_STORE = 256 << 20


class ClusterNode:
    """One node process of a ``Cluster``."""

    def __init__(self, process: subprocess.Popen[bytes], info: dict[str, Any], head: bool, args: dict[str, Any]) -> None:
        self.process = process
        self.node_id: str = info["node_id"]
        self.address: str = info["address"]
        self.unix_path: str = info["unix"]
        self.pid: int = info["pid"]
        self.head = head
        self.args = args

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Kill the node process (its workers follow it: they watch their parent)."""
        if self.process.poll() is None:
            try:
                self.process.send_signal(sig)
            except ProcessLookupError:
                pass

    def __repr__(self) -> str:
        return f"ClusterNode({'head' if self.head else 'worker'} {self.node_id[:12]} at {self.address}, pid {self.pid})"


class Cluster:
    def __init__(self, initialize_head: bool = False, connect: bool = False,
                 head_node_args: dict[str, Any] | None = None, shutdown_at_exit: bool = True) -> None:
        self.head_node: ClusterNode | None = None
        self.worker_nodes: list[ClusterNode] = []
        self._shutdown_at_exit = shutdown_at_exit
        if connect and not initialize_head:  # Ray's words
            raise RuntimeError("Cannot connect to uninitialized cluster.")
        if initialize_head:
            self.add_node(**(head_node_args or {}))
            if connect:
                import edgeray

                edgeray.init(address=self.address)

    @property
    def address(self) -> str | None:
        """The head's ``ws://`` address; None before it is added (as Ray's)."""
        return self.head_node.address if self.head_node is not None else None

    def list_all_nodes(self) -> list[ClusterNode]:
        return ([self.head_node] if self.head_node else []) + list(self.worker_nodes)

    def add_node(self, wait: bool = True, *, num_cpus: float = 1, num_gpus: float | None = None,
                 resources: dict[str, float] | None = None, object_store_memory: int | None = None,
                 memory: int | None = None, labels: dict[str, str] | None = None, port: int = 0,
                 config: str | None = None, env: dict[str, str] | None = None, timeout: float = 30.0,
                 _system_config: dict[str, Any] | None = None) -> ClusterNode:
        """Start a node: the head if there is none yet, else one that joins it. ``wait``:
        return once it has joined (always true here: the process is ready when it prints).
        ``memory``: bytes of the node's "memory" resource (default: detected).
        ``_system_config``: Ray's internal keys with a meaning here, as ``init`` takes them
        (for this node only)."""
        from .api._system_config import system_config_overrides

        overrides = system_config_overrides(_system_config)
        head = self.head_node is None
        argv = ["start", "--block", "--port", str(port), "--num-cpus", str(num_cpus),
                "--object-store-memory", str(object_store_memory or DEFAULT_STORE)]
        argv += ["--head"] if head else ["--address", self.head_node.address]  # type: ignore[union-attr]
        if memory is not None:
            argv += ["--memory", str(memory)]
        if num_gpus is not None:
            argv += ["--num-gpus", str(num_gpus)]
        if resources:
            argv += ["--resources", json.dumps(resources)]
        if labels:
            if config:
                raise ValueError("give labels in the config file when passing config=")
            config = _labels_config(labels)
        if config:
            argv += ["--config", config]
        if overrides:
            argv += ["--config-overrides", json.dumps(overrides)]
        child_env = dict(os.environ)
        child_env.update(env or {})
        args = {"num_cpus": num_cpus, "num_gpus": num_gpus, "resources": resources, "argv": argv, "env": child_env}
        node = _launch(argv, child_env, head, args, timeout)
        if head:
            self.head_node = node
        else:
            self.worker_nodes.append(node)
        return node

    def restart_head(self, timeout: float = 30.0) -> ClusterNode:
        """Kill the head with SIGKILL (if it still runs) and start it again with the same
        arguments on the same port, as a supervisor would; with ``gcs.storage = "sqlite"`` in
        its config it takes its tables back, and the other nodes join it again."""
        old = self.head_node
        if old is None:
            raise RuntimeError("the cluster has no head node")
        old.kill(signal.SIGKILL)
        old.process.wait()
        self._reap_killed()
        argv = list(old.args["argv"])
        argv[argv.index("--port") + 1] = old.address.rsplit(":", 1)[1]
        self.head_node = _launch(argv, old.args["env"], True, {**old.args, "argv": argv}, timeout)
        return self.head_node

    def remove_node(self, node: ClusterNode, allow_graceful: bool = True) -> None:
        """Stop ``node``: SIGTERM and wait, or SIGKILL at once when not ``allow_graceful``."""
        node.kill(signal.SIGTERM if allow_graceful else signal.SIGKILL)
        try:
            node.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            node.kill(signal.SIGKILL)
            node.process.wait()
        if node is self.head_node:
            self.head_node = None
        elif node in self.worker_nodes:
            self.worker_nodes.remove(node)
        self._reap_killed()

    def _reap_killed(self) -> None:
        """A node killed with SIGKILL cannot remove its store: do it for it, as its next start
        on this machine would (only segments of dead processes are touched)."""
        from ._files import home
        from .object_store import cleanup_stale, cleanup_stale_spill

        cleanup_stale("edgeray", fallback_dirs=(str(home() / "shm"),))
        cleanup_stale_spill(str(home() / "spill"))

    def wait_for_nodes(self, timeout: float = 30.0) -> None:
        """Until the head reports every node of this cluster alive."""
        import edgeray

        want = {n.node_id for n in self.list_all_nodes()}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            alive = {n["NodeID"] for n in edgeray.nodes() if n["Alive"]}
            if want <= alive:
                return
            time.sleep(0.05)
        raise TimeoutError(f"nodes {sorted(want)} did not all come up in {timeout} s")

    def shutdown(self) -> None:
        """Stop every node (workers first, then the head)."""
        for node in list(self.worker_nodes):
            self.remove_node(node)
        if self.head_node is not None:
            self.remove_node(self.head_node)
        self._reap_killed()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def _labels_config(labels: dict[str, str]) -> str:
    import tempfile

    fd, path = tempfile.mkstemp(prefix="edgeray-node-", suffix=".toml")
    with os.fdopen(fd, "w") as f:
        f.write("[resources.labels]\n")
        for k, v in labels.items():
            f.write(f"{json.dumps(str(k))} = {json.dumps(str(v))}\n")
    return path


def _launch(argv: list[str], env: dict[str, str], head: bool, args: dict[str, Any], timeout: float) -> ClusterNode:
    proc = subprocess.Popen(
        [*python_command("from edgeray.cli import main; sys.exit(main())"), *argv],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=None, env=env,
        start_new_session=True,
    )
    return ClusterNode(proc, _ready_line(proc, timeout), head, args)


def _ready_line(proc: subprocess.Popen[bytes], timeout: float) -> dict[str, Any]:
    """The ``EDGERAY_READY`` line a node prints once it serves (and has joined its head)."""
    assert proc.stdout is not None
    box: list[dict[str, Any]] = []

    def read() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode(errors="replace").strip()
            if line.startswith("EDGERAY_READY "):
                box.append(json.loads(line[len("EDGERAY_READY "):]))
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    if not box:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"the node did not start in {timeout} s (exit code {proc.returncode})")
    proc.stdout.close()
    return box[0]
