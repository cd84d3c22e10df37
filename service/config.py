"""The service's configuration: ``MARS_*`` environment variables, read once at start."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from service.conninfo import mask_password

CHAOS = "chaos"
OUTBOX = "outbox"
KNOWN_PROFILES = frozenset({CHAOS, OUTBOX})

# The addresses of docker-compose.yml and the embedded stack: the one place they are written.
DEFAULT_DATABASE_URL = "postgresql://mars:mars@localhost:5432/orders_db"
DEFAULT_KAFKA_BOOTSTRAP_SERVERS = "localhost:9092"


class Config(BaseModel):
    """Every setting of the service; defaults match ``docker-compose.yml``.

    Each field ``name`` is read from the variable ``MARS_<NAME>`` by ``load_config``.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    kafka_bootstrap_servers: str = DEFAULT_KAFKA_BOOTSTRAP_SERVERS
    # A comma list: "chaos,outbox".
    profiles_active: frozenset[str] = frozenset()
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8082, ge=0, le=65535)
    http_threads: int = Field(default=8, ge=1, le=256)
    # Open connections waitress accepts; more wait in the listen backlog.
    http_connection_limit: int = Field(default=100, ge=1, le=10_000)
    # A client that sends nothing for this long is disconnected, so it cannot hold a
    # connection slot; a request in progress is not cut.
    http_channel_timeout_s: int = Field(default=30, ge=1, le=3600)
    # Every request thread, the relay (outbox mode) and the order.cancelled consumer may
    # each hold a connection at once: checked at start.
    db_pool_size: int = Field(default=10, ge=1, le=200, validate_default=True)
    # PostgreSQL's statement_timeout on the pooled connections; the client gives up one
    # second later on its own, so a frozen server or a lost network ends a request too.
    db_statement_timeout_ms: int = Field(default=5000, ge=100, le=600_000)
    # libpq's connect_timeout (it counts whole seconds, at least 2).
    db_connect_timeout_ms: int = Field(default=3000, ge=2000, le=60_000)
    # How long a request waits for a free pooled connection before it answers 503.
    db_acquire_timeout_ms: int = Field(default=5000, ge=100, le=60_000)
    # Migrations at start: how long to wait for another instance's migration lock, and
    # the longest a migration statement may run (instead of the request statement_timeout).
    db_migration_timeout_ms: int = Field(default=120_000, ge=1000, le=3_600_000)
    # How long POST /orders waits for the broker's delivery report before it calls the
    # event lost. The producer's own message timeout is derived from it (never longer).
    kafka_publish_timeout_ms: int = Field(default=5000, ge=2000, le=120_000)
    # librdkafka's default of 5 ms would add 5 ms to every request; 0 sends at once and
    # concurrent requests still share a batch while one produce request is in flight.
    # At most 100 ms: more would only delay requests, and librdkafka refuses a linger
    # that reaches the message timeout (derived from the publish timeout, >= 1 s).
    kafka_linger_ms: int = Field(default=0, ge=0, le=100)
    kafka_topic_partitions: int = Field(default=3, ge=1, le=1000)
    # An empty group id crashes librdkafka (a C assertion), so it is refused here.
    kafka_consumer_group: str = Field(default="order-service", min_length=1, max_length=255)
    # How long a handled order.cancelled eventId is kept in processed_events (older rows
    # are pruned hourly). A copy delivered again after its row is gone would be handled
    # again, so the retention must be far longer than any redelivery can come: a crash or
    # rebalance redelivers within minutes, but a group whose committed offsets expired
    # (Kafka's offsets.retention.minutes: 7 days) starts again from the earliest offset,
    # and so can replay the topic's whole retention (7 days by default). Two weeks covers
    # both twice; at least a day.
    processed_events_retention_hours: int = Field(default=336, ge=24, le=87_600)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    log_level: str = "INFO"
    # Outbox mode only. The relay wakes when a transaction that wrote outbox rows commits
    # (LISTEN/NOTIFY); it also looks for pending rows this often while the outbox is empty
    # (the safety net while it cannot listen), and at once again after a full batch.
    outbox_poll_interval_ms: int = Field(default=200, ge=10, le=60_000)
    # Rows one relay pass locks and publishes together (one row per order at most).
    outbox_batch_size: int = Field(default=100, ge=1, le=10_000)
    # After a failed pass the relay waits the poll interval, doubled per failure in a row,
    # at most this long (jittered), so a broker that is down is not hammered and a
    # broker that is back is found again within this bound.
    outbox_backoff_max_ms: int = Field(default=5000, ge=100, le=300_000)
    # A row that failed this many times is reported as stuck (metric outbox_stuck_rows,
    # and the health details); it is still retried, never deleted.
    outbox_stuck_after_attempts: int = Field(default=10, ge=1, le=1_000_000)

    @field_validator("db_pool_size")
    @classmethod
    def _pool_serves_every_thread(cls, value: int, info: ValidationInfo) -> int:
        threads = info.data.get("http_threads")
        profiles = info.data.get("profiles_active") or frozenset()
        if threads is None:
            return value
        needed = threads + 1 + (1 if OUTBOX in profiles else 0)
        if value < needed:
            users = f"{threads} HTTP threads + 1 order.cancelled consumer"
            if OUTBOX in profiles:
                users += " + 1 outbox relay"
            raise ValueError(
                f"{value} connections cannot serve {users}: set it to at least {needed}, "
                "or lower MARS_HTTP_THREADS"
            )
        return value

    @field_validator("outbox_backoff_max_ms")
    @classmethod
    def _backoff_covers_the_interval(cls, value: int, info: ValidationInfo) -> int:
        interval = info.data.get("outbox_poll_interval_ms")
        if interval is not None and value < interval:
            raise ValueError(
                f"must be at least MARS_OUTBOX_POLL_INTERVAL_MS ({value} < {interval})"
            )
        return value

    @field_validator("profiles_active", mode="before")
    @classmethod
    def _split_profiles(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(p.strip().lower() for p in value.split(",") if p.strip())
        return value

    @field_validator("profiles_active")
    @classmethod
    def _known_profiles(cls, value: frozenset[str]) -> frozenset[str]:
        unknown = value - KNOWN_PROFILES
        if unknown:
            known = ", ".join(sorted(KNOWN_PROFILES))
            raise ValueError(f"unknown profile(s) {', '.join(sorted(unknown))}; known: {known}")
        return value

    @property
    def chaos_enabled(self) -> bool:
        """Tell whether the chaos profile is active."""
        return CHAOS in self.profiles_active

    @property
    def outbox_enabled(self) -> bool:
        """Tell whether orders go through the Transactional Outbox instead of the Dual Write."""
        return OUTBOX in self.profiles_active

    @property
    def masked_database_url(self) -> str:
        """Return the database URL with its password hidden (URI or ``key=value``), for logs."""
        return mask_password(self.database_url)


def load_config(environ: Mapping[str, str] | None = None) -> Config:
    """Read the configuration from ``environ`` (the process environment by default)."""
    environ = os.environ if environ is None else environ
    prefixed = {k[len("MARS_") :].lower(): v for k, v in environ.items() if k.startswith("MARS_")}
    return Config.model_validate(prefixed)
