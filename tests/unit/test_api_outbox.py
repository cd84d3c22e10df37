"""The API in outbox mode, the chaos report there, and ``GET /metrics``, on fakes."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from service.adapters.prometheus import (
    OutboxBacklogCollector,
    PrometheusRelayObserver,
    new_registry,
)
from service.monitoring import OutboxBacklog

from .conftest import NOW, fixed_clock
from .fakes import FakeUnitOfWork
from .payloads import order
from .test_outbox_relay import StubRelay


class OutboxLeakingUnitOfWork(FakeUnitOfWork):
    """A broken transaction whose rollback keeps the outbox rows, and only them."""

    def _rollback(self) -> None:
        self.database.outbox.update(self.outbox.rows)
        super()._rollback()


def samples(text: str) -> dict[str, float]:
    """Return the unlabelled samples of a Prometheus text page by name."""
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.labels
    }


def test_order_in_outbox_mode_stores_its_event_and_publishes_nothing(
    make_client, database, publisher
):
    client = make_client({"MARS_PROFILES_ACTIVE": "outbox"})

    response = client.simulate_post("/orders", json=order())

    assert response.status_code == 201
    order_id = response.json["orderId"]
    assert UUID(order_id) in database.committed
    assert [row.key for row in database.outbox.values()] == [order_id]
    assert publisher.untouched


def test_order_in_dual_write_mode_writes_no_outbox_row(client, database, publisher):
    client.simulate_post("/orders", json=order())

    assert database.outbox == {}
    assert len(publisher.events) == 1


def test_phantom_attempt_in_outbox_mode_rolls_back_the_order_and_its_outbox_row(
    outbox_chaos_client, database, publisher
):
    response = outbox_chaos_client.simulate_post("/chaos/phantom-event", json=order())

    assert response.status_code == 200
    report = response.json
    assert report["mode"] == "outbox"
    assert report["eventSentToKafka"] is False
    assert report["phantomEventProduced"] is False
    assert report["existsInDb"] is False
    assert report["dbRolledBack"] is True
    assert report["outboxRowsFound"] == 0
    assert (report["kafkaTopic"], report["kafkaOffset"], report["kafkaError"]) == (
        None,
        None,
        None,
    )
    assert report["explanation"].startswith("NO PHANTOM EVENT (outbox mode)")
    assert (
        "written to the outbox inside the transaction that rolled back" in (report["explanation"])
    )
    assert "finds 0 outbox rows" in report["explanation"]
    assert database.committed == {}
    assert database.outbox == {}
    assert publisher.untouched


def test_outbox_row_that_survives_the_rollback_is_reported(make_client, database):
    client = make_client(
        {"MARS_PROFILES_ACTIVE": "outbox,chaos"},
        uow_factory=lambda: OutboxLeakingUnitOfWork(database),
    )

    report = client.simulate_post("/chaos/phantom-event", json=order()).json

    assert report["existsInDb"] is False
    assert report["outboxRowsFound"] == 1
    assert report["phantomEventProduced"] is False
    assert report["explanation"].startswith("UNEXPECTED: 1 outbox row(s)")


def test_metrics_answer_in_the_prometheus_text_format(make_client):
    client = make_client(metrics=new_registry())

    response = client.simulate_get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "python_info" in {f.name for f in text_string_to_metric_families(response.text)}


def test_metrics_without_a_registry_answer_an_empty_page(client):
    response = client.simulate_get("/metrics")

    assert response.status_code == 200
    assert response.text == ""


def test_relay_observer_counts_and_times_what_was_published():
    registry = CollectorRegistry()
    observer = PrometheusRelayObserver(registry)

    observer.published([0.004, 0.15, 3.0])
    observer.failed(2)

    found = samples(generate_latest(registry).decode())
    assert found["outbox_published_total"] == 3
    assert found["outbox_publish_failures_total"] == 2
    assert found["outbox_relay_delay_seconds_count"] == 3
    assert found["outbox_relay_delay_seconds_sum"] == pytest.approx(3.154)


def test_relay_delay_histogram_buckets_the_delays():
    registry = CollectorRegistry()
    PrometheusRelayObserver(registry).published([0.004, 0.15, 3.0])

    buckets = {
        sample.labels["le"]: sample.value
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for sample in family.samples
        if sample.name == "outbox_relay_delay_seconds_bucket"
    }
    assert (buckets["0.005"], buckets["0.2"], buckets["5.0"], buckets["+Inf"]) == (1, 2, 3, 3)


def test_backlog_gauges_are_read_at_each_scrape():
    registry = CollectorRegistry()
    backlog = {"now": OutboxBacklog(4, NOW - timedelta(seconds=30))}
    registry.register(
        OutboxBacklogCollector(
            lambda timeout: backlog["now"], StubRelay(running=True, passes=9).status, fixed_clock
        )
    )

    first = samples(generate_latest(registry).decode())
    backlog["now"] = OutboxBacklog(0, None)
    second = samples(generate_latest(registry).decode())

    assert (first["outbox_backlog"], first["outbox_oldest_pending_age_seconds"]) == (4, 30)
    assert (second["outbox_backlog"], second["outbox_oldest_pending_age_seconds"]) == (0, 0)
    assert first["outbox_relay_running"] == 1
    assert first["outbox_relay_passes_total"] == 9


def test_backlog_gauges_are_left_out_when_the_database_does_not_answer():
    def unreachable(timeout):
        raise ConnectionError("could not connect to server")

    registry = CollectorRegistry()
    registry.register(
        OutboxBacklogCollector(unreachable, StubRelay(running=False).status, fixed_clock)
    )

    found = samples(generate_latest(registry).decode())

    assert "outbox_backlog" not in found
    assert found["outbox_relay_running"] == 0
