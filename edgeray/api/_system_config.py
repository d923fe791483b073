"""``init(_system_config={...})``: Ray's internal settings that mean something in edgeray.

Each supported key becomes a dotted override of the node's config (``edgeray.config``), given to
the node this driver starts; every other key is refused by name with a ``ValueError`` (Ray
accepts hundreds of internal flags; silently ignoring one would hide that it does nothing here).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


def _number(key: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ValueError(f"_system_config[{key!r}] must be a number, got {v!r}.")
    return v


def _fraction(key: str, v: Any) -> float:
    f = _number(key, v)
    if not 0 < f <= 1:
        raise ValueError(f"_system_config[{key!r}] must be > 0 and <= 1 (a fraction of the memory), got {v!r}.")
    return float(f)


def _int(key: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"_system_config[{key!r}] must be an int, got {v!r}.")
    if v < 0:
        raise ValueError(f"_system_config[{key!r}] must be >= 0, got {v!r}.")
    return v


def _bool(key: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError(f"_system_config[{key!r}] must be a bool, got {v!r}.")
    return v


def _soft_limit(key: str, v: Any) -> int:
    """Ray's ``num_workers_soft_limit``: -1 (its default) = decided from the CPUs (edgeray's 0)."""
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"_system_config[{key!r}] must be an int, got {v!r}.")
    n = v
    if n < -1 or n == 0:
        raise ValueError(f"_system_config[{key!r}] must be -1 (automatic) or >= 1, got {v!r}.")
    return 0 if n == -1 else n


def _spill_dir(key: str, v: Any) -> str:
    """Ray's ``object_spilling_config``: a JSON string (or dict) ``{"type": "filesystem",
    "params": {"directory_path": DIR}}``; a list of directories takes the first."""
    spec = v
    if isinstance(v, str):
        try:
            spec = json.loads(v)
        except ValueError as e:
            raise ValueError(f"_system_config[{key!r}] must be JSON: {e}") from None
    if not isinstance(spec, dict) or spec.get("type") != "filesystem":
        raise ValueError(
            f"_system_config[{key!r}]: edgeray spills only to the filesystem: use "
            f"'{{\"type\": \"filesystem\", \"params\": {{\"directory_path\": DIR}}}}', got {v!r}."
        )
    path = (spec.get("params") or {}).get("directory_path")
    if isinstance(path, list) and path:
        path = path[0]
    if not isinstance(path, str) or not path:
        raise ValueError(f"_system_config[{key!r}] needs params.directory_path (a directory), got {v!r}.")
    return path


#: Ray's key -> (edgeray config key, conversion of the value)
SYSTEM_CONFIG: dict[str, tuple[str, Callable[[str, Any], Any]]] = {
    "memory_usage_threshold": ("node.memory_usage_threshold", _fraction),
    "memory_monitor_refresh_ms": ("node.memory_monitor_refresh_ms", _int),
    "automatic_object_spilling_enabled": ("object_store.spilling", _bool),
    "object_spilling_config": ("object_store.spill_dir", _spill_dir),
    "max_direct_call_object_size": ("object_store.inline_threshold", _int),
    "num_workers_soft_limit": ("node.max_workers", _soft_limit),
}


def system_config_overrides(system_config: Any) -> dict[str, Any]:
    """The node config overrides meant by ``system_config`` (checked here, as the node's config
    checks them: a ``ValueError`` names the keys edgeray has no meaning for, or the value that
    is wrong)."""
    if system_config is None:
        return {}
    if not isinstance(system_config, dict):
        raise TypeError(f"_system_config must be a dict, not {type(system_config).__name__}.")
    unknown = sorted(str(k) for k in system_config if k not in SYSTEM_CONFIG)
    if unknown:
        raise ValueError(
            f"_system_config keys {unknown} have no meaning in edgeray; the supported keys are "
            f"{sorted(SYSTEM_CONFIG)} (the rest of the node's settings are in its config file)."
        )
    overrides: dict[str, Any] = {}
    for key, value in system_config.items():
        target, convert = SYSTEM_CONFIG[key]
        overrides[target] = convert(key, value)
    return overrides
