"""``@remote`` / ``.options()`` keys as Ray spells them, validated with clear errors."""

from __future__ import annotations

import math
import warnings
from typing import Any

from ..client._setup_hook import SETUP_HOOK

TASK_OPTIONS = {
    "num_cpus", "num_gpus", "resources", "memory", "num_returns", "max_retries", "retry_exceptions",
    "scheduling_strategy", "runtime_env", "enable_task_events", "name", "accelerator_type",
    "placement_group", "placement_group_bundle_index", "placement_group_capture_child_tasks",
    "max_calls", "_metadata", "label_selector", "object_store_memory",
}
ACTOR_OPTIONS = {
    "num_cpus", "num_gpus", "resources", "memory", "max_restarts", "max_task_retries", "max_concurrency",
    "concurrency_groups", "name", "namespace", "lifetime", "get_if_exists", "scheduling_strategy",
    "runtime_env", "enable_task_events", "max_pending_calls", "accelerator_type", "placement_group",
    "placement_group_bundle_index", "placement_group_capture_child_tasks", "_metadata", "label_selector",
    "object_store_memory",
}
METHOD_OPTIONS = {"num_returns", "concurrency_group", "max_task_retries", "retry_exceptions", "name", "enable_task_events"}

_PRECISION = 10_000


def _number(name: str, v: Any, *, allow_none: bool = True) -> None:
    if v is None and allow_none:
        return
    if isinstance(v, bool) or not isinstance(v, int | float) or math.isnan(v):
        raise TypeError(f"The option '{name}' must be a number, not {type(v).__name__} ({v!r}).")
    if v < 0:
        raise ValueError(f"The option '{name}' must be >= 0, got {v}.")


def _resource_amount(name: str, v: Any) -> None:
    _number(name, v)
    if v is None:
        return
    if abs(round(v * _PRECISION) - v * _PRECISION) > 1e-6:
        raise ValueError(f"The option '{name}'={v} is more precise than Ray's 0.0001 resource precision.")
    if name in ("num_gpus", "GPU") and v > 1 and v != int(v):
        raise ValueError(f"The option '{name}'={v}: GPU amounts above 1 must be whole numbers.")


def validate_options(opts: dict[str, Any], *, kind: str) -> dict[str, Any]:
    """Check ``opts`` for a ``kind`` ("task", "actor" or "method"); returns it unchanged."""
    allowed = {"task": TASK_OPTIONS, "actor": ACTOR_OPTIONS, "method": METHOD_OPTIONS}[kind]
    for k in opts:
        if k not in allowed:  # (Ray's words)
            raise ValueError(
                f"Invalid option keyword {k} for {'remote functions' if kind == 'task' else kind + 's'}. "
                f"Valid ones are {sorted(allowed)}."
            )
    _check_deprecated(opts, kind)
    for k in ("num_cpus", "num_gpus", "memory"):
        if k in opts:
            _resource_amount(k, opts[k])
    res = opts.get("resources")
    if res is not None:
        if not isinstance(res, dict):
            raise TypeError(f"The option 'resources' must be a dict, not {type(res).__name__}.")
        for rk, rv in res.items():
            if rk in ("CPU", "GPU", "memory"):
                raise ValueError(f"Use the '{ {'CPU': 'num_cpus', 'GPU': 'num_gpus', 'memory': 'memory'}[rk] }' option instead of resources={{'{rk}': ...}}.")
            _resource_amount(f"resources[{rk!r}]", rv)
    nr = opts.get("num_returns")
    if nr is not None and nr != "dynamic" and nr != "streaming":
        if isinstance(nr, bool) or not isinstance(nr, int) or nr < 0:
            raise ValueError(f"The option 'num_returns' must be an integer >= 0, got {nr!r}.")
    for k in ("max_retries", "max_restarts", "max_task_retries"):
        v = opts.get(k)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < -1):
            raise ValueError(f"The option '{k}' must be an integer >= -1, got {v!r}.")
    calls = opts.get("max_calls")
    if calls is not None and (isinstance(calls, bool) or not isinstance(calls, int) or calls < 0):
        raise ValueError(f"The option 'max_calls' must be an integer >= 0 (0: no limit), got {calls!r}.")
    mc = opts.get("max_concurrency")
    if mc is not None and (isinstance(mc, bool) or not isinstance(mc, int) or mc < 1):
        raise ValueError(f"The option 'max_concurrency' must be an integer >= 1, got {mc!r}.")
    mpc = opts.get("max_pending_calls")
    if mpc is not None and (isinstance(mpc, bool) or not isinstance(mpc, int) or (mpc < 1 and mpc != -1)):
        raise ValueError(f"The option 'max_pending_calls' must be -1 or an integer >= 1, got {mpc!r}.")
    re_ = opts.get("retry_exceptions")
    if re_ is not None and not isinstance(re_, bool):
        if not isinstance(re_, list | tuple) or not all(isinstance(t, type) and issubclass(t, BaseException) for t in re_):
            raise TypeError("The option 'retry_exceptions' must be a bool or a list of exception types.")
    lt = opts.get("lifetime")
    if lt is not None and lt not in ("detached", "non_detached"):
        raise ValueError(f"The option 'lifetime' must be 'detached', 'non_detached' or None, got {lt!r}.")
    for k in ("name", "namespace", "concurrency_group"):
        v = opts.get(k)
        if v is not None and not isinstance(v, str):
            raise TypeError(f"The option '{k}' must be a string, got {type(v).__name__}.")
    if opts.get("name") == "":
        raise ValueError("The option 'name' must be a non-empty string.")
    cg = opts.get("concurrency_groups")
    if cg is not None:
        if not isinstance(cg, dict) or not all(isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 1 for k, v in cg.items()):
            raise ValueError("The option 'concurrency_groups' must map group names to integers >= 1.")
    if opts.get("get_if_exists") and not opts.get("name"):
        raise ValueError("get_if_exists=True requires a name for the actor.")
    check_runtime_env(opts.get("runtime_env"), task_level=True)
    return opts


