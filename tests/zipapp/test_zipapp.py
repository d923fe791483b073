"""The zipapp: build edgeray.pyz, then run a node and a driver with a bare interpreter.

"Bare" means a fresh venv (no pip, nothing installed) run with ``-I -S``: nothing but the
standard library and the pyz is importable, in the node, in its workers and in the driver.
"""

from __future__ import annotations

import ast
import configparser
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import tomllib
import zipfile
from pathlib import Path

import pytest
from waiting import WaitTimeout, wait_for

pytestmark = pytest.mark.zipapp

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]
SHM = Path("/dev/shm")


# --------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def pyz(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pyz") / "edgeray.pyz"
    proc = subprocess.run(
        [sys.executable, str(REPO / "tools" / "build_zipapp.py"), "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert out.is_file()
    return out


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory) -> str:
    """A Python of the same version with nothing installed (a venv without pip)."""
    base = getattr(sys, "_base_executable", None) or sys.executable
    venv = tmp_path_factory.mktemp("barevenv") / "venv"
    proc = subprocess.run(
        [base, "-m", "venv", "--without-pip", str(venv)], capture_output=True, text=True
    )
    python = venv / "bin" / "python"
    if proc.returncode != 0 or not python.exists():
        return sys.executable  # -I -S still hides every site-packages directory
    return str(python)


def bare_env(home: Path | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "EDGERAY_")) and k not in ("VIRTUAL_ENV", "PYTEST_ADDOPTS")
    }
    if home is not None:
        env["EDGERAY_HOME"] = str(home)
    return env


def run(cmd, *, env, timeout, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, env=env, timeout=timeout, cwd=cwd
    )


def processes_with_home(home: Path) -> list[int]:
    """Pids of live processes whose environment has EDGERAY_HOME=<home>."""
    needle = b"EDGERAY_HOME=" + os.fsencode(str(home)) + b"\0"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes() + b"\0"
            status = (entry / "status").read_text()
        except OSError:
            continue
        if needle in environ and not re.search(r"^State:\s+Z", status, re.M):
            found.append(int(entry.name))
    return found


def segments_of(pids) -> list[str]:
    if not SHM.is_dir():
        return []
    prefixes = tuple(f"edgeray_{pid}_" for pid in pids)
    return sorted(p.name for p in SHM.iterdir() if prefixes and p.name.startswith(prefixes))


# --------------------------------------------------------------------------------------------
# The archive itself


def test_archive_contents(pyz):
    with zipfile.ZipFile(pyz) as zf:
        names = zf.namelist()
        assert "__main__.py" in names
        assert "edgeray/__init__.py" in names
        assert "edgeray_builtins/__init__.py" in names
        native = [n for n in names if n.endswith((".so", ".pyd", ".dylib", ".dll"))]
        assert native == []
        assert not [n for n in names if "__pycache__" in n]
        assert not [n for n in names if n.startswith(("numpy/", "posix_ipc"))]
        assert not [n for n in names if n.endswith("/RECORD")]

        dist_info = f"edgeray-{PYPROJECT['version']}.dist-info"
        metadata = zf.read(f"{dist_info}/METADATA").decode()
        assert f"Name: {PYPROJECT['name']}" in metadata
        assert f"Version: {PYPROJECT['version']}" in metadata
        eps = configparser.ConfigParser(delimiters=("=",))
        eps.optionxform = str  # keep names as written
        eps.read_string(zf.read(f"{dist_info}/entry_points.txt").decode())
        assert dict(eps["edgeray"]) == PYPROJECT["entry-points"]["edgeray"]
        for target in PYPROJECT["entry-points"]["edgeray"].values():
            module = target.split(":")[0].replace(".", "/")
            assert f"{module}.py" in names or f"{module}/__init__.py" in names, target

        # Every bundled dependency keeps its metadata, for importlib.metadata.
        for dist in (
            "trio",
            "trio_websocket",
            "wsproto",
            "h11",
            "outcome",
            "sniffio",
            "sortedcontainers",
            "attrs",
            "idna",
            "cbor2",
            "cloudpickle",
            "pluggy",
        ):
            assert any(re.fullmatch(rf"{dist}-[^/]+\.dist-info/METADATA", n) for n in names), dist


