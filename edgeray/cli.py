"""The command line: ``edgeray start|stop|status|list|summary|get|timeline|memory|get-auth-token``
(Ray's verbs; the state commands are in ``_cli_state``)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .config import load_config, parse_resources_json


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edgeray", description="edgeray: Ray's core as one small runtime.")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command")
    s = sub.add_parser("start", help="start a node (in the background unless --block)")
    s.add_argument("--head", action="store_true", help="start a head node (the default without --address)")
    s.add_argument("--address", default=None, help="ws://HOST:PORT (or wss://) of a head node to join")
    s.add_argument("--config", default=None, help="a TOML config file (default: $EDGERAY_CONFIG)")
    s.add_argument("--port", type=int, default=None, help="the WebSocket port (0 = any free port)")
    s.add_argument("--host", default=None, help="the address to listen on")
    s.add_argument("--advertise-address", default=None,
                   help="the host others reach this node at (default: --host; for 0.0.0.0 the default route's address)")
    s.add_argument("--num-cpus", type=float, default=None)
    s.add_argument("--num-gpus", type=float, default=None)
    s.add_argument("--resources", default=None, help='custom resources as JSON, e.g. \'{"special": 1}\'')
    s.add_argument("--memory", type=int, default=None, help="bytes of memory offered to tasks (the 'memory' resource)")
    s.add_argument("--object-store-memory", type=int, default=None)
    s.add_argument("--block", action="store_true", help="stay in the foreground until stopped")
    s.add_argument("--embedded", action="store_true", help=argparse.SUPPRESS)
    # dotted config overrides as a JSON object (init(_system_config=...) passes them)
    s.add_argument("--config-overrides", default=None, help=argparse.SUPPRESS)
    sub.add_parser("stop", help="stop every node this user started on this machine")
    sub.add_parser("status", help="resources and usage of the running node")
    from ._cli_state import add_parsers

    add_parsers(sub)
    from ._cli_logs import add_parser as add_logs_parser

    add_logs_parser(sub)
    sub.add_parser("memory", help="objects in the store (like 'ray memory')")
    sub.add_parser("get-auth-token", help="print the cluster token")
    return p


def main(argv: list[str] | None = None) -> int:
    from ._files import TokenFileError

    args = _parser().parse_args(argv)
    try:
        rc = _dispatch(args)
        sys.stdout.flush()  # here, so that a closed pipe is caught below, not at exit
        return rc
    except TokenFileError as e:  # an empty token file: say which, no traceback
        print(f"edgeray {args.command}: {e}" if args.command else f"edgeray: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # 'edgeray list ... | head': the reader left; stop quietly
        _stdout_to_devnull()  # (so the flush at exit does not fail again)
        return 1


def _stdout_to_devnull() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _dispatch(args: argparse.Namespace) -> int:
    if args.version:
        from . import __version__

        print(f"edgeray {__version__}")
        return 0
    if args.command == "start":
        return _start(args)
    if args.command == "stop":
        return _stop()
    if args.command == "status":
        return _status()
    if args.command == "memory":
        return _memory()
    if args.command in ("list", "summary", "get", "timeline"):
        from ._cli_state import run

        return run(args)
    if args.command == "logs":
        from ._cli_logs import run as run_logs

        return run_logs(args)
    if args.command == "get-auth-token":
        from ._files import load_or_create_token

        print(load_or_create_token())
        return 0
    _parser().print_help()
    return 1


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    o: dict[str, Any] = {}
    if args.config_overrides:
        given = json.loads(args.config_overrides)
        if not isinstance(given, dict):
            raise ValueError(f"--config-overrides must be a JSON object, got {args.config_overrides!r}")
        o.update(given)
    if args.address:
        o["node.head_address"] = args.address
        o["node.head"] = False
    if args.head:
        o["node.head"] = True
    if args.port is not None:
        o["node.port"] = args.port
    if args.host is not None:
        o["node.host"] = args.host
    if args.advertise_address is not None:
        o["node.advertise_address"] = args.advertise_address
    if args.num_cpus is not None:
        o["resources.num_cpus"] = args.num_cpus
    if args.num_gpus is not None:
        o["resources.num_gpus"] = args.num_gpus
    if args.resources:
        o["resources.custom"] = parse_resources_json(args.resources)
    if args.memory is not None:
        o["resources.memory"] = args.memory
    if args.object_store_memory is not None:
        o["object_store.memory"] = args.object_store_memory
    return o


def _start(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config or os.environ.get("EDGERAY_CONFIG") or None, _overrides(args))
    except (ValueError, OSError) as e:
        print(f"edgeray start: {e}", file=sys.stderr)
        return 2
    try:  # a [plugins] load module that does not import or registers nothing: say so before a node starts
        from .plugins import make_plugin_manager

        make_plugin_manager(config.plugins.load)
    except ValueError as e:
        print(f"edgeray start: {e}", file=sys.stderr)
        return 2
    if config.auth.enabled:  # an empty token file is refused here, before a node is launched
        from ._files import load_or_create_token

        load_or_create_token(config.auth.token)
    if config.node.head and not args.embedded:
        from ._files import read_address

        running = read_address()
        if running is not None:  # Ray refuses a second head too ("Ray is already running")
            print(f"edgeray start: a head node is already running here at {running.get('address')} (pid "
                  f"{running.get('pid')}); join it with 'edgeray start --address {running.get('address')}', "
                  "or stop it first with 'edgeray stop'.", file=sys.stderr)
            return 2
    if args.block:
        return _run_foreground(config, embedded=args.embedded)
    return _run_background(argv=sys.argv[1:] if argv_is_start() else ["start"])


def argv_is_start() -> bool:
    return len(sys.argv) > 1 and "start" in sys.argv[1:]


def _prespawn_workers(config: Any, embedded: bool = False) -> tuple[bytes, list[tuple[bytes, Any]]]:
    """Start the worker pool before the node's own (slower) imports, so both start in parallel.
    An embedded node (``init()``) starts one now and the rest once it is up: its first task
    needs one, and on a small machine more starting at once only slow the node's start."""
    from . import _files
    from .raylet._workers import log_env, spawn_process

    n = config.node.prestart_workers
    if n < 0:
        n = int(config.resources.num_cpus) if config.resources.num_cpus >= 0 else len(os.sched_getaffinity(0))
        if embedded:
            n = min(n, 1)
    node_id = os.urandom(16)
    sdir = _files.node_dir(node_id.hex())
    token = _files.load_or_create_token(config.auth.token) if config.auth.enabled else ""
    env = {
        "EDGERAY_NODE_SOCKET": str(sdir / "node.sock"),
        "EDGERAY_NODE_ID": node_id.hex(),
        "EDGERAY_TOKEN": token,
        "EDGERAY_PARENT_PID": str(os.getpid()),
        "EDGERAY_LOG_DIR": str(sdir / "logs"),
        **log_env(config.log.max_bytes, config.log.backup_count),
    }
    return node_id, [(wid, spawn_process(wid, env, str(sdir / "logs"))) for wid in (os.urandom(16) for _ in range(n))]


