"""``edgeray logs``, as Ray spells ``ray logs``: list or print the log files of the nodes on this
machine (``$EDGERAY_HOME/nodes/<node id>/logs/``, and ``node.log`` beside them).

    edgeray logs                                  every node's files, by node
    edgeray logs 'worker-*.err' [--node-id ID]    the files matching the glob; one match: printed
    edgeray logs --actor-id ID | --task-id ID | --pid PID [--err]
                                                  the stdout (stderr) of the worker that ran it
    --tail N (1000, as Ray; -1: all)  --follow (keep printing what is added, across rotations)

Actor, task and pid are found through the state API (``edgeray.util.state``) of the running
node; a file is read here, so a node on another machine is refused with a clear message (its
files are on that machine: run ``edgeray logs`` there).
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import sys
import time
from pathlib import Path
from typing import Any

from . import _files

#: lines printed by default (Ray's ``ray logs --tail``)
DEFAULT_TAIL = 1000


def add_parser(sub: Any) -> None:
    lg = sub.add_parser("logs", help="list or print the log files of this machine's nodes (like 'ray logs')")
    lg.add_argument("glob", nargs="?", default=None, help="a file name glob, e.g. 'worker-*.out' (default: list all)")
    lg.add_argument("--node-id", default=None, help="only this node (a prefix of its id is enough)")
    who = lg.add_mutually_exclusive_group()
    who.add_argument("--actor-id", default=None, help="the log of the worker that hosts this actor")
    who.add_argument("--task-id", default=None, help="the log of the worker that ran this task")
    who.add_argument("--pid", type=int, default=None, help="the log of the worker with this process id")
    lg.add_argument("--err", action="store_true", help="the worker's stderr (.err), not its stdout (.out)")
    lg.add_argument("--tail", type=int, default=DEFAULT_TAIL, help=f"print the last N lines ({DEFAULT_TAIL}; -1: all)")
    lg.add_argument("--follow", action="store_true", help="keep printing what is added (Ctrl-C to stop)")
    lg.add_argument("--address", default=None, help="the node whose state API finds actors, tasks and pids")


def run(args: argparse.Namespace) -> int:
    from .util.state.exception import RayStateApiException

    try:
        if args.tail < -1:
            raise ValueError(f"--tail must be >= 0 or -1 (all), got {args.tail}")
        if args.actor_id or args.task_id or args.pid is not None:
            return _print(_worker_file(args), args)
        found = _matching(args.glob or "*", args.node_id)
        if args.glob is not None and len(found) == 1:
            return _print(found[0][1], args)
        if args.glob is not None and not found:
            raise ValueError(f"no log file matches {args.glob!r} under {_files.home()}")
        _list(found)
        return 0
    except (RayStateApiException, ValueError, LookupError) as e:
        print(f"edgeray logs: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _node_dirs(node_id: str | None) -> list[Path]:
    dirs = sorted(d for d in (_files.home() / "nodes").glob("*") if (d / "logs").is_dir())
    if node_id is not None:
        dirs = [d for d in dirs if d.name.startswith(node_id[:12]) or node_id.startswith(d.name)]
        if not dirs:
            raise LookupError(f"node {node_id} has no logs on this machine (under {_files.home() / 'nodes'}): "
                              "a node on another machine keeps its logs there; run 'edgeray logs' on it")
    return dirs


def _matching(glob: str, node_id: str | None) -> list[tuple[str, Path]]:
    """``(where, path)`` of every file matching ``glob``: each node's ``logs/``, and ``node.log*``."""
    found: list[tuple[str, Path]] = []
    if node_id is None:
        found += [("this machine", p) for p in sorted(_files.home().glob("node.log*")) if fnmatch.fnmatch(p.name, glob)]
    for d in _node_dirs(node_id):
        found += [(f"node {d.name}", p) for p in sorted((d / "logs").iterdir())
                  if p.is_file() and fnmatch.fnmatch(p.name, glob)]
    return found


def _list(found: list[tuple[str, Path]]) -> None:
    if not found:
        print(f"(no log files under {_files.home()})")
    where = None
    for w, p in found:
        if w != where:
            where = w
            print(f"{w} ({p.parent}):")
        print(f"  {p.name}  ({p.stat().st_size} bytes)")


def _worker_file(args: argparse.Namespace) -> Path:
    """The ``.out`` (``.err``) of the worker that hosts the actor, ran the task, or has the pid."""
    from .util.state import api

    node_id: str | None = None
    if args.actor_id:
        actor = api.get_actor(args.actor_id, args.address)
        if actor is None:
            raise LookupError(f"no actor {args.actor_id}")
        if actor.pid is None:
            raise LookupError(f"actor {args.actor_id} has no worker yet (state {actor.state})")
        node_id, pid = actor.node_id, actor.pid
    elif args.task_id:
        attempts = api.get_task(args.task_id, args.address)
        if not attempts:
            raise LookupError(f"no task {args.task_id}")
        task = attempts[-1]
        if task.worker_pid is None:
            raise LookupError(f"task {args.task_id} has not run on a worker yet (state {task.state})")
        node_id, pid = task.node_id, task.worker_pid
    else:
        pid = args.pid
    workers = api.list_workers(args.address, [("pid", "=", pid)])
    if not workers:
        raise LookupError(f"no worker with pid {pid}")
    name = f"worker-{str(workers[0].worker_id)[:8]}.{'err' if args.err else 'out'}"
    for d in _node_dirs(node_id or workers[0].node_id):
        if (d / "logs" / name).exists():
            return d / "logs" / name
    raise LookupError(f"no log file {name} under {_files.home() / 'nodes'}")


def _print(path: Path, args: argparse.Namespace) -> int:
    out = sys.stdout
    with open(path, "rb") as f:
        data = f.read()
        lines = data.decode(errors="replace").splitlines(keepends=True)
        out.write("".join(lines if args.tail == -1 else lines[len(lines) - args.tail:] if args.tail else []))
        out.flush()
        if args.follow:
            _follow(path, f, out)
    return 0


def _follow(path: Path, f: Any, out: Any) -> None:
    """Print what is added to ``path``; when it is rotated (a new file by that name), go on there."""
    inode = os.fstat(f.fileno()).st_ino
    while True:
        chunk = f.read()
        if chunk:
            out.write(chunk.decode(errors="replace"))
            out.flush()
            continue
        try:
            now = os.stat(path).st_ino
        except FileNotFoundError:
            now = inode
        if now != inode:  # rotated: finish the old file, then read the new one from its start
            rest = f.read()
            if rest:
                out.write(rest.decode(errors="replace"))
            f.close()
            f = open(path, "rb")  # noqa: SIM115
            inode = now
            continue
        time.sleep(0.2)