def test_archive_holds_the_dashboard_and_stays_under_3_mb(pyz):
    with zipfile.ZipFile(pyz) as zf:
        names = set(zf.namelist())
    for f in ("index.html", "login.html", "app.js", "style.css"):
        assert f"edgeray/node/static/{f}" in names, f
    assert pyz.stat().st_size < 3_000_000, pyz.stat().st_size


def _dashboard_works(address: str, token: str) -> None:
    """The node started from the pyz serves the dashboard: its login, its page (files read from
    inside the zip) and one JSON endpoint, with the login cookie."""
    import http.client
    from urllib.parse import urlencode, urlsplit

    u = urlsplit(address)

    def fetch(method, path, headers=None, body=None):
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    status, _, body = fetch("GET", "/login")
    assert status == 200 and b'name="token"' in body
    status, headers, _ = fetch("POST", "/login", {"Content-Type": "application/x-www-form-urlencoded"},
                               urlencode({"token": token}).encode())
    assert status == 303, headers
    cookie = {"Cookie": headers["set-cookie"].split(";", 1)[0]}
    status, _, body = fetch("GET", "/", cookie)
    assert status == 200 and b"/static/app.js" in body
    status, _, body = fetch("GET", "/static/app.js", cookie)
    assert status == 200 and b"REFRESH_MS" in body
    status, _, body = fetch("GET", "/api/cluster", cookie)
    assert status == 200 and json.loads(body)["nodes"][0]["state"] == "ALIVE"


