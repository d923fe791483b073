"""Real node processes behind hostile or secured listeners (issue 15):

* a node out of file descriptors (RLIMIT_NOFILE lowered in its process) under a flood of idle
  Unix connections backs off with one log line, not a line and a traceback every 100 ms, and
  serves a driver once the idle connections are gone;
* ``wss://``: a driver runs tasks on a TLS node (CA from ``EDGERAY_TLS_CA_FILE``); a wrong CA is
  refused with a clear error; with mutual TLS a driver without a certificate is refused; a
  2-node cluster over ``wss://`` with mutual TLS runs work on both nodes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from waiting import wait_for, wait_for_line

import edgeray
from edgeray._launch import python_command
from edgeray.cluster_utils import Cluster
from edgeray.exceptions import RaySystemError
from edgeray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

pytestmark = pytest.mark.timeout(180)

TLS_ENV = ("EDGERAY_TLS_CA_FILE", "EDGERAY_TLS_CERT_FILE", "EDGERAY_TLS_KEY_FILE",
           "RAY_TLS_CA_CERT", "RAY_TLS_SERVER_CERT", "RAY_TLS_SERVER_KEY")


# --------------------------------------------------------------------------- out of descriptors


def test_a_node_out_of_file_descriptors_backs_off_quietly_and_recovers(edgeray_home: str, tmp_path: Path) -> None:
    config = tmp_path / "node.toml"
    config.write_text(
        "[node]\nprestart_workers = 0\n[resources]\nnum_cpus = 1\nnum_gpus = 0\n"
        "[object_store]\nmemory = 67108864\n[protocol]\nhandshake_timeout_s = 1.0\n"
    )
    log = tmp_path / "node.err"
    code = (
        "import resource; resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128)); "
        "from edgeray.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [*python_command(code), "start", "--block", "--config", str(config)],
            stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL,
        )
    socks: list[socket.socket] = []
    try:
        assert proc.stdout is not None
        info = next(json.loads(line.split(b" ", 1)[1]) for line in proc.stdout if line.startswith(b"EDGERAY_READY "))
        proc.stdout.close()
        for _ in range(300):  # more than the node has descriptors for; they queue in the backlog
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(info["unix"])
            socks.append(s)
        wait_for_line(log, "accept failed with EMFILE")
        # every idle one is closed by the node after the handshake timeout, the queued ones too
        for s in socks:
            s.settimeout(60)
            assert s.recv(1) == b""
        assert proc.poll() is None, f"the node exited with code {proc.returncode}"
        assert _unix_call(info["unix"]), "the node did not serve a driver after the flood"
        text = log.read_text()
        assert "retrying in" not in text and "Traceback" not in text, text[-3000:]
        assert text.count("accept failed with EMFILE") < 10, text[-3000:]  # rate-limited, not per accept
    finally:
        for s in socks:
            s.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def _unix_call(path: str) -> bool:
    from edgeray.protocol import Call, Connection, Reply, Role, Welcome
    from edgeray.transport import connect_blocking

    token = (Path(os.environ["EDGERAY_HOME"]) / "token").read_text().strip()
    chan = connect_blocking(path, token=token, max_frame=1 << 20)
    try:
        conn = Connection(Role.CLIENT, token=token, max_frame=1 << 20)
        chan.send_frame(conn.hello("cli", os.getpid()))
        first = chan.receive_frame()
        assert first is not None and isinstance(conn.receive(first), Welcome)
        chan.send_frame(conn.send(Call(1, "nodes", {})))
        reply = chan.receive_frame()
        return reply is not None and isinstance(msg := conn.receive(reply), Reply) and msg.ok
    finally:
        chan.close()


# --------------------------------------------------------------------------- wss://


class Pki:
    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.ca = trustme.CA()
        self.ca_file = str(root / "ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_file)

    def issue(self, name: str, *identities: str) -> tuple[str, str]:
        cert = self.ca.issue_cert(*identities)
        cert_file, key_file = str(self.root / f"{name}.pem"), str(self.root / f"{name}.key")
        cert.cert_chain_pems[0].write_to_path(cert_file)
        cert.private_key_pem.write_to_path(key_file)
        return cert_file, key_file

    def node_config(self, name: str, *, mutual: bool) -> str:
        cert, key = self.issue(name, "127.0.0.1", "localhost")
        path = self.root / f"{name}.toml"
        path.write_text(
            "[tls]\nenabled = true\n"
            f"cert_file = {json.dumps(cert)}\nkey_file = {json.dumps(key)}\nca_file = {json.dumps(self.ca_file)}\n"
            f"require_client_cert = {'true' if mutual else 'false'}\n"
        )
        return str(path)


@pytest.fixture
def tls_env(monkeypatch: pytest.MonkeyPatch) -> Any:
    for var in TLS_ENV:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path / "pki")


@edgeray.remote
def node_of() -> str:
    return edgeray.get_runtime_context().get_node_id()


def test_a_driver_runs_tasks_over_wss_and_a_wrong_ca_is_refused(pki: Pki, tls_env: Any) -> None:
    with Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "config": pki.node_config("head", mutual=False)}) as cluster:
        assert cluster.address.startswith("wss://127.0.0.1:")
        other = Pki(pki.root / "other")
        tls_env.setenv("EDGERAY_TLS_CA_FILE", other.ca_file)
        with pytest.raises(RaySystemError, match="could not be verified"):
            edgeray.init(address=cluster.address)
        assert not edgeray.is_initialized()
        tls_env.setenv("EDGERAY_TLS_CA_FILE", pki.ca_file)
        edgeray.init(address=cluster.address)
        try:
            assert edgeray.get([node_of.remote() for _ in range(4)], timeout=60) == [cluster.head_node.node_id] * 4  # type: ignore[union-attr]
            ref = edgeray.put(b"x" * (1 << 20))  # a large value, through the store, over TLS
            assert edgeray.get(ref, timeout=60) == b"x" * (1 << 20)
        finally:
            edgeray.shutdown()
        assert cluster.head_node.alive()  # type: ignore[union-attr]


@pytest.fixture
def mutual_cluster(pki: Pki, tls_env: Any) -> Iterator[Cluster]:
    tls_env.setenv("EDGERAY_TLS_CA_FILE", pki.ca_file)
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "config": pki.node_config("head", mutual=True)})
    try:
        c.add_node(num_cpus=1, config=pki.node_config("member", mutual=True))
        yield c
    finally:
        if edgeray.is_initialized():
            edgeray.shutdown()
        c.shutdown()


def test_mutual_tls_cluster_of_two_nodes_over_wss(mutual_cluster: Cluster, pki: Pki, tls_env: Any) -> None:
    head, member = mutual_cluster.head_node, mutual_cluster.worker_nodes[0]
    assert head is not None and member.address.startswith("wss://")
    with pytest.raises(RaySystemError, match="client certificate"):  # no certificate: refused
        edgeray.init(address=mutual_cluster.address)
    cert, key = pki.issue("driver", "driver.example")
    tls_env.setenv("EDGERAY_TLS_CERT_FILE", cert)
    tls_env.setenv("EDGERAY_TLS_KEY_FILE", key)
    edgeray.init(address=mutual_cluster.address)
    mutual_cluster.wait_for_nodes()
    for node in (head, member):
        strategy = NodeAffinitySchedulingStrategy(node.node_id, soft=False)
        assert edgeray.get(node_of.options(scheduling_strategy=strategy).remote(), timeout=60) == node.node_id
    wait_for(lambda: edgeray.cluster_resources().get("CPU") == 2, what="both nodes' CPUs in the cluster view")
