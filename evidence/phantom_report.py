"""Render a phantom-event run: the seed's Markdown report, the same facts as JSON, and HTML.

Every renderer reads the same ``PhantomRun`` and the checks and verdict it computes, so
the Markdown, the JSON and the tables in ``log.html`` cannot tell different stories.
"""

from __future__ import annotations

from html import escape

from evidence.checks import shown
from evidence.html_table import GREEN, RED, html_table, status_html
from evidence.markdown_table import markdown_table
from evidence.phantom_proof import (
    CONFIRMED,
    NO_PHANTOM,
    PhantomAttempt,
    PhantomRun,
    and_more,
)
from evidence.positions import position_json, position_text

_ROOT_CAUSE = """\
`PhantomEventChaosInterceptor` (the counterpart of the seed's `@Around` aspect) wraps
`ChaosOrderExecutor.execute()` and raises `PhantomEventSimulationException` AFTER the
create-order use case published `order.created` and waited for the broker's delivery
report, but BEFORE `ChaosService`, the transaction boundary, commits. PostgreSQL rolls the
order back; the Kafka produce is not part of the database transaction: the event is
already on the broker."""

_OUTBOX_HOLDS = """\
In outbox mode the create-order use case writes the order AND its `order.created` event (a
row of the `outbox` table) in the same database transaction, and publishes nothing itself.
The chaos interceptor raises after the use case returned, `ChaosService` rolls back, and
the outbox row disappears with the order. The relay, which publishes committed outbox rows
only, never sees it: no consumer hears of an order that does not exist."""

_WHAT_IT_PROVES = """\
1. A Kafka produce is fire-and-forget from the database transaction's point of view
2. The database transaction only protects PostgreSQL: Kafka is outside the boundary
3. Any failure between publish() and commit creates a phantom event
4. The Transactional Outbox pattern prevents this by writing the event to an outbox TABLE
   (same database transaction) and relaying it to Kafka asynchronously"""


def proof_lines(run: PhantomRun) -> list[tuple[str, str]]:
    """Return the seed's step-8 proof as label/value pairs."""
    kafka_after = (
        None
        if run.kafka_before is None or run.kafka_new_events is None
        else run.kafka_before + run.kafka_new_events
    )
    return [
        ("DB orders before", shown(run.db_before)),
        ("DB orders after", shown(run.db_after)),
        ("DB delta", f"{_signed(run.db_delta)} (expected: 0)"),
        ("Kafka events before", shown(run.kafka_before)),
        ("Kafka events after", shown(kafka_after)),
        (
            "Kafka delta",
            f"{_signed(run.kafka_new_events)} "
            f"(expected: {len(run.attempts) if run.expect_phantom else 0})",
        ),
        ("Phantom order ids", ", ".join(run.order_ids[:5]) + and_more(run.order_ids, 5)),
        ("Exists in DB", _db_presence(run)),
        ("Exists in Kafka", _kafka_presence(run)),
    ]


def _db_presence(run: PhantomRun) -> str:
    if not run.attempts:
        return "no phantom order was created"
    if run.own_rows == 0:
        return "NO (rolled back)"
    return "YES — see the checks" if run.own_rows else "not checked"


def _kafka_presence(run: PhantomRun) -> str:
    found = [a.event_found for a in run.attempts]
    if found and all(found):
        return "YES (published before the rollback)"
    if found and not any(found) and None not in found:
        return "NO (the event was rolled back with the order)"
    return "PARTLY — see the checks"


def _texts(run: PhantomRun, reasons: list[str]) -> dict[str, str]:
    """Return the mode-dependent sentences of the report."""
    why = "; ".join(reasons)
    if run.expect_phantom:
        return {
            "scenario": "Phantom Event (the chaos interceptor forces a DB rollback after the "
            "Kafka publish)",
            "step5": "Inconsistency verified: DB unchanged, Kafka increased",
            "detected": "YES — Kafka has event for order that does NOT exist in PostgreSQL",
            "cause_title": "Root Cause",
            "cause": _ROOT_CAUSE,
            "conclusion": f"{CONFIRMED} — Dual Write failure demonstrated successfully",
            "why": why,
        }
    return {
        "scenario": "Phantom Event against the Transactional Outbox (the chaos interceptor "
        "forces a DB rollback after the order and its outbox row were written)",
        "step5": "No inconsistency: DB unchanged, no event for the rolled-back orders",
        "detected": "NO — the event was written to the outbox in the same transaction and "
        "rolled back with the order",
        "cause_title": "Why the outbox holds",
        "cause": _OUTBOX_HOLDS,
        "conclusion": f"{NO_PHANTOM} — the Transactional Outbox prevents the phantom event",
        "why": why,
    }


