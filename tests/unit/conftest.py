"""Fixtures of the unit tests: the app on fakes, without any server or network."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime

import pytest
from falcon import testing

from service.app import Adapters, create_app
from service.config import load_config
from service.health import HealthCheck

from .fakes import FakeDatabase, FakePublisher, FakeUnitOfWork

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def fixed_clock() -> datetime:
    """Return the same instant every time, so timestamps can be asserted."""
    return NOW


def answering_probe(timeout: float) -> dict[str, object]:
    """A health probe whose dependency answers."""
    return {"checkedWithin": timeout}


@pytest.fixture(autouse=True)
def _no_mars_environment(monkeypatch):
    """Hide the developer's ``MARS_*`` variables: ``load_config(mapping)`` still reads them."""
    for name in [name for name in os.environ if name.startswith("MARS_")]:
        monkeypatch.delenv(name)


@pytest.fixture
def database():
    return FakeDatabase()


@pytest.fixture
def publisher():
    return FakePublisher()


@pytest.fixture
def health_checks():
    """Build ``HealthCheck``s from probes and close them (their threads) after the test."""
    built = []

    def build(probes=None, **options) -> HealthCheck:
        probes = {"db": answering_probe, "kafka": answering_probe} if probes is None else probes
        check = HealthCheck(probes, **options)
        built.append(check)
        return check

    yield build
    for check in built:
        check.close()


@pytest.fixture
def hanging_probe():
    """A probe that blocks for 10 s unless released; the teardown releases it."""
    release = threading.Event()

    def probe(timeout: float) -> dict[str, object]:
        release.wait(10)
        return {}

    yield probe
    release.set()


@pytest.fixture
def make_client(database, publisher, health_checks):
    """Build a ``TestClient`` on ``create_app`` with fakes; ``env`` holds ``MARS_*`` settings."""

    def make(env=None, *, uow_factory=None, health=None, metrics=None) -> testing.TestClient:
        config = load_config(env or {})
        adapters = Adapters(
            uow_factory=uow_factory or (lambda: FakeUnitOfWork(database)),
            publisher=publisher,
            health=health or health_checks(),
            metrics=metrics,
        )
        return testing.TestClient(create_app(config, adapters, clock=fixed_clock))

    return make


@pytest.fixture
def client(make_client):
    return make_client()


@pytest.fixture
def chaos_client(make_client):
    return make_client({"MARS_PROFILES_ACTIVE": "chaos"})


@pytest.fixture
def outbox_chaos_client(make_client):
    return make_client({"MARS_PROFILES_ACTIVE": "outbox,chaos"})
