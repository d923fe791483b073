"""``init``/``shutdown``: connect to a running node, or start one embedded for this driver."""

from __future__ import annotations

import atexit
import json
import logging
import os
import select
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from .. import _files
from .. import exceptions as exc
from ..client import CoreClient, current_client, set_current_client, try_current_client
from ..client._context import init_lock
from ..client._setup_hook import SETUP_HOOK, SETUP_HOOK_ENV, export_setup_hook
from ._job_config import JobConfig
from ._log_printer import LogPrinter
from ._options import check_runtime_env
from ._system_config import system_config_overrides

log = logging.getLogger("edgeray")

#: how long ``init()`` waits for the node it starts to say it is ready
START_TIMEOUT_S = 60.0


@dataclass
class _Session:
    client: CoreClient
    node_proc: subprocess.Popen[bytes] | None
    address: str
    printer: LogPrinter | None  # what workers print (None: init(log_to_driver=False))


_STATE: dict[str, _Session] = {}


def is_initialized() -> bool:
    return try_current_client() is not None


def init(
    address: str | None = None,
    *,
    num_cpus: float | None = None,
    num_gpus: float | None = None,
    resources: dict[str, float] | None = None,
    object_store_memory: int | None = None,
    local_mode: bool = False,
    namespace: str | None = None,
    ignore_reinit_error: bool = False,
    include_dashboard: bool | None = None,
    log_to_driver: bool = True,
    logging_level: Any = None,
    runtime_env: dict[str, Any] | None = None,
    job_config: JobConfig | None = None,
    _config_file: str | None = None,
    _system_config: dict[str, Any] | None = None,
    **unsupported: Any,
) -> dict[str, Any]:
    """Connect this process to edgeray (Ray's ``ray.init``).

    ``address``: None → connect to the node started on this machine with ``edgeray start`` if one
    runs, else start a node for this driver (stopped by ``shutdown()`` or at exit); ``"auto"`` →
    the running local node (error if none); ``"ws://host:port"`` (or ``"host:port"``) → a remote
    node. With ``address`` None or ``"auto"``, ``EDGERAY_ADDRESS`` or else ``RAY_ADDRESS`` from the
    environment is used if set, as Ray uses ``RAY_ADDRESS``. ``_system_config``: Ray's internal
    settings that edgeray has a meaning for (``_system_config.SYSTEM_CONFIG``), for the node this
    driver starts (an error when it connects to a running one, as in Ray).
    """
    if unsupported:
        raise TypeError(f"init() got unexpected keyword arguments {sorted(unsupported)}")
    if local_mode:
        raise RuntimeError(
            "`local_mode` is no longer supported. For interactive debugging consider using the Ray distributed debugger."
        )
    _check_node_args(num_cpus, num_gpus, resources, object_store_memory)
    runtime_env, namespace = _with_job_config(job_config, runtime_env, namespace)
    if namespace is not None and not isinstance(namespace, str):  # Ray's validate_namespace
        raise TypeError("namespace must be None or a string.")
    if namespace == "":
        raise ValueError('"" is not a valid namespace. Pass None to not specify a namespace.')
    check_runtime_env(runtime_env)
    overrides = system_config_overrides(_system_config)
    with init_lock():
        if is_initialized():
            if ignore_reinit_error:
                log.info("Calling edgeray.init() again after it has already been called.")
                return _context_info()
            raise RuntimeError(
                "Maybe you called edgeray.init twice by accident? This error can be suppressed by passing "
                "in 'ignore_reinit_error=True' or by calling 'edgeray.shutdown()' prior to 'edgeray.init()'."
            )
        if address is None or address == "auto":
            address = os.environ.get("EDGERAY_ADDRESS") or os.environ.get("RAY_ADDRESS") or address
        node_proc = None
        token = _files.read_token()
        if address in (None, "auto", "local"):
            info = _files.read_address()
            if info is not None and address != "local":
                if num_cpus is not None or num_gpus is not None or resources or object_store_memory:
                    raise ValueError(
                        "When connecting to an existing node, num_cpus, num_gpus, resources and "
                        "object_store_memory must not be provided."
                    )
                _no_system_config(overrides)
                target = info["unix"]
            elif address == "auto":
                raise ConnectionError("Could not find any running edgeray node. Start one with 'edgeray start'.")
            else:
                node_proc, target = _start_embedded(num_cpus, num_gpus, resources, object_store_memory, _config_file,
                                                    overrides)
                token = _files.read_token()
        else:
            _no_system_config(overrides)
            target = node_address(address)
        _refuse_own_thread_node(target)
        printer = LogPrinter() if log_to_driver else None
        try:
            client = CoreClient(target, token=token, role="driver", namespace=namespace, embedded=node_proc is not None,
                                log_to=printer if printer is not None else _discard_log)
        except BaseException:
            if printer is not None:
                printer.close()
            if node_proc is not None:
                _stop_process(node_proc)
            raise
        client.inherited_env = dict((runtime_env or {}).get("env_vars") or {})  # the job's, for all its work
        hook = (runtime_env or {}).get(SETUP_HOOK)
        if hook is not None:
            try:
                client.inherited_env[SETUP_HOOK_ENV] = export_setup_hook(client, hook)
            except BaseException:
                client.close()
                if printer is not None:
                    printer.close()
                if node_proc is not None:
                    _stop_process(node_proc)
                raise
        set_current_client(client)
        _STATE["session"] = _Session(client, node_proc, target, printer)
        return _context_info()


