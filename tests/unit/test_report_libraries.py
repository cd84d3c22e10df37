"""The report libraries hand measured values to the evidence: quoting, checks, one wait."""

from __future__ import annotations

import pytest

from evidence.topic_reader import Record
from tests.unit.robot_libraries import load_library, topic_event


def phantom_answer(order_id: str, partition: int = 0, offset: int = 3) -> dict:
    """Return the chaos endpoint's answer for a phantom order published at partition/offset."""
    return {
        "orderId": order_id,
        "existsInDb": False,
        "eventSentToKafka": True,
        "dbRolledBack": True,
        "kafkaPartition": partition,
        "kafkaOffset": offset,
    }


class StillTopic:
    """A topic whose records since the baseline are fixed: the evidence reader's two calls."""

    def __init__(self, *records: Record) -> None:
        self.records = list(records)

    def end_positions(self) -> dict[int, int]:
        return {0: 0}

    def read_since(self, positions: dict[int, int]) -> list[Record]:
        return self.records


def lost_event_report(topic: StillTopic, *order_ids: str):
    report = load_library("LostEventReport")()
    report._reader = topic
    for order_id in order_ids:
        report.record_placed_order("outage", 201, {"orderId": order_id}, 0.1)
    return report


def test_the_shown_query_quotes_the_order_id_as_psycopg2_binds_it():
    report = load_library("ChaosReport")()
    report.record_phantom_attempt(200, phantom_answer("o'1"))

    report.record_database_rows("o'1", 0, "SELECT id FROM orders WHERE id = %s")

    assert report._run.attempts[0].query == "SELECT id FROM orders WHERE id = 'o''1'"


def test_a_reported_offset_that_holds_another_event_fails_naming_both_positions():
    report = load_library("ChaosReport")()
    report.record_phantom_attempt(200, phantom_answer("a", 0, 3))
    report.record_kafka_events([topic_event("someone-else", 3), topic_event("a", 4)])

    with pytest.raises(AssertionError, match=r"actual reported 0/3, read at 0/4$"):
        report.check_should_pass("Report: kafkaPartition/kafkaOffset")


def test_a_check_that_did_not_run_fails_as_not_checked():
    report = load_library("ChaosReport")()
    report.record_phantom_attempt(200, phantom_answer("a"))

    with pytest.raises(AssertionError, match=r"actual not checked — NOT CHECKED$"):
        report.check_should_pass("Normal order exists in DB")


def test_an_unknown_check_name_fails_listing_the_known_ones():
    report = load_library("ChaosReport")()

    with pytest.raises(AssertionError, match=r"no check named 'DB count unchnaged'.*DB count"):
        report.check_should_pass("DB count unchnaged")


def test_waiting_for_delivery_names_the_orders_still_missing():
    report = lost_event_report(StillTopic(), "o-1", "o-2")

    with pytest.raises(AssertionError, match=r"^2 outage order\(s\) still not delivered after "):
        report.wait_until_orders_of_phase_are_delivered("outage", timeout="0.3s")
    with pytest.raises(AssertionError, match=r"0\.3s: o-1, o-2$"):
        report.wait_until_orders_of_phase_are_delivered("outage", timeout="0.3s")


def test_waiting_for_delivery_keeps_how_long_it_took():
    topic = StillTopic(Record(0, 5, "o-1", {"orderId": "o-1"}, b"{}"))
    report = lost_event_report(topic, "o-1")

    seconds = report.wait_until_orders_of_phase_are_delivered("outage", timeout="5s")

    assert report._run.delivery_bound_seconds == seconds < 5
    assert report._run.orders[0].where == "0/5"
