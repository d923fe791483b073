"""Layering: each package imports only what the rule in its ``__init__`` docstring allows.

The rule is stated where the code is (trio's and h11's way) and enforced here: every module of
each package is parsed with ``ast`` (no import, so a violation cannot hide behind a lazy import).

* edgeray-internal imports: every ``import``/``from ... import`` anywhere in the module, function
  bodies included, must name an allowed package;
* third-party imports: those executed at import time (module level) must be allowed; a
  function-local import is a deliberate lazy dependency (e.g. the client's Trio awaitables, which
  only import trio when the caller already runs it), and is not an import-time dependency;
* ``trio`` is never imported at module level where the rule says "never trio"/"no trio".

Also: ``edgeray.__all__`` is exactly Ray's public list, ``edgeray.exceptions`` has Ray's
hierarchy, and ``import edgeray`` does not import trio.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import edgeray
import edgeray.exceptions as rexc

ROOT = Path(edgeray.__file__).resolve().parent

PACKAGES = [
    "protocol",
    "object_store",
    "plugins",
    "transport",
    "gcs",
    "raylet",
    "client",
    "worker",
    "node",
    "dag",
    "api",
]
# (the last group: Ray's module names, façades over ``api`` that no layer may import)
INTERNAL_NAMES = set(PACKAGES) | {"config", "_config_values", "exceptions", "_files", "_launch", "_ratelimit", "cli",
                                  "actor", "util", "runtime_context", "runtime_env", "job_config", "cloudpickle",
                                  "experimental"}

FACADES = {"runtime_context", "runtime_env", "job_config", "cloudpickle", "experimental"}

# Top-level helper modules a layer may use beyond its docstring: ``_files`` holds the paths under
# EDGERAY_HOME, ``_launch`` how edgeray starts its own processes, ``_ratelimit`` bounded logging of
# what peers cause, ``_logfiles`` log files rotated by size (a worker's, the node's; all standard
# library only).
SHARED_HELPERS = {"node": {"_files", "_ratelimit"}, "transport": {"_ratelimit"}, "api": {"_files", "_launch"},
                  "raylet": {"_launch"}, "worker": {"_logfiles"}}

# What the docstring rules say, written out (checked against the docstrings below, so the two
# cannot drift apart silently).
EXPECTED_RULES: dict[str, tuple[set[str], set[str]]] = {
    # package: (edgeray packages allowed, third-party distributions allowed)
    "protocol": ({"exceptions"}, {"cbor2"}),
    "object_store": ({"exceptions"}, {"cloudpickle", "posix_ipc"}),
    "plugins": ({"config", "exceptions"}, {"pluggy"}),
    "transport": ({"protocol", "exceptions"}, {"trio", "trio_websocket", "wsproto", "h11"}),
    "gcs": ({"protocol", "plugins", "exceptions"}, set()),
    "raylet": ({"protocol", "object_store", "plugins", "config", "exceptions"}, {"trio"}),
    "client": ({"protocol", "transport", "object_store", "exceptions"}, set()),
    "worker": ({"client", "transport", "object_store", "protocol", "exceptions"}, set()),
    "node": (
        {
            "protocol",
            "transport",
            "object_store",
            "plugins",
            "gcs",
            "raylet",
            "config",
            "exceptions",
        },
        {"trio"},
    ),
    "dag": (set(), {"cloudpickle"}),
    "api": ({"client", "worker", "node", "protocol", "exceptions", "dag"}, set()),
}
NO_TRIO = {"protocol", "object_store", "plugins", "client", "worker", "dag"}

# the standard library plus modules every layer may use
STDLIB = set(sys.stdlib_module_names) | {"__future__"}


@dataclass(frozen=True)
class Import:
    module: str  # fully qualified, e.g. "edgeray.protocol._messages" or "trio"
    line: int
    toplevel: bool  # executed at import time (not inside a function body)


def _module_name(path: Path) -> list[str]:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return parts


def imports_of(path: Path, parts: list[str] | None = None) -> list[Import]:
    """The imports of the module at ``path`` (``parts``: its dotted name, if not under edgeray/)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    parts = parts if parts is not None else _module_name(path)
    package = parts if path.name == "__init__.py" else parts[:-1]
    func_lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            for sub in ast.walk(node):
                if isinstance(sub, ast.Import | ast.ImportFrom):
                    func_lines.add(id(sub))
    out: list[Import] = []
    for node in ast.walk(tree):
        top = id(node) not in func_lines
        if isinstance(node, ast.Import):
            out += [Import(a.name, node.lineno, top) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if node.module is None or mod == "edgeray":
                # ``from .. import exceptions`` / ``from edgeray import config``: the names are modules
                for a in node.names:
                    name = f"{mod}.{a.name}"
                    sub = a.name if a.name in INTERNAL_NAMES else None
                    out.append(Import(name if sub else mod, node.lineno, top))
            else:
                out.append(Import(mod, node.lineno, top))
    return out


def modules_of(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def rule_text(package: str) -> str:
    mod = __import__(f"edgeray.{package}", fromlist=["_"])
    doc = mod.__doc__ or ""
    m = re.search(r"Rule:(.*?)(?:\n\s*\n|$)", doc, re.S)
    assert m, f"edgeray/{package}/__init__.py states no 'Rule:' in its docstring"
    return " ".join(m.group(1).split())


def docstring_rule(package: str) -> tuple[set[str], set[str]]:
    """(edgeray packages, third-party names) the docstring's rule allows: the words of its first
    clause (up to the first ";", "never" or "(no")."""
    text = rule_text(package).replace("``", "").replace("trio-websocket", "trio_websocket")
    allowed = re.split(r";|\bnever\b|\(no\b", text, maxsplit=1)[0]
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", allowed.replace("edgeray.", " ")))
    internal = words & (INTERNAL_NAMES - {"cli", "actor", "util", "_files", "_launch", "_ratelimit", *FACADES})
    internal.discard(package)
    third = words & {
        "trio",
        "trio_websocket",
        "wsproto",
        "h11",
        "cbor2",
        "cloudpickle",
        "posix_ipc",
        "pluggy",
        "numpy",
    }
    return internal, third


@pytest.mark.parametrize("package", PACKAGES)
def test_rule_is_stated_in_the_package_docstring(package: str) -> None:
    internal, third = docstring_rule(package)
    exp_internal, exp_third = EXPECTED_RULES[package]
    assert internal == exp_internal, f"{package}: docstring rule {rule_text(package)!r}"
    assert third == exp_third, f"{package}: docstring rule {rule_text(package)!r}"
    if package in NO_TRIO:
        assert re.search(r"\b(never|no)\b[^.;]*\btrio\b", rule_text(package)), rule_text(package)


def violations(package: str) -> list[str]:
    internal, third = EXPECTED_RULES[package]
    internal = internal | SHARED_HELPERS.get(package, set())
    out = []
    for path in modules_of(package):
        rel = path.relative_to(ROOT.parent)
        for imp in imports_of(path):
            parts = imp.module.split(".")
            if parts[0] == "edgeray":
                if len(parts) == 1:
                    out.append(f"{rel}:{imp.line} imports the top-level package 'edgeray'")
                    continue
                target = parts[1]
                if target == package:
                    continue
                if target not in internal:
                    out.append(f"{rel}:{imp.line} imports edgeray.{target}")
            elif parts[0] in STDLIB:
                continue
            elif imp.toplevel and parts[0] not in third:
                out.append(f"{rel}:{imp.line} imports {parts[0]} at module level")
    return out


KNOWN_VIOLATIONS: dict[str, str] = {}


# --------------------------------------------------------------------------- one place per concept

# An object id's layout (task id + 4-byte index) is spelled out in ``protocol/_ids.py`` only, and
# resource units are converted by ``plugins`` (``to_units``/``from_units``) only.
_ID_LAYOUT = re.compile(r"to_bytes\(4, \"big\"\)|\+ b\"\\x00\\x00\\x00\\x00\"|_RET\b")
_UNIT_LITERAL = re.compile(r"\s/\s?10_?000\b|\*\s?10_?000\b")


def test_object_ids_are_built_in_protocol_ids_only() -> None:
    bad = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel == "protocol/_ids.py":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if _ID_LAYOUT.search(line):
                bad.append(f"{rel}:{n}: {line.strip()}")
    assert bad == []


def test_resource_units_are_converted_by_plugins_only() -> None:
    bad = []
    for package in ("node", "raylet"):
        for path in modules_of(package):
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if _UNIT_LITERAL.search(line.split("#")[0]):
                    bad.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert bad == []


@pytest.mark.parametrize(
    "package",
    [
        pytest.param(p, marks=pytest.mark.xfail(reason=KNOWN_VIOLATIONS[p], strict=True))
        if p in KNOWN_VIOLATIONS
        else p
        for p in PACKAGES
    ],
)
def test_package_imports_follow_its_rule(package: str) -> None:
    assert violations(package) == []


def test_no_trio_packages_never_import_trio_at_module_level() -> None:
    bad = []
    for package in NO_TRIO:
        for path in modules_of(package):
            for imp in imports_of(path):
                if imp.module.split(".")[0] in ("trio", "trio_websocket") and imp.toplevel:
                    bad.append(f"{path.relative_to(ROOT.parent)}:{imp.line}")
    assert bad == []


def test_protocol_and_object_store_never_import_trio_at_all() -> None:
    bad = []
    for package in ("protocol", "object_store", "plugins"):
        for path in modules_of(package):
            for imp in imports_of(path):
                if (
                    imp.module.split(".")[0] in ("trio", "trio_websocket", "socket", "asyncio")
                    and package == "protocol"
                ):
                    bad.append(f"{path.relative_to(ROOT.parent)}:{imp.line} {imp.module}")
                elif imp.module.split(".")[0] in ("trio", "trio_websocket"):
                    bad.append(f"{path.relative_to(ROOT.parent)}:{imp.line} {imp.module}")
    assert bad == []


@pytest.mark.parametrize("module", ["exceptions", "config", "_config_values", "_ratelimit"])
def test_leaf_modules(module: str) -> None:
    allowed = {"exceptions": set(), "config": {"exceptions", "_config_values"}, "_config_values": set(),
               "_ratelimit": set()}[module]
    bad = []
    for imp in imports_of(ROOT / f"{module}.py"):
        parts = imp.module.split(".")
        if parts[0] == "edgeray" and (len(parts) == 1 or parts[1] not in allowed | {module}):
            bad.append(f"{module}.py:{imp.line} imports {imp.module}")
        elif parts[0] != "edgeray" and parts[0] not in STDLIB and imp.toplevel:
            bad.append(f"{module}.py:{imp.line} imports {imp.module}")
    assert bad == []


# The raylet's parts: pure, with the standard library only (no trio, no other package) and each
# other: they act on the world through the effects they are given at construction.
RAYLET_PARTS = ["_worker_pool", "_task_table", "_scheduler"]


@pytest.mark.parametrize("module", RAYLET_PARTS)
def test_raylet_parts_are_pure(module: str) -> None:
    parts = {f"edgeray.raylet.{m}" for m in RAYLET_PARTS}
    bad = [f"raylet/{module}.py:{imp.line} imports {imp.module}" for imp in imports_of(ROOT / "raylet" / f"{module}.py")
           if imp.module.split(".")[0] not in STDLIB and imp.module not in parts]
    assert bad == []


@pytest.mark.parametrize("module", sorted(FACADES))
def test_ray_module_facades_are_built_on_the_api(module: str) -> None:
    """``edgeray.runtime_context`` and its kind: Ray's module names over ``api`` (and
    ``cloudpickle`` itself); no layer imports them."""
    path = ROOT / f"{module}.py"
    paths = [path] if path.exists() else sorted((ROOT / module).rglob("*.py"))
    bad = []
    for p in paths:
        for imp in imports_of(p):
            parts = imp.module.split(".")
            if parts[0] == "edgeray" and (len(parts) == 1 or parts[1] not in {"api", "client", "util", "exceptions", module}):
                bad.append(f"{p.name}:{imp.line} imports {imp.module}")
            elif parts[0] not in ("edgeray", "cloudpickle") and parts[0] not in STDLIB and imp.toplevel:
                bad.append(f"{p.name}:{imp.line} imports {imp.module}")
    assert paths and bad == []


def test_scanner_sees_relative_and_lazy_imports(tmp_path: Path) -> None:
    """The scanner itself: relative imports resolve, function-local imports are marked lazy."""
    path = tmp_path / "_mod.py"
    path.write_text(
        "import os\n"
        "from . import _sibling\n"
        "from .. import exceptions as exc\n"
        "from ..protocol import frame\n"
        "from edgeray import config\n"
        "import edgeray\n"
        "def f():\n"
        "    import trio\n"
        "    from ..node import open_node\n"
    )
    mods = {(i.module, i.toplevel) for i in imports_of(path, ["edgeray", "client", "_mod"])}
    assert mods == {
        ("os", True),
        ("edgeray.client", True),
        ("edgeray.exceptions", True),
        ("edgeray.protocol", True),
        ("edgeray.config", True),
        ("edgeray", True),
        ("trio", False),
        ("edgeray.node", False),
    }


# --------------------------------------------------------------------------- public API


PUBLIC = {
    "init",
    "shutdown",
    "is_initialized",
    "remote",
    "get",
    "put",
    "wait",
    "kill",
    "cancel",
    "get_actor",
    "method",
    "nodes",
    "cluster_resources",
    "available_resources",
    "get_runtime_context",
    "get_gpu_ids",
    "timeline",
    "ObjectRef",
    "ObjectRefGenerator",
    "DynamicObjectRefGenerator",
    "exceptions",
    "open_node",
}


def test_public_all_is_rays_list() -> None:
    assert sorted(edgeray.__all__) == sorted(PUBLIC)
    assert len(edgeray.__all__) == len(set(edgeray.__all__))


def test_public_names_resolve() -> None:
    for name in PUBLIC - {"open_node"}:
        assert getattr(edgeray, name) is not None, name
    assert callable(edgeray.remote) and callable(edgeray.init)
    assert edgeray.exceptions is rexc
    assert isinstance(edgeray.ObjectRef, type)


def test_open_node_resolves_lazily() -> None:
    from edgeray.node import open_node

    assert edgeray.open_node is open_node


def test_submodules_reachable_as_attributes() -> None:
    assert callable(edgeray.actor.exit_actor)


def test_exceptions_all_exist() -> None:
    for name in rexc.__all__:
        obj = getattr(rexc, name)
        assert isinstance(obj, type) and issubclass(obj, Exception), name


RAY_EXCEPTIONS = {
    "RayError",
    "RayTaskError",
    "RayActorError",
    "ActorDiedError",
    "GetTimeoutError",
    "WorkerCrashedError",
    "TaskCancelledError",
    "TaskUnschedulableError",
    "ActorUnschedulableError",
    "ObjectLostError",
    "OwnerDiedError",
    "ObjectStoreFullError",
    "NodeDiedError",
    "RaySystemError",
    "ObjectReconstructionFailedError",
    "ObjectFetchTimedOutError",
    "OutOfMemoryError",
    "ActorUnavailableError",
    "PendingCallsLimitExceeded",
    "TaskPlacementGroupRemoved",
    "ActorPlacementGroupRemoved",
    # named for except clauses, never raised
    "LocalRayletDiedError",
    "OutOfDiskError",
    "ObjectFreedError",
    "ReferenceCountingAssertionError",
    "ObjectReconstructionFailedMaxAttemptsExceededError",
    "ObjectReconstructionFailedLineageEvictedError",
    "PlasmaObjectNotAvailable",
    "AsyncioActorExit",
    "RuntimeEnvSetupError",
    "ObjectRefStreamEndOfStreamError",
}


def test_rays_exception_names_are_all_there() -> None:
    assert RAY_EXCEPTIONS <= set(rexc.__all__)


@pytest.mark.parametrize(
    ("sub", "base"),
    [
        ("RayTaskError", "RayError"),
        ("RayActorError", "RayError"),
        ("ActorDiedError", "RayActorError"),
        ("ActorUnavailableError", "RayError"),
        ("GetTimeoutError", "RayError"),
        ("WorkerCrashedError", "RayError"),
        ("NodeDiedError", "RayError"),
        ("TaskCancelledError", "RayError"),
        ("TaskUnschedulableError", "RayError"),
        ("ActorUnschedulableError", "RayError"),
        ("ObjectLostError", "RayError"),
        ("OwnerDiedError", "ObjectLostError"),
        ("ObjectReconstructionFailedError", "ObjectLostError"),
        ("ObjectFetchTimedOutError", "ObjectLostError"),
        ("ObjectStoreFullError", "RayError"),
        ("OutOfMemoryError", "RayError"),
        ("PendingCallsLimitExceeded", "RayError"),
        ("TaskPlacementGroupRemoved", "RayError"),
        ("ActorPlacementGroupRemoved", "RayError"),
        ("RaySystemError", "RayError"),
        ("AuthenticationError", "RayError"),
        ("ProtocolError", "RayError"),
        ("VersionMismatchError", "RaySystemError"),
        ("VersionMismatchError", "RuntimeError"),
    ],
)
def test_exception_hierarchy(sub: str, base: str) -> None:
    assert issubclass(getattr(rexc, sub), RuntimeError if base == "RuntimeError" else getattr(rexc, base))


def test_get_timeout_error_is_a_timeout_error() -> None:
    assert issubclass(rexc.GetTimeoutError, TimeoutError)
    with pytest.raises(TimeoutError):
        raise rexc.GetTimeoutError("x")


def test_ray_task_error_is_an_instance_of_the_cause() -> None:
    try:
        raise KeyError("k")
    except KeyError as e:
        err = rexc.RayTaskError.from_exception(e, "f", pid=1)
    derived = err.as_instanceof_cause()
    assert isinstance(derived, rexc.RayTaskError) and isinstance(derived, KeyError)
    assert "KeyError" in str(derived) and "f()" in str(derived)
    import pickle

    back = pickle.loads(pickle.dumps(derived))
    assert isinstance(back, KeyError) and isinstance(back, rexc.RayTaskError)


# --------------------------------------------------------------------------- import cost


def _fresh_modules(code: str) -> set[str]:
    r = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    return set(r.stdout.split())


def test_import_edgeray_does_not_import_trio() -> None:
    mods = _fresh_modules("import edgeray")
    assert not {m for m in mods if m.split(".")[0] in ("trio", "trio_websocket")}
    assert "edgeray.node" not in mods


def test_worker_side_imports_no_trio() -> None:
    mods = _fresh_modules("import edgeray.worker, edgeray.client")
    assert "trio" not in mods
