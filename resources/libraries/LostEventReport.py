"""Robot Framework keywords that judge and report a lost-event run."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import KafkaException
from robot.api import logger
from robot.api.deco import keyword, library
from robot.libraries.BuiltIn import BuiltIn
from robot.utils import timestr_to_secs

from embedded_stack.polling import WaitTimedOut, poll_until, wait_until
from evidence.lost_event_proof import (
    DELIVERED,
    INDETERMINATE,
    LOST,
    LostEventRun,
    PlacedOrder,
    copies_note,
)
from evidence.lost_event_report import html_orders, json_report, markdown_report, summary
from evidence.report_files import write_report
from evidence.topic_reader import Record, TopicReader


@library(scope="SUITE", version="1.0")
class LostEventReport:
    """Judge each order of a lost-event run by reading the topic, and write the report.

    The fate of an order is never taken from the HTTP answer (always 201) or from the
    service's log: it is read from ``order.created`` after the fault healed, from the
    positions recorded before the run, on every partition.

    - *delivered*: its event is on the topic;
    - *lost*: the topic, read after the fault healed and after the producer gave up on the
      message, does not hold it;
    - *indeterminate*: the topic could not be read after a heal (the broker still hangs or
      is unreachable), so nothing can be said yet.

    The service's own claim (the ``DUAL WRITE FAILURE — EVENT LOST`` log line) is shown next
    to the fate, to make visible where a timeout was not a loss.

    %TOC%

    = Importing =

    The library takes no arguments: ``Library    libraries/LostEventReport.py``. Each suite
    that imports it gets its own run (SUITE scope); `Start Lost Event Run` starts afresh,
    and `Record Topic Baseline` names the broker.

    = Verdict =

    `Lost Event Proof Should Hold` judges the run: with ``expect_loss`` (dual write) every
    order placed while the broker was unreachable must be committed and lost, the others
    delivered; without it (outbox) every committed order must be delivered. Anything else
    is ``UNEXPECTED``, with the reasons.

    = Report =

    `Write Lost Event Report` writes ``lost-event-report.md`` and the same facts as
    ``lost-event-report.json`` beside ``log.html`` (Robot's ``${OUTPUT DIR}``).

    = Example =

    | `Start Lost Event Run` | dual-write | proxy |
    | `Record Topic Baseline` | 127.0.0.1:9193 |
    | ${order_id}= | `Record Placed Order` | outage | ${status} | ${body} | ${seconds} |
    | `Classify Orders By Reading The Topic` | healed=${TRUE} |
    | `Lost Event Proof Should Hold` | expect_loss=${TRUE} |
    | `Write Lost Event Report` | expect_loss=${TRUE} |
    """

    def __init__(self) -> None:
        """The library takes no arguments; every suite that imports it gets a fresh run.

        Import it with ``Library    libraries/LostEventReport.py`` from a resource file.
        `Record Topic Baseline` says which broker to read.
        """
        self._run = LostEventRun(datetime.now(UTC), mode="dual-write", fault="proxy")
        self._reader: TopicReader | None = None
        self._positions: dict[int, int] = {}

    @keyword("Start Lost Event Run")
    def start_lost_event_run(self, mode: str, fault: str) -> None:
        """Forget what was recorded: ``mode`` dual-write or outbox, ``fault`` proxy or compose.

        Example:
        | `Start Lost Event Run` | outbox | ${FAULT_MODE} |
        """
        self._run = LostEventRun(datetime.now(UTC), mode=mode, fault=fault)

    @keyword("Record Topic Baseline")
    def record_topic_baseline(self, bootstrap_servers: str, timeout: float = 10) -> int:
        """Record where every partition of ``order.created`` ends; return the event count.

        Example:
        | ${count}= | `Record Topic Baseline` | ${kafka} | timeout=10 |
        """
        self._reader = TopicReader(bootstrap_servers, "order.created", float(timeout))
        self._positions = self._reader.end_positions()
        return sum(self._positions.values())

    @keyword("Record Placed Order")
    def record_placed_order(self, phase: str, status_code: int, body: dict, seconds: float) -> str:
        """Record one ``POST /orders`` (its phase, HTTP status and duration); return its orderId.

        Fails when the answer carries no orderId.

        Example:
        | ${order_id}= | `Record Placed Order` | outage | ${status} | ${body} | ${seconds} |
        """
        order_id = str((body or {}).get("orderId"))
        self._run.orders.append(PlacedOrder(order_id, phase, int(status_code), float(seconds)))
        if not (body or {}).get("orderId"):
            raise AssertionError(f"HTTP {status_code} without an orderId: {body}")
        return order_id

    @keyword("Record Order Rows")
    def record_order_rows(self, order_id: str, rows: int) -> None:
        """Record how many rows the database holds for the order.

        Example:
        | `Record Order Rows` | ${order_id} | ${count} |
        """
        self._order(order_id).rows = int(rows)

    @keyword("Record Health")
    def record_health(self, moment: str, status: str) -> None:
        """Record the service's health ``during`` or ``after`` the fault.

        Example:
        | `Record Health` | during | DOWN |
        """
        if moment == "during":
            self._run.health_during_fault = status
        else:
            self._run.health_after_fault = status

    @keyword("Read Service Log For Losses")
    def read_service_log_for_losses(self, path: str) -> int:
        """Mark the orders the service logged as lost; return how many it logged.

        Example:
        | ${logged}= | `Read Service Log For Losses` | ${OUTPUT DIR}/lost-event-service.log |
        """
        text = Path(path).read_text(encoding="utf-8", errors="replace")
        logged = 0
        for order in self._run.orders:
            order.service_logged_loss = f"EVENT LOST for orderId={order.order_id}" in text
            logged += order.service_logged_loss
        return logged

    @keyword("Classify Orders By Reading The Topic")
    def classify_orders_by_reading_the_topic(self, healed: bool = True) -> dict[str, int]:
        """Read the topic since the baseline and give every order its fate; return the tally.

        ``healed`` says whether the fault is over; while it is not, an order without an
        event is indeterminate, not lost.

        Example:
        | ${tally}= | `Classify Orders By Reading The Topic` | healed=${FALSE} |
        """
        if self._reader is None:
            raise AssertionError("no topic baseline: call 'Record Topic Baseline' first")
        try:
            records = self._reader.read_since(self._positions)
        except (TimeoutError, KafkaException, RuntimeError) as ex:
            note = f"the topic could not be read: {ex}"
            for order in self._run.orders:
                if order.fate != DELIVERED:
                    order.fate, order.fate_note = INDETERMINATE, note
            logger.info(note)
            return self._run.tally()
        found: dict[str | None, list[Record]] = {}
        for record in records:
            found.setdefault(record.order_id, []).append(record)
        for order in self._run.orders:
            copies = found.get(order.order_id, [])
            order.copies = len(copies)
            order.event_ids = tuple(sorted({str((r.value or {}).get("eventId")) for r in copies}))
            if copies:
                first = copies[0]
                order.fate, order.position = DELIVERED, (first.partition, first.offset)
                notes = [
                    "the service logged it lost: a timeout is not a loss"
                    if order.service_logged_loss
                    else "",
                    copies_note(order),
                ]
                order.fate_note = "; ".join(note for note in notes if note)
            elif healed:
                order.fate, order.position = LOST, None
                order.fate_note = "not on the topic, read after the fault healed"
            else:
                order.fate = INDETERMINATE
                order.fate_note = "not on the topic yet, and the fault is not over"
        tally = self._run.tally()
        logger.info(f"{len(records)} event(s) since the baseline; fates: {tally}")
        return tally

    @keyword("Wait Until Orders Of Phase Are Delivered")
    def wait_until_orders_of_phase_are_delivered(self, phase: str, timeout: str = "30s") -> float:
        """Read the topic until every order of ``phase`` is delivered; return the seconds it took.

        The time is measured from the call (made right after the fault healed) and kept as
        the run's delivery bound. Fails after ``timeout`` naming the orders still missing.

        Example:
        | ${seconds}= | `Wait Until Orders Of Phase Are Delivered` | outage | 15s |
        """
        started = time.monotonic()

        def delivered() -> bool:
            self.classify_orders_by_reading_the_topic(healed=True)
            return not self._undelivered(phase)

        try:
            wait_until(
                delivered,
                timeout=timestr_to_secs(timeout),
                interval=0.2,
                what=f"every {phase} order delivered",
            )
        except WaitTimedOut:
            missing = self._undelivered(phase)
            raise AssertionError(
                f"{len(missing)} {phase} order(s) still not delivered after {timeout}: "
                + ", ".join(missing)
            ) from None
        elapsed = time.monotonic() - started
        # The run's bound is its slowest phase.
        self._run.delivery_bound_seconds = max(elapsed, self._run.delivery_bound_seconds or 0.0)
        logger.info(f"every {phase} order delivered {elapsed:.2f} s after the heal")
        return elapsed

    @keyword("Order Fate Should Be")
    def order_fate_should_be(self, order_id: str, fate: str) -> None:
        """Fail unless the order's fate is ``fate`` (delivered, lost or indeterminate).

        Example:
        | `Order Fate Should Be` | ${order_id} | indeterminate |
        """
        order = self._order(order_id)
        if order.fate != fate:
            raise AssertionError(
                f"order {order_id} ({order.phase}) is {order.fate}, expected {fate}: "
                f"{order.fate_note}"
            )

    @keyword("Fate After The Heal")
    def fate_after_the_heal(self, order_id: str, timeout: str = "10s") -> str:
        """Read the topic until the order is delivered, or ``timeout`` has passed; return its fate.

        For a publish that timed out: the broker may still write the event once it runs
        again, so the order counts as lost only when the topic, read for ``timeout`` after
        the heal, never shows it.

        Example:
        | ${fate}= | `Fate After The Heal` | ${order_id} | 10s |
        """
        poll_until(
            lambda: (
                bool(self.classify_orders_by_reading_the_topic(healed=True))
                and self._order(order_id).fate == DELIVERED
            ),
            timeout=timestr_to_secs(timeout),
            interval=0.2,
        )
        order = self._order(order_id)
        logger.info(f"order {order_id} ({order.phase}) after the heal: {order.fate}")
        return order.fate or INDETERMINATE

    @keyword("Orders Of Phase Should Have Fate")
    def orders_of_phase_should_have_fate(self, phase: str, fate: str) -> None:
        """Fail unless ``phase`` has orders and every one of them has ``fate``; name the others.

        Example:
        | `Orders Of Phase Should Have Fate` | stopped | lost |
        """
        orders = self._run.in_phase(phase)
        if not orders:
            raise AssertionError(f"no order was placed in the phase {phase!r}")
        others = [f"{o.order_id} is {o.fate} ({o.fate_note})" for o in orders if o.fate != fate]
        if others:
            raise AssertionError(
                f"{len(others)} of {len(orders)} {phase} order(s) not {fate}: " + "; ".join(others)
            )
        logger.info(f"all {len(orders)} {phase} order(s) {fate}")

    @keyword("Log Fates Of Phase", tags=["evidence"])
    def log_fates_of_phase(self, phase: str) -> dict[str, int]:
        """Log how many orders of ``phase`` were delivered, lost or duplicated; return it.

        For a fault whose dual-write outcome is reported rather than judged (a leader
        failover): what happened, order by order, is the finding. Fails if the phase has no
        order, or one the topic could not judge.

        Example:
        | ${fates}= | `Log Fates Of Phase` | failover |
        """
        orders = self._run.in_phase(phase)
        if not orders:
            raise AssertionError(f"no order was placed in the phase {phase!r}")
        tally = self._run.tally(phase)
        tally["duplicated"] = sum(order.duplicated for order in orders)
        for order in orders:
            logger.info(f"{order.order_id}: {order.fate} {order.where} {order.fate_note}".strip())
        logger.info(f"{phase}: {tally}")
        if tally[INDETERMINATE]:
            raise AssertionError(f"{tally[INDETERMINATE]} {phase} order(s) indeterminate")
        return tally

    @keyword("Lost Event Proof Should Hold", tags=["evidence"])
    def lost_event_proof_should_hold(self, expect_loss: bool = True) -> str:
        """Log the per-order table; fail with UNEXPECTED and why; return the verdict.

        Example:
        | ${verdict}= | `Lost Event Proof Should Hold` | expect_loss=${TRUE} |
        """
        logger.info(html_orders(self._run), html=True)
        verdict, reasons = self._run.verdict(expect_loss=expect_loss)
        if reasons:
            raise AssertionError(f"RESULT: {verdict} — " + "; ".join(reasons))
        logger.info(f"RESULT: {verdict}")
        return verdict

    @keyword("Lost Event Summary")
    def lost_event_summary(self, expect_loss: bool = True) -> list[str]:
        """Return the verdict and a one-line summary of the evidence, for the side-by-side table.

        Example:
        | ${summary}= | `Lost Event Summary` | expect_loss=${TRUE} |
        | Record Scenario Result | lost event | dual-write | @{summary} |
        """
        return list(summary(self._run, expect_loss=expect_loss))

    @keyword("Write Lost Event Report")
    def write_lost_event_report(
        self, expect_loss: bool = True, name: str = "lost-event-report.md"
    ) -> str:
        """Write the report ``name`` beside ``log.html`` (``${OUTPUT DIR}``); return its path.

        The same facts go to the JSON file of the same name (``lost-event-report.json``).

        Example:
        | `Write Lost Event Report` | expect_loss=${FALSE} | name=outbox-lost-event-report.md |
        """
        output_dir = Path(BuiltIn().get_variable_value("${OUTPUT DIR}"))
        path, data_path = write_report(
            output_dir,
            name,
            markdown_report(self._run, expect_loss=expect_loss),
            json_report(self._run, expect_loss=expect_loss),
        )
        logger.info(
            f"Report written to <a href='{path.name}'>{path.name}</a> "
            f"(data: <a href='{data_path.name}'>{data_path.name}</a>)",
            html=True,
        )
        return str(path)

    def _undelivered(self, phase: str) -> list[str]:
        return [o.order_id for o in self._run.in_phase(phase) if o.fate != DELIVERED]

    def _order(self, order_id: str) -> PlacedOrder:
        for order in self._run.orders:
            if order.order_id == order_id:
                return order
        raise AssertionError(f"orderId {order_id} was not recorded")
