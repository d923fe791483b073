"""The plugin manager: which plugins are loaded, and the helpers the core calls hooks through."""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pluggy

from edgeray.config import Config
from edgeray.plugins import _hookspecs
from edgeray.plugins._types import UNIT, PersistenceBackend, Strategy

__all__ = [
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

log = logging.getLogger("edgeray.plugins")

#: The built-in plugin modules, registered first, by import (works without package metadata,
#: e.g. inside the zipapp). Registered under these module names.
BUILTIN_PLUGINS = (
    "edgeray_builtins.resources",
    "edgeray_builtins.scheduling",
    "edgeray_builtins.persistence",
)
ENTRY_POINT_GROUP = "edgeray"
#: Set to a non-empty value to skip loading plugins from entry points (as pytest's
#: PYTEST_DISABLE_PLUGIN_AUTOLOAD does).
DISABLE_AUTOLOAD_ENV = "EDGERAY_DISABLE_PLUGIN_AUTOLOAD"


def _import_object(path: str, what: str) -> Any:
    module_name, _, attr = path.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise ValueError(f"cannot import {what} {path!r}: {type(exc).__name__}: {exc}") from exc
    for part in filter(None, attr.split(".")):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(f"cannot import {what} {path!r}: {module_name} has no attribute {attr!r}") from None
    return obj


def _registered_module_names(pm: pluggy.PluginManager) -> set[str]:
    names = set()
    for plugin in pm.get_plugins():
        name = getattr(plugin, "__name__", None)
        if isinstance(name, str):
            names.add(name)
    return names


def make_plugin_manager(load: Sequence[str] = (), *, entry_points: bool = True) -> pluggy.PluginManager:
    """A plugin manager with edgeray's hookspecs and, in this order: the built-in plugins, the
    modules named in ``load`` (``[plugins] load``: dotted module paths, or ``module:attr``), and the
    ``edgeray`` entry points of installed distributions (unless ``entry_points`` is false or
    ``EDGERAY_DISABLE_PLUGIN_AUTOLOAD`` is set). A plugin reachable several ways is registered once.

    Raises ``ValueError`` naming the module when a plugin cannot be imported or loaded, or when a
    module named in ``load`` implements none of edgeray's hooks.
    """
    if isinstance(load, str):
        raise TypeError("load must be a sequence of module paths, not a single string")
    pm = pluggy.PluginManager(_hookspecs.PROJECT_NAME)
    pm.add_hookspecs(_hookspecs)
    for name in BUILTIN_PLUGINS:
        pm.register(_import_object(name, "built-in plugin"), name=name)
    for path in load:
        if not isinstance(path, str) or not path:
            raise ValueError(f"[plugins] load entries must be module paths, got {path!r}")
        plugin = _import_object(path, "plugin module")
        if pm.is_registered(plugin) or pm.get_plugin(path) is not None:
            continue
        pm.register(plugin, name=path)
        if not pm.get_hookcallers(plugin):  # a typo'd hook name, or the wrong module: say so now
            raise ValueError(
                f"plugin module {path!r} registers nothing: it has no @hookimpl function named after one of "
                "edgeray's hooks (edgeray_detect_resources, edgeray_scheduling_strategies, ...)"
            )
    if entry_points and not os.environ.get(DISABLE_AUTOLOAD_ENV):
        _load_entry_points(pm)
    pm.check_pending()
    return pm


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    registered = _registered_module_names(pm)
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
            continue
        if ep.module in registered and not ep.attr:
            continue  # already registered (a built-in, or named in [plugins] load)
        dist = getattr(ep, "dist", None)
        origin = f" (distribution {dist.name} {dist.version})" if dist is not None else ""
        try:
            plugin = ep.load()
        except Exception as exc:
            raise ValueError(
                f"cannot load edgeray plugin entry point {ep.name} = {ep.value}{origin}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if pm.is_registered(plugin):
            continue
        pm.register(plugin, name=ep.name)
        name = getattr(plugin, "__name__", None)
        if isinstance(name, str):
            registered.add(name)


def _plugin_label(pm: pluggy.PluginManager, impl: Any) -> str:
    return impl.plugin_name or repr(impl.plugin)


# ---------------------------------------------------------------------------------------------
# Node resources


def _amount(name: str, value: Any, who: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{who} reported resource {name!r} = {value!r}; amounts must be finite numbers")
    if value < 0:
        raise ValueError(f"{who} reported resource {name!r} = {value!r}; amounts must be >= 0")
    return round(value * UNIT)


def _merge_results(pm: pluggy.PluginManager, hook_name: str, config: Config) -> dict[str, tuple[Any, str]]:
    """Call each implementation; per key, the one called first wins. -> {key: (value, plugin)}."""
    merged: dict[str, tuple[Any, str]] = {}
    hook = getattr(pm.hook, hook_name)
    for impl in reversed(hook.get_hookimpls()):  # pluggy's call order: last registered first
        if impl.hookwrapper or impl.wrapper:
            continue
        kwargs = {a: config for a in impl.argnames if a == "config"}
        result = impl.function(**kwargs)
        if result is None:
            continue
        if not isinstance(result, Mapping):
            raise ValueError(f"plugin {_plugin_label(pm, impl)} {hook_name}() returned {result!r}, expected a dict")
        for k, v in result.items():
            if k not in merged:
                merged[k] = (v, _plugin_label(pm, impl))
    return merged


def detect_node_resources(pm: pluggy.PluginManager, config: Config) -> tuple[dict[str, float], list[str]]:
    """This node's resources and GPU ids in one pass (the GPU hook, which may run nvidia-smi,
    is called once): ``(detect_resources(...), detect_gpu_ids(..., num_gpus=resources["GPU"]))``."""
    ids = _hook_gpu_ids(pm, config)
    resources = detect_resources(pm, config, gpu_ids=ids)
    return resources, _fit_gpu_ids(ids, resources.get("GPU", 0.0))


def detect_resources(
    pm: pluggy.PluginManager, config: Config, *, gpu_ids: Sequence[str] | None = None
) -> dict[str, float]:
    """This node's resources: every ``edgeray_detect_resources`` merged (the plugin called first
    wins per name), ``GPU`` from :func:`detect_gpu_ids` when no plugin reports it, then the
    config's declared values on top. Amounts are rounded to 0.0001; zero amounts are dropped.
    ``gpu_ids``: ids already detected (the GPU hook is then not called again)."""
    merged = _merge_results(pm, "edgeray_detect_resources", config)
    units: dict[str, int] = {}
    for name, (value, who) in merged.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"plugin {who} reported a resource with an invalid name {name!r}")
        units[name] = _amount(name, value, f"plugin {who}")
    res = config.resources
    if "GPU" not in units and res.num_gpus == -1:
        ids = gpu_ids if gpu_ids is not None else _hook_gpu_ids(pm, config)
        units["GPU"] = len(ids) * UNIT
    declared: dict[str, float] = dict(res.custom)
    if res.num_cpus != -1:
        declared["CPU"] = res.num_cpus
    if res.num_gpus != -1:
        declared["GPU"] = res.num_gpus
    elif res.gpu_ids:
        declared["GPU"] = float(len(res.gpu_ids))
    if res.memory != -1:
        declared["memory"] = float(res.memory)
    if config.object_store.memory != -1:
        declared["object_store_memory"] = float(config.object_store.memory)
    for name, value in declared.items():
        units[name] = _amount(name, value, "the config")
    return {k: v / UNIT for k, v in units.items() if v}


def _hook_gpu_ids(pm: pluggy.PluginManager, config: Config) -> list[str]:
    ids = pm.hook.edgeray_detect_gpu_ids(config=config)
    if ids is None:
        return []
    if isinstance(ids, str) or not all(isinstance(i, str | int) and not isinstance(i, bool) for i in ids):
        raise ValueError(f"edgeray_detect_gpu_ids returned {ids!r}, expected a list of id strings")
    return [str(i) for i in ids]


def detect_gpu_ids(pm: pluggy.PluginManager, config: Config, num_gpus: float | None = None) -> list[str]:
    """The GPU ids this node hands out (``edgeray_detect_gpu_ids``, first answer wins).

    With ``num_gpus`` (the node's ``GPU`` amount, e.g. from :func:`detect_resources`; by default
    ``resources.num_gpus`` when the config declares it) the list is cut to ``ceil(num_gpus)``
    ids, or completed with the lowest unused ``"0"``, ``"1"``, ... (Ray numbers GPUs declared
    without ids from 0). :func:`detect_node_resources` does both detections in one pass.
    """
    ids = _hook_gpu_ids(pm, config)
    if num_gpus is None and config.resources.num_gpus != -1:
        num_gpus = config.resources.num_gpus
    if num_gpus is None:
        return ids
    return _fit_gpu_ids(ids, num_gpus)


def _fit_gpu_ids(ids: list[str], num_gpus: float) -> list[str]:
    ids = list(ids)
    n = math.ceil(round(num_gpus * UNIT) / UNIT)
    if len(ids) >= n:
        return ids[:n]
    taken = set(ids)
    i = 0
    while len(ids) < n:
        if str(i) not in taken:
            ids.append(str(i))
        i += 1
    return ids


def node_labels(pm: pluggy.PluginManager, config: Config) -> dict[str, str]:
    """This node's labels: plugins merged (called first wins), ``resources.labels`` on top."""
    merged = _merge_results(pm, "edgeray_node_labels", config)
    out: dict[str, str] = {}
    for name, (value, who) in merged.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise ValueError(f"plugin {who} reported label {name!r} = {value!r}; labels are str -> str")
        out[name] = value
    out.update(config.resources.labels)
    return out


# ---------------------------------------------------------------------------------------------
# Policies


def _named_results(pm: pluggy.PluginManager, hook_name: str, what: str) -> dict[str, tuple[Any, str]]:
    found: dict[str, tuple[Any, str]] = {}
    hook = getattr(pm.hook, hook_name)
    for impl in reversed(hook.get_hookimpls()):
        if impl.hookwrapper or impl.wrapper:
            continue
        result = impl.function()
        if result is None:
            continue
        who = _plugin_label(pm, impl)
        if not isinstance(result, Mapping):
            raise ValueError(f"plugin {who} {hook_name}() returned {result!r}, expected a dict")
        for name, obj in result.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"plugin {who} offers a {what} with an invalid name {name!r}")
            if name in found:
                raise ValueError(
                    f"two plugins offer the {what} {name!r}: {found[name][1]} and {who}; "
                    "rename one (or block a plugin)"
                )
            found[name] = (obj, who)
    return found


def scheduling_strategies(pm: pluggy.PluginManager) -> dict[str, Strategy]:
    """Every plugin's strategies by name (fresh objects on each call: call once per node).

    Raises ``ValueError`` when two plugins offer the same name, naming both plugins, and when a
    strategy has no callable ``decide``.
    """
    out: dict[str, Strategy] = {}
    for name, (obj, who) in _named_results(pm, "edgeray_scheduling_strategies", "scheduling strategy").items():
        if not callable(getattr(obj, "decide", None)):
            raise ValueError(f"plugin {who}: scheduling strategy {name!r} has no decide(request, cluster) method")
        out[name] = obj
    return out


def persistence_backends(pm: pluggy.PluginManager) -> dict[str, Callable[[Config], PersistenceBackend]]:
    """Every plugin's persistence backend factories by name (duplicates are an error)."""
    out: dict[str, Callable[[Config], PersistenceBackend]] = {}
    for name, (factory, who) in _named_results(pm, "edgeray_persistence_backends", "persistence backend").items():
        if not callable(factory):
            raise ValueError(f"plugin {who}: persistence backend {name!r} is not a factory (callable)")
        out[name] = factory
    return out


def persistence_backend(pm: pluggy.PluginManager, config: Config) -> PersistenceBackend:
    """Open the backend ``[gcs] storage`` names."""
    backends = persistence_backends(pm)
    name = config.gcs.storage
    factory = backends.get(name)
    if factory is None:
        raise ValueError(
            f"unknown gcs.storage {name!r}; available persistence backends: {', '.join(sorted(backends))}"
        )
    return factory(config)


# ---------------------------------------------------------------------------------------------
# Observers


def has_impls(pm: pluggy.PluginManager, hook_name: str) -> bool:
    """Whether any plugin implements ``hook_name`` (skip building events nobody listens to)."""
    return bool(getattr(pm.hook, hook_name).get_hookimpls())


def notify(pm: pluggy.PluginManager, hook_name: str, **kwargs: Any) -> None:
    """Call an observer hook (``edgeray_node_started``, ``edgeray_task_event``, ...); an exception
    raised by a plugin is logged, never propagated, so a broken observer cannot stop a node, and
    the other plugins are still called."""
    for impl in reversed(getattr(pm.hook, hook_name).get_hookimpls()):
        if impl.hookwrapper or impl.wrapper:
            continue
        try:
            impl.function(**{a: kwargs[a] for a in impl.argnames})
        except Exception:
            log.exception("edgeray plugin %s failed in %s", _plugin_label(pm, impl), hook_name)
