"""The dashboard's login cookie, sans-I/O: signed with the cluster token, checked without state.

A session cookie is ``<expiry>.<nonce>.<mac>``: ``expiry`` in whole seconds since the epoch,
``nonce`` 16 random bytes in hex, ``mac`` HMAC-SHA256 over both keyed with the cluster token. A
node with the same token accepts it until it expires (so a restarted head keeps its logins); a
forged, altered, expired cookie, or one made with another token, is refused. The cookie is
HttpOnly and SameSite=Strict (a page on another site can neither read it nor send it along);
``Secure`` is added when the listener speaks TLS.

- ``new_session(token, now)``: a fresh cookie value;
- ``session_ok(request_cookie_header, token, now)``: whether a ``Cookie`` header carries a valid one;
- ``set_cookie(value, secure)`` / ``clear_cookie(secure)``: the ``Set-Cookie`` header values.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from http.cookies import CookieError, SimpleCookie

COOKIE_NAME = "edgeray_session"
#: How long a login lasts (seconds): a working day.
SESSION_TTL_S = 12 * 3600


def _mac(token: str, expiry: int, nonce: str) -> str:
    msg = f"edgeray-dashboard-session|{expiry}|{nonce}".encode()
    return hmac.new(token.encode(), msg, hashlib.sha256).hexdigest()


def new_session(token: str, now: float, ttl_s: int = SESSION_TTL_S) -> str:
    expiry = int(now) + ttl_s
    nonce = secrets.token_hex(16)
    return f"{expiry}.{nonce}.{_mac(token, expiry, nonce)}"


def value_ok(value: str, token: str, now: float) -> bool:
    """Whether ``value`` is a session made with ``token`` that has not expired."""
    parts = value.split(".")
    if len(parts) != 3 or not parts[0].isdigit():
        return False
    expiry, nonce, mac = int(parts[0]), parts[1], parts[2]
    return hmac.compare_digest(mac.encode(), _mac(token, expiry, nonce).encode()) and now < expiry


def session_ok(cookie_header: bytes | None, token: str, now: float) -> bool:
    """Whether the ``Cookie`` header holds a valid ``edgeray_session``."""
    if not cookie_header:
        return False
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(cookie_header.decode("latin-1"))
    except CookieError:
        return False
    morsel = jar.get(COOKIE_NAME)
    return morsel is not None and value_ok(morsel.value, token, now)


def set_cookie(value: str, secure: bool, max_age: int = SESSION_TTL_S) -> str:
    flags = "; Secure" if secure else ""
    return f"{COOKIE_NAME}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{flags}"


def clear_cookie(secure: bool) -> str:
    return set_cookie("", secure, max_age=0)
