"""Render a lost-event run: the Markdown report and the per-order table as HTML."""

from __future__ import annotations

from html import escape

from evidence.html_table import html_table
from evidence.lost_event_proof import (
    CONFIRMED,
    DELIVERED,
    INDETERMINATE,
    LOST,
    LostEventRun,
)

HEADERS = (
    "#",
    "orderId",
    "phase",
    "HTTP",
    "seconds",
    "rows in DB",
    "service said",
    "topic says",
    "partition/offset",
    "note",
)


def order_rows(run: LostEventRun) -> list[tuple[str, ...]]:
    """Return one row per order: what was asked, what the service said, what the topic says."""
    return [
        (
            str(n),
            o.order_id,
            o.phase,
            str(o.status_code),
            f"{o.seconds:.2f}",
            "—" if o.rows is None else str(o.rows),
            {True: "EVENT LOST", False: "published", None: "—"}[o.service_logged_loss],
            o.fate or INDETERMINATE,
            o.where,
            o.fate_note,
        )
        for n, o in enumerate(run.orders, 1)
    ]


def html_orders(run: LostEventRun) -> str:
    """Return the per-order table as HTML."""
    return html_table(
        "Each order's fate, read from the topic after the fault",
        HEADERS,
        [[escape(cell) for cell in row] for row in order_rows(run)],
    )


def markdown_report(run: LostEventRun, *, expect_loss: bool) -> str:
    """Return ``lost-event-report.md``: the fates, every order, the conclusion."""
    verdict, reasons = run.verdict(expect_loss=expect_loss)
    tally = run.tally()
    lines = [
        "## Lost Event Chaos Test Report",
        "",
        "**Scenario:** Lost event (the broker becomes unreachable while orders are placed)  ",
        f"**Date:** {run.started_at.isoformat(timespec='seconds')}  ",
        f"**Mode:** {run.mode}  ",
        f"**Fault:** {run.fault}  ",
        f"**Health during the fault:** {run.health_during_fault or 'not measured'}; "
        f"after: {run.health_after_fault or 'not measured'}",
        "",
        "### Fates (read from the topic after the fault healed)",
        f"| {DELIVERED} | {LOST} | {INDETERMINATE} |",
        "|---|---|---|",
        f"| {tally[DELIVERED]} | {tally[LOST]} | {tally[INDETERMINATE]} |",
        "",
        "### Orders",
        "| " + " | ".join(HEADERS) + " |",
        "|" + "---|" * len(HEADERS),
        *("| " + " | ".join(row) + " |" for row in order_rows(run)),
        "",
        "### Conclusion",
        (
            f"{verdict} — every order placed while the broker was unreachable is in "
            "PostgreSQL, and its event is not on the topic."
            if verdict == CONFIRMED
            else f"{verdict}" + (" — " + "; ".join(reasons) if reasons else "")
        ),
        "",
    ]
    return "\n".join(lines)
