"""Robot Framework keywords that collect a phantom-event run and write its report."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from robot.api import logger
from robot.api.deco import keyword, library
from robot.libraries.BuiltIn import BuiltIn

from evidence.phantom_proof import UNEXPECTED, PhantomAttempt, PhantomRun
from evidence.phantom_report import html_evidence, html_proof, html_results, markdown_report
from evidence.topic_reader import order_id_of


@library(scope="SUITE", version="1.0")
class ChaosReport:
    """Collect what a phantom-event run measured, judge it, and write the seed's report.

    The keywords that log the proof are tagged ``evidence``: run Robot with
    ``--expandkeywords tag:evidence`` and ``log.html`` opens on them.

    Each keyword records one measured value: an HTTP answer, a query result, the events
    read from the topic. The ten checks of the seed's "Chaos Test Report Template" and the
    verdict are computed from those values only; nothing is assumed.

    `Write Phantom Event Report` writes ``phantom-event-report.md`` beside ``log.html``
    (Robot's ``${OUTPUT DIR}``) and logs the same tables as HTML.

    The run is kept for the suite (SUITE scope); `Start Phantom Event Run` starts afresh.

    = Example =

    | Start Phantom Event Run    iterations=1
    | Record Baseline    ${db_count}    ${kafka_count}
    | ${order_id}=    Record Phantom Attempt    ${response.status_code}    ${response.json()}
    | Record Database Rows    ${order_id}    0    SELECT ... WHERE id = '...'
    | Record Database Count After    ${db_count}
    | Record Kafka Events    ${events}
    | Side By Side Proof Should Hold
    """

    def __init__(self) -> None:
        self._run = PhantomRun(started_at=datetime.now(UTC))

    @keyword("Start Phantom Event Run")
    def start_phantom_event_run(self, iterations: int = 1, expect_phantom: bool = True) -> None:
        """Forget what was recorded and start a new run of ``iterations`` phantom events.

        ``expect_phantom`` is true against dual write (the phantom event must appear) and
        false against the Transactional Outbox (it must not).
        """
        self._run = PhantomRun(
            started_at=datetime.now(UTC), iterations=iterations, expect_phantom=expect_phantom
        )

    @keyword("Record Infrastructure")
    def record_infrastructure(self, postgres: str, kafka: str) -> None:
        """Record how PostgreSQL and Kafka were obtained (``reused`` or ``started``)."""
        self._run.infrastructure = f"PostgreSQL UP ({postgres}), Kafka UP ({kafka})"

    @keyword("Record Baseline")
    def record_baseline(self, db_orders: int, kafka_events: int) -> None:
        """Record the order count and the event count before the chaos."""
        self._run.db_before = db_orders
        self._run.kafka_before = kafka_events
        logger.info(f"Baseline: DB={db_orders} orders, Kafka={kafka_events} events")

    @keyword("Record Phantom Attempt")
    def record_phantom_attempt(self, status_code: int, report: dict | None) -> str:
        """Record one answer of ``POST /chaos/phantom-event``; return its orderId.

        Fails when the answer carries no orderId: nothing can be verified then.
        """
        report = report if isinstance(report, dict) else {}
        order_id = report.get("orderId")
        self._run.attempts.append(
            PhantomAttempt(
                status_code=status_code,
                order_id=str(order_id or ""),
                exists_in_db=report.get("existsInDb"),
                event_sent_to_kafka=report.get("eventSentToKafka"),
                db_rolled_back=report.get("dbRolledBack"),
                kafka_partition=report.get("kafkaPartition"),
                kafka_offset=report.get("kafkaOffset"),
            )
        )
        if not order_id:
            raise AssertionError(f"HTTP {status_code} without an orderId: {report}")
        return str(order_id)

    @keyword("Phantom Order Ids")
    def phantom_order_ids(self) -> list[str]:
        """Return the orderIds of the recorded attempts, in order (answers without one left out)."""
        return self._run.order_ids

    @keyword("Record Database Rows")
    def record_database_rows(self, order_id: str, rows: int, query: str) -> None:
        """Record how many rows ``query`` found for one phantom order.

        ``query`` may hold ``%s`` where the orderId was bound; the report shows it filled in.
        """
        shown = query.replace("%s", f"'{order_id}'")
        self._replace(order_id, rows_found=int(rows), query=shown)

    @keyword("Record Database Count After")
    def record_database_count_after(self, db_orders: int) -> None:
        """Record the order count after the chaos."""
        self._run.db_after = db_orders

    @keyword("Record Kafka Events")
    def record_kafka_events(self, events: list[dict]) -> None:
        """Match the events read since the baseline to the phantom orders.

        ``events`` is what ``Read Events Since Baseline`` (KafkaConsumption) returned: every
        event since the baseline, this run's and other producers'.
        """
        by_order: dict[str, dict] = {}
        for event in events:
            by_order.setdefault(order_id_of(event.get("value"), event.get("key")), event)
        own = 0
        for attempt in list(self._run.attempts):
            event = by_order.get(attempt.order_id)
            own += event is not None
            self._replace(
                attempt.order_id,
                event_found=event is not None,
                event_partition=event["partition"] if event else None,
                event_offset=event["offset"] if event else None,
            )
        self._run.kafka_new_events = len(events)
        self._run.kafka_own_events = own
        if events:
            latest = max(events, key=lambda e: (e["timestamp"] or "", e["offset"]))
            self._run.latest_event_order_id = (latest.get("value") or {}).get("orderId")

    @keyword("Latest Event Should Match The Last Phantom Order")
    def latest_event_should_match_the_last_phantom_order(self) -> None:
        """Fail unless the newest event since the baseline is the last phantom order's.

        On shared infrastructure another producer may have published after this run; that
        is logged as an explanation, and the last phantom order's own event must then
        still be on the topic.
        """
        last = self._run.attempts[-1] if self._run.attempts else None
        if last is None:
            raise AssertionError("no phantom order was recorded")
        if self._run.latest_event_order_id == last.order_id:
            logger.info(f"The latest event is orderId={last.order_id}, the last phantom order")
            return
        if last.event_found:
            logger.warn(
                f"The latest event is orderId={self._run.latest_event_order_id}, published by "
                f"another client after this run; the last phantom order {last.order_id} has "
                f"its event at partition {last.event_partition}, offset {last.event_offset}"
            )
            return
        raise AssertionError(
            f"the latest event is orderId={self._run.latest_event_order_id}, and the last "
            f"phantom order {last.order_id} has no event on the topic"
        )

    @keyword("Record Normal Order")
    def record_normal_order(
        self, status_code: int, order_id: str | None, rows: int, event_found: bool
    ) -> None:
        """Record the normal ``POST /orders`` of step 9 and what was found for it."""
        self._run.normal_status = status_code
        self._run.normal_order_id = order_id
        self._run.normal_rows = int(rows)
        self._run.normal_event_found = event_found

    @keyword("Check Should Pass")
    def check_should_pass(self, name: str) -> None:
        """Fail unless the report row ``name`` passes, stating expected and actual.

        Example:
        | Check Should Pass    DB: phantom order NOT found
        """
        for check in self._run.checks():
            if check.name == name:
                message = f"{name}: expected {check.expected}, actual {check.actual}"
                if check.note:
                    message += f" ({check.note})"
                if not check.passed:
                    raise AssertionError(message)
                logger.info(message + " — PASS")
                return
        raise AssertionError(f"no check named {name!r}")

    @keyword("Side By Side Proof Should Hold", tags=["evidence"])
    def side_by_side_proof_should_hold(self) -> str:
        """Log the seed's step-8 proof with a chart; fail with UNEXPECTED and why.

        Returns the verdict: ``PHANTOM EVENT CONFIRMED`` against dual write, ``NO PHANTOM
        EVENT`` against the outbox.
        """
        logger.info(html_proof(self._run), html=True)
        verdict, reasons = self._run.verdict()
        if verdict == UNEXPECTED:
            raise AssertionError(f"RESULT: {verdict} — " + "; ".join(reasons))
        logger.info(f"RESULT: {verdict}")
        return verdict

    @keyword("Phantom Event Summary")
    def phantom_event_summary(self) -> list[str]:
        """Return the verdict and a one-line summary of the evidence, for the side-by-side table."""
        run = self._run
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
        return [verdict, evidence]

    @keyword("Write Phantom Event Report", tags=["evidence"])
    def write_phantom_event_report(
        self, profile: str = "chaos", app_port: str = "8082", name: str = "phantom-event-report.md"
    ) -> str:
        """Write the report ``name`` into ``${OUTPUT DIR}``, beside ``log.html``; return its path.

        Also logs the results table and the evidence per phantom order as HTML.
        """
        output_dir = Path(BuiltIn().get_variable_value("${OUTPUT DIR}"))
        path = output_dir / name
        path.write_text(
            markdown_report(self._run, profile=profile, app_port=app_port), encoding="utf-8"
        )
        logger.info(html_results(self._run), html=True)
        logger.info(html_evidence(self._run), html=True)
        logger.info(f"Report written to <a href='{path.name}'>{path.name}</a>", html=True)
        return str(path)

    def _replace(self, order_id: str, **changes: object) -> None:
        for index, attempt in enumerate(self._run.attempts):
            if attempt.order_id == order_id:
                self._run.attempts[index] = replace(attempt, **changes)
                return
        raise AssertionError(f"orderId {order_id} is not a recorded phantom order")
