"""A node's configuration: frozen dataclasses loaded from TOML, every key defaulted.

One TOML file per node (all sections and keys optional); command-line flags override it::

    config = load_config("configs/head.toml", {"resources.num_cpus": 4, "node.port": 6380})
    config.node.port, config.resources.num_cpus, config.gcs.storage

Sections and keys (``configs/node.toml`` shows every one of them with its default):

``[node]``          head, host, port, advertise_address, head_address, name, prestart_workers, max_workers, worker_start,
                    memory_usage_threshold, memory_monitor_refresh_ms
``[resources]``     num_cpus, num_gpus, memory, custom, labels, gpu_ids
``[object_store]``  memory, inline_threshold, shm_dir, fallback_dir, spill_dir, spilling, force_file
``[auth]``          enabled, token
``[tls]``           enabled, cert_file, key_file, ca_file, require_client_cert
``[plugins]``       load
``[gcs]``           storage, sqlite_path, sqlite_synchronous, heartbeat_interval_s, node_timeout_s
``[protocol]``      max_frame_bytes, max_connections, handshake_timeout_s
``[log]``           level, max_bytes, backup_count

-1 means "detect automatically" for ``num_cpus``, ``num_gpus``, ``memory`` (both) and
``prestart_workers`` (= number of CPUs). Values are validated where they are read: a wrong key,
type or value raises ``ValueError`` naming the key, the file (or "overrides") and what was expected.

The config travels to child processes as a plain dict (``Config.to_dict()`` /
``Config.from_dict()``: only str, int, float, bool, list and dict inside, so CBOR/JSON-able).

This module imports only the standard library, ``edgeray.exceptions`` and ``_config_values`` (its
value checks, standard library only). It keeps no module-level mutable state: every
``load_config`` call builds a fresh ``Config``.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import pathlib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import _config_values as cv
from ._config_values import RESERVED_RESOURCE_NAMES

__all__ = [
    "Config",
    "NodeConfig",
    "ResourcesConfig",
    "ObjectStoreConfig",
    "AuthConfig",
    "TlsConfig",
    "PluginsConfig",
    "GcsConfig",
    "ProtocolConfig",
    "LogConfig",
    "load_config",
    "edgeray_home",
    "parse_resources_json",
    "RESERVED_RESOURCE_NAMES",
]


_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_SQLITE_SYNC = ("OFF", "NORMAL", "FULL", "EXTRA")


def edgeray_home() -> pathlib.Path:
    """The runtime directory: ``$EDGERAY_HOME`` if set (and not empty), else ``~/.edgeray``.

    Not created here; whoever writes into it creates it.
    """
    env = os.environ.get("EDGERAY_HOME")
    if env:
        return pathlib.Path(env).expanduser()
    return pathlib.Path.home() / ".edgeray"


class _Section:
    """Mixin: validates and normalizes every field after construction."""

    __slots__ = ()
    _section_name: str = ""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            raw = getattr(self, f.name)
            v = cv.check_value(self._section_name, f, raw, "Config(...)", allow_str=False)
            if v is not raw:
                object.__setattr__(self, f.name, v)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            if isinstance(v, tuple):
                v = list(v)
            elif isinstance(v, dict):
                v = dict(v)
            out[f.name] = v
        return out


# --------------------------------------------------------------------------------------------
# Sections.


@dataclass(frozen=True, slots=True)
class NodeConfig(_Section):
    """``[node]``: what this node is and where it listens."""

    _section_name = "node"
    #: Run the GCS here (the head). Defaults to false when ``head_address`` is given.
    head: bool = cv.opt(True, "bool")
    #: Interface the WebSocket listener binds to (and the address other nodes see).
    host: str = cv.opt("127.0.0.1", "str", cv.nonempty)
    #: WebSocket port; 0 picks a free one.
    port: int = cv.opt(0, "int", cv.port_number)
    #: The host other nodes and drivers reach this node at ("" = ``host``; for a wildcard
    #: host, the address of the interface of the default route).
    advertise_address: str = cv.opt("", "str", cv.host_name, str.strip)
    #: ``ws://HOST:PORT`` of the head to join ("" = none). ``HOST:PORT`` gets ``ws://`` added.
    head_address: str = cv.opt("", "str", cv.ws_address, cv.normalize_address)
    #: A human-readable node name ("" = none).
    name: str = cv.opt("", "str")
    #: Workers started ahead of demand (-1 = number of CPUs).
    prestart_workers: int = cv.opt(-1, "int", cv.prestart)
    #: Most pool workers taking tasks at once (0 = automatic: max(32, 8 × CPUs)); workers whose
    #: task is blocked in get/wait, and actors' workers, do not count.
    max_workers: int = cv.opt(0, "int", cv.nonneg)
    #: How worker processes start: "fork" (forked from a template process that has already
    #: imported the worker's modules; falls back to "spawn" where that fails) or "spawn" (a
    #: fresh interpreter each).
    worker_start: str = cv.opt("spawn", "str", cv.one_of(("fork", "spawn")))
    #: Ray's OOM prevention: above this fraction of the machine's (or its cgroup's) memory in
    #: use, the node kills a worker (Ray's default policy) to free memory.
    memory_usage_threshold: float = cv.opt(0.95, "float", cv.fraction)
    #: How often the memory monitor samples memory use, in ms (0 = no memory monitor).
    memory_monitor_refresh_ms: int = cv.opt(250, "int", cv.nonneg)


@dataclass(frozen=True, slots=True)
class ResourcesConfig(_Section):
    """``[resources]``: what this node offers; -1 = detect. Declared values beat detection."""

    _section_name = "resources"
    num_cpus: float = cv.opt(-1.0, "float", cv.auto_or_nonneg)
    num_gpus: float = cv.opt(-1.0, "float", cv.gpus)
    #: Bytes of memory offered to tasks (the "memory" resource).
    memory: int = cv.opt(-1, "int", cv.auto_or_nonneg)
    #: Custom resources, name -> amount.
    custom: dict[str, float] = cv.opt({}, "float_map", cv.custom_resources)
    #: Node labels, name -> value.
    labels: dict[str, str] = cv.opt({}, "str_map")
    #: GPU ids declared for this node (e.g. ["0", "1"]); they become CUDA_VISIBLE_DEVICES of tasks.
    gpu_ids: tuple[str, ...] = cv.opt((), "str_list")


@dataclass(frozen=True, slots=True)
class ObjectStoreConfig(_Section):
    """``[object_store]``: the shared-memory store."""

    _section_name = "object_store"
    #: Bytes of shared memory for objects (-1 = automatic).
    memory: int = cv.opt(-1, "int", cv.auto_or_nonneg)
    #: Values up to this many bytes travel inline in messages (Ray: 100 KiB).
    inline_threshold: int = cv.opt(102400, "int", cv.nonneg)
    shm_dir: str = cv.opt("/dev/shm", "str", cv.nonempty)
    #: Where segments go when shm_dir is missing or too small ("" = EDGERAY_HOME/shm).
    fallback_dir: str = cv.opt("", "str")
    #: Where objects spill when the store is full ("" = EDGERAY_HOME/spill).
    spill_dir: str = cv.opt("", "str")
    spilling: bool = cv.opt(True, "bool")
    #: Always use file-backed segments in fallback_dir (never shm_dir).
    force_file: bool = cv.opt(False, "bool")

    def resolved_fallback_dir(self) -> pathlib.Path:
        return pathlib.Path(self.fallback_dir).expanduser() if self.fallback_dir else edgeray_home() / "shm"

    def resolved_spill_dir(self) -> pathlib.Path:
        return pathlib.Path(self.spill_dir).expanduser() if self.spill_dir else edgeray_home() / "spill"


@dataclass(frozen=True, slots=True)
class AuthConfig(_Section):
    """``[auth]``: the cluster token."""

    _section_name = "auth"
    enabled: bool = cv.opt(True, "bool")
    #: The token itself ("" = read EDGERAY_HOME/token, creating it at first start).
    token: str = cv.opt("", "str", cv.token)

    def token_path(self) -> pathlib.Path:
        return edgeray_home() / "token"


@dataclass(frozen=True, slots=True)
class TlsConfig(_Section):
    """``[tls]``: ``wss://`` for the WebSocket listener and for links to other nodes."""

    _section_name = "tls"
    #: Serve ``wss://`` (needs cert_file and key_file); the node's address is then wss://.
    enabled: bool = cv.opt(False, "bool")
    #: This node's certificate (PEM, chain allowed); also its client certificate towards others.
    cert_file: str = cv.opt("", "str", None, str.strip)
    #: The certificate's private key (PEM).
    key_file: str = cv.opt("", "str", None, str.strip)
    #: CA bundle that verifies other nodes (and clients, with require_client_cert); "" = system CAs.
    ca_file: str = cv.opt("", "str", None, str.strip)
    #: Mutual TLS: clients must present a certificate signed by ca_file.
    require_client_cert: bool = cv.opt(False, "bool")


