"""edgeray.config: defaults, TOML loading, overrides, validation messages, round trips."""

from __future__ import annotations

import dataclasses
import json
import pathlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgeray.config import (
    Config,
    NodeConfig,
    ResourcesConfig,
    edgeray_home,
    load_config,
    parse_resources_json,
)

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.toml"))


def write(tmp_path: pathlib.Path, text: str, name: str = "node.toml") -> pathlib.Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_defaults() -> None:
    c = load_config()
    assert c == Config()
    assert (c.node.head, c.node.host, c.node.port, c.node.head_address) == (True, "127.0.0.1", 0, "")
    assert (c.node.name, c.node.prestart_workers, c.node.max_workers) == ("", -1, 0)
    assert (c.node.memory_usage_threshold, c.node.memory_monitor_refresh_ms) == (0.95, 250)  # Ray's defaults
    r = c.resources
    assert (r.num_cpus, r.num_gpus, r.memory, r.custom, r.labels, r.gpu_ids) == (-1, -1, -1, {}, {}, ())
    o = c.object_store
    assert (o.memory, o.inline_threshold, o.shm_dir) == (-1, 102400, "/dev/shm")
    assert (o.fallback_dir, o.spill_dir, o.spilling, o.force_file) == ("", "", True, False)
    assert (c.auth.enabled, c.auth.token) == (True, "")
    assert c.plugins.load == ()
    g = c.gcs
    assert (g.storage, g.sqlite_path, g.heartbeat_interval_s, g.node_timeout_s) == ("memory", "", 1.0, 10.0)
    assert c.protocol.max_frame_bytes == 64 * 1024 * 1024
    assert c.log.level == "INFO"


def test_load_file_and_overrides(tmp_path: pathlib.Path) -> None:
    p = write(
        tmp_path,
        """
[node]
port = 6380
name = "n1"
[resources]
num_cpus = 2
gpu_ids = [0, 1]
[resources.custom]
accel = 2
[resources.labels]
zone = "lab"
[gcs]
heartbeat_interval_s = 1
""",
    )
    c = load_config(p, {"resources.num_cpus": 3, "node.host": "0.0.0.0", "resources.num_gpus": None})
    assert c.node.port == 6380 and c.node.name == "n1" and c.node.host == "0.0.0.0"
    assert c.resources.num_cpus == 3.0 and isinstance(c.resources.num_cpus, float)
    assert c.resources.num_gpus == -1  # None = not given
    assert c.resources.gpu_ids == ("0", "1")
    assert c.resources.custom == {"accel": 2.0}
    assert c.resources.labels == {"zone": "lab"}
    assert c.gcs.heartbeat_interval_s == 1.0


def test_overrides_forms() -> None:
    c = load_config(
        overrides={
            "node.port": "7000",  # strings are parsed for non-string keys
            "object_store.spilling": "false",
            "plugins.load": "a.b, c.d",
            "resources.custom.accel": 2,
            "resources.labels.zone": "lab",
            "log": {"level": "debug"},
        }
    )
    assert c.node.port == 7000
    assert c.object_store.spilling is False
    assert c.plugins.load == ("a.b", "c.d")
    assert c.resources.custom == {"accel": 2.0}
    assert c.resources.labels == {"zone": "lab"}
    assert c.log.level == "DEBUG"


def test_table_entry_override_merges_with_file(tmp_path: pathlib.Path) -> None:
    p = write(tmp_path, "[resources.custom]\na = 1\n")
    c = load_config(p, {"resources.custom.b": 2})
    assert c.resources.custom == {"a": 1.0, "b": 2.0}
    c = load_config(p, {"resources.custom": {"b": 2}})  # a whole table replaces
    assert c.resources.custom == {"b": 2.0}


def test_unknown_key_message(tmp_path: pathlib.Path) -> None:
    p = write(tmp_path, "[node]\nprot = 1\n")
    with pytest.raises(ValueError) as ei:
        load_config(p)
    msg = str(ei.value)
    assert f"unknown config key 'node.prot' in {p}" in msg
    assert "did you mean 'node.port'" in msg
    assert "known keys: node.head, node.host, node.port" in msg


