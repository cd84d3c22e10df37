"""What a campaign runs against: PostgreSQL and Kafka, shared or of its own.

A fault needs a server the campaign controls: PostgreSQL faults get a dedicated PostgreSQL,
broker faults a dedicated broker behind proxies. What no fault touches is shared, as in the
suite: the configured address is reused where it answers, else the embedded stack starts
there. A shared server is never faulted; other clients may use it meanwhile.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from campaign.schedule import KAFKA, POSTGRES, TARGETS
from embedded_stack import EmbeddedStack, StackSettings
from embedded_stack.dedicated_postgres import DedicatedPostgres
from embedded_stack.faulty_broker import FaultyBroker
from service.config import DEFAULT_DATABASE_URL, DEFAULT_KAFKA_BOOTSTRAP_SERVERS
from service.conninfo import mask_password


class TargetsError(ValueError):
    """An address was given for a server that the asked faults need the campaign to own."""


@dataclass
class Targets:
    """The addresses the service and the final read use, and the servers faults act on."""

    database_url: str
    bootstrap_servers: str
    postgres: DedicatedPostgres | None = None
    broker: FaultyBroker | None = None

    def describe(self) -> dict[str, str]:
        """Return the addresses (password masked) and whether each server is dedicated."""
        return {
            "databaseUrl": mask_password(self.database_url),
            "bootstrapServers": self.bootstrap_servers,
            "postgres": "dedicated" if self.postgres else "shared",
            "kafka": "dedicated" if self.broker else "shared",
        }


def needs(faults: Sequence[str], target: str) -> bool:
    """Tell whether any of ``faults`` acts on ``target`` (postgres or kafka)."""
    return any(TARGETS[fault] == target for fault in faults)


def check_addresses(
    faults: Sequence[str], database_url: str | None, bootstrap_servers: str | None
) -> None:
    """Refuse an address for a server the faults would have to own.

    Raises:
        TargetsError: A PostgreSQL fault with ``--database-url``, or a broker fault with
            ``--bootstrap-servers``.
    """
    if database_url and needs(faults, POSTGRES):
        raise TargetsError(
            "PostgreSQL faults need a PostgreSQL the campaign starts itself: leave out "
            "--database-url, or leave out pg-restart and pg-pause"
        )
    if bootstrap_servers and needs(faults, KAFKA):
        raise TargetsError(
            "broker faults need a broker the campaign starts itself: leave out "
            "--bootstrap-servers, or leave out the broker faults"
        )


@contextmanager
def campaign_targets(
    faults: Sequence[str],
    *,
    kafka_engine: str,
    log_dir: Path,
    database_url: str | None = None,
    bootstrap_servers: str | None = None,
) -> Iterator[Targets]:
    """Start what the faults need, reuse or start the rest; stop all of it afterwards.

    Args:
        faults: The campaign's faults.
        kafka_engine: The engine of a dedicated broker, and of an embedded one.
        log_dir: Where the dedicated servers write their logs.
        database_url: A shared PostgreSQL (None: ``MARS_DATABASE_URL``'s default).
        bootstrap_servers: A shared Kafka (None: the default address).

    Raises:
        TargetsError: See :func:`check_addresses`.
    """
    check_addresses(faults, database_url, bootstrap_servers)
    own_postgres, own_broker = needs(faults, POSTGRES), needs(faults, KAFKA)
    with ExitStack() as stack:
        postgres = stack.enter_context(_dedicated_postgres(log_dir)) if own_postgres else None
        broker = None
        if own_broker:
            broker = FaultyBroker(kafka_engine, log_dir=log_dir)
            stack.enter_context(broker)
        shared_db = database_url or DEFAULT_DATABASE_URL
        shared_kafka = bootstrap_servers or DEFAULT_KAFKA_BOOTSTRAP_SERVERS
        if not (own_postgres and own_broker):
            settings = StackSettings(shared_db, shared_kafka, kafka_engine=kafka_engine)
            stack.enter_context(EmbeddedStack(settings))
        yield Targets(
            database_url=postgres.url if postgres else shared_db,
            bootstrap_servers=broker.bootstrap_servers if broker else shared_kafka,
            postgres=postgres,
            broker=broker,
        )


@contextmanager
def _dedicated_postgres(log_dir: Path) -> Iterator[DedicatedPostgres]:
    # The data folder is temporary: the campaign's evidence is its final read, not its files.
    folder = Path(tempfile.mkdtemp(prefix="campaign-postgres-"))
    server = DedicatedPostgres(folder, log_path=log_dir / "postgres.log")
    try:
        server.start()
        yield server
    finally:
        server.remove()
        shutil.rmtree(folder, ignore_errors=True)