@dataclass(frozen=True, slots=True)
class PluginsConfig(_Section):
    """``[plugins]``: plugin modules to load besides the built-ins and entry points."""

    _section_name = "plugins"
    #: Dotted module paths, e.g. ["my_company.edgeray_binpack"].
    load: tuple[str, ...] = cv.opt((), "str_list")


@dataclass(frozen=True, slots=True)
class GcsConfig(_Section):
    """``[gcs]``: cluster tables and failure detection."""

    _section_name = "gcs"
    #: Persistence backend name (a plugin's; built in: "memory", "sqlite").
    storage: str = cv.opt("memory", "str", cv.nonempty)
    #: SQLite file for storage = "sqlite" ("" = EDGERAY_HOME/gcs.sqlite3).
    sqlite_path: str = cv.opt("", "str")
    #: SQLite ``PRAGMA synchronous``: NORMAL survives kill -9; FULL also survives power loss.
    sqlite_synchronous: str = cv.opt("NORMAL", "str", cv.one_of(_SQLITE_SYNC), str.upper)
    heartbeat_interval_s: float = cv.opt(1.0, "float", cv.positive)
    #: A node missing heartbeats this long is declared dead.
    node_timeout_s: float = cv.opt(10.0, "float", cv.positive)

    def resolved_sqlite_path(self) -> pathlib.Path:
        return pathlib.Path(self.sqlite_path).expanduser() if self.sqlite_path else edgeray_home() / "gcs.sqlite3"


