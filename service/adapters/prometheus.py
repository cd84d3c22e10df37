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

from service.domain.use_cases import Clock
from service.monitoring import ConsumerStatus, OutboxBacklog, RelayObserver, RelayStatus

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
        running, passes, backlog, oldest, stuck = self._families()
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
        oldest.add_metric([], found.pending_age(self._clock()))
        stuck.add_metric([], found.stuck)
        yield backlog
        yield oldest
        yield stuck

    @staticmethod
    def _families() -> tuple[Metric, Metric, Metric, Metric, Metric]:
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
            GaugeMetricFamily(
                "outbox_stuck_rows",
                "Outbox rows that failed MARS_OUTBOX_STUCK_AFTER_ATTEMPTS times or more "
                "(still retried, never deleted).",
            ),
        )


class OrderCancelledCollector(Collector):
    """The ``order.cancelled`` consumer's counts and lag, read from its status at each scrape.

    The lag is what the consumer thread last computed from its client's own state
    (positions and cached high watermarks), so a scrape never asks the broker.
    """

    def __init__(self, status: Callable[[], ConsumerStatus]) -> None:
        self._status = status

    def describe(self) -> list[Metric]:
        """Name the metrics (called at registration)."""
        return list(self._families())

    def collect(self) -> Iterator[Metric]:
        """Yield the counters and gauges of the consumer's current status."""
        status = self._status()
        families = self._families()
        running, processed, duplicates, skipped, retried, commits, pruned, retrying, lag = families
        running.add_metric([], 1.0 if status.running else 0.0)
        processed.add_metric([], status.processed)
        duplicates.add_metric([], status.duplicates)
        skipped.add_metric([], status.skipped)
        retried.add_metric([], status.retried)
        commits.add_metric([], status.commit_failures)
        pruned.add_metric([], status.pruned)
        retrying.add_metric([], 1.0 if status.retrying is not None else 0.0)
        for partition, behind in sorted(status.lag.items()):
            lag.add_metric([str(partition)], behind)
        yield from families

    @staticmethod
    def _families() -> tuple[Metric, ...]:
        return (
            GaugeMetricFamily(
                "order_cancelled_consumer_running", "1 while the order.cancelled consumer runs."
            ),
            CounterMetricFamily(
                "order_cancelled_processed", "order.cancelled events that cancelled their order."
            ),
            CounterMetricFamily(
                "order_cancelled_duplicates",
                "order.cancelled events skipped because their eventId was handled before.",
            ),
            CounterMetricFamily(
                "order_cancelled_skipped",
                "order.cancelled messages skipped: malformed, or for an unknown order.",
            ),
            CounterMetricFamily(
                "order_cancelled_retried",
                "Failed attempts at an order.cancelled message (the database was down, "
                "say); each is followed by another attempt at the same message.",
            ),
            CounterMetricFamily(
                "order_cancelled_commit_failures",
                "Offset commits that failed (the consumer goes on; a redelivery is a duplicate).",
            ),
            CounterMetricFamily(
                "processed_events_pruned",
                "processed_events rows deleted as older than the retention.",
            ),
            GaugeMetricFamily(
                "order_cancelled_retrying",
                "1 while an order.cancelled message is being retried (consumer DOWN).",
            ),
            GaugeMetricFamily(
                "order_cancelled_lag",
                "order.cancelled messages behind the end of each partition this consumer "
                "reads, from its position and the last high watermark it saw.",
                labels=["partition"],
            ),
        )
