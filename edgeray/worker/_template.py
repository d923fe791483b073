"""The worker template: a process that has imported a worker's modules once and forks workers.

The node starts one per node (``node._forkserver``) with one end of a ``SOCK_SEQPACKET``
socketpair as its only extra fd. Each request is one packet: a JSON map ``{"id", "env"}`` with
the worker's stdout and stderr files attached (``SCM_RIGHTS``; one fd: both). The template forks; it answers
``{"id", "pid"}`` (or ``{"id", "error"}``), and, being the parent, it reaps its children and
reports each exit as ``{"exit": pid, "code": returncode}`` (the ``subprocess`` convention:
``-N`` for a signal). When the node's end closes, or the node (its parent) is gone, the template exits; its workers carry on
until their own connection to the node closes, as spawned ones do.

What the children share with the template (copy-on-write): the interpreter, edgeray's worker,
client, protocol and object-store modules, trio, cloudpickle and their data (frozen out of the
collector with ``gc.freeze`` so that collections do not touch, and so copy, their pages). What
each child re-initialises: its stdio (the log file), its environment, ``random``'s seed (and
numpy's, were it imported: the template does not import numpy, whose BLAS starts threads at
import), its signal handlers (the template ignores SIGINT and catches SIGCHLD), its fds (all
but 0-2 closed: the socketpair, the wake-up pipe); the template starts no thread and opens no
socket other than its end of the pair, so a child has none to restart or close.
"""

from __future__ import annotations

import array
import gc
import json
import os
import random
import selectors
import signal
import socket
import sys
import threading
import traceback
from typing import Any

MAX_PACKET = 1 << 20
#: how often the template checks that the node that started it still lives
PARENT_CHECK_S = 1.0


def _preimport() -> None:
    import cloudpickle  # noqa: F401

    from ..client import CoreClient  # noqa: F401
    from . import _main  # noqa: F401
    from ._executor import Executor  # noqa: F401


def _recv(sock: socket.socket) -> tuple[dict[str, Any] | None, list[int]]:
    fds = array.array("i")
    data, ancdata, _flags, _addr = sock.recvmsg(MAX_PACKET, socket.CMSG_SPACE(4 * fds.itemsize))
    for level, kind, cdata in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(cdata[: len(cdata) - (len(cdata) % fds.itemsize)])
    if not data:
        return None, list(fds)
    return json.loads(data), list(fds)


def _send(sock: socket.socket, msg: dict[str, Any]) -> None:
    sock.send(json.dumps(msg).encode())


def _close_fds_above_stdio() -> None:
    for name in os.listdir("/proc/self/fd") if os.path.isdir("/proc/self/fd") else []:
        fd = int(name)
        if fd > 2:
            try:
                os.close(fd)
            except OSError:
                pass  # (the listing's own fd, already closed)


def _child(sock: socket.socket, env: dict[str, str], out_fd: int, err_fd: int) -> None:
    """In the forked child: become a fresh worker, then run it (never returns)."""
    code = 1
    try:
        sock.detach()  # (closed below with the other fds; its object must not close a reused fd)
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        _close_fds_above_stdio()
        os.environ.clear()
        os.environ.update(env)
        os.environ["EDGERAY_PARENT_PID"] = str(os.getppid())  # (the template: it leaves with the node)
        random.seed()
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed()
        from ._main import main

        main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _fork(sock: socket.socket, req: dict[str, Any], fds: list[int]) -> None:
    if len(fds) not in (1, 2) or not isinstance(req.get("env"), dict):
        _send(sock, {"id": req.get("id"), "error": "a request needs an env and its stdout (and stderr) fds"})
        for fd in fds:
            os.close(fd)
        return
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        pid = os.fork()
    except OSError as e:
        _send(sock, {"id": req["id"], "error": str(e)})
        for fd in fds:
            os.close(fd)
        return
    if pid == 0:
        _child(sock, {str(k): str(v) for k, v in req["env"].items()}, fds[0], fds[-1])
    for fd in fds:
        os.close(fd)
    _send(sock, {"id": req["id"], "pid": pid})


def _reap(sock: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _send(sock, {"exit": pid, "code": os.waitstatus_to_exitcode(status)})


def serve(fd: int) -> None:
    """Serve fork requests on the socketpair end ``fd`` until the node closes it."""
    sock = socket.socket(fileno=fd)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # (a Ctrl-C to the group is for the driver)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda _sig, _frame: None)
    _preimport()
    gc.collect()
    gc.freeze()
    if threading.active_count() != 1:  # a fork would leave those threads behind
        _send(sock, {"error": f"the template has {threading.active_count()} threads"})
        return
    _send(sock, {"ready": os.getpid()})
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ)
    sel.register(wake_r, selectors.EVENT_READ)
    parent = os.getppid()
    while True:
        if os.getppid() != parent:  # the node died (another process may still hold its end of the pair)
            return
        for key, _ in sel.select(timeout=PARENT_CHECK_S):
            if key.fileobj is sock:
                req, fds = _recv(sock)
                if req is None:
                    return
                _fork(sock, req, fds)
            else:
                try:
                    os.read(wake_r, 4096)
                except BlockingIOError:
                    pass
        _reap(sock)


def main(fd: int) -> None:
    try:
        serve(fd)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the node is gone
    os._exit(0)
