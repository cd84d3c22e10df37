"""The nemesis's schedule: which fault starts and heals when, drawn from the seed alone.

The same seed, length, fault list and instance count give the same schedule, so a run that
found something can be replayed fault for fault. Faults come one at a time, each kind once
before any repeats, with quiet gaps between them, and the last heals before the end of the
run leaves a quiet tail: every operation of the last seconds sees a healed system.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from embedded_stack.settings import APACHE_KAFKA, APACHE_KAFKA_CLUSTER, KAFKA_ENGINES

PROXY_CUT = "proxy-cut"
BROKER_PAUSE = "broker-pause"
BROKER_STOP = "broker-stop"
LEADER_KILL = "leader-kill"
PG_RESTART = "pg-restart"
PG_PAUSE = "pg-pause"
SERVICE_KILL = "service-kill"

POSTGRES = "postgres"
KAFKA = "kafka"
SERVICE = "service"

# Fault -> what it acts on.
TARGETS = {
    PROXY_CUT: KAFKA,
    BROKER_PAUSE: KAFKA,
    BROKER_STOP: KAFKA,
    LEADER_KILL: KAFKA,
    PG_RESTART: POSTGRES,
    PG_PAUSE: POSTGRES,
    SERVICE_KILL: SERVICE,
}
FAULTS = tuple(TARGETS)
# Faults only some engines allow: Tansu keeps its events in memory only, and a leader can
# only fail over where there are other brokers to take over.
_ENGINES = {
    BROKER_STOP: (APACHE_KAFKA, APACHE_KAFKA_CLUSTER),
    LEADER_KILL: (APACHE_KAFKA_CLUSTER,),
}

# Seconds: how long a fault lasts, and the quiet between two.
FAULT_SECONDS = (3.0, 8.0)
QUIET_SECONDS = (1.0, 3.0)


class ScheduleError(ValueError):
    """A fault list the engine cannot run, or a run too short for any fault."""


@dataclass(frozen=True)
class FaultWindow:
    """One fault: what, on which target, from when to when (seconds after the start)."""

    fault: str
    start: float
    end: float
    # Which service instance a service-kill hits (None for the other faults).
    instance: int | None = None

    @property
    def target(self) -> str:
        """Return what the fault acts on: postgres, kafka or service."""
        return TARGETS[self.fault]

    def to_json(self) -> dict[str, Any]:
        """Return the window's JSON object."""
        data: dict[str, Any] = {
            "fault": self.fault,
            "target": self.target,
            "start": self.start,
            "end": self.end,
        }
        if self.instance is not None:
            data["instance"] = self.instance
        return data


def faults_for_engine(engine: str) -> tuple[str, ...]:
    """Return every fault the Kafka engine allows, in the order of ``FAULTS``."""
    return tuple(f for f in FAULTS if engine in _ENGINES.get(f, KAFKA_ENGINES))


def check_faults(faults: Sequence[str], engine: str) -> None:
    """Refuse an unknown fault, or one the engine does not allow, naming what would do.

    Raises:
        ScheduleError: The list names such a fault.
    """
    for fault in faults:
        if fault not in TARGETS:
            raise ScheduleError(f"unknown fault {fault!r}: choose from {', '.join(FAULTS)}")
        engines = _ENGINES.get(fault, KAFKA_ENGINES)
        if engine not in engines:
            raise ScheduleError(
                f"{fault} needs the Kafka engine {' or '.join(engines)}, not {engine}"
                " (choose it with --kafka-engine)"
            )


def plan_schedule(
    seed: int, seconds: float, faults: Sequence[str], instances: int = 1
) -> list[FaultWindow]:
    """Draw the fault windows of a run from ``seed``.

    Args:
        seed: The seed; the same arguments always give the same windows.
        seconds: How long the clients run.
        faults: The faults to draw from (none gives an empty schedule).
        instances: How many service instances a service-kill may choose from.

    Returns:
        The windows in time order, none overlapping, the last ending before the quiet tail.
    """
    if not faults:
        return []
    rng = random.Random(seed)
    tail = max(QUIET_SECONDS[0], seconds * 0.1)
    windows: list[FaultWindow] = []
    kinds: list[str] = []
    now = rng.uniform(*QUIET_SECONDS)
    while True:
        if not kinds:
            # Every kind once, in a seeded order, before any kind comes again.
            kinds = rng.sample(list(dict.fromkeys(faults)), len(set(faults)))
        fault = kinds.pop(0)
        duration = rng.uniform(*FAULT_SECONDS)
        instance = rng.randrange(instances) if fault == SERVICE_KILL else None
        if now + duration > seconds - tail:
            break
        windows.append(FaultWindow(fault, round(now, 3), round(now + duration, 3), instance))
        now += duration + rng.uniform(*QUIET_SECONDS)
    return windows