@dataclass(frozen=True, slots=True)
class ProtocolConfig(_Section):
    """``[protocol]``: wire limits."""

    _section_name = "protocol"
    max_frame_bytes: int = cv.opt(64 * 1024 * 1024, "int", cv.frame_bytes)
    #: Most connections open at once, per listener (Unix socket, WebSocket); more are closed.
    max_connections: int = cv.opt(4096, "int", cv.at_least_one)
    #: Seconds a new connection has to finish its handshake (TLS, HTTP upgrade, hello).
    handshake_timeout_s: float = cv.opt(10.0, "float", cv.positive)


@dataclass(frozen=True, slots=True)
class LogConfig(_Section):
    """``[log]``: logging."""

    _section_name = "log"
    level: str = cv.opt("INFO", "str", cv.one_of(_LOG_LEVELS), str.upper)
    #: a log file (a worker's ``.out``/``.err``, ``node.log``) past this size is rotated (Ray's 512 MiB); 0: never
    max_bytes: int = cv.opt(512 * 1024 * 1024, "int", cv.nonneg)
    #: rotated files kept (``<name>.1`` ... ``.N``; Ray's 5); 0: never rotated
    backup_count: int = cv.opt(5, "int", cv.nonneg)


_SECTIONS: dict[str, type[_Section]] = {
    "node": NodeConfig,
    "resources": ResourcesConfig,
    "object_store": ObjectStoreConfig,
    "auth": AuthConfig,
    "tls": TlsConfig,
    "plugins": PluginsConfig,
    "gcs": GcsConfig,
    "protocol": ProtocolConfig,
    "log": LogConfig,
}
_FIELDS: dict[str, dict[str, dataclasses.Field]] = {
    name: {f.name: f for f in dataclasses.fields(cls)} for name, cls in _SECTIONS.items()  # type: ignore[arg-type]
}


