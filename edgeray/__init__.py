"""edgeray: Ray's core API (tasks, actors, objects, scheduling) as one small runtime.

``import edgeray as ray`` — this module only re-exports the public names.
"""

from typing import TYPE_CHECKING

from . import exceptions

if TYPE_CHECKING:  # the names below are imported lazily (see __getattr__)
    from .api import (
        available_resources,
        cancel,
        cluster_resources,
        get,
        get_actor,
        get_gpu_ids,
        get_runtime_context,
        init,
        is_initialized,
        kill,
        method,
        nodes,
        put,
        remote,
        shutdown,
        timeline,
        wait,
    )
    from .client import DynamicObjectRefGenerator, ObjectRef, ObjectRefGenerator

__version__ = "0.1.0"

__all__ = [
    "DynamicObjectRefGenerator",
    "ObjectRef",
    "ObjectRefGenerator",
    "available_resources",
    "cancel",
    "cluster_resources",
    "exceptions",
    "get",
    "get_actor",
    "get_gpu_ids",
    "get_runtime_context",
    "init",
    "is_initialized",
    "kill",
    "method",
    "nodes",
    "open_node",
    "put",
    "remote",
    "shutdown",
    "timeline",
    "wait",
]


# Re-exported on first use: the node and worker processes import ``edgeray.*`` modules without
# paying for the driver API (measured: ~120 ms of imports per process start).
_CLIENT_NAMES = ("DynamicObjectRefGenerator", "ObjectRef", "ObjectRefGenerator")
_LAZY = {name: "edgeray.api" for name in __all__ if name not in (*_CLIENT_NAMES, "exceptions", "open_node")}
_LAZY.update(dict.fromkeys(_CLIENT_NAMES, "edgeray.client"))


# modules Ray's ``import ray`` makes attributes (``ray.runtime_context.get_runtime_context()``)
_SUBMODULES = ("util", "actor", "runtime_context", "runtime_env", "job_config", "cloudpickle", "experimental", "dag")


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is not None:
        import importlib

        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value
    return _submodule(name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def _submodule(name: str) -> object:
    # submodules users reach as attributes (``ray.util.ActorPool``, ``ray.actor.exit_actor``)
    if name == "open_node":  # imports trio: only for programs that embed a node
        from .node import open_node

        return open_node
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"edgeray.{name}")
    raise AttributeError(f"module 'edgeray' has no attribute {name!r}")
