"""Built-in resource detection (a plain edgeray plugin: hook functions only).

- ``CPU``: the CPUs this process may run on (``sched_getaffinity``), further limited by a cgroup
  CPU quota (v2 ``cpu.max``, v1 ``cpu.cfs_quota_us``/``cpu.cfs_period_us``), rounded down, at
  least 1.
- ``memory``: available memory (``/proc/meminfo`` MemAvailable, limited by the cgroup's
  ``memory.max - memory.current``) minus the object store's share.
- ``object_store_memory``: 30% of available memory (Ray's default), at most 200 GB, and at most
  95% of the free space of ``object_store.shm_dir`` when that holds at least 64 MiB.
- GPU ids: ``resources.gpu_ids`` from the config, else ``CUDA_VISIBLE_DEVICES`` (empty = none),
  else none when ``resources.num_gpus`` is declared (the core numbers them 0..n-1, as Ray does),
  else ``nvidia-smi`` if on PATH (2 s timeout; any failure = no GPUs). The ``GPU`` amount is
  derived from the ids by the core.
- ``node:<host>`` = 1 (and ``node:__internal_head__`` = 1 on the head), as Ray reports them.
- custom resources and labels from the config.

Values declared in the config always win; the core applies them after all detectors ran.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess

from edgeray.config import Config
from edgeray.plugins import hookimpl

__all__ = [
    "detect_cpus",
    "cgroup_cpu_limit",
    "available_memory",
    "cgroup_memory_available",
    "default_object_store_memory",
    "parse_cuda_visible_devices",
    "nvidia_smi_gpu_ids",
]

CGROUP_ROOT = pathlib.Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = pathlib.Path("/proc/self/cgroup")
OBJECT_STORE_PROPORTION = 0.3
OBJECT_STORE_MAX_BYTES = 200 * 10**9
_MIN_SHM_BYTES = 64 * 1024 * 1024
_UNLIMITED = 1 << 60  # cgroup v1 writes ~2**63 for "no limit"


def _read(path: pathlib.Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, ValueError):
        return None


def _own_cgroup_paths(proc_self_cgroup: pathlib.Path) -> dict[str, str]:
    """controller -> cgroup path of this process ("" key for the v2 unified hierarchy)."""
    out: dict[str, str] = {}
    text = _read(proc_self_cgroup) or ""
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":
            out[""] = path
        for c in controllers.split(","):
            if c:
                out[c] = path
    return out


def _candidate_dirs(root: pathlib.Path, sub: str, path: str | None) -> list[pathlib.Path]:
    """The process's cgroup dir and its ancestors up to the (namespace) root, leaf first."""
    base = root / sub if sub else root
    dirs: list[pathlib.Path] = []
    if path:
        p = pathlib.PurePosixPath(path)
        while True:
            rel = str(p).lstrip("/")
            dirs.append(base / rel if rel else base)
            if p.parent == p:
                break
            p = p.parent
    if base not in dirs:
        dirs.append(base)
    return dirs


def cgroup_cpu_limit(
    root: pathlib.Path = CGROUP_ROOT, proc_self_cgroup: pathlib.Path = PROC_SELF_CGROUP
) -> float | None:
    """The tightest CPU quota (in CPUs) over this process's cgroup and its ancestors, or None."""
    own = _own_cgroup_paths(proc_self_cgroup)
    limits: list[float] = []
    # cgroup v2: cpu.max = "<quota|max> <period>"
    for d in _candidate_dirs(root, "", own.get("")):
        text = _read(d / "cpu.max")
        if text:
            parts = text.split()
            if len(parts) == 2 and parts[0] != "max":
                try:
                    quota, period = int(parts[0]), int(parts[1])
                except ValueError:
                    continue
                if quota > 0 and period > 0:
                    limits.append(quota / period)
    # cgroup v1: cpu.cfs_quota_us (-1 = none) / cpu.cfs_period_us
    for sub in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        for d in _candidate_dirs(root, sub, own.get("cpu")):
            q, p = _read(d / "cpu.cfs_quota_us"), _read(d / "cpu.cfs_period_us")
            if q and p:
                try:
                    quota, period = int(q), int(p)
                except ValueError:
                    continue
                if quota > 0 and period > 0:
                    limits.append(quota / period)
    return min(limits) if limits else None