_PG_DEPRECATED = (
    "{} parameter is deprecated. Use scheduling_strategy=PlacementGroupSchedulingStrategy(...) instead."
)


def _check_deprecated(opts: dict[str, Any], kind: str) -> None:
    """Ray's deprecated options: ``placement_group`` and its two companions (still honoured, with
    Ray's DeprecationWarning), ``object_store_memory`` (an actor's is accepted and warned about,
    as it reserves nothing; a task's is refused, as in Ray)."""
    pg = opts.get("placement_group", "default")
    if pg not in ("default", None) and opts.get("scheduling_strategy") is not None:
        raise ValueError("Placement groups should be specified via the scheduling_strategy option. "
                         "The placement_group option is deprecated.")
    if pg != "default":
        if pg is not None and not hasattr(pg, "bundle_count"):
            raise TypeError(f"The option 'placement_group' must be a PlacementGroup, None or 'default', got {pg!r}.")
        warnings.warn(_PG_DEPRECATED.format("placement_group"), DeprecationWarning, stacklevel=4)
    index = opts.get("placement_group_bundle_index", -1)
    if isinstance(index, bool) or not isinstance(index, int) or index < -1:
        raise ValueError(f"The option 'placement_group_bundle_index' must be an integer >= -1, got {index!r}.")
    if index != -1:
        warnings.warn(_PG_DEPRECATED.format("placement_group_bundle_index"), DeprecationWarning, stacklevel=4)
    if opts.get("placement_group_capture_child_tasks"):
        warnings.warn(_PG_DEPRECATED.format("placement_group_capture_child_tasks"), DeprecationWarning, stacklevel=4)
    osm = opts.get("object_store_memory")
    if osm is not None:
        if isinstance(osm, bool) or not isinstance(osm, int) or osm < 0:
            raise ValueError("The keyword 'object_store_memory' only accepts None, 0 or a positive integer.")
        if kind == "task":
            raise ValueError("Setting 'object_store_memory' is not implemented for tasks")
        warnings.warn(
            "Setting 'object_store_memory' for actors is deprecated since it doesn't actually reserve the "
            "required object store memory. Use object spilling that's enabled by default instead to bypass "
            "the object store memory size limitation.", DeprecationWarning, stacklevel=4,
        )


