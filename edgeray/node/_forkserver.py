"""The node's side of the worker template (``worker._template``): workers forked, not spawned.

A fresh interpreter per worker costs ~100 ms of CPU to import edgeray and ~10 MB of memory of
its own; a worker forked from a template that has imported it already starts in a few ms and
shares those pages. The template is started once per node, in the node's nursery; it answers
each fork with the child's pid and reports each child's exit (it is the parent: only a parent
can reap a process and read its exit status, which the node needs for its exit codes; a double
fork plus pidfd polling in the node would lose the status). ``ForkedProcess`` is what the
spawner holds for such a worker: the part of ``trio.Process`` it uses (``pid``, ``returncode``,
``send_signal``, ``kill``, ``wait``). Signals go straight to the pid; a pid is only signalled
while its exit has not been reported.

If the template cannot start, or dies, ``fork`` answers None and the spawner starts a fresh
interpreter instead; workers forked before it died are watched with a pidfd (their exit code is
then unknown: None).
"""

from __future__ import annotations

import array
import json
import logging
import os
import signal
import socket
import subprocess
from typing import BinaryIO

import trio

from ..raylet import _workers as W

log = logging.getLogger(__name__)

MAX_PACKET = 1 << 20


class ForkedProcess:
    """A worker forked by the template: its pid, and its exit once the template reported it."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._exited = trio.Event()

    def _set_exit(self, code: int | None) -> None:
        if not self._exited.is_set():
            self.returncode = code
            self._exited.set()

    def send_signal(self, sig: int) -> None:
        if self._exited.is_set():
            return
        os.kill(self.pid, sig)

    def kill(self) -> None:
        try:
            self.send_signal(signal.SIGKILL)
        except ProcessLookupError:
            pass

    async def wait(self) -> int | None:
        await self._exited.wait()
        return self.returncode


class ForkServer:
    """Runs the template (``run``) and forks workers from it (``fork``)."""

    def __init__(self, env: dict[str, str], log_path: str) -> None:
        self.env = env
        self.log_path = log_path
        self._sock: trio.socket.SocketType | None = None
        self._ready = trio.Event()
        self._ok = False
        self._next = 0
        self._pending: dict[int, tuple[trio.Event, list[ForkedProcess | str]]] = {}
        self._children: dict[int, ForkedProcess] = {}
        self._send_lock = trio.Lock()

    async def run(self) -> None:
        """Start the template and serve its answers until it exits or this is cancelled."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        proc = None
        try:
            with theirs:
                with W.open_log(self.log_path) as logf:
                    cmd = W.template_command(theirs.fileno())
                    proc = await trio.lowlevel.open_process(cmd, env=self.env, pass_fds=(theirs.fileno(),),
                                                            stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
            self._sock = trio.socket.from_stdlib_socket(ours)
            await self._serve(self._sock)
        except OSError as e:
            log.warning("worker template: %s; workers start as fresh interpreters", e)
        finally:
            self._stopped()
            ours.close()
            if proc is not None:
                with trio.CancelScope(shield=True):
                    proc.kill()
                    await proc.wait()

    async def _serve(self, sock: trio.socket.SocketType) -> None:
        while True:
            data = await sock.recv(MAX_PACKET)
            if not data:
                log.warning("the worker template exited; workers start as fresh interpreters")
                return
            msg = json.loads(data)
            if "exit" in msg:
                child = self._children.pop(msg["exit"], None)
                if child is not None:
                    child._set_exit(msg["code"])
            elif "id" in msg:
                answer: ForkedProcess | str = str(msg.get("error"))
                if "pid" in msg:  # (known before its exit can be reported: the packets keep order)
                    answer = self._children[msg["pid"]] = ForkedProcess(int(msg["pid"]))
                waiter = self._pending.pop(msg["id"], None)
                if waiter is not None:
                    waiter[1].append(answer)
                    waiter[0].set()
            elif "ready" in msg:
                self._ok = True
                self._ready.set()
            elif "error" in msg:
                log.warning("worker template: %s; workers start as fresh interpreters", msg["error"])
                return

    def _stopped(self) -> None:
        self._ok = False
        self._ready.set()
        for event, _ in self._pending.values():
            event.set()
        self._pending.clear()
        children, self._children = self._children, {}
        for child in children.values():
            trio.lowlevel.spawn_system_task(_watch_orphan, child)

    async def fork(self, env: dict[str, str], outf: BinaryIO, errf: BinaryIO) -> ForkedProcess | None:
        """A worker forked with ``env``, ``outf`` as its stdout and ``errf`` as its stderr; None
        when the template is not available (the caller starts a fresh interpreter)."""
        await self._ready.wait()
        sock = self._sock
        if not self._ok or sock is None:
            return None
        self._next += 1
        req_id = self._next
        event, answer = trio.Event(), list[ForkedProcess | str]()
        self._pending[req_id] = (event, answer)
        data = json.dumps({"id": req_id, "env": env}).encode()
        try:
            async with self._send_lock:
                await sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [outf.fileno(), errf.fileno()]))])
        except OSError:
            self._pending.pop(req_id, None)
            return None
        await event.wait()
        if not answer or isinstance(answer[0], str):
            if answer:
                log.warning("worker template could not fork: %s", answer[0])
            return None
        child: ForkedProcess = answer[0]
        return child

async def _watch_orphan(child: ForkedProcess) -> None:
    """Tell when a worker whose template is gone exits (its exit code is lost: None)."""
    try:
        fd = os.pidfd_open(child.pid)
    except OSError:
        child._set_exit(None)
        return
    try:
        await trio.lowlevel.wait_readable(fd)
    finally:
        os.close(fd)
        child._set_exit(None)