def _no_system_config(overrides: dict[str, Any]) -> None:
    if overrides:
        raise ValueError("When connecting to an existing cluster, _system_config must not be provided.")


def _refuse_own_thread_node(target: str) -> None:
    """``init()`` on the Trio thread that runs the node it would connect to (``open_node`` in
    this program) would block that thread, and the node with it: say so instead of hanging."""
    if "edgeray.node" not in sys.modules:  # no node runs in this process (and trio stays unimported)
        return
    from ..node import hosted_on_this_thread

    if hosted_on_this_thread(target):
        raise RuntimeError(
            f"edgeray.init(address={target!r}) was called on the Trio thread that runs this node "
            "(open_node): the driver would block the thread the node needs, and wait forever. Call it "
            "from another thread: await trio.to_thread.run_sync(lambda: edgeray.init(address=node.address))."
        )


def _discard_log(msg: Any) -> None:
    """``init(log_to_driver=False)``: what workers print stays in their log files (Ray's)."""


def node_address(address: str) -> str:
    """The URL a driver connects to for ``address``: ``ws://``, ``wss://`` and ``unix:`` as
    given; ``HOST:PORT`` without a scheme means ``ws://HOST:PORT`` (Ray's ``HOST:PORT``)."""
    if not isinstance(address, str):
        raise TypeError(f"address must be a string, not {type(address).__name__}.")
    if address.startswith(("ws://", "wss://", "unix:")):
        return address
    host, sep, port = address.rpartition(":")
    if "://" not in address and sep and host and port.isdigit() and "/" not in host:
        return f"ws://{address}"
    raise ValueError(f"Unsupported address {address!r}: use 'auto', 'ws://HOST:PORT', 'HOST:PORT' or None.")


def _check_node_args(
    num_cpus: Any, num_gpus: Any, resources: Any, object_store_memory: Any
) -> None:
    """``init()``'s node arguments, checked here (not by the node's command line)."""
    for name, v in (("num_cpus", num_cpus), ("num_gpus", num_gpus)):
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int | float) or v != v:
            raise TypeError(f"init(): {name} must be a number, not {type(v).__name__} ({v!r}).")
        if v < 0:
            raise ValueError(f"init(): {name} must be >= 0, got {v}.")
    if resources is not None:
        if not isinstance(resources, dict):
            raise TypeError(f"init(): resources must be a dict, not {type(resources).__name__}.")
        for k, v in resources.items():
            if not isinstance(k, str) or isinstance(v, bool) or not isinstance(v, int | float) or v != v or v < 0:
                raise ValueError(f"init(): resources must map names to numbers >= 0, got {k!r}: {v!r}.")
    if object_store_memory is not None and (
        isinstance(object_store_memory, bool) or not isinstance(object_store_memory, int) or object_store_memory < 0
    ):
        raise TypeError(f"init(): object_store_memory must be a number of bytes (int >= 0), got {object_store_memory!r}.")


