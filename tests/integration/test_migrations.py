"""Migrations apply once, also when several instances start at the same moment."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager

import psycopg2
import pytest

from embedded_stack.databases import private_database
from service.adapters.migrations import (
    MIGRATION_LOCK_KEY,
    Migration,
    MigrationFailed,
    apply_migrations,
    bundled_migrations,
)
from service.bootstrap import prepare_database
from service.config import load_config
from tests.integration.ports import free_port
from tests.integration.service_process import launch, stop

INSTANCES = 4


@pytest.fixture
def fresh_database(config) -> Iterator[str]:
    """A new, empty database on the same server, dropped afterwards."""
    with private_database(config.database_url, prefix="migration_test") as url:
        yield url


def test_concurrent_starts_apply_each_migration_exactly_once(fresh_database):
    barrier = threading.Barrier(INSTANCES)
    applied: list[list[int]] = []
    errors: list[BaseException] = []

    def start_instance() -> None:
        conn = psycopg2.connect(fresh_database)
        try:
            barrier.wait(timeout=10)
            applied.append(apply_migrations(conn))
        except BaseException as ex:  # collected and asserted below
            errors.append(ex)
        finally:
            conn.close()

    threads = [threading.Thread(target=start_instance) for _ in range(INSTANCES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    versions = [m.version for m in bundled_migrations()]
    assert sorted(v for run in applied for v in run) == versions
    with closing(psycopg2.connect(fresh_database)) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT version FROM schema_migrations ORDER BY version")
        assert [row[0] for row in cursor.fetchall()] == versions
        cursor.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'orders'")
        assert cursor.fetchone()[0] == 1


def test_applying_again_changes_nothing(fresh_database):
    with closing(psycopg2.connect(fresh_database)) as first:
        assert apply_migrations(first) != []
    with closing(psycopg2.connect(fresh_database)) as second:
        assert apply_migrations(second) == []


@contextmanager
def migration_lock_held(database_url: str) -> Iterator[None]:
    """Hold the migration lock as a first instance in the middle of its migrations would."""
    holder = psycopg2.connect(database_url)
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        yield
    finally:
        holder.rollback()
        holder.close()


def test_a_second_start_waits_for_the_lock_beyond_the_request_statement_timeout(
    fresh_database, stack
):
    config = load_config(
        {
            "MARS_DATABASE_URL": fresh_database,
            "MARS_KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap_servers,
            "MARS_DB_STATEMENT_TIMEOUT_MS": "500",
        }
    )
    errors: list[BaseException] = []

    def start() -> None:
        try:
            prepare_database(config)
        except BaseException as ex:  # collected and asserted below
            errors.append(ex)

    with migration_lock_held(fresh_database):
        second = threading.Thread(target=start)
        second.start()
        # Twice the request statement timeout: it must still be waiting, not failed.
        second.join(timeout=1.0)
        assert second.is_alive(), errors
    second.join(timeout=30)

    assert errors == []


def test_the_lock_wait_has_a_bound_of_its_own(fresh_database):
    with migration_lock_held(fresh_database), closing(psycopg2.connect(fresh_database)) as conn:
        started = time.monotonic()
        with pytest.raises(MigrationFailed, match="held the migration lock for more than 1 s"):
            apply_migrations(conn, timeout=1.0)
    assert 1.0 <= time.monotonic() - started < 3.0


def test_a_failed_migration_is_one_line_naming_it_and_applies_nothing(fresh_database):
    broken = [*bundled_migrations(), Migration(999, "broken", "ALTER TABLE orders ADD nope nope")]
    with (
        closing(psycopg2.connect(fresh_database)) as conn,
        pytest.raises(MigrationFailed) as failed,
    ):
        apply_migrations(conn, broken)
    message = str(failed.value)
    assert message.startswith('migration V999__broken failed: type "nope" does not exist')
    assert "\n" not in message
    with closing(psycopg2.connect(fresh_database)) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT to_regclass('schema_migrations')")
        assert cursor.fetchone()[0] is None


def test_a_service_whose_migration_cannot_run_exits_with_one_line(fresh_database, stack):
    env = {
        "MARS_DATABASE_URL": fresh_database,
        "MARS_KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap_servers,
        "MARS_HTTP_PORT": str(free_port()),
        "MARS_DB_MIGRATION_TIMEOUT_MS": "1000",
    }
    with migration_lock_held(fresh_database):
        process = launch(env)
        try:
            output, _ = process.communicate(timeout=30)
        finally:
            stop(process)

    assert process.returncode == 1
    assert "cannot start: another instance held the migration lock for more than 1 s" in output
    assert "Traceback" not in output
