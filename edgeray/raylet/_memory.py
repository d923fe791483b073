"""Ray's OOM prevention, its pure parts: how full the machine's memory is, and whom to kill.

``read_memory`` samples the memory in use: the machine's (``/proc/meminfo``: MemTotal less
MemAvailable), or its cgroup's where a cgroup v2 limit smaller than the machine is set
(``memory.current`` less the reclaimable ``inactive_file`` of ``memory.stat``, against
``memory.max``), as Ray's memory monitor does. ``choose_victim`` is Ray's default worker killing
policy (``GroupByOwnerIdWorkerKillingPolicy``): retriable work is grouped by its owner, all
non-retriable work forms one group; retriable groups go first, then the largest group, then the
newest; in the chosen group the last-started work is killed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MemorySnapshot:
    """Bytes of memory in use out of ``total``; ``source`` says what was measured."""

    used: int
    total: int
    source: str  # "system" or "cgroup"

    @property
    def fraction(self) -> float:
        return self.used / self.total if self.total > 0 else 0.0

    def describe(self) -> str:
        gib = 1 << 30
        return f"{self.used / gib:.2f}GB / {self.total / gib:.2f}GB ({self.fraction:.6f})"


def _meminfo(path: str) -> dict[str, int]:
    out: dict[str, int] = {}
    with open(path) as f:
        for line in f:
            name, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                out[name] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    return out


def _cgroup_dir(proc: str, cgroup_root: str) -> str | None:
    """This process's cgroup v2 directory (the ``0::`` line of ``/proc/self/cgroup``)."""
    try:
        with open(os.path.join(proc, "self", "cgroup")) as f:
            for line in f:
                if line.startswith("0::"):
                    return os.path.join(cgroup_root, line[3:].strip().lstrip("/"))
    except OSError:
        pass
    return None


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # ("max": no limit)


def _cgroup_memory(cgroup: str) -> MemorySnapshot | None:
    limit = _read_int(os.path.join(cgroup, "memory.max"))
    current = _read_int(os.path.join(cgroup, "memory.current"))
    if limit is None or current is None:
        return None
    inactive = 0
    try:
        with open(os.path.join(cgroup, "memory.stat")) as f:
            for line in f:
                name, _, value = line.partition(" ")
                if name == "inactive_file" and value.strip().isdigit():
                    inactive = int(value)
    except OSError:
        pass
    return MemorySnapshot(max(0, current - inactive), limit, "cgroup")


def read_memory(proc: str = "/proc", cgroup_root: str = "/sys/fs/cgroup") -> MemorySnapshot | None:
    """The memory in use now (None where it cannot be read: not Linux)."""
    try:
        info = _meminfo(os.path.join(proc, "meminfo"))
    except OSError:
        return None
    total = info.get("MemTotal", 0)
    available = info.get("MemAvailable", info.get("MemFree", 0))
    system = MemorySnapshot(max(0, total - available), total, "system") if total else None
    cgroup = _cgroup_dir(proc, cgroup_root)
    limited = _cgroup_memory(cgroup) if cgroup else None
    if limited is not None and (system is None or limited.total < system.total):
        return limited
    return system


@dataclass(frozen=True, slots=True)
class Candidate:
    """Work running in a worker the memory monitor may kill."""

    worker_id: bytes
    owner: bytes  # who submitted it (Ray: the parent task)
    retriable: bool  # it would run again (retries or restarts left)
    started: float  # when it was given to the worker


def choose_victim(candidates: list[Candidate]) -> tuple[Candidate, int] | None:
    """Ray's group-by-owner policy: the work to kill, and the size of its group."""
    groups: dict[tuple[bool, bytes], list[Candidate]] = {}
    for c in candidates:
        groups.setdefault((c.retriable, c.owner if c.retriable else b""), []).append(c)
    if not groups:
        return None

    def rank(group: list[Candidate]) -> tuple[int, int, float]:
        return (0 if group[0].retriable else 1, -len(group), -min(c.started for c in group))

    chosen = min(groups.values(), key=rank)
    return max(chosen, key=lambda c: c.started), len(chosen)
