"""The composition root: connects the real adapters, and closes them again."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import psycopg2
from confluent_kafka import KafkaException

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
from service.adapters.postgres import (
    COUNT_ORDER_ROWS,
    ConnectionPool,
    PostgresUnitOfWork,
    check_database,
    connection_options,
)
from service.app import Adapters, utc_now
from service.config import Config
from service.domain.use_cases import CancelOrder
from service.health import HealthCheck

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
    closed: bool = field(default=False)

    def close(self) -> None:
        """Stop the consumer, deliver what the producer holds, close the pool."""
        if self.closed:
            return
        self.closed = True
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
    """Connect everything the service needs; raise StartupError if a dependency is down."""
    prepare_database(config)
    prepare_topics(config)
    pool = ConnectionPool(config.database_url, config.db_pool_size)

    def uow_factory() -> PostgresUnitOfWork:
        return PostgresUnitOfWork(pool)

    publisher = KafkaOrderEventPublisher(
        config.kafka_bootstrap_servers,
        timeout_ms=config.kafka_publish_timeout_ms,
        linger_ms=config.kafka_linger_ms,
    )
    health = HealthCheck(
        {
            "db": lambda timeout: check_database(config.database_url, timeout),
            "kafka": KafkaHealthCheck(config.kafka_bootstrap_servers, service_topics(config)),
        }
    )
    consumer = None
    if consume_cancellations:
        cancel_order = CancelOrder(utc_now)
        consumer = OrderCancelledConsumer(
            config.kafka_bootstrap_servers,
            config.kafka_consumer_group,
            lambda event: cancel_order(event, uow_factory()),
        )
        consumer.start()
    adapters = Adapters(uow_factory, publisher, health, COUNT_ORDER_ROWS)
    return Runtime(adapters, pool, publisher, consumer)
