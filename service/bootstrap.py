"""The composition root: connects the real adapters, and closes them again."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg2
from confluent_kafka import KafkaException
from prometheus_client import CollectorRegistry

from service.adapters.cancellation_consumer import OrderCancelledConsumer
from service.adapters.kafka import (
    ORDER_CANCELLED,
    ORDER_CREATED,
    KafkaHealthCheck,
    KafkaOrderEventPublisher,
    TopicSpec,
    ensure_topics,
)
from service.adapters.migrations import apply_migrations
from service.adapters.outbox import Backoff, OutboxHealthProbe, OutboxRelay
from service.adapters.postgres import (
    COUNT_ORDER_ROWS,
    ConnectionPool,
    PostgresUnitOfWork,
    check_database,
    connection_options,
    read_outbox_backlog,
)
from service.adapters.prometheus import (
    OutboxBacklogCollector,
    PrometheusRelayObserver,
    new_registry,
)
from service.app import Adapters, utc_now
from service.config import Config
from service.domain.use_cases import CancelOrder, RelayOutbox
from service.health import HealthCheck, Probe

logger = logging.getLogger(__name__)


class StartupError(Exception):
    """A dependency is missing at start; the message says which and what to check."""


@dataclass
class Runtime:
    """The running adapters of one service process."""

    adapters: Adapters
    pool: ConnectionPool
    publisher: KafkaOrderEventPublisher
    consumer: OrderCancelledConsumer | None
    relay: OutboxRelay | None = None
    relay_stop_timeout: float = 10.0
    closed: bool = field(default=False)

    def close(self) -> None:
        """Stop the relay and the consumer, deliver what the producer holds, close the pool."""
        if self.closed:
            return
        self.closed = True
        if self.relay is not None:
            # The pass in hand ends within the publish timeout; rows it could not mark
            # sent stay pending for the next start (or another instance).
            self.relay.stop(self.relay_stop_timeout)
        if self.consumer is not None:
            self.consumer.stop()
        left = self.publisher.close()
        if left:
            logger.warning("%d event(s) were still undelivered at shutdown", left)
        self.adapters.health.close()
        self.pool.close()


def prepare_database(config: Config) -> None:
    """Check that PostgreSQL answers and apply the migrations."""
    try:
        conn = psycopg2.connect(config.database_url, **connection_options())
    except psycopg2.OperationalError as ex:
        raise StartupError(
            f"PostgreSQL is not reachable at {config.masked_database_url}: "
            f"{str(ex).strip().splitlines()[0]}. Start it (docker compose up -d, or "
            "python -m embedded_stack up) or set MARS_DATABASE_URL."
        ) from None
    try:
        apply_migrations(conn)
    finally:
        conn.close()


def service_topics(config: Config) -> list[TopicSpec]:
    """Return the topics the service publishes to and consumes from."""
    return [
        TopicSpec(ORDER_CREATED, config.kafka_topic_partitions),
        TopicSpec(ORDER_CANCELLED, config.kafka_topic_partitions),
    ]


def prepare_topics(config: Config) -> None:
    """Check that a broker answers and create the topics the service needs."""
    try:
        ensure_topics(config.kafka_bootstrap_servers, service_topics(config), timeout=5)
    except KafkaException as ex:
        raise StartupError(
            f"Kafka is not reachable at {config.kafka_bootstrap_servers}: {ex.args[0]}. Start "
            "it (docker compose up -d, or python -m embedded_stack up) or set "
            "MARS_KAFKA_BOOTSTRAP_SERVERS."
        ) from None


def start_runtime(config: Config, *, consume_cancellations: bool = True) -> Runtime:
    """Connect everything the service needs; raise StartupError if a dependency is down.

    In outbox mode an unreachable broker does not stop the start: orders and their events
    are stored, and the relay creates the topics and publishes once the broker answers.
    """
    prepare_database(config)
    topics_ready = True
    try:
        prepare_topics(config)
    except StartupError as ex:
        if not config.outbox_enabled:
            raise
        topics_ready = False
        logger.warning(
            "%s Outbox mode starts anyway: orders are stored with their events, and the "
            "relay creates the topics and publishes once the broker answers.",
            ex,
        )
    pool = ConnectionPool(config.database_url, config.db_pool_size)

    def uow_factory() -> PostgresUnitOfWork:
        return PostgresUnitOfWork(pool)

    publisher = KafkaOrderEventPublisher(
        config.kafka_bootstrap_servers,
        timeout_ms=config.kafka_publish_timeout_ms,
        linger_ms=config.kafka_linger_ms,
    )
    probes: dict[str, Probe] = {
        "db": lambda timeout: check_database(config.database_url, timeout),
        "kafka": KafkaHealthCheck(config.kafka_bootstrap_servers, service_topics(config)),
    }
    registry = new_registry()
    relay = None
    if config.outbox_enabled:
        relay = build_relay(config, uow_factory, publisher, registry, topics_ready)
        probes["outbox"] = OutboxHealthProbe(
            relay, lambda timeout: read_outbox_backlog(config.database_url, timeout), utc_now
        )
    health = HealthCheck(probes)
    consumer = None
    if consume_cancellations:
        cancel_order = CancelOrder(utc_now)
        consumer = OrderCancelledConsumer(
            config.kafka_bootstrap_servers,
            config.kafka_consumer_group,
            lambda event: cancel_order(event, uow_factory()),
        )
        consumer.start()
    if relay is not None:
        relay.start()
    adapters = Adapters(uow_factory, publisher, health, COUNT_ORDER_ROWS, registry)
    # A pass waits at most the publish timeout for its delivery reports.
    stop_timeout = config.kafka_publish_timeout_ms / 1000 + 5
    return Runtime(adapters, pool, publisher, consumer, relay, stop_timeout)


def build_relay(
    config: Config,
    uow_factory: Callable[[], PostgresUnitOfWork],
    publisher: KafkaOrderEventPublisher,
    registry: CollectorRegistry,
    topics_ready: bool,
) -> OutboxRelay:
    """Build the outbox relay (not started) and register its metrics."""
    relay_pass = RelayOutbox(publisher, utc_now, config.outbox_batch_size)
    interval = config.outbox_poll_interval_ms / 1000

    def create_topics() -> None:
        ensure_topics(config.kafka_bootstrap_servers, service_topics(config), timeout=5)

    relay = OutboxRelay(
        lambda: relay_pass(uow_factory()),
        batch_size=config.outbox_batch_size,
        interval=interval,
        backoff=Backoff(interval, config.outbox_backoff_max_ms / 1000),
        clock=utc_now,
        observer=PrometheusRelayObserver(registry),
        # Publishing to a missing topic would let the broker create it with its own
        # partition count (4 on Tansu): create it as configured first.
        setup=None if topics_ready else create_topics,
    )
    registry.register(
        OutboxBacklogCollector(
            lambda timeout: read_outbox_backlog(config.database_url, timeout),
            relay.status,
            utc_now,
        )
    )
    return relay
