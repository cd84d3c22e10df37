"""The pool's connections send BEGIN with a transaction's first statement, on real PostgreSQL,
and still behave as transactions: all of one commits together, or nothing of it does."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing

import psycopg2
import psycopg2.extensions
import pytest

from service.adapters.postgres_connections import GluedBeginConnection, connection_options
from tests.integration.helpers import autocommit_connection, connection_pool, query_one

# statement_timestamp() is when the current query message arrived; now() is when its
# transaction began. They are equal in the first statement only when the BEGIN came in
# the same message, that is, in the same round trip.
_BEGAN_WITH_THIS_MESSAGE = "SELECT now() = statement_timestamp()"
_IDLE = psycopg2.extensions.TRANSACTION_STATUS_IDLE


@pytest.fixture
def glued(module_database: str) -> Iterator[GluedBeginConnection]:
    with closing(
        psycopg2.connect(
            module_database, connection_factory=GluedBeginConnection, **connection_options()
        )
    ) as conn:
        yield conn


@pytest.fixture
def rows(module_database: str) -> Iterator[psycopg2.extensions.connection]:
    """A second connection, in autocommit, on an empty table ``t``."""
    with autocommit_connection(module_database) as conn:
        with conn.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS t; CREATE TABLE t (x integer)")
        yield conn


def count(conn: psycopg2.extensions.connection) -> int:
    return query_one(conn, "SELECT count(*) FROM t")[0]


def test_the_begin_travels_with_the_first_statement_and_the_transaction_goes_on(glued):
    with glued.cursor() as cursor:
        cursor.execute(_BEGAN_WITH_THIS_MESSAGE)
        first = cursor.fetchone()[0]
        cursor.execute(_BEGAN_WITH_THIS_MESSAGE)
        second = cursor.fetchone()[0]
    glued.rollback()

    assert first is True
    # The second statement runs in the transaction the first one began.
    assert second is False


def test_psycopg2_alone_sends_its_begin_in_a_round_trip_of_its_own(module_database):
    # The control: the check above tells the two apart.
    with closing(psycopg2.connect(module_database)) as plain, plain.cursor() as cursor:
        cursor.execute(_BEGAN_WITH_THIS_MESSAGE)

        assert cursor.fetchone()[0] is False


@pytest.mark.parametrize(("end", "rows_after"), [("commit", 2), ("rollback", 0)])
def test_statements_commit_together_or_roll_back_together(glued, rows, end, rows_after):
    with glued.cursor() as cursor:
        cursor.execute("INSERT INTO t VALUES (1)")
        cursor.execute("INSERT INTO t VALUES (2)")
        assert count(rows) == 0, "seen before the transaction ended"
    getattr(glued, end)()

    assert count(rows) == rows_after
    assert glued.info.transaction_status == _IDLE


def test_a_failed_statement_aborts_the_transaction_and_the_connection_goes_on(glued, rows):
    with glued.cursor() as cursor:
        cursor.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(psycopg2.errors.DivisionByZero):
            cursor.execute("SELECT 1 / 0")
    glued.rollback()
    with glued.cursor() as cursor:
        cursor.execute("INSERT INTO t VALUES (3)")
    glued.commit()

    assert query_one(rows, "SELECT array_agg(x) FROM t") == ([3],)


def test_a_failed_first_statement_still_leaves_a_transaction_to_roll_back(glued):
    with glued.cursor() as cursor, pytest.raises(psycopg2.errors.UndefinedTable):
        cursor.execute("SELECT * FROM no_such_table")

    assert glued.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_INERROR
    glued.rollback()
    assert glued.info.transaction_status == _IDLE


def test_a_with_block_commits_on_success_and_rolls_back_on_an_error(glued, rows):
    with glued, glued.cursor() as cursor:
        cursor.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(RuntimeError), glued, glued.cursor() as cursor:
        cursor.execute("INSERT INTO t VALUES (2)")
        raise RuntimeError("the block fails")

    assert query_one(rows, "SELECT array_agg(x) FROM t") == ([1],)


def test_commit_and_rollback_without_a_statement_send_nothing(glued):
    glued.commit()
    glued.rollback()

    assert glued.info.transaction_status == _IDLE


def test_the_pool_lends_such_connections(module_database):
    with (
        connection_pool(module_database, 1) as pool,
        pool.connection() as conn,
        conn.cursor() as cursor,
    ):
        cursor.execute(_BEGAN_WITH_THIS_MESSAGE)

        assert cursor.fetchone()[0] is True