#: set by ``edgeray start`` for its background node: the ``node.log`` that is its stderr
NODE_LOG_ENV = "EDGERAY_NODE_LOG"


def _run_foreground(config: Any, *, embedded: bool) -> int:
    node_id, prespawned = _prespawn_workers(config, embedded)
    import logging

    import trio

    from .node import serve_node

    level = logging.WARNING if embedded else getattr(logging, str(config.log.level).upper(), logging.INFO)
    _rotate_node_log(config)
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    async def run() -> None:
        async with trio.open_nursery() as nursery:

            async def node(task_status: Any) -> None:
                await serve_node(
                    config, write_address=not embedded, node_id=node_id, prespawned=prespawned, task_status=task_status
                )
                nursery.cancel_scope.cancel()  # the node stopped by itself (e.g. its driver left)

            info = await nursery.start(node)
            ready = {"address": info.address, "unix": info.unix_path, "node_id": info.node_id, "pid": info.pid}
            _record_node(info.session_dir, ready)
            if not embedded:
                print(f"edgeray node {info.node_id[:12]} ready: {info.address} (unix {info.unix_path})", flush=True)
            print("EDGERAY_READY " + json.dumps(ready), flush=True)
            _detach_stdout()
            with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for _ in signals:
                    nursery.cancel_scope.cancel()
                    break

    try:
        trio.run(run)
    except KeyboardInterrupt:
        pass
    return 0


