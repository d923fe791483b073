"""The dashboard's login cookie, sans-I/O: made with the cluster token, accepted by a Router
with that token (as the bearer header is), refused when forged, altered, expired, made with
another token or malformed; a ``page`` route sends a visitor without a login to ``/login``."""

from __future__ import annotations

import time

from hypothesis import given
from hypothesis import strategies as st

from edgeray.transport import Request, Response, Route, Router, bearer_ok
from edgeray.transport._session import (
    COOKIE_NAME,
    clear_cookie,
    new_session,
    session_ok,
    set_cookie,
    value_ok,
)

TOKEN = "session-test-token"


def _router() -> Router:
    return Router({("GET", "/api/x"): Route(lambda r: Response(200, b"x")),
                   ("GET", "/"): Route(lambda r: Response(200, b"page"), page=True)}, TOKEN, bearer_ok)


def _get(router: Router, path: str, cookie: str | None) -> Response:
    headers = [(b"cookie", cookie.encode())] if cookie is not None else []
    return router.respond(Request("GET", path, headers))


def test_a_fresh_session_opens_api_and_pages() -> None:
    value = new_session(TOKEN, time.time())
    for cookie in (f"{COOKIE_NAME}={value}", f"other=1; {COOKIE_NAME}={value}; more=2"):
        assert _get(_router(), "/api/x", cookie).status == 200
        assert _get(_router(), "/", cookie).body == b"page"


def test_without_a_login_the_api_is_401_and_a_page_redirects() -> None:
    assert _get(_router(), "/api/x", None).status == 401
    page = _get(_router(), "/", None)
    assert page.status == 303 and ("Location", "/login") in page.headers


def test_forged_altered_expired_and_foreign_sessions_are_refused() -> None:
    now = time.time()
    good = new_session(TOKEN, now)
    expiry, nonce, mac = good.split(".")
    altered = mac[:-1] + ("1" if mac[-1] == "0" else "0")
    bad = [f"{int(expiry) + 1}.{nonce}.{mac}", f"{expiry}.{nonce}0.{mac}", f"{expiry}.{nonce}.{altered}",
           new_session("another-token", now), new_session(TOKEN, now - 100, ttl_s=10), TOKEN, "", "a.b.c", "1.2"]
    for value in bad:
        assert not value_ok(value, TOKEN, now), value
        assert _get(_router(), "/api/x", f"{COOKIE_NAME}={value}").status == 401, value
    assert value_ok(good, TOKEN, now) and not value_ok(good, TOKEN, int(expiry))


@given(st.binary(max_size=200))
def test_any_cookie_header_is_answered_without_error(header: bytes) -> None:
    assert session_ok(header, TOKEN, time.time()) in (False, True)


def test_the_set_cookie_flags() -> None:
    c = set_cookie("v", secure=False)
    assert c.startswith(f"{COOKIE_NAME}=v;") and "HttpOnly" in c and "SameSite=Strict" in c and "Secure" not in c
    assert "; Secure" in set_cookie("v", secure=True)
    assert "Max-Age=0" in clear_cookie(secure=False)
