"""Render a lost-event run: the Markdown report, the same facts as JSON, the orders as HTML.

Every renderer reads the same ``LostEventRun`` and the verdict it computes.
"""

from __future__ import annotations

from html import escape

from evidence.html_table import html_table
from evidence.lost_event_proof import (
    CONFIRMED,
    DELIVERED,
    FAILOVER,
    INDETERMINATE,
    LOST,
    OUTAGE,
    STOPPED,
    UNDER_REPLICATED,
    LostEventRun,
    PlacedOrder,
)
from evidence.markdown_table import markdown_table
from evidence.positions import position_json

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
        *markdown_table(
            (DELIVERED, LOST, INDETERMINATE),
            [[tally[DELIVERED], tally[LOST], tally[INDETERMINATE]]],
        ),
        "",
        "### Orders",
        *markdown_table(HEADERS, order_rows(run)),
        "",
        "### Conclusion",
        _conclusion(run, expect_loss),
        "",
    ]
    return "\n".join(lines)


def json_report(run: LostEventRun, *, expect_loss: bool) -> dict:
    """Return the facts of the Markdown report as data: checks, orders, fates, verdict."""
    verdict, reasons = run.verdict(expect_loss=expect_loss)
    return {
        "report": "lost event",
        "mode": run.mode,
        "fault": run.fault,
        "date": run.started_at.isoformat(timespec="seconds"),
        "expectLoss": expect_loss,
        "healthDuringFault": run.health_during_fault,
        "healthAfterFault": run.health_after_fault,
        "deliveryBoundSeconds": run.delivery_bound_seconds,
        "verdict": verdict,
        "reasons": reasons,
        "conclusion": _conclusion(run, expect_loss),
        "fates": run.tally(),
        "checks": [check.as_json() for check in run.checks(expect_loss=expect_loss)],
        "orders": [_order_json(n, order) for n, order in enumerate(run.orders, 1)],
    }


def summary(run: LostEventRun, *, expect_loss: bool) -> tuple[str, str]:
    """Return the verdict and a one-line summary of the evidence, for the side-by-side table."""
    verdict, reasons = run.verdict(expect_loss=expect_loss)
    outage = run.in_phase(OUTAGE)
    tally = run.tally(OUTAGE)
    everything = run.tally()
    evidence = (
        f"{len(outage)} order(s) placed while the broker was unreachable, all committed: "
        f"{tally[DELIVERED]} delivered, {tally[LOST]} lost, "
        f"{tally[INDETERMINATE]} indeterminate; "
        + "".join(f"{_phase_summary(run, p)}; " for p in FAULT_PHASES if run.in_phase(p))
        + f"all orders: {everything[DELIVERED]} delivered, {everything[LOST]} lost, "
        f"{everything[INDETERMINATE]} indeterminate; health "
        f"{run.health_during_fault or '?'} during the fault, {run.health_after_fault or '?'} "
        "after"
        + (
            f"; delivered at most {run.delivery_bound_seconds:.1f} s after the heal"
            if run.delivery_bound_seconds is not None
            else ""
        )
        + (f"; {'; '.join(reasons)}" if reasons else "")
    )
    return verdict, evidence


# The faults only a real broker allows, in the order the suites inject them.
FAULT_PHASES = {
    STOPPED: "while the broker was stopped",
    FAILOVER: "across a leader failover",
    UNDER_REPLICATED: "with two of three brokers down",
}


def _phase_summary(run: LostEventRun, phase: str) -> str:
    orders = run.in_phase(phase)
    tally = run.tally(phase)
    duplicated = sum(order.duplicated for order in orders)
    return (
        f"{len(orders)} order(s) {FAULT_PHASES[phase]}: {tally[DELIVERED]} delivered, "
        f"{tally[LOST]} lost, {duplicated} duplicated"
    )


def _conclusion(run: LostEventRun, expect_loss: bool) -> str:
    verdict, reasons = run.verdict(expect_loss=expect_loss)
    if verdict == CONFIRMED:
        return (
            f"{verdict} — every order placed while the broker was unreachable is in "
            "PostgreSQL, and its event is not on the topic."
        )
    return f"{verdict}" + (" — " + "; ".join(reasons) if reasons else "")


def _order_json(number: int, order: PlacedOrder) -> dict:
    return {
        "number": number,
        "orderId": order.order_id,
        "phase": order.phase,
        "httpStatus": order.status_code,
        "seconds": round(order.seconds, 3),
        "rowsInDb": order.rows,
        "serviceLoggedLoss": order.service_logged_loss,
        "fate": order.fate,
        "position": position_json(order.position),
        "copies": order.copies,
        "eventIds": list(order.event_ids),
        "note": order.fate_note,
    }