def test_bare_interpreter_imports_from_pyz(pyz, bare_python):
    # Nothing is importable without the pyz ...
    proc = run([bare_python, "-I", "-S", "-c", "import trio"], env=bare_env(), timeout=60)
    assert proc.returncode != 0
    # ... and everything is with it; entry points and metadata work inside the zip.
    script = textwrap.dedent(
        """
        import sys
        sys.path.insert(0, sys.argv[1])
        import importlib.metadata as md
        import trio, trio_websocket, wsproto, cbor2, cloudpickle, pluggy, attr, sortedcontainers
        import edgeray
        assert cbor2.loads(cbor2.dumps({"a": [1, b"x"]})) == {"a": [1, b"x"]}
        print("EPS", sorted(ep.name for ep in md.entry_points(group="edgeray")))
        print("VERSION", md.version("edgeray"))
        print("FROM", edgeray.__file__)
        print("NATIVE", sorted(m for m in ("posix_ipc", "numpy", "_cbor2") if m in sys.modules))
        """
    )
    proc = run([bare_python, "-I", "-S", "-c", script, pyz], env=bare_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert f"EPS {sorted(PYPROJECT['entry-points']['edgeray'])}" in out
    assert f"VERSION {PYPROJECT['version']}" in out
    assert f"FROM {pyz}/edgeray/__init__.py" in out
    assert "NATIVE []" in out


def test_version(pyz, bare_python, tmp_path):
    proc = run([bare_python, "-I", "-S", pyz, "--version"], env=bare_env(tmp_path), timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"\d+\.\d+", proc.stdout + proc.stderr), proc.stdout + proc.stderr


# --------------------------------------------------------------------------------------------
# A node, a driver and a stop, all from the pyz

DRIVER = """
import sys
PYZ = sys.argv[1]
sys.path.insert(0, PYZ)
import edgeray as ray

ray.init(address="auto")

@ray.remote
def add(a, b):
    return a + b

@ray.remote
def where():
    import sys, edgeray
    return edgeray.__file__, sorted(m for m in ("posix_ipc", "numpy") if m in sys.modules)

@ray.remote
def length(data):
    return len(data)

@ray.remote
class Counter:
    def __init__(self, start):
        self.n = start

    def incr(self, k=1):
        self.n += k
        return self.n

print("TASK", ray.get(add.remote(2, 3)), flush=True)
counter = Counter.remote(10)
ray.get(counter.incr.remote())
print("ACTOR", ray.get(counter.incr.remote(5)), flush=True)
payload = bytes(range(256)) * 4096  # 1 MiB
ref = ray.put(payload)
got = ray.get(ref)
print("PUT", len(got), bytes(got) == payload, flush=True)
print("REFARG", ray.get(length.remote(ref)), flush=True)
origin, native = ray.get(where.remote())
print("WORKER_FROM_PYZ", origin.startswith(PYZ), origin, flush=True)
print("WORKER_NATIVE", native, flush=True)
ray.shutdown()
print("DONE", flush=True)
"""


def _debug(home: Path) -> str:
    logs = []
    for log in sorted(home.rglob("*.log"))[:10] + sorted(home.rglob("*.err"))[:10]:
        try:
            logs.append(f"--- {log}\n{log.read_text(errors='replace')[-3000:]}")
        except OSError:
            pass
    return "\n".join(logs)


@pytest.fixture
def short_home():
    """A short EDGERAY_HOME: unix socket paths under it must stay below 108 bytes."""
    home = Path(tempfile.mkdtemp(prefix="erz", dir="/tmp"))
    yield home
    shutil.rmtree(home, ignore_errors=True)


def test_node_driver_stop(pyz, bare_python, tmp_path, short_home):
    home = short_home
    env = bare_env(home)
    config = REPO / "configs" / "node.toml"
    bare = [bare_python, "-I", "-S"]
    seen_pids: set[int] = set()
    node_pid = None
    try:
        proc = run(
            [*bare, pyz, "start", "--config", config, "--num-cpus", "2"],
            env=env,
            timeout=120,
            cwd=tmp_path,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr + _debug(home)
        address_file = home / "address.json"
        assert address_file.is_file(), "no address.json once start returned\n" + _debug(home)
        address = json.loads(address_file.read_text())
        node_pid = int(address["pid"])
        seen_pids.update(processes_with_home(home))
        assert node_pid in seen_pids, (node_pid, seen_pids)

        driver = tmp_path / "driver.py"
        driver.write_text(DRIVER)
        proc = run([*bare, driver, pyz], env=env, timeout=180, cwd=tmp_path)
        seen_pids.update(processes_with_home(home))
        out = proc.stdout
        assert proc.returncode == 0, out + proc.stderr + _debug(home)
        assert "TASK 5" in out
        assert "ACTOR 16" in out
        assert f"PUT {1 << 20} True" in out
        assert f"REFARG {1 << 20}" in out
        assert "WORKER_FROM_PYZ True" in out, out
        assert "WORKER_NATIVE []" in out
        assert "DONE" in out
        _dashboard_works(address["address"], (home / "token").read_text().strip())
    finally:
        seen_pids.update(processes_with_home(home))
        try:
            stop = run([*bare, pyz, "stop"], env=env, timeout=120, cwd=tmp_path)
        except subprocess.TimeoutExpired as exc:
            stop = subprocess.CompletedProcess(exc.cmd, -1, str(exc.stdout), str(exc.stderr))
        try:
            wait_for(lambda: not processes_with_home(home), what="the node and workers to exit")
        except WaitTimeout:
            pass  # (killed below)
        left = processes_with_home(home)
        for pid in left:  # ours: they carry this test's EDGERAY_HOME
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert left == [], f"processes left after stop: {left}"
    if node_pid is not None:
        seen_pids.add(node_pid)
    assert segments_of(seen_pids) == [], "shared-memory segments left after stop"


# --------------------------------------------------------------------------------------------
# An interpreter older than 3.11 (none is installed here: the guard is tested by its logic)


def test_pyz_entry_point_parses_on_old_pythons():
    """The guard must run before anything 3.11-only: ``__main__.py`` parses as Python 3.4."""
    ast.parse((REPO / "zipapp" / "__main__.py").read_text(), feature_version=(3, 4))


@pytest.mark.parametrize("version", [(3, 10, 14, "final", 0), (3, 8, 0, "final", 0), (2, 7, 18, "final", 0)])
def test_pyz_on_a_python_older_than_3_11_says_it_needs_3_11(pyz, bare_python, tmp_path, version):
    """The real pyz, run by an interpreter whose ``sys.version_info`` says it is older."""
    code = (
        f"import runpy, sys; sys.version_info = {version!r}; sys.argv = [{str(pyz)!r}, '--version']; "
        f"runpy.run_path({str(pyz)!r}, run_name='__main__')"
    )
    proc = run([bare_python, "-I", "-S", "-c", code], env=bare_env(tmp_path), timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == "", proc.stderr
    assert f"edgeray needs Python 3.11 or newer; this is Python {version[0]}.{version[1]}" in proc.stderr