def markdown_report(run: PhantomRun, *, profile: str, app_port: str) -> str:
    """Return the seed's "Chaos Test Report Template", every bracket filled from the run."""
    verdict, reasons = run.verdict()
    checks = run.checks()
    text = _texts(run, reasons)
    ok = _as_expected(run, verdict)
    lines = [
        "## Phantom Event Chaos Test Report",
        "",
        f"**Scenario:** {text['scenario']}  ",
        f"**Date:** {run.started_at.isoformat(timespec='seconds')}  ",
        f"**Profile:** {profile}  ",
        f"**Infrastructure:** {run.infrastructure}, App on port {app_port}",
        "",
        "### Timeline",
        "1. Infrastructure verified healthy",
        f"2. Application started with MARS_PROFILES_ACTIVE={profile}",
        f"3. Baseline recorded: DB={shown(run.db_before)} orders, "
        f"Kafka={shown(run.kafka_before)} events",
        f"4. POST /chaos/phantom-event executed {len(run.attempts)} time(s)",
        "5. " + (text["step5"] if ok else "NOT as expected — " + "; ".join(reasons[:3])),
        "",
        "### Results",
        *markdown_table(
            ("Check", "Expected", "Actual", "Status"),
            ((c.name, c.expected, c.actual, c.status) for c in checks),
            fitted_rule=True,
        ),
        "",
        *(f"- {c.name}: {c.note}" for c in checks if c.note),
        "",
        "### Proof",
        *markdown_table(("", ""), proof_lines(run)),
        "",
        "### Evidence per phantom order",
        *markdown_table(
            ("#", "orderId", "HTTP", "event (partition/offset)", "rows in DB", "SQL"),
            (
                (n, a.order_id, a.status_code, _where(a), shown(a.rows_found), f"`{_sql(a)}`")
                for n, a in enumerate(run.attempts, 1)
            ),
            fitted_rule=True,
        ),
        "",
        "### Inconsistency Detected?",
        text["detected"] if ok else f"UNEXPECTED — {text['why']}",
        "",
        f"### {text['cause_title']}",
        text["cause"],
        "",
        "### What This Proves",
        _WHAT_IT_PROVES,
        "",
        "### Conclusion",
        _conclusion(run, verdict, reasons),
        "",
    ]
    return "\n".join(lines)


def json_report(run: PhantomRun, *, profile: str, app_port: str) -> dict:
    """Return the facts of the Markdown report as data: checks, orders, counts, verdict."""
    verdict, reasons = run.verdict()
    return {
        "report": "phantom event",
        "mode": "dual-write" if run.expect_phantom else "outbox",
        "scenario": _texts(run, reasons)["scenario"],
        "date": run.started_at.isoformat(timespec="seconds"),
        "profile": profile,
        "infrastructure": run.infrastructure,
        "appPort": app_port,
        "iterations": run.iterations,
        "verdict": verdict,
        "reasons": reasons,
        "conclusion": _conclusion(run, verdict, reasons),
        "checks": [check.as_json() for check in run.checks()],
        "counts": {
            "dbBefore": run.db_before,
            "dbAfter": run.db_after,
            "dbDelta": run.db_delta,
            "phantomRowsInDb": run.own_rows,
            "kafkaBefore": run.kafka_before,
            "kafkaNewEvents": run.kafka_new_events,
            "kafkaPhantomEvents": run.kafka_own_events,
            "latestEventOrderId": run.latest_event_order_id,
        },
        "orders": [_attempt_json(n, a) for n, a in enumerate(run.attempts, 1)],
        "normalOrder": {
            "orderId": run.normal_order_id,
            "httpStatus": run.normal_status,
            "rowsInDb": run.normal_rows,
            "eventFound": run.normal_event_found,
            "eventPosition": position_json(run.normal_event_position),
        },
    }


def summary(run: PhantomRun) -> tuple[str, str]:
    """Return the verdict and a one-line summary of the evidence, for the side-by-side table."""
    verdict, reasons = run.verdict()
    events = ", ".join(
        f"{a.order_id[:8]}… at {a.event_partition}/{a.event_offset}"
        for a in run.attempts[:3]
        if a.event_found
    )
    evidence = (
        f"{len(run.attempts)} rolled-back order(s), {run.own_rows} row(s) in DB "
        f"(DB {run.db_before}→{run.db_after}); Kafka +{run.kafka_new_events} since the "
        f"baseline, {run.kafka_own_events} for these orders"
        + (f" ({events})" if events else "")
        + (f"; {'; '.join(reasons)}" if reasons else "")
    )
    return verdict, evidence


def _as_expected(run: PhantomRun, verdict: str) -> bool:
    return verdict == (CONFIRMED if run.expect_phantom else NO_PHANTOM)


def _conclusion(run: PhantomRun, verdict: str, reasons: list[str]) -> str:
    text = _texts(run, reasons)
    return text["conclusion"] if _as_expected(run, verdict) else f"{verdict} — {text['why']}"


