"""A node's listeners as its config describes them: the Unix socket and the WebSocket (``wss://``
with ``[tls]``; plain HTTP requests on it go to ``_metrics.http_router``), their limits, and the
address the node tells others.

The address: ``ws(s)://HOST:PORT`` with ``node.advertise_address`` as HOST when set; else
``node.host``, unless that is a wildcard (``0.0.0.0``, ``::``), which nobody can connect to:
then the address of the interface the default route leaves by (a UDP socket "connected" to a
documentation address: no packet is sent), or 127.0.0.1 when there is no route.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
from typing import TYPE_CHECKING, Any

from ..config import Config

if TYPE_CHECKING:
    from ..transport import ListenLimits
    from ._service import NodeServer

log = logging.getLogger("edgeray.node")

WILDCARD_HOSTS = ("0.0.0.0", "::", "[::]", "")
#: RFC 5737 / RFC 3849 documentation addresses: never routed anywhere real.
_PROBE_V4 = ("192.0.2.1", 9)
_PROBE_V6 = ("2001:db8::1", 9)


def listen_limits(config: Config) -> ListenLimits:
    from ..transport import ListenLimits

    p = config.protocol
    return ListenLimits(max_connections=p.max_connections, handshake_timeout_s=p.handshake_timeout_s)


def server_ssl_context(config: Config) -> ssl.SSLContext | None:
    """The listener's TLS context, or None without ``tls.enabled``."""
    tls = config.tls
    if not tls.enabled:
        return None
    from ..transport import TlsFiles, server_context

    files = TlsFiles(cert_file=tls.cert_file, key_file=tls.key_file, ca_file=tls.ca_file)
    return server_context(files, require_client_cert=tls.require_client_cert)


def client_ssl_context(config: Config) -> ssl.SSLContext:
    """What this node's links to ``wss://`` nodes verify them with (``tls.ca_file``) and show
    them (its own ``cert_file``/``key_file``, for mutual TLS)."""
    from ..transport import TlsFiles, client_context

    tls = config.tls
    return client_context(TlsFiles(cert_file=tls.cert_file, key_file=tls.key_file, ca_file=tls.ca_file), source="[tls]")


def is_wildcard(host: str) -> bool:
    return host.strip() in WILDCARD_HOSTS


def detect_routable_address(ipv6: bool = False) -> str:
    """The local address of the interface used to reach the outside (the default route)."""
    family, probe = (socket.AF_INET6, _PROBE_V6) if ipv6 else (socket.AF_INET, _PROBE_V4)
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect(probe)  # UDP: picks a route and a source address, sends nothing
            addr = s.getsockname()[0]
    except OSError:
        return "::1" if ipv6 else "127.0.0.1"
    if is_wildcard(addr):
        return "::1" if ipv6 else "127.0.0.1"
    return addr


def advertised_host(config: Config) -> str:
    node = config.node
    if node.advertise_address:
        return node.advertise_address
    if is_wildcard(node.host):
        return detect_routable_address(ipv6=":" in node.host)
    return node.host


def node_address(config: Config, port: int) -> str:
    """``ws://HOST:PORT`` (``wss://`` with TLS) that others reach this node at."""
    host = advertised_host(config).strip("[]")
    if ":" in host:
        host = f"[{host}]"
    return f"{'wss' if config.tls.enabled else 'ws'}://{host}:{port}"


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def warn_if_exposed(config: Config, address: str) -> None:
    if not config.tls.enabled and not is_loopback(config.node.host):
        log.warning(
            "the WebSocket listener is on %s (%s) without TLS: the cluster token and all traffic "
            "cross the network in the clear; set [tls] enabled = true with cert_file and key_file",
            config.node.host, address,
        )


async def serve_unix_listener(server: NodeServer, *, task_status: Any) -> None:
    from ..transport import serve_unix

    await serve_unix(
        server.unix_path, server.handle_channel, max_frame=server.max_frame,
        limits=listen_limits(server.config), task_status=task_status,
    )


async def serve_ws_listener(server: NodeServer, *, task_status: Any) -> None:
    from ..transport import serve_ws
    from ._metrics import http_router

    cfg = server.config
    await serve_ws(
        cfg.node.host, cfg.node.port, server.handle_channel, token=server.token, max_frame=server.max_frame,
        limits=listen_limits(cfg), ssl_context=server_ssl_context(cfg), http=http_router(server),
        task_status=task_status,
    )
