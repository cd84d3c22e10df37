"""The phantom-event proof: checks and verdict computed from measured values only."""

from __future__ import annotations

from datetime import UTC, datetime

from evidence.checks import NOT_CHECKED
from evidence.phantom_proof import (
    CONFIRMED,
    NO_PHANTOM,
    UNEXPECTED,
    CheckName,
    PhantomAttempt,
    PhantomRun,
)
from evidence.phantom_report import delta_chart, html_proof, html_results, markdown_report


def attempt(order_id: str = "o-1", **changes) -> PhantomAttempt:
    values = {
        "status_code": 200,
        "order_id": order_id,
        "exists_in_db": False,
        "event_sent_to_kafka": True,
        "db_rolled_back": True,
        "kafka_partition": 1,
        "kafka_offset": 7,
        "rows_found": 0,
        "query": f"SELECT ... WHERE id = '{order_id}'",
        "event_found": True,
        "event_partition": 1,
        "event_offset": 7,
    }
    values.update(changes)
    return PhantomAttempt(**values)


def confirmed_run(**changes) -> PhantomRun:
    values = {
        "started_at": datetime(2026, 11, 24, tzinfo=UTC),
        "infrastructure": "PostgreSQL UP (started), Kafka UP (started)",
        "iterations": 2,
        "db_before": 10,
        "db_after": 10,
        "kafka_before": 5,
        "kafka_new_events": 2,
        "kafka_own_events": 2,
        "attempts": [attempt("o-1"), attempt("o-2")],
        "normal_status": 201,
        "normal_order_id": "n-1",
        "normal_rows": 1,
        "normal_event_found": True,
    }
    values.update(changes)
    return PhantomRun(**values)


def statuses(run: PhantomRun) -> dict[str, str]:
    return {check.name: check.status for check in run.checks()}


def test_a_clean_run_passes_the_ten_checks_and_the_position_check_and_is_confirmed():
    run = confirmed_run()

    assert list(statuses(run).values()) == ["PASS"] * 11
    assert run.verdict() == (CONFIRMED, [])


def test_an_order_that_survived_the_rollback_is_unexpected_and_named():
    run = confirmed_run(attempts=[attempt("o-1"), attempt("o-2", rows_found=1)], db_after=11)

    verdict, reasons = run.verdict()

    assert verdict == UNEXPECTED
    assert any("o-2" in reason and "rollback did not happen" in reason for reason in reasons)
    assert statuses(run)["DB: phantom order NOT found"] == "FAIL"
    assert statuses(run)["DB count unchanged"] == "FAIL"


def test_a_missing_event_is_unexpected_and_named():
    run = confirmed_run(
        attempts=[attempt("o-1"), attempt("o-2", event_found=False)],
        kafka_own_events=1,
        kafka_new_events=1,
    )

    verdict, reasons = run.verdict()

    assert verdict == UNEXPECTED
    assert any("o-2" in reason and "NO event" in reason for reason in reasons)
    assert statuses(run)["Kafka: phantom event found"] == "FAIL"
    assert statuses(run)["Kafka count increased"] == "FAIL"


def test_other_clients_move_the_global_counts_without_breaking_the_verdict():
    run = confirmed_run(db_after=13, kafka_new_events=9)

    checks = {check.name: check for check in run.checks()}

    assert run.verdict()[0] == CONFIRMED
    assert checks["DB count unchanged"].passed
    assert "other clients" in checks["DB count unchanged"].note
    assert checks["Kafka count increased"].passed
    assert "7 from other producers" in checks["Kafka count increased"].note
    assert checks["DB count unchanged"].actual == "13 (+0 this run, +3 others)"
    assert checks["Kafka count increased"].actual == "+9 (+2 this run, +7 others)"


def test_report_flags_are_judged_from_the_answers_not_assumed():
    run = confirmed_run(
        attempts=[attempt("o-1"), attempt("o-2", event_sent_to_kafka=False, exists_in_db=None)]
    )

    checks = {check.name: check for check in run.checks()}

    assert checks["Report: eventSentToKafka"].actual == "true ×1, false ×1"
    assert not checks["Report: eventSentToKafka"].passed
    assert not checks["Report: existsInDb"].passed
    assert "missing" in checks["Report: existsInDb"].actual


def test_unmeasured_values_are_not_checked_instead_of_passing():
    run = PhantomRun(started_at=datetime.now(UTC), attempts=[attempt(rows_found=None)])

    assert run.verdict()[0] == UNEXPECTED
    assert statuses(run)["DB count unchanged"] == NOT_CHECKED
    assert statuses(run)["Normal POST /orders works"] == NOT_CHECKED
    assert statuses(run)["DB: phantom order NOT found"] == NOT_CHECKED