def _attempt_json(number: int, attempt: PhantomAttempt) -> dict:
    return {
        "number": number,
        "orderId": attempt.order_id,
        "httpStatus": attempt.status_code,
        "existsInDb": attempt.exists_in_db,
        "eventSentToKafka": attempt.event_sent_to_kafka,
        "dbRolledBack": attempt.db_rolled_back,
        "reportedPosition": position_json(attempt.reported_position),
        "eventFound": attempt.event_found,
        "eventPosition": position_json(attempt.event_position),
        "rowsInDb": attempt.rows_found,
        "sql": attempt.query,
    }


def html_proof(run: PhantomRun) -> str:
    """Return the proof table and the chart comparing the two deltas, as HTML."""
    verdict, reasons = run.verdict()
    colour = GREEN if verdict in (CONFIRMED, NO_PHANTOM) else RED
    why = "".join(f"<li>{escape(r)}</li>" for r in reasons)
    return (
        html_table(
            "DUAL WRITE FAILURE: PHANTOM EVENT PROOF",
            None,
            [[escape(label), escape(value)] for label, value in proof_lines(run)],
            label_column=True,
        )
        + f"<p style='font-size:1.3em;font-weight:bold;color:{colour}'>RESULT: {verdict}</p>"
        + (f"<ul>{why}</ul>" if why else "")
        + delta_chart(run)
    )


def html_results(run: PhantomRun) -> str:
    """Return the seed's results table as HTML, PASS in green and FAIL in red."""
    return html_table(
        "Results",
        ["Check", "Expected", "Actual", "Status", "Note"],
        [
            [
                escape(c.name),
                escape(c.expected),
                escape(c.actual),
                status_html(c.status),
                escape(c.note),
            ]
            for c in run.checks()
        ],
    )


def html_evidence(run: PhantomRun, limit: int = 200) -> str:
    """Return the evidence for each phantom order as an HTML table (the first ``limit``)."""
    more = (
        f"<p>… and {len(run.attempts) - limit} more in the Markdown report.</p>"
        if len(run.attempts) > limit
        else ""
    )
    return (
        html_table(
            "Evidence per phantom order",
            ["#", "orderId", "HTTP", "event partition/offset", "rows in DB", "SQL"],
            [
                [
                    str(n),
                    f"<code>{escape(a.order_id)}</code>",
                    str(a.status_code),
                    escape(_where(a)),
                    escape(shown(a.rows_found)),
                    f"<code>{escape(_sql(a))}</code>",
                ]
                for n, a in enumerate(run.attempts[:limit], 1)
            ],
        )
        + more
    )


def delta_chart(run: PhantomRun) -> str:
    """Return a small SVG bar chart: the DB delta against the Kafka delta, this run's part solid."""
    expected = len(run.attempts)
    bars = [
        ("DB delta", run.own_rows or 0, max((run.db_delta or 0) - (run.own_rows or 0), 0)),
        (
            "Kafka delta",
            run.kafka_own_events or 0,
            max((run.kafka_new_events or 0) - (run.kafka_own_events or 0), 0),
        ),
    ]
    top = max([expected, 1, *(own + other for _, own, other in bars)])
    width, height, left = 560, 40 * len(bars) + 40, 90
    scale = (width - left - 60) / top
    parts = []
    for row, (label, own, other) in enumerate(bars):
        y = 20 + row * 40
        own_w, other_w = own * scale, other * scale
        parts.append(f"<text x='0' y='{y + 16}' font-size='13'>{label}</text>")
        parts.append(f"<rect x='{left}' y='{y}' width='{own_w:.1f}' height='22' fill='#0969da'/>")
        parts.append(
            f"<rect x='{left + own_w:.1f}' y='{y}' width='{other_w:.1f}' height='22' "
            "fill='#0969da' fill-opacity='0.3'/>"
        )
        parts.append(
            f"<text x='{left + own_w + other_w + 6:.1f}' y='{y + 16}' font-size='13'>"
            f"{own + other:+d}{f' ({other} others)' if other else ''}</text>"
        )
    parts.append(
        f"<text x='{left}' y='{height - 4}' font-size='11' fill='#57606a'>"
        f"solid: this run's phantom orders; pale: other clients. Expected DB +0, "
        f"Kafka +{expected}</text>"
    )
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width + 120}' height='{height}'>"
        + "".join(parts)
        + "</svg>"
    )


def _where(attempt: PhantomAttempt) -> str:
    if attempt.event_found is None:
        return "not checked"
    return position_text(attempt.event_position) if attempt.event_found else "NOT FOUND"


def _sql(attempt: PhantomAttempt) -> str:
    return attempt.query or "not run"


def _signed(value: int | None) -> str:
    return "not measured" if value is None else f"{value:+d}"
