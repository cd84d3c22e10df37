"""The relay hears commits: ``NOTIFY`` in the order's transaction, ``LISTEN`` in the relay.

A committed outbox row wakes the listener; a rolled-back one does not; a listener whose
server restarted listens again by itself. With a poll interval of a minute, an order's event
is on the topic within a second: the relay woke on the commit, not on its timer.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import psycopg2
import pytest
from falcon import testing

from service.adapters.postgres_connections import OUTBOX_CHANNEL
from service.adapters.postgres_notifications import OutboxNotifications
from service.app import create_app
from service.bootstrap import start_runtime
from service.config import load_config
from tests.integration.helpers import order_body, wait_for
from tests.integration.outbox_support import events_by_order

# Far longer than any wait below: only a notification can make the relay publish in time.
POLL_INTERVAL_MS = 60_000
HEARD_WITHIN = 1.0


@pytest.fixture
def listener(module_database) -> Iterator[OutboxNotifications]:
    notifications = OutboxNotifications(module_database, reconnect_after=0.1)
    try:
        assert notifications.wait(0.01) is False, "nothing was committed yet"
        yield notifications
    finally:
        notifications.close()


def _notify(database_url: str, *, commit: bool) -> None:
    connection = psycopg2.connect(database_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"NOTIFY {OUTBOX_CHANNEL}")
        connection.commit() if commit else connection.rollback()
    finally:
        connection.close()


def test_a_commit_wakes_the_listener_and_a_rollback_does_not(listener, module_database):
    _notify(module_database, commit=False)
    assert listener.wait(0.5) is False

    _notify(module_database, commit=True)
    started = time.monotonic()
    assert listener.wait(5) is True
    assert time.monotonic() - started < HEARD_WITHIN
    assert listener.wait(0.2) is False, "one commit, one wake-up"


def test_wake_ends_a_wait_at_once(listener):
    listener.wake()
    started = time.monotonic()
    assert listener.wait(5) is True
    assert time.monotonic() - started < 0.1


def test_a_listener_whose_server_restarted_listens_again(dedicated_postgres):
    notifications = OutboxNotifications(dedicated_postgres.url, reconnect_after=0.1)
    try:
        notifications.wait(0.01)
        dedicated_postgres.restart()
        # The first wait learns the connection is gone; the next ones listen again.
        wait_for(
            lambda: _heard_after_commit(notifications, dedicated_postgres.url),
            10,
            "a notification after the restart",
        )
    finally:
        notifications.close()


def _heard_after_commit(notifications: OutboxNotifications, url: str) -> bool:
    notifications.wait(0.2)  # reconnects (and drains anything older)
    _notify(url, commit=True)
    return notifications.wait(1.0)


def test_the_relay_publishes_on_commit_not_on_its_timer(stack, module_database, created_events):
    config = load_config(
        {
            "MARS_DATABASE_URL": module_database,
            "MARS_KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap_servers,
            "MARS_PROFILES_ACTIVE": "outbox",
            "MARS_OUTBOX_POLL_INTERVAL_MS": str(POLL_INTERVAL_MS),
            "MARS_OUTBOX_BACKOFF_MAX_MS": str(POLL_INTERVAL_MS),
            "MARS_KAFKA_CONSUMER_GROUP": f"order-service-test-{uuid.uuid4()}",
        }
    )
    runtime = start_runtime(config, consume_cancellations=False)
    try:
        client = testing.TestClient(create_app(config, runtime.adapters))
        # The relay's first pass runs at its start; let it end and begin its minute's wait.
        time.sleep(0.5)
        before = created_events.end_positions()
        started = time.monotonic()
        order_ids = [
            client.simulate_post("/orders", json=order_body()).json["orderId"] for _ in range(3)
        ]
        wait_for(
            lambda: all(events_by_order(created_events, before)[i] for i in order_ids),
            POLL_INTERVAL_MS / 1000 / 2,
            "the events of three orders",
        )
        assert time.monotonic() - started < 5, "the relay waited for its timer"
    finally:
        runtime.close()
