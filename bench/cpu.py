"""Where the CPU of a benchmark phase went: our processes, and everything else on the machine.

The machine may be shared with other work, so each phase reports the CPU used by processes
that are not ours, and the time the hypervisor took from this machine's CPUs (``steal`` in
``/proc/stat``): a phase with much of either is a noisy phase. Interrupt handling (``irq``,
``softirq``: mostly the loopback network our own processes talk over) is kept apart from
both, as ``kernel``.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import psutil

_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
# Reaped children of this process: wrk and the raw-limit script, once they have exited.
CLIENT = "client"
OTHER = "other"
KERNEL = "kernel"
STOLEN = "stolen"
# The user, nice and system time of /proc/stat: what every process together used.
_PROCESSES = "processes"


@dataclass(frozen=True)
class Snapshot:
    """Cumulative CPU seconds at one moment."""

    wall: float
    machine: dict[str, float]
    groups: dict[str, float]
    client: float


@dataclass(frozen=True)
class PhaseCpu:
    """CPU seconds spent during one phase, by owner, and the machine's size."""

    seconds: float
    cores: int
    used: dict[str, float] = field(default_factory=dict)

    def percent_of_machine(self, owner: str) -> float:
        """Return the share of all cores' time that ``owner`` used, in %."""
        return 100 * self.used.get(owner, 0.0) / (self.seconds * self.cores)

    def ms_per(self, owner: str, count: int) -> float:
        """Return ``owner``'s CPU milliseconds per request (or per order)."""
        return 1000 * self.used.get(owner, 0.0) / count if count else float("nan")

    def to_json(self) -> dict[str, object]:
        """Return the figures as JSON-ready data."""
        return {"seconds": self.seconds, "cores": self.cores, "cpu_seconds": self.used}


class CpuMeter:
    """Measures the CPU of named process trees, of our reaped children, and of the machine."""

    def __init__(self, groups: Mapping[str, list[int]]) -> None:
        """Describe the groups to follow.

        Args:
            groups: A name per group of root PIDs (e.g. ``postgres`` → the postmaster); each
                root counts with its live and reaped children.
        """
        self._groups = {name: list(pids) for name, pids in groups.items()}

    def snapshot(self) -> Snapshot:
        """Return the cumulative CPU seconds now."""
        return Snapshot(
            wall=time.monotonic(),
            machine=_machine_times(),
            groups={
                name: sum(_tree_cpu(pid) for pid in pids) for name, pids in self._groups.items()
            },
            client=_reaped_children_cpu(),
        )

    def since(self, start: Snapshot) -> PhaseCpu:
        """Return what was spent since ``start``; ``other`` is the processes' rest."""
        end = self.snapshot()
        used = {name: end.groups[name] - start.groups.get(name, 0.0) for name in end.groups}
        used[CLIENT] = end.client - start.client
        ours = sum(used.values())
        machine = {name: end.machine[name] - start.machine[name] for name in end.machine}
        # Our own orchestration (this process) is small and counts as "other".
        used[OTHER] = max(0.0, machine[_PROCESSES] - ours)
        used[KERNEL] = machine[KERNEL]
        used[STOLEN] = machine[STOLEN]
        return PhaseCpu(seconds=end.wall - start.wall, cores=os.cpu_count() or 1, used=used)


def _machine_times() -> dict[str, float]:
    with open("/proc/stat") as stat:
        user, nice, system, _idle, _iowait, irq, softirq, steal = (
            int(value) / _TICKS_PER_SECOND for value in stat.readline().split()[1:9]
        )
    # The processes' time; guests' time is already inside user and nice.
    return {_PROCESSES: user + nice + system, KERNEL: irq + softirq, STOLEN: steal}


def _tree_cpu(pid: int) -> float:
    """Return the CPU seconds of a process, its reaped children and its live descendants.

    A child that exits between two snapshots moves from "live" to its parent's "reaped"
    total, so the difference of two snapshots counts it once.
    """
    try:
        root = psutil.Process(pid)
        times = root.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        children = root.children(recursive=True)
    except psutil.Error:
        return 0.0
    for child in children:
        try:
            child_times = child.cpu_times()
        except psutil.Error:
            continue
        total += child_times.user + child_times.system
    return total


def _reaped_children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
