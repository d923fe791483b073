"""TLS contexts for ``wss://``: a node's server side, and clients (drivers, node-to-node links).

A node reads its files from its config's ``[tls]`` section. A driver has no config file: it
takes them from the environment, edgeray's names first, then Ray's::

    EDGERAY_TLS_CA_FILE    RAY_TLS_CA_CERT       CA bundle that verifies the node
    EDGERAY_TLS_CERT_FILE  RAY_TLS_SERVER_CERT   client certificate (for mutual TLS)
    EDGERAY_TLS_KEY_FILE   RAY_TLS_SERVER_KEY    its private key

Certificates are always verified, host names included (no option turns that off).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass

from ..exceptions import RaySystemError

ENV_NAMES = {
    "ca_file": ("EDGERAY_TLS_CA_FILE", "RAY_TLS_CA_CERT"),
    "cert_file": ("EDGERAY_TLS_CERT_FILE", "RAY_TLS_SERVER_CERT"),
    "key_file": ("EDGERAY_TLS_KEY_FILE", "RAY_TLS_SERVER_KEY"),
}


@dataclass(frozen=True)
class TlsFiles:
    """PEM files; "" = not given."""

    cert_file: str = ""
    key_file: str = ""
    ca_file: str = ""


def server_context(files: TlsFiles, *, require_client_cert: bool) -> ssl.SSLContext:
    """A node's listener: its certificate and key; with ``require_client_cert``, clients must
    present a certificate that ``files.ca_file`` verifies (mutual TLS)."""
    if not files.cert_file or not files.key_file:
        raise RaySystemError("TLS needs both tls.cert_file and tls.key_file")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_chain(ctx, files, "tls.cert_file", "tls.key_file")
    if require_client_cert:
        if not files.ca_file:
            raise RaySystemError("tls.require_client_cert needs tls.ca_file (the CA that signs client certificates)")
        _load_ca(ctx, files.ca_file, "tls.ca_file")
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def client_context(files: TlsFiles, *, source: str = "tls") -> ssl.SSLContext:
    """A client's: trust ``files.ca_file`` ("" = the system's CAs); present ``cert_file`` and
    ``key_file`` when both are given. ``source`` names where the files came from, for errors."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if files.ca_file:
        _load_ca(ctx, files.ca_file, f"{source} ca_file")
    if files.cert_file or files.key_file:
        if not (files.cert_file and files.key_file):
            raise RaySystemError(f"{source}: a client certificate needs both cert_file and key_file")
        _load_chain(ctx, files, f"{source} cert_file", f"{source} key_file")
    return ctx


def files_from_env(environ: Mapping[str, str] | None = None) -> tuple[TlsFiles, str]:
    """The client files named by the environment, and a description of where they came from."""
    env = os.environ if environ is None else environ
    found: dict[str, str] = {}
    names: list[str] = []
    for key, candidates in ENV_NAMES.items():
        for var in candidates:
            if env.get(var):
                found[key] = env[var]
                names.append(var)
                break
    return TlsFiles(**found), ("environment (" + ", ".join(names) + ")" if names else "environment")


def client_context_from_env(environ: Mapping[str, str] | None = None) -> ssl.SSLContext:
    files, source = files_from_env(environ)
    return client_context(files, source=source)


def _load_chain(ctx: ssl.SSLContext, files: TlsFiles, cert_name: str, key_name: str) -> None:
    try:
        ctx.load_cert_chain(files.cert_file, files.key_file)
    except FileNotFoundError as e:
        raise RaySystemError(f"TLS: {cert_name} {files.cert_file!r} or {key_name} {files.key_file!r}: {e.strerror}") from None
    except (ssl.SSLError, OSError) as e:
        raise RaySystemError(f"TLS: cannot load the certificate {files.cert_file!r} with key {files.key_file!r}: {e}") from None


def _load_ca(ctx: ssl.SSLContext, path: str, name: str) -> None:
    try:
        ctx.load_verify_locations(cafile=path)
    except FileNotFoundError:
        raise RaySystemError(f"TLS: {name} {path!r} does not exist") from None
    except (ssl.SSLError, OSError) as e:
        raise RaySystemError(f"TLS: cannot load the CA bundle {name} {path!r}: {e}") from None


def describe_tls_error(e: BaseException, url: str) -> str:
    """A person's explanation of a failed TLS connection to ``url``."""
    if isinstance(e, ssl.SSLCertVerificationError):
        return (
            f"TLS: the certificate of {url} could not be verified ({e.verify_message or e}); "
            "give the CA that signed it (tls.ca_file, or EDGERAY_TLS_CA_FILE for a driver)"
        )
    reason = getattr(e, "reason", None) or str(e)
    if "CERTIFICATE_REQUIRED" in str(reason).upper() or "HANDSHAKE_FAILURE" in str(reason).upper():
        return (
            f"TLS: {url} refused the connection ({reason}): it requires a client certificate "
            "(tls.cert_file/tls.key_file, or EDGERAY_TLS_CERT_FILE/EDGERAY_TLS_KEY_FILE for a driver)"
        )
    if "EOF" in str(reason).upper():
        return (
            f"TLS: {url} closed the connection during the TLS handshake ({reason}); a node with "
            "tls.require_client_cert does so for a client without a certificate it trusts"
        )
    return f"TLS: the connection to {url} failed: {reason}"