def test_markdown_report_fills_every_bracket_of_the_template():
    text = markdown_report(confirmed_run(), profile="chaos", app_port="8082")

    assert "[" not in text.replace("[ ]", "")
    assert "Baseline recorded: DB=10 orders, Kafka=5 events" in text
    assert "POST /chaos/phantom-event executed 2 time(s)" in text
    assert "| Kafka count increased | +2 | +2 | PASS |" in text
    assert "| DB count unchanged | 10 | 10 | PASS |" in text
    assert "PHANTOM EVENT CONFIRMED — Dual Write failure demonstrated successfully" in text
    assert "App on port 8082" in text


def test_markdown_report_of_a_failed_run_says_what_broke():
    run = confirmed_run(attempts=[attempt("o-1", rows_found=1)])

    text = markdown_report(run, profile="chaos", app_port="8082")

    assert "UNEXPECTED — order o-1 HAS 1 row(s) in PostgreSQL" in text
    assert "| DB: phantom order NOT found | 0 rows | 1 rows (1 orders queried) | FAIL |" in text


def test_html_tables_and_chart_show_the_measured_values():
    run = confirmed_run(kafka_new_events=5)

    proof, results, chart = html_proof(run), html_results(run), delta_chart(run)

    assert "RESULT: PHANTOM EVENT CONFIRMED" in proof
    assert "<svg" in chart and "+5 (3 others)" in chart
    assert results.count(">PASS<") == 11


def test_outbox_mode_expects_no_event_for_a_rolled_back_order():
    run = confirmed_run(
        expect_phantom=False,
        attempts=[
            attempt(
                "o-1",
                event_sent_to_kafka=False,
                event_found=False,
                kafka_partition=None,
                kafka_offset=None,
            ),
            attempt(
                "o-2",
                event_sent_to_kafka=False,
                event_found=False,
                kafka_partition=None,
                kafka_offset=None,
            ),
        ],
        kafka_new_events=1,
        kafka_own_events=0,
    )

    assert run.verdict() == (NO_PHANTOM, [])
    assert list(statuses(run).values()) == ["PASS"] * 11
    text = markdown_report(run, profile="chaos,outbox", app_port="8082")
    assert "NO PHANTOM EVENT — the Transactional Outbox prevents the phantom event" in text
    assert "| Kafka: no event for the rolled-back order | absent | absent (2/2) | PASS |" in text


def test_outbox_mode_names_a_phantom_event_that_slipped_through():
    run = confirmed_run(
        expect_phantom=False,
        attempts=[attempt("o-1", event_sent_to_kafka=False, event_found=True)],
    )

    verdict, reasons = run.verdict()

    assert verdict == UNEXPECTED
    assert "o-1 HAS an event on the topic (partition 1, offset 7)" in reasons[0]


def test_a_reported_position_that_holds_another_event_fails_naming_both_positions():
    run = confirmed_run(attempts=[attempt("o-1", kafka_partition=0, kafka_offset=3)])

    check = {c.name: c for c in run.checks()}[CheckName.REPORTED_POSITION]

    assert check.status == "FAIL"
    assert check.actual == "reported 0/3, read at 1/7"
    text = markdown_report(run, profile="chaos", app_port="8082")
    assert (
        "| Report: kafkaPartition/kafkaOffset | where the topic read found the event "
        "| reported 0/3, read at 1/7 | FAIL |"
    ) in text


def test_a_reported_position_without_an_event_on_the_topic_fails():
    run = confirmed_run(attempts=[attempt("o-1"), attempt("o-2", event_found=False)])

    check = {c.name: c for c in run.checks()}[CheckName.REPORTED_POSITION]

    assert check.status == "FAIL"
    assert check.actual == "orderId o-2: reported 1/7, no event read"


def test_matching_positions_of_several_orders_pass():
    run = confirmed_run()

    check = {c.name: c for c in run.checks()}[CheckName.REPORTED_POSITION]

    assert (check.status, check.actual) == ("PASS", "same as read (2/2)")


def test_positions_are_not_checked_before_the_topic_was_read():
    run = confirmed_run(attempts=[attempt("o-1", event_found=None)])

    check = {c.name: c for c in run.checks()}[CheckName.REPORTED_POSITION]

    assert (check.status, check.actual) == (NOT_CHECKED, "not checked")


def test_a_normal_order_not_looked_up_is_not_checked_rather_than_absent():
    run = confirmed_run(normal_rows=None, normal_event_found=None)

    check = {c.name: c for c in run.checks()}[CheckName.NORMAL_IN_DB]

    assert (check.status, check.actual, check.note) == (NOT_CHECKED, "not checked", "")
    text = markdown_report(run, profile="chaos", app_port="8082")
    assert "| Normal order exists in DB | present | not checked | NOT CHECKED |" in text


def test_without_attempts_no_check_passes():
    run = PhantomRun(started_at=datetime.now(UTC))

    assert "PASS" not in statuses(run).values()


def test_every_check_is_named_by_the_enum():
    dual_write, outbox = confirmed_run(), confirmed_run(expect_phantom=False)

    names = [c.name for c in dual_write.checks()] + [c.name for c in outbox.checks()]

    assert all(isinstance(name, CheckName) for name in names)
    assert set(names) == set(CheckName)
