"""The campaign page's tables: the header's figures, the anomalies and the fault schedule.

Every value that came from a file is escaped here, where it meets the HTML; the cells that
these functions return are HTML already.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

# The anomaly table stops here: a broken run can name every order, and a page of 100,000
# rows helps nobody; result.json keeps them all.
MAX_ANOMALY_ROWS = 500

_ANOMALY_HEADERS = (
    "#",
    "kind",
    "orderId",
    "invalidating",
    "HTTP answers",
    "row in PostgreSQL",
    "events in Kafka",
    "detail",
    "SQL that checks it",
)
_SCHEDULE_HEADERS = ("#", "fault", "target", "start s", "end s", "duration s")


def text(value: object) -> str:
    """Return a value as escaped HTML text; None is shown as a dash."""
    return "—" if value is None else escape(str(value))


def number(value: float | None, digits: int = 1) -> str:
    """Return a number with ``digits`` decimals (thousands separated), or n/a for None."""
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    table_id: str,
    row_classes: Sequence[str] | None = None,
) -> str:
    """Return a table with a header row; cells are HTML, headers and row classes plain text."""
    head = "".join(f"<th>{escape(header)}</th>" for header in headers)
    classes = row_classes or [""] * len(rows)
    body = "".join(
        (f"<tr class='{escape(css)}'>" if css else "<tr>")
        + "".join(f"<td>{cell}</td>" for cell in row)
        + "</tr>"
        for row, css in zip(rows, classes, strict=True)
    )
    return f"<table id='{table_id}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def check_sql(anomaly: dict[str, Any]) -> str | None:
    """Return the query that shows an anomaly's row, or None when nothing names the order.

    The text is for a reader to paste into psql, not for this program to run.
    """
    order_id = anomaly.get("orderId")
    if order_id is not None:
        where = f"id = {_sql_literal(str(order_id))}"
    elif (anomaly.get("detail") or {}).get("idempotencyKey") is not None:
        where = f"idempotency_key = {_sql_literal(str(anomaly['detail']['idempotencyKey']))}"
    else:
        return None
    return f"SELECT id, status, created_at FROM orders WHERE {where};"


def _op(op: dict[str, Any]) -> str:
    who = f"{text(op.get('f'))} by {text(op.get('process'))} (#{text(op.get('index'))})"
    if op.get("type") == "invoke":
        return f"<span class='muted'>invoke {who}</span>"
    status = op.get("status")
    answer = f"HTTP {text(status)}" if status is not None else "no HTTP status"
    line = f"<b>{text(op.get('type'))}</b> {answer}, {who}"
    if op.get("error") is not None:
        line += f"<br><span class='error'>{text(op['error'])}</span>"
    return line


def _row(row: dict[str, Any] | None) -> str:
    if row is None:
        return "<span class='absent'>no row</span>"
    return f"{text(row.get('status'))}, created {text(row.get('createdAt'))}"


def _events(events: Sequence[dict[str, Any]]) -> str:
    if not events:
        return "<span class='absent'>no event</span>"
    return "<br>".join(
        f"partition {text(event.get('partition'))}, offset {text(event.get('offset'))}, "
        f"eventId {text(event.get('eventId'))}"
        for event in events
    )


def _detail(detail: dict[str, Any] | None) -> str:
    if not detail:
        return "—"
    return "<br>".join(f"{text(key)}: {text(value)}" for key, value in detail.items())


def anomaly_rows(anomalies: Sequence[dict[str, Any]]) -> list[list[str]]:
    """Return the table's cells for the first ``MAX_ANOMALY_ROWS`` anomalies."""
    rows = []
    for number_, anomaly in enumerate(anomalies[:MAX_ANOMALY_ROWS], start=1):
        invalidating = bool(anomaly.get("invalidating"))
        sql = check_sql(anomaly)
        rows.append(
            [
                str(number_),
                f"<b>{text(anomaly.get('kind'))}</b>",
                f"<code>{text(anomaly.get('orderId'))}</code>",
                "<span class='bad'>yes</span>" if invalidating else "no",
                "<br>".join(_op(op) for op in anomaly.get("ops") or []) or "no operation",
                _row(anomaly.get("row")),
                _events(anomaly.get("events") or []),
                _detail(anomaly.get("detail")),
                f"<code>{text(sql)}</code>" if sql is not None else "—",
            ]
        )
    return rows


def anomaly_section(anomalies: Sequence[dict[str, Any]]) -> str:
    """Return the anomaly table under its heading, saying how many rows it left out."""
    heading = f"<h2>Anomalies ({len(anomalies):,})</h2>"
    if not anomalies:
        return heading + "<p id='anomaly-note'>No anomaly: every order is accounted for.</p>"
    note = ""
    if len(anomalies) > MAX_ANOMALY_ROWS:
        more = len(anomalies) - MAX_ANOMALY_ROWS
        note = (
            f"<p id='anomaly-note'>The first {MAX_ANOMALY_ROWS:,} are shown; {more:,} more "
            "are in result.json.</p>"
        )
    shown = anomalies[:MAX_ANOMALY_ROWS]
    classes = ["invalidating" if anomaly.get("invalidating") else "" for anomaly in shown]
    return heading + note + table(_ANOMALY_HEADERS, anomaly_rows(shown), "anomalies", classes)


def schedule_section(schedule: Sequence[dict[str, Any]], seed: object) -> str:
    """Return the nemesis's schedule as a table under a heading naming its seed."""
    heading = f"<h2>Fault schedule (seed {text(seed)})</h2>"
    if not schedule:
        return heading + "<p>The schedule has no fault.</p>"
    rows = []
    for number_, window in enumerate(schedule, start=1):
        start, end = window["start"], window["end"]
        target = text(window.get("target"))
        if window.get("instance") is not None:
            target += f" (instance {text(window['instance'])})"
        rows.append(
            [
                str(number_),
                text(window["fault"]),
                target,
                number(float(start), 2),
                number(float(end), 2),
                number(float(end) - float(start), 2),
            ]
        )
    return heading + table(_SCHEDULE_HEADERS, rows, "schedule")


def counts_table(result: dict[str, Any]) -> str:
    """Return every count of the result, with its rate per 1,000 acknowledged orders if any."""
    per_1000 = result.get("per1000") or {}
    rows = [
        [
            text(name),
            number(int(count)),
            number(per_1000.get(name), 3) if name in per_1000 else "",
        ]
        for name, count in result["counts"].items()
    ]
    return table(("outcome", "orders", "per 1,000 acknowledged"), rows, "counts")
