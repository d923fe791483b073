"""What users call: Ray's public API on top of the core client.

Rule: imports ``edgeray.client``, ``edgeray.worker`` (for ``exit_actor``), ``edgeray.node`` (to
start an embedded node, and its file helpers), ``edgeray.protocol``, ``edgeray.exceptions``,
``edgeray.dag`` (the nodes ``.bind()`` makes); the package ``edgeray/__init__.py`` re-exports
from here.
"""

from ._actor import ActorClass, ActorHandle, ActorMethod, exit_actor, method
from ._api import (
    available_resources,
    cancel,
    cluster_resources,
    get,
    get_actor,
    get_gpu_ids,
    kill,
    nodes,
    put,
    wait,
)
from ._context import RuntimeContext, get_runtime_context
from ._decorator import remote
from ._init import init, is_initialized, shutdown
from ._remote import RemoteFunction
from ._timeline import timeline

__all__ = [
    "ActorClass", "ActorHandle", "ActorMethod", "RemoteFunction", "RuntimeContext", "available_resources", "cancel",
    "cluster_resources", "exit_actor", "get", "get_actor", "get_gpu_ids", "get_runtime_context", "init",
    "is_initialized", "kill", "method", "nodes", "put", "remote", "shutdown", "timeline", "wait",
]
