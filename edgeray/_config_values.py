"""How a config key's value is checked: the kinds a key may have, converting a value to its kind
(from TOML, or from the strings of flags and overrides), and the per-key checks. ``config``
declares its sections with ``opt`` and reports errors with ``check_value``.

This module imports only the standard library.
"""

from __future__ import annotations

import dataclasses
import json
import math
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import field
from typing import Any

#: Resource names a node sets from dedicated keys; they may not appear in ``resources.custom``
#: (nor in ``--resources``), as in Ray.
RESERVED_RESOURCE_NAMES = ("CPU", "GPU", "memory", "object_store_memory")

# --------------------------------------------------------------------------------------------
# Per-key value checks. Each returns None when fine, else the reason (completes "must ...").


def auto_or_nonneg(v: float) -> str | None:
    if v == -1 or v >= 0:
        return None
    return "be -1 (auto) or >= 0"


def nonneg(v: float) -> str | None:
    return None if v >= 0 else "be >= 0"


def positive(v: float) -> str | None:
    return None if v > 0 else "be > 0"


def fraction(v: float) -> str | None:
    return None if 0 < v <= 1 else "be > 0 and <= 1 (a fraction of the memory)"


def at_least_one(v: float) -> str | None:
    return None if v >= 1 else "be >= 1"


def host_name(v: str) -> str | None:
    """A host name or IP address alone (no scheme, no port), or "" for none."""
    if v == "":
        return None
    if "://" in v or "/" in v or any(c.isspace() for c in v):
        return "be a host name or IP address alone, like 10.0.0.5 (no scheme, port or path)"
    if v.count(":") == 1 or (v.startswith("[") and "]:" in v):
        return "be a host without a port (the port is node.port)"
    if v in ("0.0.0.0", "::", "[::]"):
        return "be an address others can reach, not a wildcard"
    return None


def port_number(v: int) -> str | None:
    return None if 0 <= v <= 65535 else "be a TCP port between 0 and 65535 (0 = pick a free one)"


def prestart(v: int) -> str | None:
    return None if v >= -1 else "be -1 (= number of CPUs) or >= 0"


def gpus(v: float) -> str | None:
    if v == -1:
        return None
    if v < 0:
        return "be -1 (auto) or >= 0"
    if v > 1 and not float(v).is_integer():
        return "be a whole number when greater than 1 (fractions are allowed only below 1)"
    return None


def nonempty(v: str) -> str | None:
    return None if v.strip() else "not be empty"


def frame_bytes(v: int) -> str | None:
    return None if v >= 1024 else "be at least 1024"


def one_of(choices: tuple[str, ...]) -> Callable[[str], str | None]:
    def check(v: str) -> str | None:
        return None if v in choices else f"be one of {', '.join(choices)}"

    return check


def token(v: str) -> str | None:
    if v == "" or all(33 <= ord(c) <= 126 for c in v):
        return None
    return "contain only printable ASCII characters without spaces (it travels in an HTTP header)"


def custom_resources(v: dict[str, float]) -> str | None:
    for name, amount in v.items():
        if not name:
            return "not contain an empty resource name"
        if name in RESERVED_RESOURCE_NAMES:
            return (
                f"not name the built-in resource {name!r} (use resources.num_cpus, "
                "resources.num_gpus, resources.memory or object_store.memory instead)"
            )
        if amount < 0:
            return f"not hold a negative amount (got {name!r} = {amount})"
    return None


def ws_address(v: str) -> str | None:
    if v == "":
        return None
    parsed = urllib.parse.urlsplit(v)
    if parsed.scheme not in ("ws", "wss"):
        return "be a ws://HOST:PORT or wss://HOST:PORT address (or HOST:PORT)"
    try:
        port = parsed.port
    except ValueError:
        port = None
    if not parsed.hostname or port is None:
        return "name both a host and a port, like ws://127.0.0.1:6380"
    return None


def normalize_address(v: str) -> str:
    v = v.strip()
    if v and "://" not in v:
        v = "ws://" + v
    return v


# --------------------------------------------------------------------------------------------
# Field declarations: kind, optional check, optional normalizer.

KIND_NAMES = {
    "bool": "a boolean (true/false)",
    "int": "an integer",
    "float": "a number",
    "str": "a string",
    "str_list": "a list of strings",
    "float_map": "a table of name = number",
    "str_map": "a table of name = string",
}


def opt(
    default: Any,
    kind: str,
    check: Callable[[Any], str | None] | None = None,
    normalize: Callable[[Any], Any] | None = None,
) -> Any:
    meta = {"kind": kind, "check": check, "normalize": normalize}
    if isinstance(default, dict):
        return field(default_factory=dict, metadata=meta)
    if isinstance(default, tuple):
        return field(default=default, metadata=meta)
    return field(default=default, metadata=meta)


class ConfigValueError(ValueError):
    """Internal: carries a message without the source; re-raised as ValueError with it."""


def describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def parse_bool_str(s: str) -> bool:
    low = s.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise ConfigValueError


def coerce(kind: str, value: Any, allow_str: bool) -> Any:
    """Convert ``value`` to ``kind`` or raise ConfigValueError (message filled in by the caller)."""
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if allow_str and isinstance(value, str):
            return parse_bool_str(value)
        raise ConfigValueError
    if kind == "int":
        if isinstance(value, bool):
            raise ConfigValueError
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if allow_str and isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                raise ConfigValueError from None
        raise ConfigValueError
    if kind == "float":
        if isinstance(value, bool):
            raise ConfigValueError
        if isinstance(value, int | float):
            f = float(value)
        elif allow_str and isinstance(value, str):
            try:
                f = float(value.strip())
            except ValueError:
                raise ConfigValueError from None
        else:
            raise ConfigValueError
        if not math.isfinite(f):
            raise ConfigValueError
        return f
    if kind == "str":
        if isinstance(value, str):
            return value
        raise ConfigValueError
    if kind == "str_list":
        if allow_str and isinstance(value, str):
            return tuple(p.strip() for p in value.split(",") if p.strip())
        if isinstance(value, list | tuple):
            out = []
            for item in value:
                if isinstance(item, str):
                    out.append(item)
                elif isinstance(item, int) and not isinstance(item, bool):
                    out.append(str(item))  # gpu_ids = [0, 1] reads naturally in TOML
                else:
                    raise ConfigValueError
            return tuple(out)
        raise ConfigValueError
    if kind in ("float_map", "str_map"):
        if allow_str and isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise ConfigValueError from None
        if not isinstance(value, Mapping):
            raise ConfigValueError
        out_m: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ConfigValueError
            if kind == "float_map":
                out_m[k] = coerce("float", v, allow_str)
            elif isinstance(v, str):
                out_m[k] = v
            else:
                raise ConfigValueError
        return out_m
    raise AssertionError(f"unknown kind {kind}")  # pragma: no cover


def check_value(section: str, f: dataclasses.Field, value: Any, source: str, allow_str: bool) -> Any:
    kind = f.metadata["kind"]
    key = f"{section}.{f.name}"
    try:
        v = coerce(kind, value, allow_str)
    except ConfigValueError:
        raise ValueError(
            f"config key '{key}' in {source}: expected {KIND_NAMES[kind]}, got {describe(value)}"
        ) from None
    normalize = f.metadata["normalize"]
    if normalize is not None:
        v = normalize(v)
    check = f.metadata["check"]
    if check is not None:
        reason = check(v)
        if reason is not None:
            raise ValueError(f"config key '{key}' in {source}: must {reason}, got {v!r}")
    return v
