"""``python -m service`` as a process: start line, clear start errors, graceful stop."""

from __future__ import annotations

import signal
import threading
import uuid
from collections.abc import Iterator

import pytest
import requests

from embedded_stack import BrokerProcess
from tests.integration.helpers import order_body, query_one, wait_for
from tests.integration.ports import free_port
from tests.integration.service_process import ServiceProcess, launch, running_service, stop


@pytest.fixture
def hanging_broker() -> Iterator[BrokerProcess]:
    with BrokerProcess(free_port()) as broker:
        try:
            yield broker
        finally:
            if broker.is_paused:
                broker.resume()


@pytest.fixture
def service(stack, hanging_broker) -> Iterator[ServiceProcess]:
    with running_service(
        {
            "MARS_DATABASE_URL": stack.database_url,
            "MARS_KAFKA_BOOTSTRAP_SERVERS": hanging_broker.listen_address,
            "MARS_PROFILES_ACTIVE": "chaos",
            "MARS_KAFKA_PUBLISH_TIMEOUT_MS": "2000",
        }
    ) as running:
        yield running


def test_sigterm_finishes_the_request_in_flight_and_exits_zero(service, hanging_broker, db):
    # A paused broker keeps POST /orders busy for the publish timeout: a request in flight.
    hanging_broker.pause()
    body = {**order_body(), "customerId": str(uuid.uuid4())}
    answers: list[requests.Response] = []
    request = threading.Thread(
        target=lambda: answers.append(requests.post(f"{service.url}/orders", json=body, timeout=15))
    )
    request.start()
    # The order is committed before the publish: once its row exists, the request waits on
    # the broker, in flight.
    wait_for(
        lambda: query_one(
            db, "SELECT count(*) FROM orders WHERE customer_id = %s", body["customerId"]
        )[0],
        5,
        "the order's commit",
    )
    service.process.send_signal(signal.SIGTERM)
    request.join(timeout=15)
    hanging_broker.resume()

    assert [a.status_code for a in answers] == [201]
    assert service.process.wait(timeout=15) == 0
    output = service.output()
    assert "stopping: no new connections" in output
    assert "stopped" in output


def test_start_line_names_profiles_database_and_brokers_with_the_password_masked(service):
    service.process.send_signal(signal.SIGINT)
    assert service.process.wait(timeout=15) == 0
    output = service.output()

    assert "profiles=chaos" in output
    assert "postgresql://mars:***@" in output
    assert ":mars@" not in output
    assert "brokers=127.0.0.1:" in output
    assert "CHAOS PROFILE ACTIVE" in output


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"MARS_DATABASE_URL": "postgresql://mars:mars@127.0.0.1:{port}/orders_db"},
            "PostgreSQL is not reachable",
        ),
        ({"MARS_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:{port}"}, "Kafka is not reachable"),
        ({"MARS_HTTP_PORT": "eighty"}, "MARS_HTTP_PORT"),
        ({"MARS_PROFILES_ACTIVE": "chaos,turbo"}, "unknown profile(s) turbo"),
    ],
    ids=["database-down", "kafka-down", "bad-port", "unknown-profile"],
)
def test_a_start_problem_gives_a_clear_message_and_no_traceback(stack, overrides, message):
    port = free_port()
    env = {
        "MARS_DATABASE_URL": stack.database_url,
        "MARS_KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap_servers,
        "MARS_HTTP_PORT": str(free_port()),
    }
    env.update({k: v.format(port=port) for k, v in overrides.items()})
    process = launch(env)
    try:
        output, _ = process.communicate(timeout=30)
    finally:
        stop(process)

    assert process.returncode != 0
    assert message in output
    assert "Traceback" not in output
