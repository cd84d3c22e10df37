"""Integration fixtures: the real embedded stack (or what already answers), started once."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg2
import pytest
from falcon import testing

from embedded_stack import EmbeddedStack, StackSettings
from embedded_stack.databases import private_database
from embedded_stack.dedicated_postgres import DedicatedPostgres
from evidence.topic_reader import TopicReader
from service.app import create_app
from service.bootstrap import Runtime, start_runtime
from service.config import Config, load_config
from tests.integration.helpers import autocommit_connection
from tests.integration.ports import free_port


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of this folder as an integration test."""
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def stack_settings() -> StackSettings:
    """The addresses of PostgreSQL and Kafka (``MARS_*`` variables, else the defaults)."""
    return StackSettings.from_env(os.environ)


@pytest.fixture(scope="session")
def stack(stack_settings: StackSettings) -> Iterator[StackSettings]:
    """Reuse PostgreSQL and Kafka if they answer, else start the embedded ones; stop them after."""
    embedded = EmbeddedStack(stack_settings)
    try:
        embedded.up()
        yield stack_settings
    finally:
        embedded.down()


@pytest.fixture(scope="session")
def config(stack: StackSettings) -> Config:
    """The service configuration, with the chaos profile on."""
    environ = {
        **{k: v for k, v in os.environ.items() if k.startswith("MARS_")},
        "MARS_DATABASE_URL": stack.database_url,
        "MARS_KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap_servers,
        "MARS_PROFILES_ACTIVE": "chaos",
        # A unique group per test session, so an old committed offset never hides a message.
        "MARS_KAFKA_CONSUMER_GROUP": f"order-service-test-{uuid.uuid4()}",
    }
    return load_config(environ)


@pytest.fixture(scope="session")
def runtime(config: Config) -> Iterator[Runtime]:
    """The real adapters: pool, producer, consumer; closed at the end."""
    running = start_runtime(config)
    try:
        yield running
    finally:
        running.close()


@pytest.fixture(scope="session")
def client(config: Config, runtime: Runtime) -> testing.TestClient:
    """The app on the real adapters, called in-process."""
    return testing.TestClient(create_app(config, runtime.adapters))


@pytest.fixture(scope="session")
def created_events(config: Config) -> TopicReader:
    """A reader of ``order.created``."""
    return TopicReader(config.kafka_bootstrap_servers, "order.created")


@pytest.fixture
def db(config: Config) -> Iterator[psycopg2.extensions.connection]:
    """A connection of the test's own, in autocommit mode."""
    with autocommit_connection(config.database_url) as conn:
        yield conn


@pytest.fixture(scope="module")
def module_database(stack: StackSettings) -> Iterator[str]:
    """An empty database of the test module's own on the stack's server, dropped after it."""
    with private_database(stack.database_url) as url:
        yield url


@pytest.fixture(scope="session")
def dedicated_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DedicatedPostgres]:
    """A PostgreSQL server of the fault tests' own, started once and removed at the end."""
    server = DedicatedPostgres(tmp_path_factory.mktemp("dedicated-postgres"))
    try:
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture
def unreachable_broker() -> str:
    """An address where nothing listens: a free loopback port."""
    return f"127.0.0.1:{free_port()}"
