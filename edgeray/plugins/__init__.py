"""edgeray's plugin system: pluggy hookspecs, the plugin manager, and the pure data types that
strategies and backends work with.

Rule: this package imports only pluggy, the standard library, ``edgeray.config`` and
``edgeray.exceptions`` (no trio, no other edgeray package), so a plugin can be written, imported
and tested without the runtime. The manager imports the plugin modules it loads by name, at run
time (``edgeray_builtins``, ``[plugins] load``, ``edgeray`` entry points).

Writing a plugin::

    from edgeray.plugins import Decision, hookimpl

    class FirstFit:
        name = "FIRST_FIT"

        def decide(self, request, cluster):
            for node in cluster.nodes:
                if node.alive and node.is_available(request):
                    return Decision.node(node.node_id)
            return Decision.retry("no room")

    @hookimpl
    def edgeray_scheduling_strategies():
        return {"FIRST_FIT": FirstFit()}

and load it with ``[plugins] load = ["my_module"]`` or an ``edgeray`` entry point.
"""

from edgeray.plugins._hookspecs import PROJECT_NAME, hookimpl, hookspec
from edgeray.plugins._manager import (
    BUILTIN_PLUGINS,
    DISABLE_AUTOLOAD_ENV,
    ENTRY_POINT_GROUP,
    detect_gpu_ids,
    detect_node_resources,
    detect_resources,
    has_impls,
    make_plugin_manager,
    node_labels,
    notify,
    persistence_backend,
    persistence_backends,
    scheduling_strategies,
)
from edgeray.plugins._types import (
    CRITICAL_RESOURCES,
    UNIT,
    UNIT_INSTANCE_RESOURCES,
    ClusterView,
    Decision,
    NodeInfo,
    NodeView,
    PersistenceBackend,
    PersistenceFactory,
    ResourceSet,
    SchedulingRequest,
    Strategy,
    TaskEvent,
    add,
    fits,
    from_unit_dict,
    from_units,
    subtract,
    to_unit_dict,
    to_units,
    validate_resource_request,
)

__all__ = [
    "PROJECT_NAME",
    "hookimpl",
    "hookspec",
    "UNIT",
    "CRITICAL_RESOURCES",
    "UNIT_INSTANCE_RESOURCES",
    "to_units",
    "from_units",
    "to_unit_dict",
    "from_unit_dict",
    "fits",
    "add",
    "subtract",
    "ResourceSet",
    "validate_resource_request",
    "NodeView",
    "ClusterView",
    "SchedulingRequest",
    "Decision",
    "Strategy",
    "PersistenceBackend",
    "PersistenceFactory",
    "NodeInfo",
    "TaskEvent",
    "BUILTIN_PLUGINS",
    "ENTRY_POINT_GROUP",
    "DISABLE_AUTOLOAD_ENV",
    "make_plugin_manager",
    "detect_node_resources",
    "detect_resources",
    "detect_gpu_ids",
    "node_labels",
    "scheduling_strategies",
    "persistence_backends",
    "persistence_backend",
    "has_impls",
    "notify",
]