def _known_keys(section: str | None = None) -> str:
    sections = [section] if section else list(_SECTIONS)
    return ", ".join(f"{s}.{k}" for s in sections for k in _FIELDS[s])


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _cross_check(
    node: NodeConfig, resources: ResourcesConfig, gcs: GcsConfig, tls: TlsConfig, source: str
) -> None:
    if tls.enabled and not (tls.cert_file and tls.key_file):
        raise ValueError(f"config in {source}: tls.enabled = true needs tls.cert_file and tls.key_file")
    if tls.require_client_cert and not tls.ca_file:
        raise ValueError(
            f"config in {source}: tls.require_client_cert = true needs tls.ca_file "
            "(the CA that signs the clients' certificates)"
        )
    if tls.require_client_cert and not tls.enabled:
        raise ValueError(f"config in {source}: tls.require_client_cert = true needs tls.enabled = true")
    if node.head and node.head_address:
        raise ValueError(
            f"config in {source}: node.head = true conflicts with node.head_address = "
            f"{node.head_address!r}; a node either is the head or joins one"
        )
    if resources.gpu_ids and resources.num_gpus != -1 and resources.num_gpus > len(resources.gpu_ids):
        raise ValueError(
            f"config in {source}: resources.num_gpus = {resources.num_gpus:g} is more than the "
            f"{len(resources.gpu_ids)} ids in resources.gpu_ids {list(resources.gpu_ids)}"
        )
    if len(set(resources.gpu_ids)) != len(resources.gpu_ids):
        raise ValueError(f"config in {source}: resources.gpu_ids has duplicates: {list(resources.gpu_ids)}")
    if gcs.node_timeout_s <= gcs.heartbeat_interval_s:
        raise ValueError(
            f"config in {source}: gcs.node_timeout_s ({gcs.node_timeout_s:g}) must be greater "
            f"than gcs.heartbeat_interval_s ({gcs.heartbeat_interval_s:g})"
        )