def test_unknown_section_message(tmp_path: pathlib.Path) -> None:
    p = write(tmp_path, "[nodes]\nport = 1\n")
    with pytest.raises(ValueError, match=r"unknown config section 'nodes' in .*did you mean 'node'"):
        load_config(p)


def test_unknown_override_key() -> None:
    with pytest.raises(ValueError, match=r"unknown config key 'node.prot' in overrides"):
        load_config(overrides={"node.prot": 1})
    with pytest.raises(ValueError, match=r"unknown config key 'nod.port' in overrides.*node.port"):
        load_config(overrides={"nod.port": 1})
    with pytest.raises(ValueError, match=r"unknown config key 'node.port.x'"):
        load_config(overrides={"node.port.x": 1})


@pytest.mark.parametrize(
    "toml, key, expected, got",
    [
        ('[node]\nport = "6380"\n', "node.port", "an integer", "'6380' (str)"),
        ("[node]\nhead = 1\n", "node.head", "a boolean (true/false)", "1 (int)"),
        ("[resources]\nnum_cpus = true\n", "resources.num_cpus", "a number", "True (bool)"),
        ("[node]\nhost = 5\n", "node.host", "a string", "5 (int)"),
        ('[plugins]\nload = "x"\n', "plugins.load", "a list of strings", "'x' (str)"),
        ('[resources]\ncustom = {a = "x"}\n', "resources.custom", "a table of name = number", "{'a': 'x'} (dict)"),
        ("[resources]\nlabels = {a = 1}\n", "resources.labels", "a table of name = string", "{'a': 1} (dict)"),
        ("[node]\nport = 1.5\n", "node.port", "an integer", "1.5 (float)"),
    ],
)
def test_wrong_type_messages(tmp_path: pathlib.Path, toml: str, key: str, expected: str, got: str) -> None:
    p = write(tmp_path, toml)
    with pytest.raises(ValueError) as ei:
        load_config(p)
    assert str(ei.value) == f"config key '{key}' in {p}: expected {expected}, got {got}"


