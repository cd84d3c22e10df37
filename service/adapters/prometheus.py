"""Metrics in the Prometheus text format, with the ``prometheus-client`` library.

Every runtime has a registry of its own (no module-level default registry), so tests and
several apps in one process never share counters.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from service.adapters.outbox import RelayObserver, RelayStatus, pending_age
from service.adapters.postgres import OutboxBacklog
from service.domain.use_cases import Clock

logger = logging.getLogger(__name__)

# From a few milliseconds (the poll interval's share) to minutes (a broker outage).
DELAY_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.2,
    0.3,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
)


def new_registry() -> CollectorRegistry:
    """Return a registry with the process's own metrics (CPU, memory, Python version)."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry


class PrometheusRelayObserver(RelayObserver):
    """Counts what the relay published and failed, and times its end-to-end delay."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._published = Counter(
            "outbox_published",
            "Outbox rows published and confirmed by the broker's delivery report.",
            registry=registry,
        )
        self._failures = Counter(
            "outbox_publish_failures",
            "Outbox rows whose publish was not confirmed in a pass (they stay pending and "
            "are published again).",
            registry=registry,
        )
        self._delay = Histogram(
            "outbox_relay_delay_seconds",
            "Seconds from an outbox row's creation (its order's commit time) to the "
            "broker's delivery report of its event.",
            buckets=DELAY_BUCKETS,
            registry=registry,
        )

    def published(self, delays: Sequence[float]) -> None:
        """Count the confirmed rows and observe each one's delay."""
        self._published.inc(len(delays))
        for delay in delays:
            self._delay.observe(max(0.0, delay))

    def failed(self, count: int) -> None:
        """Count the rows not confirmed."""
        self._failures.inc(count)


class OutboxBacklogCollector(Collector):
    """Reads the backlog and the relay's state at each scrape, as fresh as the scrape.

    If the database does not answer in time the two backlog gauges are left out of that
    scrape (Prometheus then marks them stale) instead of showing an old value.
    """

    def __init__(
        self,
        read_backlog: Callable[[float], OutboxBacklog],
        relay_status: Callable[[], RelayStatus],
        clock: Clock,
        timeout: float = 1.0,
    ) -> None:
        self._read_backlog = read_backlog
        self._relay_status = relay_status
        self._clock = clock
        self._timeout = timeout

    def describe(self) -> list[Metric]:
        """Name the metrics without reading the database (called at registration)."""
        return list(self._families())

    def collect(self) -> Iterator[Metric]:
        """Read the backlog and yield the gauges."""
        running, passes, backlog, oldest = self._families()
        status = self._relay_status()
        running.add_metric([], 1.0 if status.running else 0.0)
        passes.add_metric([], status.passes)
        yield running
        yield passes
        try:
            found = self._read_backlog(self._timeout)
        except Exception as ex:
            logger.warning("metrics: could not read the outbox backlog: %s", ex)
            return
        backlog.add_metric([], found.pending)
        oldest.add_metric([], pending_age(found, self._clock()))
        yield backlog
        yield oldest

    @staticmethod
    def _families() -> tuple[Metric, Metric, Metric, Metric]:
        return (
            GaugeMetricFamily("outbox_relay_running", "1 while the outbox relay thread runs."),
            CounterMetricFamily(
                "outbox_relay_passes",
                "Relay passes completed since the start (a look at the outbox, failed ones "
                "included): two more mean that whatever could be published then, was.",
            ),
            GaugeMetricFamily("outbox_backlog", "Outbox rows not yet confirmed by the broker."),
            GaugeMetricFamily(
                "outbox_oldest_pending_age_seconds",
                "Age of the oldest pending outbox row (0 when none is pending).",
            ),
        )
