"""The dashboard in a real browser: headless Chromium driven by selenium against a real node.

A wrong token is refused on the login page, the right one logs in (and the cookie is out of the
page script's reach: HttpOnly); then a workload (tasks, a failing task, a named actor whose name
is an HTML injection attempt, a placement group, an object in the store, a worker printing) is
watched through every page, which must show it: the actor's name as text, task states and
counts, the group's state and where its bundle is, the object, a log line (and one printed
later, followed live). Screenshots go to ``tests/artifacts/dashboard/`` (git-ignored).

Needs Debian's ``chromium`` and ``chromium-driver`` (``tools/test.sh`` installs them where it
can) and ``selenium`` (the ``test`` extra); skips, saying which is missing, without them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from waiting import wait_for

from edgeray import _files

pytestmark = pytest.mark.timeout(300)

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "dashboard"
XSS_NAME = "counter<img src=x onerror=\"document.title='pwned'\">"


def _browser_paths() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver") else None)
    if chromium is None or driver is None:
        pytest.skip("no headless browser: Debian's chromium and chromium-driver are not installed "
                    "(tools/test.sh installs them with apt-get where it can)")
    return chromium, driver


@pytest.fixture
def browser() -> Iterator[Any]:
    chromium, driver_path = _browser_paths()
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the test extra)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1000", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    env = {k: v for k, v in os.environ.items() if k != "EDGERAY_HOME"}  # (not a process of the cluster's)
    driver = webdriver.Chrome(service=Service(driver_path, env=env), options=options)
    driver.set_page_load_timeout(60)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


def _text(driver: Any, css: str) -> str:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    try:
        return str(driver.find_element("css selector", css).text)
    except (NoSuchElementException, StaleElementReferenceException):
        return ""


def open_view(driver: Any, base: str, view: str, css: str, needle: str) -> str:
    """Show ``view`` and wait until ``css``'s text holds ``needle``; a screenshot of it."""
    driver.get(f"{base}/#{view}")
    text = wait_for(lambda: (t := _text(driver, css)) and needle in t and t, what=f"{needle!r} in {view}'s {css}")
    driver.save_screenshot(str(ARTIFACTS / f"{view}.png"))
    return text


def _workload(ray: Any) -> dict[str, Any]:
    from edgeray.util.placement_group import placement_group

    @ray.remote
    def square(x: int) -> int:
        return x * x

    @ray.remote(max_retries=0)
    def explode() -> None:
        raise ValueError("this task fails on purpose")

    @ray.remote
    class Counter:
        def __init__(self) -> None:
            self.n = 0

        def say(self, line: str) -> int:
            print(line, flush=True)
            self.n += 1
            return os.getpid()

    assert ray.get([square.remote(i) for i in range(5)]) == [0, 1, 4, 9, 16]
    with pytest.raises(ValueError):
        ray.get(explode.remote())
    actor = Counter.options(name=XSS_NAME).remote()
    pid = ray.get(actor.say.remote("DASHBOARD-LOG-LINE-ONE"))
    pg = placement_group([{"CPU": 1}], strategy="PACK", name="dash-group")
    ray.get(pg.ready())
    blob = ray.put(b"x" * (2 << 20))
    return {"actor": actor, "pid": pid, "pg": pg, "blob": blob}


def test_the_dashboard_in_a_browser(ray_init: Any, browser: Any, edgeray_home: str) -> None:
    ray = ray_init(num_cpus=3)
    address, token = ray.nodes()[0]["Address"], _files.load_or_create_token()
    base = "http://" + address.split("://", 1)[1]
    work = _workload(ray)

    # login: a wrong token is refused, then the right one
    browser.get(base + "/")
    wait_for(lambda: browser.current_url.endswith("/login"), what="the redirect to /login")
    browser.find_element("id", "token").send_keys(token + "-wrong")
    browser.find_element("id", "login-button").click()
    wait_for(lambda: "Wrong token" in _text(browser, "#login-message"), what="the wrong-token message")
    browser.save_screenshot(str(ARTIFACTS / "login-wrong-token.png"))
    browser.find_element("id", "token").send_keys(token)
    browser.find_element("id", "login-button").click()
    wait_for(lambda: urlsplit(browser.current_url).path == "/" and _text(browser, "#nodes"),
             what="the dashboard after logging in")
    assert browser.execute_script("return document.cookie") == ""  # HttpOnly: not the page's to read

    nodes = open_view(browser, base, "cluster", "#nodes", "ALIVE")
    assert ray.nodes()[0]["NodeID"][:12] in nodes and "CPU" in nodes
    assert "/" in _text(browser, "#store-use") and "CPUs" in _text(browser, "#host")

    open_view(browser, base, "jobs", "#jobs", "RUNNING")

    actors = open_view(browser, base, "actors", "#actors", XSS_NAME)  # shown as text, never run
    assert "ALIVE" in actors and str(work["pid"]) in actors
    assert browser.title != "pwned" and not browser.find_elements("css selector", "#actors img")

    open_view(browser, base, "tasks", "#task-counts", "FAILED")
    counts = _text(browser, "#task-counts")
    assert "FINISHED" in counts
    rows = _text(browser, "#tasks")
    assert "square" in rows and "explode" in rows
    browser.find_element("id", "filter-state").send_keys("FAILED")
    wait_for(lambda: "square" not in (t := _text(browser, "#tasks")) and "explode" in t, what="the state filter")
    browser.save_screenshot(str(ARTIFACTS / "tasks-failed.png"))

    groups = open_view(browser, base, "placement_groups", "#placement-groups", "dash-group")
    assert "CREATED" in groups and ray.nodes()[0]["NodeID"][:12] in groups

    objects = open_view(browser, base, "objects", "#objects", work["blob"].hex())
    assert "2.0 MiB" in objects

    _follow_a_worker_log(ray, browser, base, work, edgeray_home)
    ray.kill(work["actor"])


def _follow_a_worker_log(ray: Any, browser: Any, base: str, work: dict[str, Any], home: str) -> None:
    from selenium.webdriver.support.ui import Select

    logs = next(Path(home, "nodes").iterdir()) / "logs"

    def the_file() -> str | None:
        for p in sorted(logs.iterdir()):
            if "DASHBOARD-LOG-LINE-ONE" in p.read_text(errors="replace"):
                return p.name
        return None

    name = wait_for(the_file, what="the actor's log file")
    browser.get(base + "/#logs")
    wait_for(lambda: browser.find_elements("css selector", f"#log-file option[value='{name}']"), what="the log list")
    Select(browser.find_element("id", "log-file")).select_by_value(name)
    wait_for(lambda: "DASHBOARD-LOG-LINE-ONE" in _text(browser, "#log-text"), what="the log line")
    ray.get(work["actor"].say.remote("DASHBOARD-LOG-LINE-TWO <script>document.title='pwned'</script>"))
    wait_for(lambda: "DASHBOARD-LOG-LINE-TWO <script>" in _text(browser, "#log-text"), what="the followed line")
    assert browser.title != "pwned"
    browser.save_screenshot(str(ARTIFACTS / "logs.png"))
