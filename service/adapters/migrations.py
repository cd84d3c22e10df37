"""Versioned SQL migrations, applied at start under an advisory lock."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources

import psycopg2
import psycopg2.errors
import psycopg2.extensions

from service.log_text import first_line

logger = logging.getLogger(__name__)

# Any fixed number works; it only has to be the same for every instance of the service.
MIGRATION_LOCK_KEY = 8_082_001
_FILE_NAME = re.compile(r"^V(\d{3,})__(\w+)\.sql$")


class MigrationFailed(Exception):
    """A migration could not be applied; the message is one line naming it and the error."""


@dataclass(frozen=True)
class Migration:
    """One SQL file of ``service/migrations``."""

    version: int
    name: str
    sql: str


def bundled_migrations() -> list[Migration]:
    """Return the migrations shipped with the service, oldest first."""
    found = []
    for entry in resources.files("service.migrations").iterdir():
        match = _FILE_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


def apply_migrations(
    connection: psycopg2.extensions.connection,
    migrations: list[Migration] | None = None,
    *,
    timeout: float = 120.0,
) -> list[int]:
    """Apply the migrations not applied yet, in one transaction; return their versions.

    The transaction-scoped advisory lock makes concurrent starts wait for each other, so
    two instances never apply the same migration twice or see half a schema. That wait,
    and each migration statement, is bounded by ``timeout`` seconds instead of the request
    ``statement_timeout`` of the connection: a second instance waits for the first one's
    migrations rather than failing after a few seconds.

    Raises:
        MigrationFailed: the lock stayed taken for ``timeout``, or a migration failed.
    """
    migrations = bundled_migrations() if migrations is None else migrations
    applied_now = []
    bound = f"{int(timeout * 1000)}ms"
    with connection, connection.cursor() as cursor:
        # Either bound may end the wait for the lock first; both mean the same.
        cursor.execute("SET LOCAL statement_timeout = %s", (bound,))
        cursor.execute("SET LOCAL lock_timeout = %s", (bound,))
        try:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        except (psycopg2.errors.LockNotAvailable, psycopg2.errors.QueryCanceled):
            raise MigrationFailed(
                f"another instance held the migration lock for more than {timeout:g} s "
                "(MARS_DB_MIGRATION_TIMEOUT_MS); is one stuck in its start?"
            ) from None
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
            " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        cursor.execute("SELECT version FROM schema_migrations")
        done = {row[0] for row in cursor.fetchall()}
        for migration in migrations:
            if migration.version in done:
                continue
            try:
                cursor.execute(migration.sql)
            except psycopg2.Error as ex:
                raise MigrationFailed(
                    f"migration V{migration.version:03d}__{migration.name} failed: "
                    f"{first_line(ex)}; nothing of it was applied"
                ) from None
            cursor.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )
            applied_now.append(migration.version)
    if applied_now:
        logger.info("applied database migrations %s", applied_now)
    return applied_now
