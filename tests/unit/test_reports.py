"""The reports' renderers: one Markdown table writer, JSON beside the Markdown, one tie-break."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from evidence.comparison_report import Comparison
from evidence.comparison_report import json_report as comparison_json
from evidence.comparison_report import markdown_report as comparison_markdown
from evidence.lost_event_proof import DELIVERED, INDETERMINATE, LOST, LostEventRun, PlacedOrder
from evidence.lost_event_report import json_report as lost_json
from evidence.lost_event_report import markdown_report as lost_markdown
from evidence.markdown_table import markdown_table
from evidence.phantom_report import json_report as phantom_json
from evidence.phantom_report import markdown_report as phantom_markdown
from evidence.report_files import write_report
from evidence.topic_reader import latest_event
from tests.unit.test_phantom_proof import attempt, confirmed_run

CHECK_KEYS = {"name", "expected", "actual", "status", "note"}


def checks_by_name(data: dict) -> dict[str, dict]:
    return {check["name"]: check for check in data["checks"]}


def lost_run(*orders: PlacedOrder) -> LostEventRun:
    return LostEventRun(
        datetime(2026, 12, 1, tzinfo=UTC),
        mode="dual-write",
        fault="proxy",
        orders=list(orders),
        health_during_fault="DOWN",
        health_after_fault="UP",
    )


def placed(order_id: str, phase: str, fate: str | None, **changes) -> PlacedOrder:
    values = {"status_code": 201, "seconds": 0.5, "rows": 1, "fate": fate}
    values.update(changes)
    return PlacedOrder(order_id, phase, **values)


def test_markdown_table_draws_header_rule_and_rows():
    lines = markdown_table(("Check", "Status"), [("a", "PASS"), ("b", "")], fitted_rule=True)

    assert lines == ["| Check | Status |", "|-------|--------|", "| a | PASS |", "| b |  |"]


def test_markdown_table_without_names_has_a_blank_header_and_short_rules():
    assert markdown_table(("", ""), [("DB delta", "+0")]) == [
        "| | |",
        "|---|---|",
        "| DB delta | +0 |",
    ]


def test_markdown_table_keeps_a_pipe_or_a_line_break_inside_its_cell():
    assert markdown_table(("x",), [("a|b\nc",)])[2] == "| a\\|b<br>c |"


def test_phantom_json_holds_every_check_order_and_the_verdict():
    run = confirmed_run()

    data = phantom_json(run, profile="chaos", app_port="8082")

    assert data["verdict"] == "PHANTOM EVENT CONFIRMED"
    assert data["reasons"] == []
    assert data["mode"] == "dual-write"
    assert [c["name"] for c in data["checks"]] == [c.name for c in run.checks()]
    assert all(set(check) == CHECK_KEYS for check in data["checks"])
    assert {c["status"] for c in data["checks"]} == {"PASS"}
    assert data["orders"][0] == {
        "number": 1,
        "orderId": "o-1",
        "httpStatus": 200,
        "existsInDb": False,
        "eventSentToKafka": True,
        "dbRolledBack": True,
        "reportedPosition": {"partition": 1, "offset": 7},
        "eventFound": True,
        "eventPosition": {"partition": 1, "offset": 7},
        "rowsInDb": 0,
        "sql": "SELECT ... WHERE id = 'o-1'",
    }
    assert data["counts"]["dbDelta"] == 0
    assert data["normalOrder"]["httpStatus"] == 201
    json.dumps(data)


def test_phantom_json_and_markdown_tell_the_same_failed_check():
    run = confirmed_run(attempts=[attempt("o-1", rows_found=1)])

    data = phantom_json(run, profile="chaos", app_port="8082")
    text = phantom_markdown(run, profile="chaos", app_port="8082")

    failed = checks_by_name(data)["DB: phantom order NOT found"]
    assert failed == {
        "name": "DB: phantom order NOT found",
        "expected": "0 rows",
        "actual": "1 rows (1 orders queried)",
        "status": "FAIL",
        "note": "",
    }
    assert "| DB: phantom order NOT found | 0 rows | 1 rows (1 orders queried) | FAIL |" in text
    assert data["verdict"] == "UNEXPECTED"
    assert any("o-1 HAS 1 row(s)" in reason for reason in data["reasons"])


def test_phantom_json_marks_a_check_that_did_not_run_as_not_checked():
    run = confirmed_run(normal_status=None, normal_rows=None, normal_event_found=None)

    checks = checks_by_name(phantom_json(run, profile="chaos", app_port="8082"))

    assert checks["Normal POST /orders works"]["status"] == "NOT CHECKED"
    assert checks["Normal POST /orders works"]["actual"] == "not measured"
    assert checks["Normal order exists in DB"]["status"] == "NOT CHECKED"


def test_lost_event_json_holds_fates_checks_orders_and_the_verdict():
    run = lost_run(
        placed("b-1", "baseline", DELIVERED, position=(0, 4)),
        placed("o-1", "outage", LOST, service_logged_loss=True),
        placed("a-1", "after", DELIVERED, position=(2, 0)),
    )

    data = lost_json(run, expect_loss=True)

    assert data["verdict"] == "LOST EVENT CONFIRMED"
    assert data["fates"] == {DELIVERED: 2, LOST: 1, INDETERMINATE: 0}
    assert all(set(check) == CHECK_KEYS for check in data["checks"])
    assert {c["status"] for c in data["checks"]} == {"PASS"}
    assert checks_by_name(data)["order o-1 (outage)"]["expected"] == (
        "HTTP 201, in the database, lost"
    )
    assert data["orders"][0]["position"] == {"partition": 0, "offset": 4}
    assert data["orders"][1]["position"] is None
    assert data["orders"][1]["serviceLoggedLoss"] is True
    assert "| 1 | b-1 | baseline | 201 | 0.50 | 1 | — | delivered | 0/4 |  |" in lost_markdown(
        run, expect_loss=True
    )


def test_lost_event_json_fails_a_wrong_fate_and_does_not_check_an_unknown_one():
    run = lost_run(
        placed("o-1", "outage", DELIVERED, position=(0, 1)),
        placed("o-2", "outage", INDETERMINATE, fate_note="the topic could not be read"),
    )

    data = lost_json(run, expect_loss=True)

    checks = checks_by_name(data)
    assert checks["order o-1 (outage)"]["status"] == "FAIL"
    assert checks["order o-1 (outage)"]["actual"] == "HTTP 201, 1 row(s), delivered"
    assert checks["order o-2 (outage)"]["status"] == "NOT CHECKED"
    assert checks["order o-2 (outage)"]["note"] == "the topic could not be read"
    assert data["verdict"] == "UNEXPECTED"


def test_lost_event_run_without_outage_orders_fails_that_check():
    data = lost_json(lost_run(placed("b-1", "baseline", DELIVERED)), expect_loss=False)

    assert checks_by_name(data)["Orders placed during the outage"]["status"] == "FAIL"


def test_comparison_json_names_every_cell_and_what_did_not_run():
    comparison = Comparison()
    comparison.record("phantom event", "dual-write", "PHANTOM EVENT CONFIRMED", "1 order")

    data = comparison_json(comparison)

    assert len(data["results"]) == 4
    assert data["results"][0] == {
        "scenario": "phantom event",
        "mode": "dual-write",
        "verdict": "PHANTOM EVENT CONFIRMED",
        "evidence": "1 order",
        "recorded": True,
    }
    assert data["results"][3]["verdict"] == "NOT RUN"
    assert data["results"][3]["recorded"] is False
    assert "| phantom event | **PHANTOM EVENT CONFIRMED**<br>1 order | **NOT RUN**<br>" in (
        comparison_markdown(comparison)
    )


def test_a_report_is_written_as_markdown_and_json_side_by_side(tmp_path):
    markdown, data = write_report(tmp_path, "x-report.md", "## X\n", {"verdict": "NO LOST EVENT"})

    assert markdown.read_text(encoding="utf-8") == "## X\n"
    assert data.name == "x-report.json"
    assert json.loads(data.read_text(encoding="utf-8")) == {"verdict": "NO LOST EVENT"}


def test_latest_event_breaks_a_timestamp_tie_by_partition_then_offset():
    stamp = "2026-12-01T00:00:00.000+00:00"
    events = [
        {"timestamp": stamp, "partition": 2, "offset": 1, "id": "p2"},
        {"timestamp": stamp, "partition": 1, "offset": 9, "id": "p1"},
        {"timestamp": None, "partition": 3, "offset": 50, "id": "no timestamp"},
    ]

    assert latest_event(events)["id"] == "p2"
    assert latest_event([]) is None