def deprecated_pg_strategy(opts: dict[str, Any]) -> dict[str, Any] | None:
    """The strategy the deprecated ``placement_group=`` options mean (Ray turns them into a
    ``PlacementGroupSchedulingStrategy``), as the dict that travels; None if they are not used."""
    pg = opts.get("placement_group", "default")
    if pg == "default":
        return None
    index = int(opts.get("placement_group_bundle_index", -1))
    if pg is not None and index >= pg.bundle_count:
        raise ValueError(f"placement_group_bundle_index {index} is out of range: the group has {pg.bundle_count} bundles")
    return {"kind": "PLACEMENT_GROUP", "pg_id": bytes(pg.id) if pg is not None else None,
            "ready_id": getattr(pg, "_ready_id", None), "bundle_index": index,
            "capture_child_tasks": bool(opts.get("placement_group_capture_child_tasks"))}


def check_fits_placement_group(opts: dict[str, Any], resources: dict[str, float], placement: dict[str, float],
                               what: str) -> None:
    """Work in a placement group must fit one of its bundles (Ray's ``_validate_resource_shape``):
    ``ValueError`` at submission, not a task that waits forever. ``placement``: what an actor
    needs to be created (1 CPU by default), if more than it holds while it runs."""
    strategy = opts.get("scheduling_strategy")
    pg = getattr(strategy, "placement_group", None) if strategy is not None else opts.get("placement_group")
    bundles = getattr(pg, "bundle_specs", None)
    if not bundles:  # (None, "default", or a group from elsewhere)
        return

    def fits(request: dict[str, float]) -> bool:
        return any(all(b.get(k, 0) >= v for k, v in request.items() if k != "bundle") for b in bundles)

    if not fits(resources):
        raise ValueError(
            f"Cannot schedule {what} with the placement group because the resource request {resources} "
            f"cannot fit into any bundles for the placement group, {bundles}."
        )
    if not fits(placement):
        raise ValueError(
            f"Cannot schedule {what} with the placement group because the actor requires "
            f"{placement.get('CPU', 0)} CPU for creation, but it cannot fit into any bundles for the placement "
            f"group, {bundles}. Consider creating a placement group with CPU resources."
        )


def check_runtime_env(env: Any, *, task_level: bool = False) -> None:
    """A ``runtime_env`` edgeray can honour: ``env_vars`` ({str: str}) and, for the whole job
    (``init``, ``JobConfig``; not a task's or actor's own, ``task_level``),
    ``worker_process_setup_hook`` (a callable or a ``"module.func"`` name). The other fields
    (``pip``, ``conda``, ``working_dir``, ...) need installing things per task, which edgeray
    does not do: they are refused rather than ignored."""
    if env is None:
        return
    if not isinstance(env, dict):
        raise TypeError(f"runtime_env must be a dict, not {type(env).__name__}.")
    other = sorted(set(env) - {"env_vars", SETUP_HOOK})
    if other:
        raise ValueError(
            f"edgeray supports only runtime_env={{'env_vars': {{...}}, '{SETUP_HOOK}': ...}}; it cannot set up "
            f"{other} (install packages and ship code with the node instead)."
        )
    ev = env.get("env_vars")
    if ev is not None and (not isinstance(ev, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in ev.items())):
        raise TypeError(f"runtime_env['env_vars'] must be of type Dict[str, str], got {ev!r}.")
    hook = env.get(SETUP_HOOK)
    if hook is None:
        return
    if task_level:
        raise ValueError(
            f"runtime_env['{SETUP_HOOK}'] is only supported for the job's runtime env "
            "(init(runtime_env=...) or JobConfig), not for a task's or an actor's."
        )
    if not (callable(hook) or (isinstance(hook, str) and "." in hook.strip(". "))):
        raise TypeError(f"runtime_env['{SETUP_HOOK}'] must be a callable or a 'module.function' name, got {hook!r}.")


def resource_request(opts: dict[str, Any], *, default_cpus: float) -> dict[str, float]:
    """The resources a task or running actor holds."""
    res: dict[str, float] = {}
    cpus = opts.get("num_cpus")
    res["CPU"] = default_cpus if cpus is None else float(cpus)
    gpus = opts.get("num_gpus")
    if gpus:
        res["GPU"] = float(gpus)
    mem = opts.get("memory")
    if mem:
        res["memory"] = float(mem)
    for k, v in (opts.get("resources") or {}).items():
        if v:
            res[k] = float(v)
    return {k: v for k, v in res.items() if v}