def _with_job_config(
    job_config: JobConfig | None, runtime_env: dict[str, Any] | None, namespace: str | None
) -> tuple[dict[str, Any] | None, str | None]:
    """The runtime_env and namespace of the job: ``init``'s own, else its ``job_config``'s (Ray's order)."""
    if job_config is None:
        return runtime_env, namespace
    if not isinstance(job_config, JobConfig):
        raise TypeError(f"job_config must be an edgeray.job_config.JobConfig, not {type(job_config).__name__}.")
    if runtime_env is None:
        runtime_env = job_config.runtime_env or None
    if namespace is None:
        namespace = job_config.ray_namespace
    return runtime_env, namespace


def auto_client() -> CoreClient:
    """The process's client; like Ray, the first use of the API calls ``init()`` itself."""
    c = try_current_client()
    if c is None:
        init()
        c = current_client()
    return c


def _context_info() -> dict[str, Any]:
    c = current_client()
    return {"address": c.address, "node_id": c.node_id.hex(), "job_id": c.job_id.hex(), "namespace": c.namespace}


def _start_embedded(
    num_cpus: float | None, num_gpus: float | None, resources: dict[str, float] | None,
    object_store_memory: int | None, config_file: str | None, overrides: dict[str, Any],
) -> tuple[subprocess.Popen[bytes], str]:
    from .._launch import python_command

    args = ["start", "--block", "--embedded"]
    if config_file:
        args += ["--config", config_file]
    if num_cpus is not None:
        args += ["--num-cpus", str(num_cpus)]
    if num_gpus is not None:
        args += ["--num-gpus", str(num_gpus)]
    if resources:
        args += ["--resources", json.dumps(resources)]
    if object_store_memory:
        args += ["--object-store-memory", str(int(object_store_memory))]
    if overrides:
        args += ["--config-overrides", json.dumps(overrides)]
    proc = subprocess.Popen(
        [*python_command("from edgeray.cli import main; sys.exit(main())"), *args],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=None, start_new_session=False,
    )
    assert proc.stdout is not None
    try:
        info = _await_ready(proc, proc.stdout.fileno(), time.monotonic() + START_TIMEOUT_S)
    except BaseException:
        _stop_process(proc)
        raise
    proc.stdout.close()
    return proc, info["unix"]


def _await_ready(proc: subprocess.Popen[bytes], fd: int, deadline: float) -> dict[str, Any]:
    """The ``EDGERAY_READY {json}`` line of a starting node, read without blocking past
    ``deadline`` (a node that hangs silently must not hang ``init()``)."""
    buf = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise exc.RaySystemError(f"the edgeray node did not become ready within {START_TIMEOUT_S:g} s")
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            rc = proc.wait()
            raise exc.RaySystemError(f"the edgeray node failed to start (exit code {rc}); see the messages above")
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line.startswith(b"EDGERAY_READY "):
                info: dict[str, Any] = json.loads(line[len(b"EDGERAY_READY "):])
                return info


def _stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def shutdown(_exiting_interpreter: bool = False) -> None:
    """Disconnect; a node this driver started is stopped with its workers and shared memory."""
    with init_lock():
        session = _STATE.pop("session", None)
        if session is None:
            return
        reporter = getattr(session.client, "_edgeray_metrics_reporter", None)
        if reporter is not None:  # user metrics recorded since their last report (edgeray.util.metrics)
            reporter.flush()
        set_current_client(None)
        session.client.close()
        if session.printer is not None:  # (after the client: the last lines have arrived)
            session.printer.close()
        if session.node_proc is not None:
            try:
                session.node_proc.wait(10)
            except subprocess.TimeoutExpired:
                _stop_process(session.node_proc)


atexit.register(shutdown, True)
