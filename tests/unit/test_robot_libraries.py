"""The pure parts of the acceptance suite's keyword libraries."""

from __future__ import annotations

import logging

import pytest
from robot.api import SkipExecution

from evidence.topic_reader import Record
from tests.unit.robot_libraries import load_library, topic_event


def phantom_answer(order_id: str, **changes) -> dict:
    return {
        "orderId": order_id,
        "existsInDb": False,
        "eventSentToKafka": True,
        "dbRolledBack": True,
        "kafkaPartition": 0,
        "kafkaOffset": 3,
        **changes,
    }


def test_requirements_check_names_a_package_at_the_wrong_version(tmp_path):
    (tmp_path / "requirements.txt").write_text("pytest==0.0.1\n# a comment\n-e .\n")
    application = load_library("Application")(str(tmp_path))

    with pytest.raises(AssertionError, match=r"pytest .* is installed, 0.0.1 is pinned"):
        application.installed_packages_should_match_requirements()


def test_requirements_check_counts_the_pins_it_checked(tmp_path):
    (tmp_path / "requirements.txt").write_text(f"pytest=={pytest.__version__}\n")
    application = load_library("Application")(str(tmp_path))

    assert application.installed_packages_should_match_requirements() == 1


def test_port_of_a_url():
    application = load_library("Application")()

    assert application.port_of("http://127.0.0.1:8082") == 8082
    assert application.port_of("https://staging.example") == 443


def test_chaos_report_matches_events_to_phantom_orders_and_judges_the_run():
    report = load_library("ChaosReport")()
    report.start_phantom_event_run(iterations=2)
    report.record_baseline(10, 4)
    for order_id in ("a", "b"):
        report.record_phantom_attempt(200, phantom_answer(order_id))
        report.record_database_rows(order_id, 0, "SELECT id FROM orders WHERE id = %s")
    report.record_database_count_after(12)
    report.record_kafka_events(
        [topic_event("a", 4), topic_event("someone-else", 5), topic_event("b", 6)]
    )

    report.check_should_pass("Kafka count increased")
    report.check_should_pass("DB count unchanged")
    with pytest.raises(AssertionError, match="Normal POST /orders works: expected 201"):
        report.check_should_pass("Normal POST /orders works")
    assert report._run.attempts[1].query == "SELECT id FROM orders WHERE id = 'b'"


def test_latest_event_of_another_client_is_explained_not_failed(caplog):
    report = load_library("ChaosReport")()
    report.record_phantom_attempt(200, phantom_answer("a"))
    report.record_kafka_events(
        [
            topic_event("a", 1, "2026-11-24T00:00:01.000+00:00"),
            topic_event("other", 2, "2026-11-24T00:00:02.000+00:00"),
        ]
    )

    with caplog.at_level(logging.WARNING, logger="RobotFramework"):
        report.latest_event_should_match_the_last_phantom_order()

    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "orderId=other" in warning
    assert "a has its event at partition 0, offset 1" in warning


def test_an_answer_without_order_id_fails_the_attempt():
    report = load_library("ChaosReport")()

    with pytest.raises(AssertionError, match="HTTP 500 without an orderId"):
        report.record_phantom_attempt(500, {"title": "Internal error"})


class RecordedTopic:
    """Stands in for the evidence TopicReader: the records of a topic, all in partition 0."""

    def __init__(self, *records: Record) -> None:
        self.records = list(records)

    def end_positions(self) -> dict[int, int]:
        return {0: len(self.records)}

    def read_since(self, positions: dict[int, int]) -> list[Record]:
        return self.records[positions.get(0, 0) :]


def record(order_id: str, offset: int) -> Record:
    return Record(0, offset, order_id, {"orderId": order_id}, b"{}", 1_796_083_200_000)


def consumption_of(topic: RecordedTopic):
    consumption = load_library("KafkaConsumption")("localhost:1", "order.created")
    consumption._reader = topic
    return consumption


@pytest.mark.parametrize("read", ["read_events_since_baseline", "wait_for_event"])
def test_reading_without_a_baseline_skips_naming_the_step_that_records_it(read):
    consumption = consumption_of(RecordedTopic())
    arguments = ("some-order",) if read == "wait_for_event" else ()

    with pytest.raises(SkipExecution, match=r"needs seed step 4's baseline.*run the whole suite"):
        getattr(consumption, read)(*arguments)


def test_events_since_the_baseline_leave_out_the_older_ones():
    topic = RecordedTopic(record("before", 0))
    consumption = consumption_of(topic)
    assert consumption.record_kafka_baseline() == 1
    topic.records.append(record("after", 1))

    (after,) = consumption.read_events_since_baseline()

    assert after == {
        "partition": 0,
        "offset": 1,
        "key": "after",
        "value": {"orderId": "after"},
        "timestamp": "2026-12-01T00:00:00.000+00:00",
    }


def test_wait_for_event_returns_the_event_of_the_order():
    topic = RecordedTopic()
    consumption = consumption_of(topic)
    consumption.record_kafka_baseline()
    topic.records.extend([record("other", 0), record("mine", 1)])

    found = consumption.wait_for_event("mine", timeout="1s", pause="0.01s")

    assert (found["key"], found["offset"]) == ("mine", 1)


def test_wait_for_event_names_the_order_and_the_topic_when_it_times_out():
    topic = RecordedTopic()
    consumption = consumption_of(topic)
    consumption.record_kafka_baseline()
    topic.records.append(record("other", 0))

    expected = r"no event for orderId=mine on order.created within 0.2s"
    with pytest.raises(AssertionError, match=expected):
        consumption.wait_for_event("mine", timeout="0.2s", pause="0.05s")
