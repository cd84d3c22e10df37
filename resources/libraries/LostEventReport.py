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

from evidence.lost_event_proof import DELIVERED, INDETERMINATE, LOST, LostEventRun, PlacedOrder
from evidence.lost_event_report import html_orders, markdown_report
from evidence.topic_reader import TopicReader


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

    = Example =

    | Start Lost Event Run    dual-write    proxy
    | Record Topic Baseline    127.0.0.1:9193
    | ${order_id}=    Record Placed Order    outage    ${response}    ${seconds}
    | Classify Orders By Reading The Topic
    | Lost Event Proof Should Hold    expect_loss=${TRUE}
    | Write Lost Event Report
    """

    def __init__(self) -> None:
        self._run = LostEventRun(datetime.now(UTC), mode="dual-write", fault="proxy")
        self._reader: TopicReader | None = None
        self._positions: dict[int, int] = {}

    @keyword("Start Lost Event Run")
    def start_lost_event_run(self, mode: str, fault: str) -> None:
        """Forget what was recorded: ``mode`` dual-write or outbox, ``fault`` proxy or compose."""
        self._run = LostEventRun(datetime.now(UTC), mode=mode, fault=fault)

    @keyword("Record Topic Baseline")
    def record_topic_baseline(self, bootstrap_servers: str, timeout: float = 10) -> int:
        """Record where every partition of ``order.created`` ends; return the event count."""
        self._reader = TopicReader(bootstrap_servers, "order.created", float(timeout))
        self._positions = self._reader.end_positions()
        return sum(self._positions.values())

    @keyword("Record Placed Order")
    def record_placed_order(self, phase: str, status_code: int, body: dict, seconds: float) -> str:
        """Record one ``POST /orders`` (its phase, HTTP status and duration); return its orderId."""
        order_id = str((body or {}).get("orderId"))
        self._run.orders.append(PlacedOrder(order_id, phase, int(status_code), float(seconds)))
        if not (body or {}).get("orderId"):
            raise AssertionError(f"HTTP {status_code} without an orderId: {body}")
        return order_id

    @keyword("Record Order Rows")
    def record_order_rows(self, order_id: str, rows: int) -> None:
        """Record how many rows the database holds for the order."""
        self._order(order_id).rows = int(rows)

    @keyword("Record Health")
    def record_health(self, moment: str, status: str) -> None:
        """Record the service's health ``during`` or ``after`` the fault."""
        if moment == "during":
            self._run.health_during_fault = status
        else:
            self._run.health_after_fault = status

    @keyword("Read Service Log For Losses")
    def read_service_log_for_losses(self, path: str) -> int:
        """Mark the orders the service logged as lost; return how many it logged."""
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
        found = {}
        for record in records:
            found.setdefault(record.order_id, record)
        for order in self._run.orders:
            record = found.get(order.order_id)
            if record is not None:
                order.fate, order.where = DELIVERED, f"{record.partition}/{record.offset}"
                order.fate_note = (
                    "the service logged it lost: a timeout is not a loss"
                    if order.service_logged_loss
                    else ""
                )
            elif healed:
                order.fate, order.where = LOST, ""
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
        """
        limit = timestr_to_secs(timeout)
        started = time.monotonic()
        while True:
            self.classify_orders_by_reading_the_topic(healed=True)
            missing = [o.order_id for o in self._run.in_phase(phase) if o.fate != DELIVERED]
            elapsed = time.monotonic() - started
            if not missing:
                self._run.delivery_bound_seconds = elapsed
                logger.info(f"every {phase} order delivered {elapsed:.2f} s after the heal")
                return elapsed
            if elapsed > limit:
                raise AssertionError(
                    f"{len(missing)} {phase} order(s) still not delivered after {timeout}: "
                    + ", ".join(missing)
                )
            time.sleep(0.2)

    @keyword("Order Fate Should Be")
    def order_fate_should_be(self, order_id: str, fate: str) -> None:
        """Fail unless the order's fate is ``fate`` (delivered, lost or indeterminate)."""
        order = self._order(order_id)
        if order.fate != fate:
            raise AssertionError(
                f"order {order_id} ({order.phase}) is {order.fate}, expected {fate}: "
                f"{order.fate_note}"
            )

    @keyword("Lost Event Proof Should Hold", tags=["evidence"])
    def lost_event_proof_should_hold(self, expect_loss: bool = True) -> str:
        """Log the per-order table; fail with UNEXPECTED and why; return the verdict."""
        logger.info(html_orders(self._run), html=True)
        verdict, reasons = self._run.verdict(expect_loss=expect_loss)
        if reasons:
            raise AssertionError(f"RESULT: {verdict} — " + "; ".join(reasons))
        logger.info(f"RESULT: {verdict}")
        return verdict

    @keyword("Lost Event Summary")
    def lost_event_summary(self, expect_loss: bool = True) -> list[str]:
        """Return the verdict and a one-line summary of the evidence, for the side-by-side table."""
        run = self._run
        verdict, reasons = run.verdict(expect_loss=expect_loss)
        outage = run.in_phase("outage")
        tally = run.tally("outage")
        evidence = (
            f"{len(outage)} order(s) placed while the broker was unreachable, all committed: "
            f"{tally['delivered']} delivered, {tally['lost']} lost, "
            f"{tally['indeterminate']} indeterminate; all orders: {run.tally()}; health "
            f"{run.health_during_fault or '?'} during the fault, {run.health_after_fault or '?'} "
            "after"
            + (
                f"; delivered at most {run.delivery_bound_seconds:.1f} s after the heal"
                if run.delivery_bound_seconds is not None
                else ""
            )
            + (f"; {'; '.join(reasons)}" if reasons else "")
        )
        return [verdict, evidence]

    @keyword("Write Lost Event Report")
    def write_lost_event_report(
        self, expect_loss: bool = True, name: str = "lost-event-report.md"
    ) -> str:
        """Write the report ``name`` beside ``log.html`` (``${OUTPUT DIR}``); return its path."""
        output_dir = Path(BuiltIn().get_variable_value("${OUTPUT DIR}"))
        path = output_dir / name
        path.write_text(markdown_report(self._run, expect_loss=expect_loss), encoding="utf-8")
        logger.info(f"Report written to <a href='{path.name}'>{path.name}</a>", html=True)
        return str(path)

    def _order(self, order_id: str) -> PlacedOrder:
        for order in self._run.orders:
            if order.order_id == order_id:
                return order
        raise AssertionError(f"orderId {order_id} was not recorded")
