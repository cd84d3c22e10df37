"""``python -m service`` never prints the database password, in any form libpq takes.

A role of the test's own gets a password nothing else uses; the service is started with it
in the URI's query string and in ``key=value`` form, and everything the process writes
(the start line, and the start error when the password is wrong) is searched for it.
"""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from psycopg2 import sql

from embedded_stack import StackSettings
from tests.integration.helpers import wait_for
from tests.integration.ports import free_port
from tests.integration.service_process import is_up, launch, stop


@dataclass(frozen=True)
class Role:
    """A login role with a password of its own, a member of the stack's user."""

    name: str
    password: str


@pytest.fixture
def role(stack: StackSettings, db) -> Iterator[Role]:
    created = Role(f"mask_probe_{uuid.uuid4().hex[:8]}", f"Pw-{uuid.uuid4().hex}")
    owner = stack.postgres.user
    with db.cursor() as cursor:
        # Membership of the tables' owner: the service can use the migrated schema.
        cursor.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s IN ROLE {}").format(
                sql.Identifier(created.name), sql.Identifier(owner)
            ),
            (created.password,),
        )
    try:
        yield created
    finally:
        with db.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                (created.name,),
            )
            cursor.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(created.name)))


def conninfo(form: str, stack: StackSettings, user: str, password: str) -> str:
    address = stack.postgres
    if form == "uri-query":
        return (
            f"postgresql://{address.host}:{address.port}/{address.database}"
            f"?user={user}&password={password}&application_name=mask-probe"
        )
    if form == "uri-userinfo":
        return f"postgresql://{user}:{password}@{address.host}:{address.port}/{address.database}"
    return (
        f"host={address.host} port={address.port} dbname={address.database} "
        f"user={user} password = '{password}' application_name=mask-probe"
    )


def run_service(stack: StackSettings, database_url: str, *, until_up: bool) -> tuple[int, str]:
    """Start ``python -m service``; once it answers (or has exited), stop it; its output."""
    port = free_port()
    process = launch(
        {
            "MARS_DATABASE_URL": database_url,
            "MARS_KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap_servers,
            "MARS_HTTP_PORT": str(port),
            "MARS_KAFKA_CONSUMER_GROUP": f"mask-probe-{uuid.uuid4()}",
        }
    )
    url = f"http://127.0.0.1:{port}"
    try:
        if until_up:
            wait_for(lambda: process.poll() is not None or is_up(url), 30, "the service start")
            process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
        return process.returncode, output
    finally:
        stop(process)


@pytest.mark.parametrize("form", ["uri-query", "key-value", "uri-userinfo"])
def test_the_start_line_shows_the_database_without_its_password(stack, role, form):
    status, output = run_service(
        stack, conninfo(form, stack, role.name, role.password), until_up=True
    )

    assert status == 0, output
    assert "order service listening" in output
    assert role.name in output
    assert role.password not in output
    assert "***" in output


@pytest.mark.parametrize("form", ["uri-query", "key-value", "uri-userinfo"])
def test_a_start_error_shows_the_database_without_its_password(stack, role, form):
    wrong = f"Wrong-{uuid.uuid4().hex}"

    status, output = run_service(stack, conninfo(form, stack, role.name, wrong), until_up=False)

    assert status == 1, output
    assert "PostgreSQL is not reachable" in output
    assert wrong not in output
    assert "Traceback" not in output
