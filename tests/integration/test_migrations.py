"""Migrations apply once, also when several instances start at the same moment."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import closing
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest

from service.adapters.migrations import apply_migrations, bundled_migrations

INSTANCES = 4


@pytest.fixture
def fresh_database(config) -> Iterator[str]:
    """A new, empty database on the same server, dropped afterwards."""
    name = f"migration_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(config.database_url)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {name}")
        yield urlunsplit(urlsplit(config.database_url)._replace(path=f"/{name}"))
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE {name} WITH (FORCE)")
    finally:
        admin.close()


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
