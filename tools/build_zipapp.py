#!/usr/bin/env python3
"""Build ``dist/edgeray.pyz``: edgeray, its built-in plugins and its pure-Python dependencies
in one executable zip that runs on a bare Python 3.11+ with nothing installed.

    python tools/build_zipapp.py [--output dist/edgeray.pyz] [--python "/usr/bin/env python3"]
                                 [--no-compile] [--no-check]

What goes in (see zipapp/README.md):

* ``edgeray/`` and ``plugins/edgeray_builtins/`` from this repository;
* ``zipapp/__main__.py`` as the archive's ``__main__.py``;
* the pure-Python runtime dependencies, copied from the environment running this tool. They are
  found with ``importlib.metadata``: starting from the requirements of the installed ``edgeray``
  distribution (else ``pyproject.toml``'s ``dependencies``) plus a fixed list, then following
  each distribution's own requirements. Each one's ``.dist-info`` keeps ``METADATA``,
  ``entry_points.txt``, ``top_level.txt`` and license files, so ``importlib.metadata`` (and so
  ``trio_websocket``'s version lookup and pluggy's entry-point loading) work inside the zip;
* ``edgeray-<version>.dist-info`` with ``METADATA`` and ``entry_points.txt`` taken from
  ``pyproject.toml`` (``[project.entry-points.edgeray]``), so the built-in plugins load by entry
  point from the pyz.

Left out: native extensions (``*.so``, ``*.pyd``; cbor2 falls back to its pure-Python
implementation), ``numpy`` and ``posix_ipc`` (edgeray uses the stdlib ``_posixshmem`` when
``posix_ipc`` is missing; numpy only matters to user code that imports it), ``__pycache__``,
tests, and console scripts.

Unless ``--no-compile`` is given, every ``.py`` also gets a sibling ``.pyc`` compiled by this
interpreter (unchecked-hash pyc, the layout ``zipimport`` reads), because ``zipimport`` can not
cache bytecode: without them every process started from the pyz (the node, each worker) would
compile trio and edgeray from source. Another Python version sees a foreign magic number and
``zipimport`` silently falls back to the source next to it.

The archive is deterministic for a given tree and environment: sorted entries, fixed
timestamps (``SOURCE_DATE_EPOCH`` if set, else 1980-01-01) and permissions.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import importlib.util
import marshal
import os
import re
import stat
import subprocess
import sys
import time
import tomllib
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

REPO = Path(__file__).resolve().parent.parent

#: Always bundled (distribution names), whatever the metadata says.
FIXED_DEPENDENCIES = (
    "trio",
    "trio-websocket",
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
)

#: Never bundled: native-only, or optional accelerators edgeray can run without.
EXCLUDED_DISTRIBUTIONS = frozenset({"numpy", "posix-ipc", "cffi", "pycparser"})

#: The oldest Python the pyz supports; requirement markers are evaluated for it too.
MIN_PYTHON = "3.11"

NATIVE_SUFFIXES = (".so", ".pyd", ".dylib", ".dll")
SKIP_SUFFIXES = (".pyc", ".pyo", ".pyi", ".pth", ".exe") + NATIVE_SUFFIXES
TEST_DIR_NAMES = frozenset({"tests", "_tests", "test", "__pycache__"})
#: Development-only parts of bundled distributions.
EXCLUDED_PREFIXES = ("trio/_tools/",)
DIST_INFO_KEEP = frozenset({"METADATA", "entry_points.txt", "top_level.txt"})
LICENSE_RE = re.compile(r"^(LICEN[CS]E|COPYING|NOTICE|AUTHORS)", re.IGNORECASE)


# --------------------------------------------------------------------------------------------
# Requirements


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


_REQ_NAME_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _marker_evaluator():
    """Return ``evaluate(marker_text) -> bool | None`` (None: could not evaluate)."""
    try:
        from packaging.markers import Marker  # type: ignore[import-not-found]
    except ImportError:
        try:
            from pip._vendor.packaging.markers import Marker  # type: ignore[import-not-found]
        except ImportError:
            Marker = None  # noqa: N806

    full_min = MIN_PYTHON + ".0"

    def evaluate(text: str) -> bool | None:
        if Marker is None:
            return None
        marker = Marker(text)
        # Needed here, or on the oldest Python the pyz supports?
        for env in (
            {"extra": ""},
            {"extra": "", "python_version": MIN_PYTHON, "python_full_version": full_min},
        ):
            try:
                if marker.evaluate(env):
                    return True
            except Exception:
                return None
        return False

    return evaluate


_evaluate_marker = _marker_evaluator()


def parse_requirement(req: str) -> tuple[str, bool] | None:
    """``(canonical name, needed)`` for one ``Requires-Dist`` line, or None if unparsable.

    Requirements that only apply to an extra are not needed. Other markers are evaluated for
    this interpreter and for the oldest supported Python; if no marker library is available the
    requirement counts as needed (it is still only bundled when installed).
    """
    m = _REQ_NAME_RE.match(req)
    if not m:
        return None
    name = canonical(m.group(1))
    _, _, marker = req.partition(";")
    marker = marker.strip()
    if not marker:
        return name, True
    if re.search(r"\bextra\s*==", marker):
        return name, False
    verdict = _evaluate_marker(marker)
    return name, True if verdict is None else verdict


def installed(name: str) -> md.Distribution | None:
    try:
        return md.distribution(name)
    except md.PackageNotFoundError:
        return None


def root_requirements() -> list[str]:
    roots: list[str] = []
    dist = installed("edgeray")
    if dist is not None and dist.requires:
        roots.extend(dist.requires)
    else:
        pyproject = REPO / "pyproject.toml"
        if pyproject.exists():
            project = tomllib.loads(pyproject.read_text("utf-8")).get("project", {})
            roots.extend(project.get("dependencies", []))
    roots.extend(FIXED_DEPENDENCIES)
    return roots


def resolve_distributions(log) -> list[md.Distribution]:
    """Walk the requirement graph from the roots; return the installed, bundleable ones."""
    found: dict[str, md.Distribution] = {}
    queue: list[tuple[str, str]] = []
    for req in root_requirements():
        parsed = parse_requirement(req)
        if parsed and parsed[1]:
            queue.append((parsed[0], "edgeray"))
    seen: set[str] = set()
    while queue:
        name, wanted_by = queue.pop(0)
        if name in seen or name in EXCLUDED_DISTRIBUTIONS or name == "edgeray":
            continue
        seen.add(name)
        dist = installed(name)
        if dist is None:
            log(f"warning: {name} (wanted by {wanted_by}) is not installed; not bundled")
            continue
        found[name] = dist
        for req in dist.requires or ():
            parsed = parse_requirement(req)
            if parsed and parsed[1]:
                queue.append((parsed[0], name))
    return [found[k] for k in sorted(found)]


# --------------------------------------------------------------------------------------------
# Collecting files: arcname -> source path (or bytes)


def _skip(parts: tuple[str, ...]) -> bool:
    if any(p in TEST_DIR_NAMES for p in parts[:-1]):
        return True
    name = parts[-1]
    return name.endswith(SKIP_SUFFIXES) or ".cpython-" in name or name.startswith(".")


def tree_files(root: Path, prefix: str) -> Iterator[tuple[str, Path]]:
    """Files of a source package directory (``root``) as ``prefix/...`` archive names."""
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(root).parts
        if _skip(rel):
            continue
        yield "/".join((prefix, *rel)), path


def distribution_files(dist: md.Distribution, log) -> Iterator[tuple[str, Path]]:
    files = dist.files
    name = dist.metadata["Name"]
    if files is None:
        raise SystemExit(f"error: {name} has no RECORD; can not tell which files belong to it")
    for f in files:
        parts = PurePosixPath(str(f).replace(os.sep, "/")).parts
        if not parts or parts[0] in ("..", "/"):
            continue  # scripts, headers, data outside site-packages
        if parts[0].endswith(".dist-info"):
            keep = (len(parts) == 2 and parts[1] in DIST_INFO_KEEP) or (
                len(parts) >= 2
                and (parts[1] == "licenses" or LICENSE_RE.match(parts[1]) is not None)
            )
            if keep:
                src = Path(dist.locate_file(f))
                if src.is_file():
                    yield "/".join(parts), src
            continue
        if parts[0].endswith(".data") or "/".join(parts).startswith(EXCLUDED_PREFIXES):
            continue
        if _skip(parts):
            if parts[-1].endswith(NATIVE_SUFFIXES):
                log(f"  skipped native file {'/'.join(parts)} ({name})")
            continue
        src = Path(dist.locate_file(f))
        if src.is_file():
            yield "/".join(parts), src


def edgeray_dist_info() -> dict[str, bytes]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]
    version = project["version"]
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {project['name']}",
        f"Version: {version}",
    ]
    if project.get("description"):
        lines.append(f"Summary: {project['description']}")
    if project.get("requires-python"):
        lines.append(f"Requires-Python: {project['requires-python']}")
    lic = project.get("license")
    if isinstance(lic, dict) and lic.get("text"):
        lines.append(f"License: {lic['text']}")
    for dep in project.get("dependencies", []):
        lines.append(f"Requires-Dist: {dep}")
    metadata = "\n".join(lines) + "\n"

    sections: list[str] = []
    scripts = project.get("scripts", {})
    if scripts:
        sections.append("[console_scripts]\n" + "".join(f"{k} = {v}\n" for k, v in scripts.items()))
    for group, eps in sorted(project.get("entry-points", {}).items()):
        sections.append(f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()))
    entry_points = "\n".join(sections)

    base = f"{canonical(project['name']).replace('-', '_')}-{version}.dist-info"
    return {
        f"{base}/METADATA": metadata.encode(),
        f"{base}/entry_points.txt": entry_points.encode(),
        f"{base}/top_level.txt": b"edgeray\nedgeray_builtins\n",
    }


# --------------------------------------------------------------------------------------------
# Writing the archive


def _date_time() -> tuple[int, int, int, int, int, int]:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        t = time.gmtime(max(int(epoch), 315532800))  # zip can not go before 1980
        return t[:6]
    return (1980, 1, 1, 0, 0, 0)


def _compile(source: bytes, arcname: str) -> bytes | None:
    """An unchecked-hash ``.pyc`` for ``source`` (None if it does not compile here)."""
    try:
        code = compile(source, arcname, "exec", dont_inherit=True, optimize=0)
    except SyntaxError:
        return None
    data = bytearray(importlib.util.MAGIC_NUMBER)
    data += (0b01).to_bytes(4, "little")  # hash-based, check_source = 0
    data += importlib.util.source_hash(source)
    data += marshal.dumps(code)
    return bytes(data)


def build(output: Path, interpreter: str | None, compile_pyc: bool, log) -> dict:
    entries: dict[str, bytes | Path] = {}

    def add(arcname: str, content: bytes | Path) -> None:
        if arcname in entries:
            raise SystemExit(f"error: two sources for {arcname}")
        entries[arcname] = content

    main = REPO / "zipapp" / "__main__.py"
    add("__main__.py", main)
    for arc, src in tree_files(REPO / "edgeray", "edgeray"):
        add(arc, src)
    for arc, src in tree_files(REPO / "plugins" / "edgeray_builtins", "edgeray_builtins"):
        add(arc, src)
    for arc, data in edgeray_dist_info().items():
        add(arc, data)

    for required in ("edgeray/__init__.py", "edgeray/cli.py", "edgeray_builtins/__init__.py"):
        if required not in entries:
            log(f"warning: {required} does not exist yet; the pyz will not run")

    dists = resolve_distributions(log)
    bundled = []
    for dist in dists:
        bundled.append(f"{dist.metadata['Name']} {dist.version}")
        for arc, src in distribution_files(dist, log):
            add(arc, src)

    if compile_pyc:
        for arc in [a for a in entries if a.endswith(".py") and a != "__main__.py"]:
            content = entries[arc]
            source = content.read_bytes() if isinstance(content, Path) else content
            # Shown in tracebacks; zipimport does not rewrite it to the pyz's real location.
            pyc = _compile(source, f"{output.name}/{arc}")
            if pyc is not None:
                add(arc + "c", pyc)

    date_time = _date_time()
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    with open(tmp, "wb") as fd:
        if interpreter:
            fd.write(b"#!" + interpreter.encode(sys.getfilesystemencoding()) + b"\n")
        with zipfile.ZipFile(fd, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
            for arc in sorted(entries):
                content = entries[arc]
                data = content.read_bytes() if isinstance(content, Path) else content
                info = zipfile.ZipInfo(arc, date_time=date_time)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = (stat.S_IFREG | 0o644) << 16
                info.create_system = 3
                zf.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    if interpreter:
        os.chmod(tmp, 0o755)
    os.replace(tmp, output)
    return {"entries": len(entries), "distributions": bundled, "size": output.stat().st_size}


BARE_CHECK = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "import trio, trio_websocket, wsproto, h11, outcome, sniffio, sortedcontainers, attr, attrs, "
    "idna, cbor2, cloudpickle, pluggy; "
    "assert cbor2.loads(cbor2.dumps({'a': 1})) == {'a': 1}; "
    "import importlib.metadata as m; "
    "assert m.version('trio-websocket'); "
    "eps = sorted(e.name for e in m.entry_points(group='edgeray')); "
    "bad = [p for p in ('posix_ipc', 'numpy', '_cbor2') if p in sys.modules]; "
    "assert not bad, bad; "
    "print(cbor2.dumps({'a': 1}), eps)"
)


def check_bare(output: Path, log) -> None:
    """Import the bundled dependencies from the pyz with no site-packages at all."""
    cmd = [sys.executable, "-I", "-S", "-c", BARE_CHECK, str(output)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"error: bare-interpreter import check failed:\n{proc.stderr}")
    log(f"bare import check: {proc.stdout.strip()}")


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024 or unit == "MiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return str(n)


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", "-o", type=Path, default=REPO / "dist" / "edgeray.pyz")
    parser.add_argument(
        "--python",
        default="/usr/bin/env python3",
        help='shebang interpreter (default: "/usr/bin/env python3"; "" for no shebang)',
    )
    parser.add_argument("--no-compile", action="store_true", help="do not add .pyc files")
    parser.add_argument("--no-check", action="store_true", help="skip the bare-import check")
    parser.add_argument("--quiet", "-q", action="store_true")
    args = parser.parse_args(list(argv) if argv is not None else None)

    def log(msg: str) -> None:
        if not args.quiet:
            print(msg, file=sys.stderr)

    output = args.output.resolve()
    info = build(output, args.python or None, not args.no_compile, log)
    log("bundled: " + ", ".join(info["distributions"]))
    if not args.no_check:
        check_bare(output, log)
    print(f"{output}: {info['entries']} files, {_human(info['size'])} ({info['size']} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
