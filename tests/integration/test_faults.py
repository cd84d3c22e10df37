"""The service under broker faults: a dedicated broker behind a proxy the test controls.

Cutting the proxy makes the broker truly unreachable (connections refused) without
emptying its memory; pausing the broker makes it hang; restarting it empties it.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from falcon import testing

from embedded_stack import BrokerProcess, TcpProxy
from evidence.topic_reader import TopicReader
from service.adapters.postgres import check_database
from service.app import create_app
from service.bootstrap import Runtime, start_runtime
from service.config import load_config
from service.health import HealthCheck
from tests.integration.helpers import order_body, query_one, wait_for
from tests.integration.ports import free_port

PUBLISH_TIMEOUT_MS = 2000


@dataclass
class FaultyKafka:
    """A dedicated broker, the proxy in front of it, and a service wired to the proxy."""

    broker: BrokerProcess
    proxy: TcpProxy
    runtime: Runtime
    client: testing.TestClient
    bootstrap: str

    def events_for(self, order_id: str) -> list:
        reader = TopicReader(self.bootstrap, "order.created")
        return [r for r in reader.read_since({}) if r.key == order_id]


@pytest.fixture
def faulty_kafka(stack) -> Iterator[FaultyKafka]:
    broker_port, proxy_port = free_port(), free_port()
    bootstrap = f"127.0.0.1:{proxy_port}"
    config = load_config(
        {
            "MARS_DATABASE_URL": stack.database_url,
            "MARS_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "MARS_KAFKA_PUBLISH_TIMEOUT_MS": str(PUBLISH_TIMEOUT_MS),
        }
    )
    with (
        BrokerProcess(broker_port, advertised=bootstrap) as broker,
        TcpProxy(proxy_port, "127.0.0.1", broker_port) as proxy,
    ):
        runtime = start_runtime(config, consume_cancellations=False)
        try:
            client = testing.TestClient(create_app(config, runtime.adapters))
            yield FaultyKafka(broker, proxy, runtime, client, bootstrap)
        finally:
            if broker.is_paused:
                broker.resume()
            runtime.close()


def health(kafka: FaultyKafka) -> tuple[int, dict]:
    response = kafka.client.simulate_get("/actuator/health")
    return response.status_code, response.json


def test_health_turns_down_when_the_broker_is_unreachable_and_up_when_it_is_back(faulty_kafka):
    assert health(faulty_kafka)[0] == 200

    faulty_kafka.proxy.cut()
    started = time.monotonic()
    status, body = health(faulty_kafka)
    elapsed = time.monotonic() - started

    assert status == 503
    assert body["status"] == "DOWN"
    assert body["components"]["kafka"]["status"] == "DOWN"
    assert body["components"]["db"]["status"] == "UP"
    assert elapsed < 2.5, f"health took {elapsed:.2f} s"
    faulty_kafka.proxy.restore()
    wait_for(lambda: health(faulty_kafka)[0] == 200, 15, "health UP after the broker came back")


def test_order_during_an_outage_is_committed_its_event_lost_and_later_orders_publish(
    faulty_kafka, caplog
):
    faulty_kafka.proxy.cut()
    with caplog.at_level(logging.WARNING, logger="service.domain.use_cases"):
        response = faulty_kafka.client.simulate_post("/orders", json=order_body())
    lost_id = response.json["orderId"]
    faulty_kafka.proxy.restore()

    assert response.status_code == 201
    assert f"DUAL WRITE FAILURE — EVENT LOST for orderId={lost_id}" in caplog.text
    wait_for(lambda: health(faulty_kafka)[0] == 200, 15, "health UP after the broker came back")
    next_id = faulty_kafka.client.simulate_post("/orders", json=order_body()).json["orderId"]
    assert len(faulty_kafka.events_for(next_id)) == 1, "the next order was not published"
    # Read after the fault healed: the event of the order placed during the cut never came.
    assert faulty_kafka.events_for(lost_id) == []


def test_publish_timeout_bounds_post_orders_when_the_broker_hangs(faulty_kafka, db, caplog):
    faulty_kafka.broker.pause()
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="service.domain.use_cases"):
        response = faulty_kafka.client.simulate_post("/orders", json=order_body())
    elapsed = time.monotonic() - started
    faulty_kafka.broker.resume()

    assert response.status_code == 201
    assert elapsed < PUBLISH_TIMEOUT_MS / 1000 + 0.5, f"POST /orders took {elapsed:.2f} s"
    assert "DUAL WRITE FAILURE" in caplog.text
    order_id = response.json["orderId"]
    assert query_one(db, "SELECT status FROM orders WHERE id = %s", order_id) == ("CREATED",)


def test_orders_publish_again_after_a_broker_restart_emptied_it(faulty_kafka):
    faulty_kafka.broker.kill()
    faulty_kafka.broker.start()
    wait_for(lambda: health(faulty_kafka)[0] == 200, 15, "health UP after the restart")

    def published_order() -> str | None:
        order_id = faulty_kafka.client.simulate_post("/orders", json=order_body()).json["orderId"]
        return order_id if faulty_kafka.events_for(order_id) else None

    order_id = wait_for(published_order, 15, "an order published after the restart", 0.5)
    assert len(faulty_kafka.events_for(order_id)) == 1


def test_health_answers_in_time_when_the_database_hangs():
    # A listener that accepts connections and never says a word: a hung server.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"postgresql://mars:mars@127.0.0.1:{listener.getsockname()[1]}/orders_db"
        check = HealthCheck({"db": lambda timeout: check_database(url, timeout)})
        try:
            started = time.monotonic()
            components = check()
            elapsed = time.monotonic() - started
        finally:
            check.close()

    assert components["db"].up is False
    assert elapsed < 2.0, f"health took {elapsed:.2f} s"