@dataclass(frozen=True, slots=True)
class Config:
    """A node's whole configuration. Build with :func:`load_config` or :meth:`from_dict`."""

    node: NodeConfig = field(default_factory=NodeConfig)
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)
    object_store: ObjectStoreConfig = field(default_factory=ObjectStoreConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    tls: TlsConfig = field(default_factory=TlsConfig)
    plugins: PluginsConfig = field(default_factory=PluginsConfig)
    gcs: GcsConfig = field(default_factory=GcsConfig)
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    log: LogConfig = field(default_factory=LogConfig)

    def __post_init__(self) -> None:
        for name, cls in _SECTIONS.items():
            if not isinstance(getattr(self, name), cls):
                raise TypeError(f"Config.{name} must be a {cls.__name__}, got {cv.describe(getattr(self, name))}")
        _cross_check(self.node, self.resources, self.gcs, self.tls, "Config(...)")

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Plain nested dicts (str/int/float/bool/list/dict only): CBOR- and JSON-able."""
        return {name: getattr(self, name).to_dict() for name in _SECTIONS}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Config:
        """The inverse of :meth:`to_dict`; missing sections and keys take their defaults."""
        return _build([(_parse_tree(data, "dict", allow_str=False), "dict")], "dict")

    def with_overrides(self, overrides: Mapping[str, Any]) -> Config:
        """A copy with dotted-key ``overrides`` applied (same rules as in :func:`load_config`)."""
        if not overrides:
            return self
        base = _parse_tree(self.to_dict(), "dict", allow_str=False)
        return _build(
            [(base, "config"), (_parse_overrides(overrides), "overrides")], "config with overrides"
        )


# --------------------------------------------------------------------------------------------
# Loading.

_Parsed = dict[str, dict[str, Any]]


def _parse_tree(data: Mapping[str, Any], source: str, allow_str: bool) -> _Parsed:
    if not isinstance(data, Mapping):
        raise ValueError(f"config in {source}: expected a table of sections, got {cv.describe(data)}")
    out: _Parsed = {}
    for section, table in data.items():
        if section not in _SECTIONS:
            raise ValueError(
                f"unknown config section '{section}' in {source}"
                f"{_did_you_mean(str(section), list(_SECTIONS))}; known sections: {', '.join(_SECTIONS)}"
            )
        if not isinstance(table, Mapping):
            raise ValueError(f"config section '{section}' in {source}: expected a table, got {cv.describe(table)}")
        fields = _FIELDS[section]
        parsed: dict[str, Any] = {}
        for key, value in table.items():
            f = fields.get(key)
            if f is None:
                raise ValueError(
                    f"unknown config key '{section}.{key}' in {source}"
                    f"{_did_you_mean(f'{section}.{key}', [f'{section}.{k}' for k in fields])}; "
                    f"known keys: {_known_keys(section)}"
                )
            parsed[key] = cv.check_value(section, f, value, source, allow_str)
        out[section] = parsed
    return out


def _parse_overrides(overrides: Mapping[str, Any]) -> _Parsed:
    """Dotted keys ``section.key`` (or ``section.mapkey.entry`` for custom/labels); None skipped.

    String values are accepted for every kind (parsed: "3", "true", "a,b", JSON for tables), so a
    generic ``--set key=value`` flag can pass them straight through.
    """
    source = "overrides"
    out: _Parsed = {}
    for dotted, value in overrides.items():
        if value is None:
            continue
        if not isinstance(dotted, str):
            raise ValueError(f"config override key must be a string, got {cv.describe(dotted)}")
        parts = dotted.split(".")
        if len(parts) == 1 and isinstance(value, Mapping):  # {"node": {"port": 1}}
            for section, table in _parse_tree({dotted: value}, source, allow_str=True).items():
                out.setdefault(section, {}).update(table)
            continue
        section = parts[0]
        if section not in _SECTIONS:
            raise ValueError(
                f"unknown config key '{dotted}' in {source}"
                f"{_did_you_mean(dotted, _known_keys().split(', '))}; known keys: {_known_keys()}"
            )
        fields = _FIELDS[section]
        key = parts[1] if len(parts) > 1 else ""
        f = fields.get(key)
        if f is None or (len(parts) > 2 and f.metadata["kind"] not in ("float_map", "str_map")) or len(parts) > 3:
            raise ValueError(
                f"unknown config key '{dotted}' in {source}"
                f"{_did_you_mean(dotted, [f'{section}.{k}' for k in fields])}; "
                f"known keys: {_known_keys(section)}"
            )
        sec = out.setdefault(section, {})
        if len(parts) == 3:  # one entry of a table: resources.custom.accel = 2
            entry_kind = "float" if f.metadata["kind"] == "float_map" else "str"
            try:
                entry = cv.coerce(entry_kind, value, allow_str=True)
            except cv.ConfigValueError:
                raise ValueError(
                    f"config key '{dotted}' in {source}: expected {cv.KIND_NAMES[entry_kind]}, "
                    f"got {cv.describe(value)}"
                ) from None
            merged = dict(sec.get(key, {}))
            merged[parts[2]] = entry
            sec[key] = _MapEntries(merged)
        else:
            sec[key] = cv.check_value(section, f, value, source, allow_str=True)
    return out


class _MapEntries(dict):
    """Marks override entries to merge into a table rather than replace it."""


def _build(layers: list[tuple[_Parsed, str]], source: str) -> Config:
    """Merge parsed layers (later wins) and construct the Config."""
    merged: _Parsed = {name: {} for name in _SECTIONS}
    head_layer = address_layer = -1
    for i, (parsed, _) in enumerate(layers):
        for section, table in parsed.items():
            for key, value in table.items():
                if isinstance(value, _MapEntries):
                    value = {**merged[section].get(key, {}), **value}
                merged[section][key] = value
        head_layer = i if "head" in parsed.get("node", {}) else head_layer
        address_layer = i if "head_address" in parsed.get("node", {}) else address_layer
    node = merged["node"]
    if node.get("head_address") and head_layer < address_layer:
        # Joining a head (given after, or without, any explicit node.head): not a head itself.
        node["head"] = False
    try:
        sections = {name: cls(**merged[name]) for name, cls in _SECTIONS.items()}
        _cross_check(sections["node"], sections["resources"], sections["gcs"], sections["tls"], source)  # type: ignore[arg-type]
    except ValueError as exc:
        msg = str(exc).replace(" in Config(...)", f" in {source}")
        raise ValueError(msg) from None
    return Config(**sections)  # type: ignore[arg-type]


def load_config(
    path: str | os.PathLike[str] | None = None, overrides: Mapping[str, Any] | None = None
) -> Config:
    """Read ``path`` (TOML; None = defaults only), then apply dotted-key ``overrides``.

    ``overrides`` maps ``"section.key"`` to a value (``{"resources.num_cpus": 3}``); a value of
    None means "not given" and is skipped, so command-line flags can be passed as they are.
    Raises ``ValueError`` for unknown sections/keys, wrong types or values, invalid TOML, and
    ``FileNotFoundError`` for a missing file.
    """
    layers: list[tuple[_Parsed, str]] = []
    source = "defaults"
    if path is not None:
        source = os.fspath(path)
        with open(path, "rb") as fh:
            try:
                data = tomllib.load(fh)
            except tomllib.TOMLDecodeError as exc:
                raise ValueError(f"invalid TOML in {source}: {exc}") from None
        layers.append((_parse_tree(data, source, allow_str=False), source))
    if overrides:
        layers.append((_parse_overrides(overrides), "overrides"))
        source = f"{source} with overrides" if path is not None else "overrides"
    return _build(layers, source)


def parse_resources_json(s: str) -> dict[str, float]:
    """Parse the CLI's ``--resources '{"name": amount}'`` into a dict of floats (Ray's rules)."""
    try:
        data = json.loads(s)
    except ValueError as exc:
        raise ValueError(f"--resources must be a JSON object like '{{\"accel\": 2}}': {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"--resources must be a JSON object like '{{\"accel\": 2}}', got {s!r}")
    out: dict[str, float] = {}
    for name, amount in data.items():
        if name in ("CPU", "GPU"):
            raise ValueError(
                f"--resources may not set {name!r}; use --num-cpus and --num-gpus instead"
            )
        if name in RESERVED_RESOURCE_NAMES:
            raise ValueError(f"--resources may not set the built-in resource {name!r}")
        if not name:
            raise ValueError("--resources has an empty resource name")
        if isinstance(amount, bool) or not isinstance(amount, int | float) or not math.isfinite(amount):
            raise ValueError(f"--resources: the amount of {name!r} must be a number, got {amount!r}")
        if amount < 0:
            raise ValueError(f"--resources: the amount of {name!r} must be >= 0, got {amount!r}")
        out[name] = float(amount)
    return out
