"""The hooks an edgeray plugin can implement (pluggy project name: ``"edgeray"``).

A plugin is a module (or any object) with functions named like these, decorated with
:data:`hookimpl`; it may implement any subset, and accept any subset of the arguments::

    from edgeray.plugins import hookimpl

    @hookimpl
    def edgeray_scheduling_strategies():
        return {"BINPACK": BinPack()}

Hooks are synchronous (pluggy cannot await) and return decisions, data or factories; the async
work stays in the core. Built-in plugins (``edgeray_builtins``) use only these hooks.

Order: pluggy calls the most recently registered plugin first (``tryfirst``/``trylast`` adjust
that). Registration order is built-ins, then ``[plugins] load``, then ``edgeray`` entry points,
so a third-party plugin is called before the built-ins.
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

from edgeray.config import Config
from edgeray.plugins._types import NodeInfo, PersistenceBackend, Strategy, TaskEvent

__all__ = ["hookspec", "hookimpl", "PROJECT_NAME"]

PROJECT_NAME = "edgeray"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# ---------------------------------------------------------------------------------------------
# Node resources


@hookspec
def edgeray_detect_resources(config: Config) -> dict[str, float] | None:
    """Contribute resources this node offers, ``{name: amount}`` (or None for nothing).

    Called once when a node starts. The results of all plugins are merged by name: for a name
    reported by several plugins, the plugin *called first* wins (the most recently registered,
    so a third-party detector overrides a built-in one). Then the values *declared in the config*
    win over every detection: ``resources.num_cpus``/``num_gpus``/``memory`` when not -1,
    ``object_store.memory`` when not -1, and each entry of ``resources.custom``.

    Standard names: ``CPU``, ``GPU``, ``memory`` (bytes), ``object_store_memory`` (bytes), plus
    Ray's ``node:<ip>`` (and ``node:__internal_head__`` on the head). Amounts of 0 are dropped.
    When no plugin reports ``GPU``, it is the number of ids from ``edgeray_detect_gpu_ids``
    (that is how the built-in plugin reports GPUs).

    :param config: the node's configuration.
    """


@hookspec(firstresult=True)
def edgeray_detect_gpu_ids(config: Config) -> list[str] | None:
    """Return the ids of the GPUs this node offers (e.g. ``["0", "1"]``), or None to pass.

    The first non-None answer is used (firstresult). The ids become the ``CUDA_VISIBLE_DEVICES``
    of the tasks given GPUs. The node's ``GPU`` amount is ``len(ids)`` unless a plugin or the
    config sets ``GPU`` otherwise; the ids are then cut to that number, or completed with
    ``"0"``, ``"1"``, ... as Ray does for GPUs declared without ids.

    :param config: the node's configuration.
    """


@hookspec
def edgeray_node_labels(config: Config) -> dict[str, str] | None:
    """Contribute labels for this node, ``{name: value}``.

    Merged like ``edgeray_detect_resources``: the plugin called first wins per name, and
    ``resources.labels`` from the config wins over all.

    :param config: the node's configuration.
    """


# ---------------------------------------------------------------------------------------------
# Policies


@hookspec
def edgeray_scheduling_strategies() -> dict[str, Strategy] | None:
    """Return scheduling strategies by name, ``{name: strategy}``.

    A :class:`~edgeray.plugins.Strategy` answers ``node`` / ``retry`` / ``infeasible`` for a
    :class:`~edgeray.plugins.SchedulingRequest` from a read-only
    :class:`~edgeray.plugins.ClusterView`; users pick it by name (``scheduling_strategy="NAME"``).
    Called once per node, so return fresh objects (a strategy may keep state). Two plugins
    offering the same name is an error. Built in: ``DEFAULT``, ``SPREAD``, ``NODE_AFFINITY``,
    ``LOCALITY``, ``PLACEMENT_GROUP``.
    """


@hookspec
def edgeray_persistence_backends() -> dict[str, Callable[[Config], PersistenceBackend]] | None:
    """Return GCS storage backend factories by name, ``{name: factory(config) -> backend}``.

    ``[gcs] storage = "name"`` picks one; the factory is called once on the head node and returns
    an open :class:`~edgeray.plugins.PersistenceBackend`. Built in: ``memory``, ``sqlite``.
    Two plugins offering the same name is an error.
    """


# ---------------------------------------------------------------------------------------------
# Lifecycle and observability. Return values are ignored; an exception raised here is logged by
# the core and does not stop the node. Keep them quick: they run on the node's event loop.


@hookspec
def edgeray_node_started(node: NodeInfo) -> None:
    """Called once the node is serving (listeners open, registered with the GCS).

    :param node: the node that started.
    """


@hookspec
def edgeray_node_stopping(node: NodeInfo) -> None:
    """Called when the node begins shutting down, before its services stop.

    :param node: the node that is stopping.
    """


@hookspec
def edgeray_task_event(event: TaskEvent) -> None:
    """Called on a task's state change (submitted, started, finished, failed) on the node that
    sees it. The core skips building events when no plugin implements this hook.

    :param event: what happened.
    """