def test_section_not_a_table(tmp_path: pathlib.Path) -> None:
    p = write(tmp_path, "node = 5\n")
    with pytest.raises(ValueError, match=r"config section 'node' in .*expected a table"):
        load_config(p)


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"node.port": 70000}, r"'node.port'.*between 0 and 65535"),
        ({"node.port": -1}, r"'node.port'"),
        ({"resources.num_cpus": -2}, r"'resources.num_cpus'.*-1 \(auto\) or >= 0"),
        ({"resources.memory": -5}, r"'resources.memory'"),
        ({"resources.num_gpus": 1.5}, r"'resources.num_gpus'.*whole number"),
        ({"resources.custom": {"CPU": 1}}, r"built-in resource 'CPU'"),
        ({"resources.custom": {"x": -1}}, r"negative"),
        ({"node.prestart_workers": -2}, r"'node.prestart_workers'"),
        ({"node.max_workers": -1}, r"'node.max_workers'"),
        ({"node.memory_usage_threshold": 0}, r"'node.memory_usage_threshold'"),
        ({"node.memory_usage_threshold": 1.5}, r"'node.memory_usage_threshold'"),
        ({"node.memory_monitor_refresh_ms": -1}, r"'node.memory_monitor_refresh_ms'"),
        ({"object_store.inline_threshold": -1}, r"'object_store.inline_threshold'"),
        ({"gcs.heartbeat_interval_s": 0}, r"'gcs.heartbeat_interval_s'.*> 0"),
        ({"gcs.node_timeout_s": 0.5}, r"node_timeout_s \(0.5\) must be greater than gcs.heartbeat_interval_s"),
        ({"gcs.sqlite_synchronous": "sometimes"}, r"one of OFF, NORMAL, FULL, EXTRA"),
        ({"gcs.storage": " "}, r"'gcs.storage'.*not be empty"),
        ({"protocol.max_frame_bytes": 10}, r"at least 1024"),
        ({"log.level": "LOUD"}, r"'log.level'.*one of DEBUG"),
        ({"node.head_address": "http://h:1"}, r"ws://HOST:PORT"),
        ({"node.head_address": "ws://h"}, r"both a host and a port"),
        ({"auth.token": "has space"}, r"'auth.token'"),
        ({"resources.num_cpus": float("inf")}, r"expected a number"),
    ],
)
def test_bad_values(overrides: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        load_config(overrides=overrides)


def test_fractional_gpus_below_one_ok() -> None:
    assert load_config(overrides={"resources.num_gpus": 0.5}).resources.num_gpus == 0.5
    assert load_config(overrides={"resources.num_gpus": 2}).resources.num_gpus == 2.0


def test_gpu_ids_checks() -> None:
    with pytest.raises(ValueError, match=r"num_gpus = 3 is more than the 2 ids"):
        load_config(overrides={"resources.gpu_ids": ["0", "1"], "resources.num_gpus": 3})
    with pytest.raises(ValueError, match="duplicates"):
        load_config(overrides={"resources.gpu_ids": ["0", "0"]})
    c = load_config(overrides={"resources.gpu_ids": "0,1", "resources.num_gpus": 1})
    assert c.resources.gpu_ids == ("0", "1") and c.resources.num_gpus == 1


def test_head_address(tmp_path: pathlib.Path) -> None:
    c = load_config(overrides={"node.head_address": "10.0.0.1:6380"})
    assert c.node.head_address == "ws://10.0.0.1:6380"
    assert c.node.head is False  # joining a head: not a head
    with pytest.raises(ValueError, match="node.head = true conflicts with node.head_address"):
        load_config(overrides={"node.head": True, "node.head_address": "ws://h:1"})
    # A file saying head = true, joined to a head from the command line: the later intent wins.
    p = write(tmp_path, "[node]\nhead = true\n")
    assert load_config(p, {"node.head_address": "ws://h:1"}).node.head is False
    p = write(tmp_path, '[node]\nhead = true\nhead_address = "ws://h:1"\n', "bad.toml")
    with pytest.raises(ValueError, match="bad.toml: node.head = true conflicts"):
        load_config(p)


def test_invalid_toml_names_file(tmp_path: pathlib.Path) -> None:
    p = write(tmp_path, "[node\n")
    with pytest.raises(ValueError, match=f"invalid TOML in {p}"):
        load_config(p)


def test_missing_file() -> None:
    with pytest.raises(FileNotFoundError):
        load_config("/nonexistent/edgeray.toml")


def test_round_trip_to_dict_from_dict(tmp_path: pathlib.Path) -> None:
    c = load_config(
        overrides={
            "node.port": 6380,
            "resources.custom.a": 1.5,
            "resources.labels.z": "x",
            "resources.gpu_ids": ["0"],
            "plugins.load": ["m"],
            "gcs.storage": "sqlite",
        }
    )
    d = c.to_dict()
    text = json.dumps(d)  # plain, JSON-able
    assert Config.from_dict(json.loads(text)) == c
    assert d["resources"]["gpu_ids"] == ["0"] and d["plugins"]["load"] == ["m"]
    d["resources"]["custom"]["b"] = 1  # the dict is a copy
    assert "b" not in c.resources.custom


def test_from_dict_partial_and_validated() -> None:
    assert Config.from_dict({"node": {"port": 1}}).node.port == 1
    assert Config.from_dict({}) == Config()
    with pytest.raises(ValueError, match=r"config key 'node.port' in dict: expected an integer"):
        Config.from_dict({"node": {"port": "1"}})  # strict types: only overrides parse strings
    with pytest.raises(ValueError, match=r"unknown config key 'node.x' in dict"):
        Config.from_dict({"node": {"x": 1}})


def test_frozen_and_constructor_validation() -> None:
    c = Config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.node.port = 5  # type: ignore[misc]
    with pytest.raises(ValueError, match=r"'node.port' in Config\(...\)"):
        NodeConfig(port=-3)
    r = ResourcesConfig(num_cpus=2, gpu_ids=["1"])  # type: ignore[arg-type]
    assert r.num_cpus == 2.0 and r.gpu_ids == ("1",)
    n = dataclasses.replace(c.node, port=9)
    assert n.port == 9
    with pytest.raises(ValueError):
        dataclasses.replace(c.node, port=99999)
    with pytest.raises(TypeError):
        Config(node=5)  # type: ignore[arg-type]


def test_with_overrides() -> None:
    c = load_config(overrides={"node.port": 1, "resources.custom.a": 1})
    c2 = c.with_overrides({"resources.num_cpus": 4, "resources.custom.b": 2})
    assert c2.node.port == 1 and c2.resources.num_cpus == 4
    assert c2.resources.custom == {"a": 1.0, "b": 2.0}
    assert c.resources.num_cpus == -1
    assert c.with_overrides({}) is c
    assert c.with_overrides({"node.head_address": "ws://h:1"}).node.head is False


def test_edgeray_home_and_resolved_paths(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    monkeypatch.setenv("EDGERAY_HOME", str(tmp_path))
    assert edgeray_home() == tmp_path
    c = Config()
    assert c.object_store.resolved_fallback_dir() == tmp_path / "shm"
    assert c.object_store.resolved_spill_dir() == tmp_path / "spill"
    assert c.gcs.resolved_sqlite_path() == tmp_path / "gcs.sqlite3"
    assert c.auth.token_path() == tmp_path / "token"
    c = load_config(overrides={"gcs.sqlite_path": str(tmp_path / "x.db")})
    assert c.gcs.resolved_sqlite_path() == tmp_path / "x.db"
    monkeypatch.delenv("EDGERAY_HOME")
    assert edgeray_home() == pathlib.Path.home() / ".edgeray"
    monkeypatch.setenv("EDGERAY_HOME", "")
    assert edgeray_home() == pathlib.Path.home() / ".edgeray"


def test_parse_resources_json() -> None:
    assert parse_resources_json('{"accel": 2, "half": 0.5}') == {"accel": 2.0, "half": 0.5}
    assert parse_resources_json("{}") == {}
    for bad, match in [
        ("[1]", "JSON object"),
        ("{", "JSON object"),
        ('{"CPU": 1}', "--num-cpus"),
        ('{"GPU": 1}', "--num-gpus"),
        ('{"memory": 1}', "built-in"),
        ('{"a": -1}', ">= 0"),
        ('{"a": "1"}', "must be a number"),
        ('{"a": true}', "must be a number"),
        ('{"": 1}', "empty"),
    ]:
        with pytest.raises(ValueError, match=match):
            parse_resources_json(bad)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_example_config_loads(path: pathlib.Path) -> None:
    c = load_config(path)
    assert Config.from_dict(c.to_dict()) == c


def test_example_configs_say_what_they_should() -> None:
    names = {p.name for p in CONFIGS}
    assert {"node.toml", "head.toml", "worker.toml", "durable-gcs.toml"} <= names
    assert load_config(ROOT / "configs" / "node.toml") == Config()  # every key at its default
    head = load_config(ROOT / "configs" / "head.toml")
    assert head.node.head and head.node.port == 6380
    worker = load_config(ROOT / "configs" / "worker.toml")
    assert not worker.node.head and worker.node.head_address == "ws://127.0.0.1:6380"
    durable = load_config(ROOT / "configs" / "durable-gcs.toml")
    assert durable.node.head and durable.gcs.storage == "sqlite"


def test_node_toml_shows_every_key() -> None:
    import tomllib

    data = tomllib.loads((ROOT / "configs" / "node.toml").read_text())
    shown = {f"{s}.{k}" for s, table in data.items() for k in table}
    expected = {f"{s}.{k}" for s, table in Config().to_dict().items() for k in table}
    assert shown == expected


@given(
    port=st.integers(0, 65535),
    cpus=st.one_of(st.just(-1), st.integers(0, 512)),
    custom=st.dictionaries(
        st.text(min_size=1, max_size=8).filter(lambda s: s not in ("CPU", "GPU", "memory", "object_store_memory")),
        st.floats(0, 1e6, allow_nan=False),
        max_size=3,
    ),
    labels=st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
)
def test_round_trip_property(port: int, cpus: int, custom: dict, labels: dict) -> None:
    c = load_config(
        overrides={"node.port": port, "resources.num_cpus": cpus, "resources.custom": custom, "resources.labels": labels}
    )
    assert Config.from_dict(json.loads(json.dumps(c.to_dict()))) == c


def test_pickles() -> None:
    import pickle

    c = load_config(overrides={"resources.custom.a": 1, "plugins.load": ["m"]})
    assert pickle.loads(pickle.dumps(c)) == c
