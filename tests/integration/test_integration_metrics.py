"""``/metrics`` on a real node, scraped over real HTTP on the node's WebSocket port and parsed
with Prometheus' own parser (``prometheus_client.parser``) during a workload: tasks, an actor,
a user ``Counter`` incremented in tasks, a ``Gauge`` set in an actor, a ``Histogram`` observed
in the driver. Also: no token is a 401, a malformed request a 400 and the node goes on, and a
driver joining over ``ws://`` on the same port still works."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
from typing import Any
from urllib.parse import urlsplit

import pytest
from prometheus_client.parser import text_string_to_metric_families
from waiting import wait_for

from edgeray import _files
from edgeray.util.metrics import Counter, Gauge, Histogram

pytestmark = pytest.mark.timeout(180)


def _http(address: str, path: str, token: str | None, method: str = "GET") -> tuple[int, str, bytes]:
    u = urlsplit(address)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.request(method, path, headers={"Authorization": f"Bearer {token}"} if token else {})
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type") or "", resp.read()
    finally:
        conn.close()


def scrape(address: str, token: str) -> dict[str, Any]:
    """``{sample name: {frozenset(labels): value}}`` of one scrape."""
    status, ctype, body = _http(address, "/metrics", token)
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
    out: dict[str, Any] = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out.setdefault(s.name, {})[frozenset(s.labels.items())] = s.value
    return out


def value(samples: dict[str, Any], name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for k, v in samples.get(name, {}).items() if want <= k)


def test_metrics_move_with_the_workload(ray_init: Any) -> None:
    ray = ray_init(num_cpus=2)
    address, token = ray.nodes()[0]["Address"], _files.load_or_create_token()

    @ray.remote
    def work(x: int) -> int:
        Counter("work_done", description="items done", tag_keys=("kind",)).inc(tags={"kind": "square"})
        return x * x

    @ray.remote
    class Thermometer:
        def __init__(self) -> None:
            self.gauge = Gauge("temperature", description="degrees", tag_keys=("room",))

        def set(self, t: float) -> None:
            self.gauge.set(t, tags={"room": "lab"})

    before = scrape(address, token)
    assert value(before, "ray_cluster_active_nodes") == 1
    assert value(before, "ray_resources", Name="CPU", State="AVAILABLE") + value(before, "ray_resources", Name="CPU", State="USED") == 2
    finished_before = value(before, "edgeray_tasks_finished_total")

    assert ray.get([work.remote(i) for i in range(5)]) == [i * i for i in range(5)]
    t = Thermometer.remote()
    ray.get(t.set.remote(21.5))
    latency = Histogram("driver_latency", description="ms", boundaries=[1.0, 10.0], tag_keys=("op",))
    for v in (0.5, 5.0, 50.0):
        latency.observe(v, tags={"op": "get"})

    def moved() -> dict[str, Any] | None:
        s = scrape(address, token)
        ready = (value(s, "ray_work_done_total", kind="square") == 5 and value(s, "ray_temperature", room="lab") == 21.5
                 and value(s, "ray_driver_latency_count", op="get") == 3)
        return s if ready else None

    after = wait_for(moved, timeout=60, what="the user metrics on /metrics")
    assert value(after, "edgeray_tasks_finished_total") >= finished_before + 5
    assert value(after, "ray_tasks", Name="work", State="FINISHED") == 5
    assert value(after, "ray_actors", Name="Thermometer", State="ALIVE") == 1
    assert value(after, "ray_driver_latency_bucket", op="get", le="1.0") == 1
    assert value(after, "ray_driver_latency_bucket", op="get", le="10.0") == 2
    assert value(after, "ray_driver_latency_bucket", op="get", le="+Inf") == 3
    assert value(after, "ray_driver_latency_sum", op="get") == 55.5
    assert value(after, "ray_object_store_available_memory") > 0

    ref = ray.put(b"x" * (1 << 20))  # into the shared-memory store
    assert wait_for(lambda: value(scrape(address, token), "ray_object_store_used_memory") >= 1 << 20,
                    timeout=60, what="the object store's bytes in use")
    del ref

    # more work moves the counters on (the node adds up reports from every process)
    assert ray.get([work.remote(i) for i in range(3)]) == [0, 1, 4]
    wait_for(lambda: value(scrape(address, token), "ray_work_done_total", kind="square") == 8,
             timeout=60, what="the counter to move on")


def test_http_auth_malformed_requests_and_websockets_on_one_port(ray_init: Any, edgeray_home: str) -> None:
    ray = ray_init(num_cpus=1)
    address, token = ray.nodes()[0]["Address"], _files.load_or_create_token()

    assert _http(address, "/metrics", None)[0] == 401
    assert _http(address, "/metrics", "not-the-token")[0] == 401
    status, ctype, body = _http(address, "/api/version", None)  # Ray's health check: no token
    assert status == 200 and "ray_version" in json.loads(body)
    assert _http(address, "/nothing-here", token)[0] == 404

    u = urlsplit(address)
    with socket.create_connection((u.hostname, u.port), timeout=30) as s:
        s.sendall(b"\x00\x01garbage that is not HTTP\r\n\r\n")
        answer = s.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400 ")

    @ray.remote
    def alive() -> str:
        return "still running"

    assert ray.get(alive.remote()) == "still running"
    # a driver joining over ws:// on the same port
    code = (f"import edgeray as ray; ray.init(address={address!r})\n"
            "@ray.remote\ndef f(): return 41 + 1\nprint(ray.get(f.remote()))\nray.shutdown()\n")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "EDGERAY_HOME": edgeray_home},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "42"
    assert _http(address, "/metrics", token)[0] == 200


def test_a_flood_of_user_series_is_bounded(ray_init: Any) -> None:
    from edgeray.client import current_client
    from edgeray.node._user_metrics import MAX_SERIES

    ray = ray_init(num_cpus=1)
    address, token = ray.nodes()[0]["Address"], _files.load_or_create_token()
    client = current_client()
    per_call, calls = 4096, MAX_SERIES // 4096 + 2
    for i in range(calls):
        series = [{"tags": {"id": f"{i}-{j}"}, "value": 1.0} for j in range(per_call)]
        assert client.call("report_metrics", {"metrics": [{"name": "flood", "kind": "counter", "series": series}]}) \
            == {"dropped": max(0, (i + 1) * per_call - MAX_SERIES) - max(0, i * per_call - MAX_SERIES)}
    with pytest.raises(Exception, match="more than 4096"):  # one call's size is bounded too
        client.call("report_metrics", {"metrics": [{"name": "flood", "kind": "counter",
                                                    "series": [{"tags": {}, "value": 1.0}] * 4097}]})
    s = scrape(address, token)
    assert len(s["ray_flood_total"]) == MAX_SERIES
    assert value(s, "edgeray_user_metrics_dropped_total") == calls * per_call - MAX_SERIES

    @ray.remote
    def alive() -> int:
        return 1

    assert ray.get(alive.remote()) == 1


def test_each_node_serves_its_own_and_the_head_counts_nodes(edgeray_home: str) -> None:
    import edgeray as ray
    from edgeray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        head = c.list_all_nodes()[0]
        other = c.add_node(num_cpus=1, resources={"other": 1})
        ray.init(address=c.address)
        c.wait_for_nodes()
        token = _files.load_or_create_token()

        @ray.remote(resources={"other": 1})
        def there() -> None:
            Counter("ran_there").inc()

        ray.get([there.remote() for _ in range(2)])
        wait_for(lambda: value(scrape(other.address, token), "ray_ran_there_total") == 2,
                 timeout=60, what="the task's counter on the node it ran on")
        on_head = scrape(head.address, token)
        assert value(on_head, "ray_cluster_active_nodes") == 2
        assert "ray_ran_there_total" not in on_head
        assert "ray_cluster_active_nodes" not in scrape(other.address, token)
    finally:
        if ray.is_initialized():
            ray.shutdown()
        c.shutdown()


def test_a_drivers_last_metrics_are_reported_at_shutdown(edgeray_home: str) -> None:
    import edgeray as ray
    from edgeray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        ray.init(address=c.address)
        Counter("last_words").inc(3)
        ray.shutdown()  # at once: before the reporter's next round
        samples = scrape(c.address, _files.load_or_create_token())
        wait_for(lambda: value(scrape(c.address, _files.load_or_create_token()), "ray_last_words_total") == 3,
                 timeout=60, what="the driver's counter after its shutdown")
        assert value(samples, "ray_cluster_active_nodes") == 1
    finally:
        if ray.is_initialized():
            ray.shutdown()
        c.shutdown()
