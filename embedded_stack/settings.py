"""The stack's settings and the addresses parsed from them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from embedded_stack.errors import StackError
from service.config import DEFAULT_DATABASE_URL, DEFAULT_KAFKA_BOOTSTRAP_SERVERS

# The service's one masking function (every libpq form), so both show an address alike.
from service.conninfo import mask_password as redact

DEFAULT_POSTGRES_PORT = 5432
DEFAULT_KAFKA_PORT = 9092

DATABASE_URL_VAR = "MARS_DATABASE_URL"
KAFKA_BOOTSTRAP_SERVERS_VAR = "MARS_KAFKA_BOOTSTRAP_SERVERS"
STATE_DIR_VAR = "MARS_STACK_DIR"
KAFKA_ENGINE_VAR = "MARS_KAFKA_ENGINE"

# What the stack starts when no Kafka answers: Tansu (pip only, memory only), Apache Kafka
# as one KRaft node, or as three brokers with replication factor 3.
TANSU = "tansu"
APACHE_KAFKA = "kafka"
APACHE_KAFKA_CLUSTER = "kafka-cluster"
KAFKA_ENGINES = (TANSU, APACHE_KAFKA, APACHE_KAFKA_CLUSTER)


def default_state_dir() -> Path:
    """Return ``<repo>/.stack``, the git-ignored folder beside this package."""
    return Path(__file__).resolve().parent.parent / ".stack"


@dataclass(frozen=True)
class StackSettings:
    """Where PostgreSQL and the broker are expected, and where the stack keeps its state.

    Attributes:
        database_url: A libpq URL, ``postgresql://user:password@host:port/database``.
        kafka_bootstrap_servers: A comma list of ``host:port``.
        state_dir: Folder for the state file, logs and (if possible) the PostgreSQL data.
        kafka_engine: What to start when no broker answers: ``tansu``, ``kafka`` or
            ``kafka-cluster`` (see ``KAFKA_ENGINES``).
    """

    database_url: str = DEFAULT_DATABASE_URL
    kafka_bootstrap_servers: str = DEFAULT_KAFKA_BOOTSTRAP_SERVERS
    state_dir: Path = field(default_factory=default_state_dir)
    kafka_engine: str = TANSU

    def __post_init__(self) -> None:
        """Refuse an engine the stack cannot start, naming the ones it can."""
        if self.kafka_engine not in KAFKA_ENGINES:
            raise StackError(
                f"unknown Kafka engine {self.kafka_engine!r}: choose one of "
                f"{', '.join(KAFKA_ENGINES)}"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> StackSettings:
        """Build settings from the ``MARS_*`` environment variables.

        Reads ``MARS_DATABASE_URL``, ``MARS_KAFKA_BOOTSTRAP_SERVERS``, ``MARS_STACK_DIR`` and
        ``MARS_KAFKA_ENGINE``; missing ones take the defaults of ``docker-compose.yml``,
        ``<repo>/.stack`` and ``tansu``.

        Args:
            environ: The environment to read, usually ``os.environ``.

        Returns:
            The settings.
        """
        state_dir = environ.get(STATE_DIR_VAR)
        return cls(
            database_url=environ.get(DATABASE_URL_VAR) or DEFAULT_DATABASE_URL,
            kafka_bootstrap_servers=(
                environ.get(KAFKA_BOOTSTRAP_SERVERS_VAR) or DEFAULT_KAFKA_BOOTSTRAP_SERVERS
            ),
            state_dir=Path(os.path.expanduser(state_dir)) if state_dir else default_state_dir(),
            kafka_engine=environ.get(KAFKA_ENGINE_VAR) or TANSU,
        )

    @property
    def postgres(self) -> PostgresAddress:
        """Return the parsed database URL."""
        return PostgresAddress.parse(self.database_url)

    @property
    def kafka(self) -> KafkaAddress:
        """Return the first bootstrap server, the one the stack would start a broker on."""
        return KafkaAddress.parse(self.kafka_bootstrap_servers)


@dataclass(frozen=True)
class PostgresAddress:
    """The parts of a ``postgresql://`` URL the stack needs."""

    url: str
    host: str
    port: int
    user: str
    password: str
    database: str

    @classmethod
    def parse(cls, url: str) -> PostgresAddress:
        """Parse a libpq URL.

        Args:
            url: ``postgresql://user:password@host:port/database``.

        Returns:
            The parsed address.

        Raises:
            StackError: The URL lacks a part the stack needs to start a server for it.
        """
        parts = urlsplit(url)
        if parts.scheme not in ("postgresql", "postgres"):
            raise StackError(
                f"{DATABASE_URL_VAR} must be a postgresql:// URL, got scheme {parts.scheme!r}"
            )
        database = unquote(parts.path.lstrip("/"))
        if not (parts.username and parts.hostname and database):
            raise StackError(
                f"{DATABASE_URL_VAR} must name a user, a host and a database "
                f"(postgresql://user:password@host:port/database), got {redact(url)}"
            )
        try:
            port = parts.port or DEFAULT_POSTGRES_PORT
        except ValueError as ex:
            raise StackError(f"{DATABASE_URL_VAR} has a bad port: {ex}") from ex
        return cls(
            url=url,
            host=parts.hostname,
            port=port,
            user=unquote(parts.username),
            password=unquote(parts.password or ""),
            database=database,
        )

    @property
    def display(self) -> str:
        """Return the URL without its password, fit for logs."""
        return redact(self.url)


@dataclass(frozen=True)
class KafkaAddress:
    """The bootstrap servers, and the first of them as host and port."""

    bootstrap_servers: str
    host: str
    port: int

    @classmethod
    def parse(cls, bootstrap_servers: str) -> KafkaAddress:
        """Parse a comma list of ``host:port``; the first entry is the one to start.

        Args:
            bootstrap_servers: ``host:port[,host:port...]``.

        Returns:
            The parsed address.

        Raises:
            StackError: The first entry is not ``host:port``.
        """
        first = bootstrap_servers.split(",", maxsplit=1)[0].strip()
        # Kafka clients accept an optional scheme prefix such as PLAINTEXT://.
        first = first.split("://", 1)[-1]
        host, sep, port = first.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise StackError(
                f"{KAFKA_BOOTSTRAP_SERVERS_VAR} must be host:port[,host:port...], "
                f"got {bootstrap_servers!r}"
            )
        return cls(bootstrap_servers=bootstrap_servers, host=host.strip("[]"), port=int(port))

    @property
    def is_single(self) -> bool:
        """Tell whether exactly one bootstrap server is configured."""
        return len([s for s in self.bootstrap_servers.split(",") if s.strip()]) == 1
