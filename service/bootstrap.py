"""The composition root: connects the real adapters, and closes them again."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import psycopg2
from confluent_kafka import KafkaException
from prometheus_client import CollectorRegistry

from service.adapters.cancellation_consumer import OrderCancelledConsumer
from service.adapters.consumer_health import ConsumerHealthProbe
from service.adapters.kafka import (
    KafkaBatchPublisher,
    KafkaHealthCheck,
    KafkaOrderEventPublisher,
    TopicKeeper,
    TopicSpec,
    ensure_topics,
)
from service.adapters.migrations import MigrationFailed, apply_migrations
from service.adapters.outbox import OutboxHealthProbe, OutboxRelay
from service.adapters.postgres import PostgresUnitOfWork, check_database, read_outbox_backlog
from service.adapters.postgres_connections import (
    ConnectionPool,
    DatabaseBounds,
    connection_options,
)
from service.adapters.postgres_notifications import OutboxNotifications
from service.adapters.prometheus import (
    OrderCancelledCollector,
    OutboxBacklogCollector,
    PrometheusRelayObserver,
    new_registry,
)
from service.app import Adapters, utc_now
from service.config import Config
from service.domain.events import ORDER_CANCELLED_TOPIC, ORDER_CREATED_TOPIC
from service.domain.retry import Backoff, RetryDelay
from service.domain.use_cases import CancelOrder, ProcessedEventsPruner, RelayOutbox
from service.health import HealthCheck, Probe
from service.log_text import first_line
from service.monitoring import OutboxBacklog

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
    relay_publisher: KafkaBatchPublisher | None = None
    relay_stop_timeout: float = 10.0
    topic_keeper: TopicKeeper | None = None
    closed: bool = field(default=False)

    def close(self) -> None:
        """Stop the relay and the consumer, deliver what the producer holds, close the pool."""
        if self.closed:
            return
        self.closed = True
        if self.topic_keeper is not None:
            self.topic_keeper.stop()
        if self.relay is not None:
            # The pass in hand ends within the publish timeout; rows it could not mark
            # sent stay pending for the next start (or another instance).
            self.relay.stop(self.relay_stop_timeout)
        if self.relay_publisher is not None:
            self.relay_publisher.close()
        if self.consumer is not None:
            self.consumer.stop()
        left = self.publisher.close()
        if left:
            logger.warning("%d event(s) were still undelivered at shutdown", left)
        self.adapters.health.close()
        self.pool.close()


def database_bounds(config: Config) -> DatabaseBounds:
    """Return the bounds of every database wait, from the configuration."""
    return DatabaseBounds(
        connect=config.db_connect_timeout_ms / 1000,
        statement=config.db_statement_timeout_ms / 1000,
        # A transaction stays open across a publish (the relay's claim, the chaos
        # boundary) for at most the publish timeout: only a frozen client waits longer.
        idle_in_transaction=(config.kafka_publish_timeout_ms + config.db_statement_timeout_ms)
        / 1000
        + 5,
        acquire=config.db_acquire_timeout_ms / 1000,
    )


def prepare_database(config: Config) -> None:
    """Check that PostgreSQL answers and apply the migrations."""
    try:
        conn = psycopg2.connect(config.database_url, **connection_options(database_bounds(config)))
    # Not only OperationalError: a malformed URL raises ProgrammingError, whose message may
    # quote a piece of it (the start line scrubs it; a traceback would not).
    except psycopg2.Error as ex:
        raise StartupError(
            f"PostgreSQL is not reachable at {config.masked_database_url}: "
            f"{first_line(ex)}. Start it (docker compose up -d, or "
            "python -m embedded_stack up) or set MARS_DATABASE_URL."
        ) from None
    try:
        apply_migrations(conn, timeout=config.db_migration_timeout_ms / 1000)
    except MigrationFailed as ex:
        raise StartupError(str(ex)) from None
    finally:
        conn.close()


def service_topics(config: Config) -> list[TopicSpec]:
    """Return the topics the service publishes to and consumes from."""
    return [
        TopicSpec(ORDER_CREATED_TOPIC, config.kafka_topic_partitions),
        TopicSpec(ORDER_CANCELLED_TOPIC, config.kafka_topic_partitions),
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
    topics_ready = _prepare_topics_unless_outbox_may_wait(config)
    pool = ConnectionPool(config.database_url, config.db_pool_size, database_bounds(config))

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
    relay = relay_publisher = None
    if config.outbox_enabled:
        relay_publisher = KafkaBatchPublisher(
            config.kafka_bootstrap_servers, timeout_ms=config.kafka_publish_timeout_ms
        )
        relay = build_relay(config, uow_factory, relay_publisher, registry, topics_ready)
        probes["outbox"] = OutboxHealthProbe(relay, backlog_reader(config), utc_now)
    consumer = None
    if consume_cancellations:
        consumer = _cancellation_consumer(config, uow_factory)
        probes["consumer"] = ConsumerHealthProbe(consumer.status)
        registry.register(OrderCancelledCollector(consumer.status))
        consumer.start()
    health = HealthCheck(probes)
    if relay is not None:
        relay.start()
    topic_keeper = TopicKeeper(config.kafka_bootstrap_servers, service_topics(config))
    topic_keeper.start()
    adapters = Adapters(uow_factory, publisher, health, metrics=registry)
    # A pass waits at most the publish timeout for its delivery reports.
    stop_timeout = config.kafka_publish_timeout_ms / 1000 + 5
    return Runtime(
        adapters,
        pool,
        publisher,
        consumer,
        relay,
        relay_publisher,
        stop_timeout,
        topic_keeper=topic_keeper,
    )


def _prepare_topics_unless_outbox_may_wait(config: Config) -> bool:
    """Create the topics; return False if the broker is down and outbox mode may wait for it."""
    try:
        prepare_topics(config)
    except StartupError as ex:
        if not config.outbox_enabled:
            raise
        logger.warning(
            "%s Outbox mode starts anyway: orders are stored with their events, and the "
            "relay creates the topics and publishes once the broker answers.",
            ex,
        )
        return False
    return True


def _cancellation_consumer(
    config: Config, uow_factory: Callable[[], PostgresUnitOfWork]
) -> OrderCancelledConsumer:
    cancel_order = CancelOrder(utc_now)
    retention = timedelta(hours=config.processed_events_retention_hours)
    return OrderCancelledConsumer(
        config.kafka_bootstrap_servers,
        config.kafka_consumer_group,
        lambda event: cancel_order(event, uow_factory()),
        clock=utc_now,
        pruner=ProcessedEventsPruner(uow_factory, utc_now, retention),
    )


def backlog_reader(config: Config) -> Callable[[float], OutboxBacklog]:
    """Return the outbox backlog query of health and metrics, with the stuck threshold."""

    def read(timeout: float) -> OutboxBacklog:
        return read_outbox_backlog(config.database_url, timeout, config.outbox_stuck_after_attempts)

    return read


def build_relay(
    config: Config,
    uow_factory: Callable[[], PostgresUnitOfWork],
    publisher: KafkaBatchPublisher,
    registry: CollectorRegistry,
    topics_ready: bool,
) -> OutboxRelay:
    """Build the outbox relay (not started) and register its metrics."""
    interval = config.outbox_poll_interval_ms / 1000
    backoff_max = config.outbox_backoff_max_ms / 1000
    relay_pass = RelayOutbox(
        publisher, utc_now, config.outbox_batch_size, RetryDelay(interval, backoff_max)
    )

    def create_topics() -> None:
        ensure_topics(config.kafka_bootstrap_servers, service_topics(config), timeout=5)

    relay = OutboxRelay(
        lambda: relay_pass(uow_factory()),
        batch_size=config.outbox_batch_size,
        interval=interval,
        backoff=Backoff(interval, backoff_max),
        clock=utc_now,
        observer=PrometheusRelayObserver(registry),
        # Publishing to a missing topic would let the broker create it with its own
        # partition count (4 on Tansu): create it as configured first.
        setup=None if topics_ready else create_topics,
        wakeup=OutboxNotifications(config.database_url, database_bounds(config)),
    )
    registry.register(OutboxBacklogCollector(backlog_reader(config), relay.status, utc_now))
    return relay
