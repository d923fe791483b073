"""The dashboard's routes on the node's HTTP listener: the pages, the login, the JSON.

- ``GET /`` the dashboard (one page; its script shows the cluster, jobs, actors, tasks,
  placement groups, objects and logs views, polling ``/api/...`` every ``REFRESH``);
  ``GET /static/<file>`` its script and style. A visitor with no login is sent to ``/login``.
- ``GET /login`` the form; ``POST /login`` (``token=...``, form-encoded) compares the token with
  the cluster's in constant time: right, a session cookie (``transport._session``: HttpOnly,
  SameSite=Strict, signed with the token) and a redirect to ``/``; wrong, the form again with
  "wrong token" (401). ``POST /logout`` clears the cookie.
- ``GET /api/cluster|jobs|actors|tasks|placement_groups|objects|logs|log``: JSON
  (``_dashboard_data``); without a login (cookie or bearer header) a 401.

The files are package data (``static/``), read with ``importlib.resources`` so the dashboard
works from the zipapp too. Nothing user-made is put into HTML here: the page's script builds
its tables with ``textContent``, and the login page's only variable is escaped.
"""

from __future__ import annotations

import functools
import hmac
import html
import importlib.resources
import inspect
import json
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from ..transport import HttpError, Request, Response, Route, clear_cookie, new_session, set_cookie
from . import _dashboard_data as data

if TYPE_CHECKING:
    from ._service import NodeServer

STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
                ".html": "text/html; charset=utf-8"}
STATIC_FILES = ("app.js", "style.css")
#: Served with every page: no script, style or frame from anywhere but this node.
PAGE_HEADERS = [
    ("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; "
                                "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"),
    ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"), ("Cache-Control", "no-store"),
]


def static_file(name: str) -> bytes:
    return importlib.resources.files(__package__).joinpath("static", name).read_bytes()


def dashboard_routes(server: NodeServer) -> dict[tuple[str, str], Route]:
    """The dashboard's ``(method, path) -> Route``, for the node's ``Router``."""
    api: dict[str, Callable[[Request], Any]] = {
        "cluster": lambda req: data.cluster(server),
        "jobs": lambda req: data.jobs(server),
        "actors": lambda req: data.actors(server),
        "tasks": functools.partial(data.tasks, server),
        "placement_groups": lambda req: data.placement_groups(server),
        "objects": lambda req: data.objects(server),
        "logs": lambda req: data.log_files(server),
        "log": lambda req: data.log_read(server, req),
    }
    routes = {
        ("GET", "/"): Route(lambda req: _page("index.html"), page=True),
        ("GET", "/login"): Route(lambda req: login_page(200, ""), public=True),
        ("POST", "/login"): Route(lambda req: login(server, req), public=True),
        ("POST", "/logout"): Route(lambda req: logout(server), public=True),
    }
    for name in STATIC_FILES:
        routes[("GET", f"/static/{name}")] = Route(_static_handler(name), public=True)
    for name, build in api.items():
        routes[("GET", f"/api/{name}")] = Route(_json_handler(build))
    return routes


def _static_handler(name: str) -> Callable[[Request], Response]:
    kind = STATIC_TYPES[name[name.rindex("."):]]
    return lambda req: Response(200, static_file(name), content_type=kind, headers=list(PAGE_HEADERS))


def _json(value: Any) -> Response:
    body = json.dumps(value, default=str).encode()
    return Response(200, body, content_type="application/json", headers=[("Cache-Control", "no-store")])


def _json_handler(build: Callable[[Request], Any]) -> Callable[[Request], Response | Awaitable[Response]]:
    if inspect.iscoroutinefunction(build):
        async def wait(req: Request) -> Response:
            return _json(await build(req))
        return wait
    return lambda req: _json(build(req))


def _page(name: str) -> Response:
    return Response(200, static_file(name), content_type=STATIC_TYPES[".html"], headers=list(PAGE_HEADERS))


def login_page(status: int, message: str) -> Response:
    body = static_file("login.html").decode().replace("{{message}}", html.escape(message))
    return Response(status, body.encode(), content_type=STATIC_TYPES[".html"], headers=list(PAGE_HEADERS))


def _secure(server: NodeServer) -> bool:
    return str(server.address).startswith("wss://")


def login(server: NodeServer, request: Request) -> Response:
    ctype = (request.header("content-type") or b"").split(b";")[0].strip().lower()
    if ctype != b"application/x-www-form-urlencoded":
        raise HttpError(400, "log in with a form: Content-Type application/x-www-form-urlencoded, token=<token>")
    try:
        form = parse_qs(request.body.decode(), keep_blank_values=True)
    except UnicodeDecodeError:
        raise HttpError(400, "the login form is not UTF-8") from None
    given = (form.get("token") or [""])[-1].strip()
    token = server.token
    if token is None:  # (a node without a token: nothing to check)
        return _logged_in(server, "")
    if not given:
        return login_page(401, "Enter the cluster token (edgeray get-auth-token prints it).")
    if not hmac.compare_digest(given.encode(), token.encode()):
        return login_page(401, "Wrong token: that is not this cluster's token.")
    return _logged_in(server, token)


def _logged_in(server: NodeServer, token: str) -> Response:
    cookie = set_cookie(new_session(token, time.time()), _secure(server))
    return Response(303, b"logged in\n", headers=[("Location", "/"), ("Set-Cookie", cookie), ("Cache-Control", "no-store")])


def logout(server: NodeServer) -> Response:
    return Response(303, b"logged out\n", headers=[("Location", "/login"), ("Set-Cookie", clear_cookie(_secure(server))),
                                                   ("Cache-Control", "no-store")])
