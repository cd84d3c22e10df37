"""The pool keeps its connections (a new one per request cost ~6 ms, measured by bench/),
and never hands out one whose server process is gone."""

from __future__ import annotations

import pytest

from embedded_stack.polling import wait_until
from service.adapters.postgres_connections import ConnectionPool
from service.domain.errors import DatabaseUnavailable
from tests.integration.helpers import connection_pool, query_one


def backend_pid(pool: ConnectionPool) -> int:
    with pool.connection() as conn, conn.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
        conn.rollback()
        return pid


def test_pool_reuses_its_connections(config):
    with connection_pool(config.database_url, 2) as pool:
        first = backend_pid(pool)

        assert [backend_pid(pool) for _ in range(5)] == [first] * 5


def test_a_connection_whose_backend_was_killed_is_replaced_not_handed_out(config, db):
    # One connection only: whatever the pool lends next is that one, or its replacement.
    with connection_pool(config.database_url, 1) as pool:
        with pool.connection() as conn:
            killed = conn
            killed_pid = conn.info.backend_pid
        assert query_one(db, "SELECT pg_terminate_backend(%s)", killed_pid) == (True,)
        # The server ends the process after answering: wait until it is gone, so that its
        # goodbye is on the socket the pool looks at.
        wait_until(
            lambda: (
                query_one(db, "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", killed_pid)
                == (0,)
            ),
            timeout=10,
            what=f"the end of backend {killed_pid}",
        )

        # The raw driver connection, as pool.connection() lends it: no retry would hide a
        # dead one, so only the pool's liveness check can keep it from being handed out.
        with pool.connection() as conn, conn.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            replacement_pid = cursor.fetchone()[0]
            conn.rollback()
            replacement = conn

        assert replacement is not killed
        assert killed.closed, "the dead connection was not closed by the pool"
        assert replacement_pid != killed_pid
        assert backend_pid(pool) == replacement_pid, "the replacement is not kept in the pool"


def test_a_dead_connection_that_cannot_be_replaced_is_database_unavailable_not_a_500(
    dedicated_postgres,
):
    # Found by the chaos campaign: a connection lent before PostgreSQL went down fails its
    # first statement; the pool gave it back and tried for a new one, which failed too,
    # and the transaction then gave the dead one back a second time: psycopg2's PoolError
    # ("trying to put unkeyed connection"), a 500.
    with connection_pool(dedicated_postgres.url, 1) as pool:
        try:
            with (
                pytest.raises(DatabaseUnavailable, match="cannot connect"),
                pool.transaction() as transaction,
            ):
                dedicated_postgres.stop()
                transaction.execute("SELECT 1", None)
        finally:
            dedicated_postgres.start()

        with pool.transaction() as transaction:
            assert transaction.execute("SELECT 1", None).fetchone() == (1,)
