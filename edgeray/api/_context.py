"""``get_runtime_context()``: what a driver, task or actor can learn about itself (Ray's names)."""

from __future__ import annotations

import logging
import warnings
from typing import Any

from ..client._context import CURRENT_TASK
from ..client._ids import ActorID, JobID, NodeID, TaskID
from ..protocol._spec import ACTOR_CREATE, TASK
from ._actor import ActorHandle
from ._init import auto_client

log = logging.getLogger("edgeray")


def _deprecated(old: str, new: str) -> None:
    # Ray's @Deprecated(warning=True): a DeprecationWarning at each use
    warnings.warn(f"RuntimeContext.{old} is deprecated: use {new} instead.", DeprecationWarning, stacklevel=3)


class RuntimeContext:
    """What ``get_runtime_context()`` returns (Ray's names)."""

    def __init__(self) -> None:
        self._client = auto_client()

    # -- ids ----------------------------------------------------------------------------------
    def get_node_id(self) -> str:
        return self._client.node_id.hex()

    def get_job_id(self) -> str:
        return self._client.current_job().hex()

    def _task_id(self) -> bytes | None:
        current = CURRENT_TASK.get()  # (async actor calls, which share a thread, have only this)
        if current is not None:
            return bytes(current[0]["tid"])
        tid = getattr(self._client.tls, "task_id", None)
        return bytes(tid) if tid else None

    def get_task_id(self) -> str | None:
        """The running task's id in hex; None in a driver."""
        tid = self._task_id()
        return tid.hex() if tid else None

    def is_canceled(self) -> bool:
        """Whether the current task has been cancelled; False outside a task. As in Ray, a
        task that catches the cancel's ``KeyboardInterrupt`` and returns gives its value; an
        actor call cancelled while it ran ends with ``TaskCancelledError`` whatever it returns."""
        tid = self._task_id()
        return tid is not None and tid in self._client.cancelled

    def get_actor_id(self) -> str | None:
        aid = self._client.actor_id
        return aid.hex() if aid else None

    def get_worker_id(self) -> str:
        return self._client.worker_id.hex()

    # Ray's older spellings: ID objects (here the hex string, with Ray's ID methods)
    @property
    def node_id(self) -> NodeID:
        _deprecated("node_id", "get_node_id()")
        return NodeID(self.get_node_id())

    @property
    def job_id(self) -> JobID:
        _deprecated("job_id", "get_job_id()")
        return JobID(self.get_job_id())

    @property
    def task_id(self) -> TaskID | None:
        _deprecated("task_id", "get_task_id()")
        tid = self.get_task_id()
        return TaskID(tid) if tid else None

    @property
    def actor_id(self) -> ActorID | None:
        _deprecated("actor_id", "get_actor_id()")
        aid = self.get_actor_id()
        return ActorID(aid) if aid else None

    # -- the running task ---------------------------------------------------------------------
    def get_task_name(self) -> str | None:
        """The running task's name: its ``name`` option, else the function's name, or
        ``Class.method`` for an actor call (``Class.__init__`` while it is constructed)."""
        current = CURRENT_TASK.get()
        if current is None:
            log.warning("get_task_name() is only available in a task or actor (this process is a driver).")
            return None
        spec = current[0]
        if spec["kind"] == ACTOR_CREATE:
            return f"{spec['name']}.__init__"
        return str(spec["opts"].get("name") or spec["name"])

    def get_task_function_name(self) -> str | None:
        """The running task's function as ``module.qualname`` (``module.Class.method`` for an
        actor call)."""
        current = CURRENT_TASK.get()
        if current is None:
            log.warning("get_task_function_name() is only available in a task or actor (this process is a driver).")
            return None
        spec, code = current
        if code is None:  # an actor being constructed
            return f"{spec['name']}.__init__"
        qualname = f"{code.__module__}.{code.__qualname__}"
        return qualname if spec["kind"] == TASK else f"{qualname}.{spec['method']}"

    def get_node_labels(self) -> dict[str, str]:
        """The labels of the node this process runs on."""
        me = self.get_node_id()
        for n in self._client.call("nodes"):
            if n.get("NodeID") == me:
                return dict(n.get("Labels") or {})
        return {}

    @property
    def namespace(self) -> str:
        return self._client.namespace

    def get_namespace(self) -> str:
        return self._client.namespace

    def get_assigned_resources(self) -> dict[str, float]:
        """The resources the current task holds, or the current actor holds while it runs
        (Ray: an actor without ``num_cpus`` holds no CPU once created); {} in a driver."""
        res = getattr(self._client.tls, "resources", None)
        if res is None:
            res = self._client.actor_resources
        return dict(res)

    def get_accelerator_ids(self) -> dict[str, list[str]]:
        """The accelerators given to the current task or actor, by kind (GPUs only here)."""
        return {"GPU": list(self._client.gpu_ids)}

    def get_placement_group_id(self) -> str | None:
        """The placement group the current task or actor runs in, or None."""
        pg = getattr(self._client.tls, "pg_current", None)
        pg_id = pg.get("pg_id") if isinstance(pg, dict) else None
        return pg_id.hex() if isinstance(pg_id, bytes) else None

    @property
    def current_actor(self) -> ActorHandle:
        """A handle to the actor this code runs in (``RuntimeError`` outside an actor)."""
        info = self._actor_info()
        return ActorHandle(self._client.actor_id, info["meta"], None, self._client)  # type: ignore[arg-type]

    @property
    def was_current_actor_reconstructed(self) -> bool:
        """Whether the current actor has been restarted (its constructor ran again)."""
        return int(self._actor_info().get("restarts") or 0) > 0

    def _actor_info(self) -> dict[str, Any]:
        aid = self._client.actor_id
        if aid is None:
            raise RuntimeError("This method is only available in an actor.")
        info = self._client.call("actor_state", {"actor_id": aid})
        if not isinstance(info, dict):
            raise RuntimeError(f"The node does not know the actor {aid.hex()}.")
        return info

    @property
    def gcs_address(self) -> str:
        return str(self._client.node_info.get("address", ""))

    def get(self) -> dict[str, Any]:
        """Ray's deprecated summary: job_id, node_id, namespace, and task_id / actor_id where
        there is one (a key whose value would be None is left out, as in Ray)."""
        warnings.warn("RuntimeContext.get() is deprecated: use the get_xxx_id() methods instead.",
                      DeprecationWarning, stacklevel=2)
        out: dict[str, Any] = {"job_id": JobID(self.get_job_id()), "node_id": NodeID(self.get_node_id()),
                               "namespace": self.namespace}
        tid, aid = self.get_task_id(), self.get_actor_id()
        if tid is not None:
            out["task_id"] = TaskID(tid)
        if aid is not None:
            out["actor_id"] = ActorID(aid)
        return out


def get_runtime_context() -> RuntimeContext:
    return RuntimeContext()
