"""The nemesis: starts and heals the scheduled faults, recording each in the history.

It runs in the thread that started the servers: a server started with a parent-death
signal dies with the thread that started it, so the service instances and brokers it
starts again must be started by a thread that outlives the run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from campaign.history import FAULT_START, FAULT_STOP, INFO, INVOKE, OK, HistoryWriter
from campaign.schedule import (
    BROKER_PAUSE,
    BROKER_STOP,
    LEADER_KILL,
    PG_PAUSE,
    PG_RESTART,
    PROXY_CUT,
    SERVICE_KILL,
    FaultWindow,
)
from campaign.services import ServiceInstance
from campaign.targets import Targets
from embedded_stack.dedicated_postgres import DedicatedPostgres
from embedded_stack.faulty_broker import FaultyBroker
from service.domain.events import ORDER_CREATED_TOPIC

logger = logging.getLogger(__name__)
PROCESS = "nemesis"

Action = Callable[[], object]
_Server = TypeVar("_Server", DedicatedPostgres, FaultyBroker)


class Nemesis:
    """Apply a schedule of faults to the campaign's targets and service instances."""

    def __init__(
        self, targets: Targets, instances: Sequence[ServiceInstance], history: HistoryWriter
    ) -> None:
        """Describe the nemesis; nothing is faulted until :meth:`run`."""
        self._targets = targets
        self._instances = list(instances)
        self._history = history
        self._active: list[FaultWindow] = []

    def run(self, schedule: Sequence[FaultWindow], started: float) -> None:
        """Start and heal every window at its time (seconds after ``started``, monotonic)."""
        for window in schedule:
            _sleep_until(started + window.start)
            self._apply(FAULT_START, window, self._actions(window)[0])
            self._active.append(window)
            _sleep_until(started + window.end)
            self._heal(window)

    def heal_all(self) -> None:
        """Heal every fault still active (a run cut short, an error): safe to repeat."""
        for window in list(self._active):
            self._heal(window)

    def _heal(self, window: FaultWindow) -> None:
        self._active.remove(window)
        self._apply(FAULT_STOP, window, self._actions(window)[1])

    def _apply(self, f: str, window: FaultWindow, action: Action) -> None:
        self._history.record(PROCESS, INVOKE, f, fault=window.fault)
        try:
            action()
        except Exception as ex:
            # The history says the fault's state is unknown; the run cannot be judged on a
            # system that did not heal, so the error ends it.
            self._history.record(PROCESS, INFO, f, fault=window.fault, error=str(ex)[:300])
            raise
        self._history.record(PROCESS, OK, f, fault=window.fault)
        logger.info("%s %s", "started" if f == FAULT_START else "healed", window.fault)

    def _actions(self, window: FaultWindow) -> tuple[Action, Action]:
        """Return how to start and how to heal the window's fault."""
        fault = window.fault
        if fault == SERVICE_KILL:
            instance = self._instances[window.instance or 0]
            return instance.kill, instance.start
        if fault in (PG_RESTART, PG_PAUSE):
            postgres = _require(self._targets.postgres, fault)
            if fault == PG_RESTART:
                return postgres.stop, postgres.start
            return postgres.pause, postgres.resume
        broker = _require(self._targets.broker, fault)
        actions: dict[str, tuple[Action, Action]] = {
            PROXY_CUT: (broker.cut, broker.restore),
            BROKER_PAUSE: (broker.pause, broker.resume),
            BROKER_STOP: (broker.stop_brokers, broker.start_brokers),
            LEADER_KILL: (lambda: broker.kill_leader(ORDER_CREATED_TOPIC, 0), broker.start_brokers),
        }
        return actions[fault]


def _require(server: _Server | None, fault: str) -> _Server:
    if server is None:
        raise RuntimeError(f"{fault} needs a dedicated server, and the campaign has none")
    return server


def _sleep_until(moment: float) -> None:
    delay = moment - time.monotonic()
    if delay > 0:
        time.sleep(delay)