def _rotate_node_log(config: Any) -> None:
    """A background node (``edgeray start``) writes ``node.log`` as its stderr: from now on through
    a writer that rotates it by size (``[log] max_bytes``, ``backup_count``; ``edgeray._logfiles``),
    descriptor 2 following the current file."""
    path = os.environ.pop(NODE_LOG_ENV, "")
    if path:
        from ._logfiles import RotatingFile

        sys.stderr.flush()
        sys.stderr = RotatingFile(path, config.log.max_bytes, config.log.backup_count, fd=2, line_buffering=True)


def _detach_stdout() -> None:
    """After the ready line, stdout may be a pipe its reader has closed: write no more there."""
    if sys.stdout.isatty():
        return
    _stdout_to_devnull()
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115


def _record_node(session_dir: str, info: dict[str, Any]) -> None:
    from ._files import write_private

    write_private(Path(session_dir) / "node.json", json.dumps(info))


def _run_background(argv: list[str]) -> int:
    from ._files import home, home_dir, private_opener
    from ._launch import python_command

    log_path = home_dir() / "node.log"
    logf = open(log_path, "ab", opener=private_opener)  # noqa: SIM115 - the child's stderr
    logged_from = logf.seek(0, os.SEEK_END)
    proc = subprocess.Popen(
        [*python_command("from edgeray.cli import main; sys.exit(main())"), *argv, "--block"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=logf, start_new_session=True,
        env={**os.environ, NODE_LOG_ENV: str(log_path)},
    )
    assert proc.stdout is not None
    for raw in proc.stdout:
        line = raw.decode(errors="replace").rstrip()
        if line.startswith("EDGERAY_READY "):
            info = json.loads(line[len("EDGERAY_READY "):])
            print(f"edgeray node started: {info['address']} (pid {info['pid']})")
            print("Connect from Python with: edgeray.init()  or  edgeray.init(address=\"" + info["address"] + "\")")
            proc.stdout.close()
            return 0
    rc = proc.wait()
    logf.close()
    cause = _failure_cause(log_path, logged_from)
    print(f"edgeray start: the node could not start{': ' + cause if cause else f' (exit code {rc})'}\n"
          f"  its log: {home() / 'node.log'}", file=sys.stderr)
    return 1


def _failure_cause(log_path: Path, start: int) -> str:
    """What a node that failed to start said last (its exception's final line), from ``start``."""
    try:
        with open(log_path, "rb") as f:
            f.seek(start if os.fstat(f.fileno()).st_size >= start else 0)  # (rotated since: all of it)
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    lines = [line.strip().lstrip("|+-").strip() for line in text.splitlines()]  # (an exception group's frame)
    lines = [line for line in lines if line]
    errors = [line for line in lines if ("Error" in line or "Exception" in line) and not line.startswith(("File ", "Traceback"))]
    return (errors or lines or [""])[-1][:500]


def _running_nodes() -> list[dict[str, Any]]:
    from ._files import running_nodes

    return running_nodes()


def _stop() -> int:
    nodes = _running_nodes()
    for info in nodes:
        try:
            os.kill(info["pid"], signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 15
    from ._files import pid_alive

    for info in nodes:
        while pid_alive(info["pid"]) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid_alive(info["pid"]):
            os.kill(info["pid"], signal.SIGKILL)
    print(f"Stopped {len(nodes)} edgeray node(s).")
    return 0


def _client_call(method: str, args: dict[str, Any] | None = None) -> Any:
    from .api._inspect import NoNodeError, query_node

    try:
        return query_node(method, args or {})
    except NoNodeError:
        raise SystemExit("No running edgeray node found (start one with 'edgeray start').") from None


def _status() -> int:
    st = _client_call("status")
    total, avail = st["total"], st["available"]
    cluster = st.get("cluster") or {}
    nodes = cluster.get("nodes") or []
    if len(nodes) > 1:
        _print_cluster(nodes, cluster.get("total") or {}, cluster.get("available") or {})
    print("======== Node status ========")
    print(f"Node {st['node_id']} at {st['address']}")
    print("Resources")
    print("-" * 63)
    print("Usage:")
    reserved: dict[str, float] = {}
    pg_used: dict[str, float] = {}
    for b in st.get("placement_groups") or []:
        for k, v in b["total"].items():
            reserved[k] = reserved.get(k, 0) + v
            pg_used[k] = pg_used.get(k, 0) + b["used"].get(k, 0)
    for k, v in sorted(total.items()):
        if k == "memory":
            continue
        used = v - avail.get(k, 0) - reserved.get(k, 0) + pg_used.get(k, 0)
        extra = f" ({pg_used.get(k, 0):.1f} used of {reserved[k]:.1f} reserved in placement groups)" if k in reserved else ""
        print(f" {used:.1f}/{v:.1f} {k}{extra}")
    store = st["store"]
    print(f" {_fmt_bytes(store.get('used', 0))}/{_fmt_bytes(store.get('capacity', 0))} object_store_memory")
    print("\nDemands:")
    inf = st.get("infeasible") or []
    if inf:
        for d in inf:
            print(f" {d['resources']}: {d['name']} (infeasible)")
    else:
        print(" (no resource demands)")
    return 0


def _print_cluster(nodes: list[dict[str, Any]], total: dict[str, float], avail: dict[str, float]) -> None:
    """The cluster part of ``edgeray status`` (Ray's "Node status" and cluster usage)."""
    print("======== Cluster status ========")
    print("Active:")
    for n in nodes:
        if n["Alive"]:
            print(f" 1 node_{n['NodeID']}{' (head)' if n.get('IsHead') else ''} at {n['Address']}")
    dead = [n for n in nodes if not n["Alive"]]
    print("Dead:")
    for n in dead:
        print(f" 1 node_{n['NodeID']}")
    if not dead:
        print(" (no dead nodes)")
    print("Usage:")
    for k, v in sorted(total.items()):
        if k != "memory":
            print(f" {v - avail.get(k, 0):.1f}/{v:.1f} {k}")
    print()


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.2f}{unit}" if unit != "B" else f"{int(n)}B"
        n /= 1024
    return str(n)


def _memory() -> int:
    """Like ``ray memory``: every object with its size, reference kind and place, then totals."""
    rows = _client_call("list", {"kind": "objects"})
    store = _client_call("status")["store"]
    print(f"======== Object references status: {time.strftime('%Y-%m-%d %H:%M:%S')} ========")
    print(f"{'Object Ref':<42}  {'Reference Type':<44}  {'Object Size':>12}  {'Where':<14}  Holders  Mapped")
    for r in sorted(rows, key=lambda r: -r["size"]):
        print(
            f"{r['object_id']:<42}  {r['reference']:<44}  {_fmt_bytes(r['size']):>12}  "
            f"{r['where']:<14}  {r['holders']:>7}  {r.get('mapped', 0):>6}"
        )
    mem = [r for r in rows if r["where"] == "shared_memory"]
    spilled = [r for r in rows if r["where"] == "spilled"]
    cap = store.get("capacity", 0) or 1
    print("\n--- Aggregate object store stats across all nodes ---")
    print(
        f"Plasma memory usage {_fmt_bytes(store.get('used', 0))}, {len(mem)} objects, "
        f"{100 * store.get('used', 0) / cap:.1f}% full of {_fmt_bytes(cap)} "
        f"({store.get('arena_kind')} object store {store.get('arena_name')})"
    )
    print(
        f"Spilled {_fmt_bytes(store.get('spilled_bytes', 0))}, {len(spilled)} objects now; "
        f"{store.get('num_spills', 0)} spills and {store.get('num_restores', 0)} restores so far"
        + (f" (to {store['spill_dir']})" if store.get("spill_dir") else " (spilling disabled)")
    )
    print(f"Inline objects: {sum(1 for r in rows if r['where'] == 'inline')}")
    return 0
