"""The dashboard over real HTTP on a real node's port: a visitor without a login is sent to
``/login`` (pages) or refused (``/api/...``, 401); a wrong token is told so; the right one sets
an HttpOnly, SameSite=Strict cookie that then opens the pages and the JSON; a forged or altered
cookie is refused; logout clears it; the JSON carries the same rows as ``edgeray.util.state``;
a log is read by name only (no path escapes the logs directory)."""

from __future__ import annotations

import http.client
import json
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from waiting import wait_for

from edgeray import _files
from edgeray.transport._session import COOKIE_NAME, new_session
from edgeray.util.state import list_actors

pytestmark = pytest.mark.timeout(180)


def fetch(address: str, method: str, path: str, headers: dict[str, str] | None = None,
          body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    u = urlsplit(address)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def login(address: str, token: str) -> tuple[int, dict[str, str], bytes]:
    return fetch(address, "POST", "/login", {"Content-Type": "application/x-www-form-urlencoded"},
                 urlencode({"token": token}).encode())


def cookie_of(headers: dict[str, str]) -> str:
    return headers["set-cookie"].split(";", 1)[0]


@pytest.fixture
def node(ray_init: Any) -> tuple[Any, str, str]:
    ray = ray_init(num_cpus=2)
    return ray, ray.nodes()[0]["Address"], _files.load_or_create_token()


def test_no_login_redirects_pages_and_refuses_the_api(node: tuple[Any, str, str]) -> None:
    _ray, address, _token = node
    status, headers, _ = fetch(address, "GET", "/")
    assert status == 303 and headers["location"] == "/login"
    for path in ("/api/cluster", "/api/actors", "/api/tasks", "/api/logs", "/api/log?name=x"):
        assert fetch(address, "GET", path)[0] == 401, path
    status, headers, body = fetch(address, "GET", "/login")  # the form itself needs no login
    assert status == 200 and b'name="token"' in body and headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in headers["content-security-policy"]


def test_login_sets_an_httponly_strict_cookie_that_opens_the_pages(node: tuple[Any, str, str]) -> None:
    _ray, address, token = node
    status, headers, _ = login(address, token)
    assert status == 303 and headers["location"] == "/"
    flags = [f.strip() for f in headers["set-cookie"].split(";")]
    assert "HttpOnly" in flags and "SameSite=Strict" in flags and "Path=/" in flags
    cookie = {"Cookie": cookie_of(headers)}
    assert token not in headers["set-cookie"]  # the token itself never goes into the cookie
    status, _, body = fetch(address, "GET", "/", cookie)
    assert status == 200 and b"/static/app.js" in body
    status, headers2, body = fetch(address, "GET", "/api/cluster", cookie)
    assert status == 200 and headers2["content-type"] == "application/json"
    assert json.loads(body)["nodes"][0]["state"] == "ALIVE"
    # the bearer header works for the JSON too (scripts, curl)
    assert fetch(address, "GET", "/api/jobs", {"Authorization": f"Bearer {token}"})[0] == 200
    # logout clears the cookie
    status, headers, _ = fetch(address, "POST", "/logout", cookie)
    assert status == 303 and headers["location"] == "/login"
    assert headers["set-cookie"].startswith(f"{COOKIE_NAME}=;") and "Max-Age=0" in headers["set-cookie"]


def test_a_wrong_token_says_so(node: tuple[Any, str, str]) -> None:
    _ray, address, token = node
    status, headers, body = login(address, token + "x")
    assert status == 401 and "set-cookie" not in headers
    assert b"Wrong token" in body
    status, _, body = login(address, "")
    assert status == 401 and b"Enter the cluster token" in body
    # not a form: a clear 400
    status, _, body = fetch(address, "POST", "/login", {"Content-Type": "application/json"}, b'{"token": "x"}')
    assert status == 400 and b"x-www-form-urlencoded" in body


def test_forged_altered_expired_or_foreign_cookies_are_refused(node: tuple[Any, str, str]) -> None:
    _ray, address, token = node
    good = new_session(token, time.time())
    expiry, nonce, mac = good.split(".")
    forged = [
        "anything", f"{expiry}.{nonce}.{'0' * 64}", f"{int(expiry) + 1000}.{nonce}.{mac}",
        new_session("another-clusters-token", time.time()), new_session(token, time.time() - 10, ttl_s=1), token,
    ]
    for value in forged:
        assert fetch(address, "GET", "/api/actors", {"Cookie": f"{COOKIE_NAME}={value}"})[0] == 401, value
        assert fetch(address, "GET", "/", {"Cookie": f"{COOKIE_NAME}={value}"})[0] == 303, value
    assert fetch(address, "GET", "/api/actors", {"Cookie": f"{COOKIE_NAME}={good}"})[0] == 200


def test_the_json_has_the_state_apis_rows(node: tuple[Any, str, str]) -> None:
    ray, address, token = node
    auth = {"Authorization": f"Bearer {token}"}

    @ray.remote
    class Named:
        def pid(self) -> int:
            import os
            return os.getpid()

    a = Named.options(name="<img src=x onerror=alert(1)>").remote()
    pid = ray.get(a.pid.remote())
    rows = json.loads(fetch(address, "GET", "/api/actors", auth)[2])
    state_rows = [r.asdict() for r in list_actors(detail=True)]
    mine = next(r for r in rows if r["pid"] == pid)
    theirs = next(r for r in state_rows if r["pid"] == pid)
    assert mine["name"] == "<img src=x onerror=alert(1)>" and mine["state"] == "ALIVE"
    for column, value in theirs.items():
        if column in mine:
            assert mine[column] == value, column

    @ray.remote
    def square(x: int) -> int:
        return x * x

    assert ray.get([square.remote(i) for i in range(3)]) == [0, 1, 4]

    def finished() -> dict[str, Any] | None:
        t = json.loads(fetch(address, "GET", "/api/tasks?state=finished&name=squ", auth)[2])
        return t if t["matching"] >= 3 else None

    t = wait_for(finished)
    assert {r["name"] for r in t["rows"]} == {"square"} and t["counts"]["FINISHED"] >= 3
    assert json.loads(fetch(address, "GET", "/api/tasks?state=FAILED&name=square", auth)[2])["matching"] == 0


def test_logs_are_read_by_name_inside_the_logs_dir_only(node: tuple[Any, str, str]) -> None:
    _ray, address, token = node
    auth = {"Authorization": f"Bearer {token}"}
    files = json.loads(fetch(address, "GET", "/api/logs", auth)[2])["files"]
    assert files, "the node's logs/ directory lists no file"
    name = files[0]["name"]
    got = json.loads(fetch(address, "GET", f"/api/log?name={name}&tail=5", auth)[2])
    assert got["name"] == name and got["offset"] == got["size"] and got["text"].count("\n") <= 5
    for bad in ("../address.json", "..", "/etc/passwd", "nope.log", ""):
        assert fetch(address, "GET", "/api/log?" + urlencode({"name": bad}), auth)[0] == 404, bad
    assert fetch(address, "GET", f"/api/log?name={name}&tail=-1", auth)[0] == 400
    assert fetch(address, "GET", f"/api/log?name={name}&offset=x", auth)[0] == 400


def test_a_cluster_page_shows_nodes_alive_and_dead_and_where_bundles_are(edgeray_home: str) -> None:
    import edgeray as ray
    from edgeray.cluster_utils import Cluster
    from edgeray.util.placement_group import placement_group
    from edgeray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        member = c.add_node(num_cpus=1)
        ray.init(address=c.address)
        head_address = next(n["Address"] for n in ray.nodes() if n["IsHead"])
        auth = {"Authorization": f"Bearer {_files.load_or_create_token()}"}
        pg = placement_group([{"CPU": 1}, {"CPU": 1}], strategy="STRICT_SPREAD", name="spread")
        ray.get(pg.ready(), timeout=60)
        groups = json.loads(fetch(head_address, "GET", "/api/placement_groups", auth)[2])
        spread = next(g for g in groups if g["name"] == "spread")
        assert spread["state"] == "CREATED"
        assert {b["node_id"] for b in spread["bundles"]} == {n["NodeID"] for n in ray.nodes()}

        @ray.remote(num_cpus=0)
        def far_away() -> str:
            return str(ray.get_runtime_context().get_node_id())

        there = NodeAffinitySchedulingStrategy(member.node_id, soft=False)
        assert ray.get(far_away.options(scheduling_strategy=there).remote()) == member.node_id

        def seen() -> list[dict[str, Any]]:  # the member's task, on the head's page
            rows = json.loads(fetch(head_address, "GET", "/api/tasks?name=far_away&state=FINISHED", auth)[2])["rows"]
            return [r for r in rows if r["node_id"] == member.node_id]

        wait_for(seen, what="the member node's task on the head's tasks page")
        member.kill()

        def dead() -> dict[str, Any] | None:
            got = json.loads(fetch(head_address, "GET", "/api/cluster", auth)[2])
            states = {n["node_id"]: n["state"] for n in got["nodes"]}
            return got if states.get(member.node_id) == "DEAD" else None

        got = wait_for(dead, what="the killed node shown dead")
        head = next(n for n in got["nodes"] if n["is_head_node"])
        assert head["state"] == "ALIVE" and head["this_node"] and head["resources_total"]["CPU"] == 1
        assert got["total"]["CPU"] == 1
    finally:
        if ray.is_initialized():
            ray.shutdown()
        c.shutdown()