def detect_cpus(
    root: pathlib.Path = CGROUP_ROOT, proc_self_cgroup: pathlib.Path = PROC_SELF_CGROUP
) -> int:
    """CPUs this process may use: affinity, limited by a cgroup quota (rounded down, >= 1)."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    limit = cgroup_cpu_limit(root, proc_self_cgroup)
    if limit is not None:
        n = min(n, max(1, int(limit)))
    return max(1, n)


def cgroup_memory_available(
    root: pathlib.Path = CGROUP_ROOT, proc_self_cgroup: pathlib.Path = PROC_SELF_CGROUP
) -> int | None:
    """Bytes left under the tightest cgroup memory limit (limit - usage), or None if unlimited."""
    own = _own_cgroup_paths(proc_self_cgroup)
    avail: list[int] = []
    for d in _candidate_dirs(root, "", own.get("")):  # v2
        limit, usage = _read(d / "memory.max"), _read(d / "memory.current")
        if limit and limit != "max":
            try:
                avail.append(max(0, int(limit) - int(usage or 0)))
            except ValueError:
                pass
    for d in _candidate_dirs(root, "memory", own.get("memory")):  # v1
        limit, usage = _read(d / "memory.limit_in_bytes"), _read(d / "memory.usage_in_bytes")
        if limit:
            try:
                lim = int(limit)
                if lim < _UNLIMITED:
                    avail.append(max(0, lim - int(usage or 0)))
            except ValueError:
                pass
    return min(avail) if avail else None


def _meminfo_available(meminfo: pathlib.Path = pathlib.Path("/proc/meminfo")) -> int | None:
    text = _read(meminfo)
    if text:
        for line in text.splitlines():
            if line.startswith("MemAvailable:"):
                parts = line.split()
                try:
                    return int(parts[1]) * 1024  # kB
                except (IndexError, ValueError):
                    return None
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def available_memory(
    root: pathlib.Path = CGROUP_ROOT,
    proc_self_cgroup: pathlib.Path = PROC_SELF_CGROUP,
    meminfo: pathlib.Path = pathlib.Path("/proc/meminfo"),
) -> int:
    """Bytes of memory available to this process now (0 if unknown)."""
    candidates = [
        v
        for v in (_meminfo_available(meminfo), cgroup_memory_available(root, proc_self_cgroup))
        if v is not None
    ]
    return min(candidates) if candidates else 0


def default_object_store_memory(available: int, config: Config) -> int:
    """Ray's default: 30% of available memory, at most 200 GB, at most 95% of shm_dir's free space."""
    osm = min(int(available * OBJECT_STORE_PROPORTION), OBJECT_STORE_MAX_BYTES)
    if not config.object_store.force_file:
        try:
            st = os.statvfs(config.object_store.shm_dir)
            shm_free = int(st.f_bavail * st.f_frsize * 0.95)
        except OSError:
            shm_free = 0
        if shm_free >= _MIN_SHM_BYTES:
            osm = min(osm, shm_free)
    return max(0, osm)


def parse_cuda_visible_devices(value: str) -> list[str]:
    """GPU ids from a ``CUDA_VISIBLE_DEVICES`` value. Empty (or ``NoDevFiles``) = none; as CUDA
    does, an id starting with ``-`` (e.g. ``-1``) hides it and every id after it."""
    value = value.strip()
    if not value or value == "NoDevFiles":
        return []
    ids: list[str] = []
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        if part.startswith("-"):
            break
        ids.append(part)
    return ids


def nvidia_smi_gpu_ids(timeout: float = 2.0) -> list[str]:
    """GPU indexes reported by ``nvidia-smi`` (none when absent, failing or slow)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        proc = subprocess.run(
            [exe, "--query-gpu=index", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    if proc.returncode != 0:
        return []
    return [line.strip() for line in proc.stdout.splitlines() if line.strip()]


@hookimpl
def edgeray_detect_resources(config: Config) -> dict[str, float]:
    res = config.resources
    out: dict[str, float] = {}
    out["CPU"] = float(res.num_cpus) if res.num_cpus != -1 else float(detect_cpus())
    need_memory = res.memory == -1 or config.object_store.memory == -1
    avail = available_memory() if need_memory else 0
    if config.object_store.memory != -1:
        osm = config.object_store.memory
    else:
        osm = default_object_store_memory(avail, config)
    out["object_store_memory"] = float(osm)
    out["memory"] = float(res.memory if res.memory != -1 else max(0, avail - osm))
    for name, amount in res.custom.items():
        out[name] = amount
    out[f"node:{config.node.host}"] = 1.0
    if config.node.head:
        out["node:__internal_head__"] = 1.0
    return out


@hookimpl
def edgeray_detect_gpu_ids(config: Config) -> list[str]:
    res = config.resources
    if res.gpu_ids:
        return list(res.gpu_ids)
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return parse_cuda_visible_devices(env)
    if res.num_gpus != -1:
        return []  # declared without ids: numbered 0..n-1 by the core, no probing
    return nvidia_smi_gpu_ids()


@hookimpl
def edgeray_node_labels(config: Config) -> dict[str, str]:
    return dict(config.resources.labels)
