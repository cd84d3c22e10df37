"""Robot Framework keywords that collect a phantom-event run and write its report."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from html import escape
from pathlib import Path

import requests
from psycopg2.extensions import adapt
from requests.adapters import HTTPAdapter
from robot.api import SkipExecution, logger
from robot.api.deco import keyword, library
from robot.libraries.BuiltIn import BuiltIn

from evidence.checks import PASS
from evidence.html_table import html_table
from evidence.phantom_proof import UNEXPECTED, PhantomAttempt, PhantomRun
from evidence.phantom_report import (
    html_evidence,
    html_proof,
    html_results,
    json_report,
    markdown_report,
    summary,
)
from evidence.report_files import write_report
from evidence.topic_reader import latest_event, order_id_of

# Runs longer than this log only their first and last iteration in full.
_QUIET_AFTER = 10
_NOT_OBSERVED = "not observed (the suite did not start the service)"


@library(scope="SUITE", version="1.0")
class ChaosReport:
    """Collect what a phantom-event run measured, judge it, and write the seed's report.

    Each keyword records one measured value: an HTTP answer, a query result, the events
    read from the topic. The checks of the seed's "Chaos Test Report Template" (and one
    more: the partition and offset the chaos endpoint reported must hold the order's
    event) and the verdict are computed from those values only; nothing is assumed.

    %TOC%

    = Importing =

    The library takes no arguments: ``Library    libraries/ChaosReport.py``. Each suite that
    imports it gets its own run (SUITE scope); `Start Phantom Event Run` starts afresh.

    = Checks =

    `Check Should Pass` fails unless one row of the report's results passes. A row whose
    value was never measured reads ``NOT CHECKED`` and fails the keyword too. The row names
    are defined once, in ``evidence.phantom_proof.CheckName``; a unit test proves that every
    name the suite's ``.resource`` and ``.robot`` files use exists.

    = Report =

    `Write Phantom Event Report` writes ``phantom-event-report.md`` and the same facts as
    ``phantom-event-report.json`` beside ``log.html`` (Robot's ``${OUTPUT DIR}``) and logs
    the tables as HTML. The keywords that log the proof are tagged ``evidence``: run Robot
    with ``--expandkeywords tag:evidence`` and ``log.html`` opens on them.

    = Example =

    | `Start Phantom Event Run` | iterations=1 |
    | `Record Baseline` | ${db_count} | ${kafka_count} |
    | ${order_ids}= | `Trigger Phantom Events With` | Trigger One Phantom Event | ${ITERATIONS} |
    | `Look Up Every Phantom Order With` | Rows Of Order | ${ORDER_QUERY} |
    | `Record Database Count After` | ${db_count} |
    | `Record Kafka Events` | ${events} |
    | `Check Should Pass` | Report: kafkaPartition/kafkaOffset |
    | `Side By Side Proof Should Hold` |
    | `Write Phantom Event Report` | chaos | 8082 |
    """

    def __init__(self) -> None:
        """The library takes no arguments; every suite that imports it gets a fresh run.

        Import it with ``Library    libraries/ChaosReport.py`` from a resource file.
        """
        self._run = PhantomRun(started_at=datetime.now(UTC))

    @keyword("Start Phantom Event Run")
    def start_phantom_event_run(self, iterations: int = 1, expect_phantom: bool = True) -> None:
        """Forget what was recorded and start a new run of ``iterations`` phantom events.

        ``expect_phantom`` is true against dual write (the phantom event must appear) and
        false against the Transactional Outbox (it must not).

        Example:
        | `Start Phantom Event Run` | iterations=${ITERATIONS} | expect_phantom=${FALSE} |
        """
        self._run = PhantomRun(
            started_at=datetime.now(UTC), iterations=iterations, expect_phantom=expect_phantom
        )

    @keyword("Record Infrastructure")
    def record_infrastructure(self, postgres: str, kafka: str) -> None:
        """Record how PostgreSQL and Kafka were obtained (``reused`` or ``started``).

        Example:
        | `Record Infrastructure` | ${infra}[postgres] | ${infra}[kafka] |
        """
        self._run.infrastructure = f"PostgreSQL UP ({postgres}), Kafka UP ({kafka})"

    @keyword("Record Baseline")
    def record_baseline(self, db_orders: int, kafka_events: int) -> None:
        """Record the order count and the event count before the chaos.

        Example:
        | `Record Baseline` | ${db_count} | ${kafka_count} |
        """
        self._run.db_before = db_orders
        self._run.kafka_before = kafka_events
        logger.info(f"Baseline: DB={db_orders} orders, Kafka={kafka_events} events")

    @keyword("Record Phantom Attempt")
    def record_phantom_attempt(self, status_code: int, report: dict | None) -> str:
        """Record one answer of ``POST /chaos/phantom-event``; return its orderId.

        Keeps the answer's flags and the ``kafkaPartition`` / ``kafkaOffset`` it reported,
        which the ``Report: kafkaPartition/kafkaOffset`` check compares with the topic.
        Fails when the answer carries no orderId: nothing can be verified then.

        Example:
        | ${order_id}= | `Record Phantom Attempt` | ${response.status_code} | ${response.json()} |
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

    @keyword("Trigger Phantom Events With")
    def trigger_phantom_events_with(self, name: str, count: int) -> list[str]:
        """Run the keyword ``name`` ``count`` times and return the phantom orderIds.

        ``name`` triggers one phantom event and records it (`Record Phantom Attempt`); it
        gets the iteration (1 to ``count``) as its one argument, as the seed's step-5 loop
        uses it for the quantity. Runs of more than ten log the first and last iteration in
        full and the others at WARN level; every call is in the report's evidence table.

        Example:
        | ${order_ids}= | `Trigger Phantom Events With` | Trigger One Phantom Event | ${count} |
        """
        builtin = BuiltIn()
        for iteration in range(1, count + 1):
            with _quiet_in_long_runs(builtin, iteration, count):
                builtin.run_keyword(name, iteration)
        order_ids = self.phantom_order_ids()
        logger.info(f"{count} phantom event(s) triggered: {order_ids}")
        return order_ids

    @keyword("Trigger Phantom Events Concurrently")
    def trigger_phantom_events_concurrently(
        self,
        service_url: str,
        count: int,
        customer_id: str,
        product_id: str,
        concurrency: int = 8,
        timeout: float = 30.0,
    ) -> list[str]:
        """Call ``POST /chaos/phantom-event`` ``count`` times, ``concurrency`` at a time.

        The bodies are those of the seed's step-5 loop (quantity = iteration, unit price
        10.00, one item of ``product_id`` for ``customer_id``); every answer is recorded in
        iteration order (`Record Phantom Attempt`), so the report's evidence table holds
        every call. ``log.html`` gets a summary and the first rows instead of one keyword
        per call: for thousands of calls that is what keeps the log readable and small.
        Returns the phantom orderIds.

        Example:
        | ${ids}= | `Trigger Phantom Events Concurrently` | ${SERVICE_URL} | 1000 |
        | ... | ${CUSTOMER_ID} | ${PRODUCT_ID} |
        """
        count = int(count)
        started = time.monotonic()
        with requests.Session() as session, ThreadPoolExecutor(int(concurrency)) as pool:
            session.mount("http://", HTTPAdapter(pool_maxsize=int(concurrency)))
            answers = list(
                pool.map(
                    lambda quantity: _post_phantom(
                        session, service_url, customer_id, product_id, quantity, timeout
                    ),
                    range(1, count + 1),
                )
            )
        seconds = time.monotonic() - started
        missing = []
        for quantity, (status, report) in enumerate(answers, 1):
            try:
                self.record_phantom_attempt(status, report)
            except AssertionError as ex:
                missing.append(f"iteration {quantity}: {ex}")
        statuses = Counter(status for status, _ in answers)
        logger.info(
            f"{count} phantom event(s) triggered in {seconds:.1f} s, {concurrency} at a time; "
            f"HTTP statuses {dict(statuses)}. Every call is in the report's evidence table; "
            f"the first {min(count, _QUIET_AFTER)}:"
        )
        logger.info(_html_answers(self._run.attempts[:_QUIET_AFTER]), html=True)
        if missing:
            raise AssertionError(
                f"{len(missing)} answer(s) without an orderId, the first: {missing[0]}"
            )
        return self.phantom_order_ids()

    @keyword("Record Database Rows Of Every Phantom Order")
    def record_database_rows_of_every_phantom_order(
        self, found_ids: list, query: str, batch_query: str
    ) -> None:
        """Record, per phantom order, whether one query for all of them found its row.

        ``found_ids`` are the rows ``batch_query`` (``... WHERE id = ANY(%s)``, bound to
        every phantom orderId) returned, the orderId first. Each order's row shows
        ``query``, the step-6 query, filled in with its orderId: what the batch asked about
        that order.

        Example:
        | ${rows}= | Query | ${ANY_ORDER_QUERY} | parameters=${parameters} |
        | `Record Database Rows Of Every Phantom Order` | ${found} | ${ORDER_QUERY} |
        | ... | ${ANY_ORDER_QUERY} |
        """
        # DatabaseLibrary's Query returns rows; a row's first column is the orderId.
        found = {str(row[0] if isinstance(row, list | tuple) else row) for row in found_ids}
        order_ids = self.phantom_order_ids()
        for order_id in order_ids:
            self.record_database_rows(order_id, 1 if order_id in found else 0, query)
        logger.info(
            f"One query for all {len(order_ids)} phantom orders ({batch_query}) found "
            f"{len(found)} row(s)"
        )

    @keyword("Phantom Order Ids")
    def phantom_order_ids(self) -> list[str]:
        """Return the orderIds of the recorded attempts, in order (answers without one left out).

        Example:
        | ${order_ids}= | `Phantom Order Ids` |
        """
        return self._run.order_ids

    @keyword("Record Database Rows")
    def record_database_rows(self, order_id: str, rows: int, query: str) -> None:
        """Record how many rows ``query`` found for one phantom order.

        ``query`` may hold ``%s`` where the orderId was bound; the report shows it filled
        in, quoted as psycopg2 quotes a bound string.

        Example:
        | `Record Database Rows` | ${order_id} | 0 | SELECT id FROM orders WHERE id = %s |
        """
        self._replace(order_id, rows_found=int(rows), query=_filled(query, order_id))

    @keyword("Look Up Every Phantom Order With")
    def look_up_every_phantom_order_with(self, name: str, query: str) -> None:
        """Run the keyword ``name`` for every phantom order and record the rows it returns.

        ``name`` takes an orderId and returns the rows ``query`` found for it (the report
        shows ``query`` filled in). Runs of more than ten log the first and last query in
        full.

        Example:
        | `Look Up Every Phantom Order With` | Rows Of Order | ${ORDER_QUERY} |
        """
        builtin = BuiltIn()
        order_ids = self.phantom_order_ids()
        for index, order_id in enumerate(order_ids, 1):
            with _quiet_in_long_runs(builtin, index, len(order_ids)):
                rows = builtin.run_keyword(name, order_id)
                self.record_database_rows(order_id, len(rows), query)

    @keyword("Record Database Count After")
    def record_database_count_after(self, db_orders: int) -> None:
        """Record the order count after the chaos.

        Example:
        | `Record Database Count After` | ${db_count} |
        """
        self._run.db_after = db_orders

    @keyword("Record Kafka Events")
    def record_kafka_events(self, events: list[dict]) -> None:
        """Match the events read since the baseline to the phantom orders.

        ``events`` is what ``Read Events Since Baseline`` (KafkaConsumption) returned: every
        event since the baseline, this run's and other producers'. Records, per phantom
        order, whether and where its event is, the counts and the latest event.

        Example:
        | ${events}= | Read Events Since Baseline |
        | `Record Kafka Events` | ${events} |
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
        latest = latest_event(events)
        if latest is not None:
            self._run.latest_event_order_id = (latest.get("value") or {}).get("orderId")

    @keyword("Latest Event Should Match The Last Phantom Order")
    def latest_event_should_match_the_last_phantom_order(self) -> None:
        """Fail unless the newest event since the baseline is the last phantom order's.

        On shared infrastructure another producer may have published after this run; that
        is logged as an explanation, and the last phantom order's own event must then
        still be on the topic.

        Example:
        | `Latest Event Should Match The Last Phantom Order` |
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
    def record_normal_order(self, status_code: int, body: dict | None) -> str:
        """Record the answer of the normal ``POST /orders`` of step 9; return its orderId.

        Its rows and its event are recorded once looked up (`Record Normal Order Rows`,
        `Record Normal Order Event`); until then their check reads NOT CHECKED. Fails when
        the answer carries no orderId.

        Example:
        | ${order_id}= | `Record Normal Order` | ${response.status_code} | ${response.json()} |
        """
        order_id = (body if isinstance(body, dict) else {}).get("orderId")
        self._run.normal_status = status_code
        self._run.normal_order_id = str(order_id) if order_id else None
        if not order_id:
            raise AssertionError(f"HTTP {status_code} without an orderId: {body}")
        return str(order_id)

    @keyword("Record Normal Order Rows")
    def record_normal_order_rows(self, rows: list) -> None:
        """Record the rows the step-6 query found for the normal order.

        Example:
        | ${rows}= | Rows Of Order | ${order_id} |
        | `Record Normal Order Rows` | ${rows} |
        """
        self._run.normal_rows = len(rows)

    @keyword("Record Normal Order Event")
    def record_normal_order_event(self, event: dict) -> None:
        """Record the normal order's event as read from the topic (its partition and offset).

        Example:
        | ${event}= | Order Created Event Should Be In Kafka | ${order_id} |
        | `Record Normal Order Event` | ${event} |
        """
        self._run.normal_event_found = True
        self._run.normal_event_position = (event["partition"], event["offset"])

    @keyword("Check Should Pass")
    def check_should_pass(self, name: str) -> None:
        """Fail unless the report row ``name`` passes, stating expected and actual.

        A row that was not checked (its value was never measured) fails as well.

        Example:
        | `Check Should Pass` | DB: phantom order NOT found |
        """
        checks = self._run.checks()
        check = next((c for c in checks if c.name == name), None)
        if check is None:
            raise AssertionError(
                f"no check named {name!r}; the checks are: " + ", ".join(c.name for c in checks)
            )
        message = f"{name}: expected {check.expected}, actual {check.actual}"
        if check.note:
            message += f" ({check.note})"
        if check.status != PASS:
            raise AssertionError(message if check.passed is False else f"{message} — NOT CHECKED")
        logger.info(message + " — PASS")

    @keyword("Side By Side Proof Should Hold", tags=["evidence"])
    def side_by_side_proof_should_hold(self) -> str:
        """Log the seed's step-8 proof with a chart; fail with UNEXPECTED and why.

        Skips, naming the step, when an earlier step's record is missing (a test run alone).

        Returns the verdict: ``PHANTOM EVENT CONFIRMED`` against dual write, ``NO PHANTOM
        EVENT`` against the outbox.

        Example:
        | ${verdict}= | `Side By Side Proof Should Hold` |
        | Should Be Equal | ${verdict} | PHANTOM EVENT CONFIRMED |
        """
        missing = self._run.missing_step()
        if missing is not None:
            raise SkipExecution(f"needs {missing}; run the whole suite or include that step")
        logger.info(html_proof(self._run), html=True)
        verdict, reasons = self._run.verdict()
        if verdict == UNEXPECTED:
            raise AssertionError(f"RESULT: {verdict} — " + "; ".join(reasons))
        logger.info(f"RESULT: {verdict}")
        return verdict

    @keyword("Phantom Event Summary")
    def phantom_event_summary(self) -> list[str]:
        """Return the verdict and a one-line summary of the evidence, for the side-by-side table.

        Example:
        | ${summary}= | `Phantom Event Summary` |
        | Record Scenario Result | phantom event | dual-write | @{summary} |
        """
        return list(summary(self._run))

    @keyword("Write Phantom Event Report", tags=["evidence"])
    def write_phantom_event_report(
        self,
        profile: str = "chaos",
        app_port: str = "8082",
        name: str = "phantom-event-report.md",
        service_started: bool = True,
    ) -> str:
        """Write the report ``name`` into ``${OUTPUT DIR}``, beside ``log.html``; return its path.

        The same facts go to the JSON file of the same name (``phantom-event-report.json``).
        ``profile`` is shown as the service's profiles when ``service_started``; otherwise
        the suite did not start the service, and the report says the profile was not
        observed. Also logs the results table and the evidence per phantom order as HTML.

        Example:
        | `Write Phantom Event Report` | chaos,outbox | 8082 | outbox-phantom-event-report.md |
        """
        shown_profile = profile if service_started else _NOT_OBSERVED
        output_dir = Path(BuiltIn().get_variable_value("${OUTPUT DIR}"))
        path, data_path = write_report(
            output_dir,
            name,
            markdown_report(self._run, profile=shown_profile, app_port=app_port),
            json_report(self._run, profile=shown_profile, app_port=app_port),
        )
        logger.info(html_results(self._run), html=True)
        logger.info(html_evidence(self._run), html=True)
        logger.info(
            f"Report written to <a href='{path.name}'>{path.name}</a> "
            f"(data: <a href='{data_path.name}'>{data_path.name}</a>)",
            html=True,
        )
        return str(path)

    @keyword("Delete Data When Asked")
    def delete_data_when_asked(self, clean: bool, name: str) -> bool:
        """Run the keyword ``name`` (the seed's optional clean-up) only when ``clean`` is true.

        Otherwise logs that the data is kept. Returns whether the clean-up ran.

        Example:
        | `Delete Data When Asked` | ${CLEAN_DATA} | Delete Orders And Topics |
        """
        if clean:
            BuiltIn().run_keyword(name)
            return True
        logger.info(
            "Data kept (run with -v CLEAN_DATA:True to truncate the tables and delete the topics)"
        )
        return False

    def _replace(self, order_id: str, **changes: object) -> None:
        for index, attempt in enumerate(self._run.attempts):
            if attempt.order_id == order_id:
                self._run.attempts[index] = replace(attempt, **changes)
                return
        raise AssertionError(f"orderId {order_id} is not a recorded phantom order")


@contextmanager
def _quiet_in_long_runs(builtin: BuiltIn, number: int, total: int) -> Iterator[None]:
    """Log step ``number`` of ``total`` at WARN level unless it is the first or last of a long run.

    The level is restored after the block, also when the step fails.
    """
    if total <= _QUIET_AFTER or number in (1, total):
        yield
        return
    previous = builtin.set_log_level("WARN")
    try:
        yield
    finally:
        builtin.set_log_level(previous)


def _html_answers(attempts: list[PhantomAttempt]) -> str:
    """Return the first answers as a table: what each call reported, before any check."""
    return html_table(
        "First answers of POST /chaos/phantom-event",
        ["#", "HTTP", "orderId", "existsInDb", "eventSentToKafka", "kafkaPartition/Offset"],
        [
            [
                str(number),
                str(attempt.status_code),
                f"<code>{escape(attempt.order_id)}</code>",
                escape(str(attempt.exists_in_db)),
                escape(str(attempt.event_sent_to_kafka)),
                escape(f"{attempt.kafka_partition}/{attempt.kafka_offset}"),
            ]
            for number, attempt in enumerate(attempts, 1)
        ],
    )


def _post_phantom(
    session: requests.Session,
    service_url: str,
    customer_id: str,
    product_id: str,
    quantity: int,
    timeout: float,
) -> tuple[int, dict | None]:
    """Send one phantom-event call of the seed's loop; return its status and JSON answer."""
    body = {
        "customerId": customer_id,
        "items": [{"productId": product_id, "quantity": quantity, "unitPrice": 10.00}],
    }
    try:
        response = session.post(f"{service_url}/chaos/phantom-event", json=body, timeout=timeout)
    except requests.RequestException as ex:
        return 0, {"error": f"{type(ex).__name__}: {ex}"}
    try:
        answer = response.json()
    except ValueError:
        answer = None
    return response.status_code, answer if isinstance(answer, dict) else None


def _filled(query: str, value: str) -> str:
    """Return ``query`` with its ``%s`` replaced by ``value`` as psycopg2 binds a string.

    ``cursor.mogrify`` needs an open connection; the adapter it uses quotes the same way
    without one, so a report can be written after the connection is gone.
    """
    if "%s" not in query:
        return query
    literal = adapt(value)
    literal.encoding = "utf-8"
    return query % (literal.getquoted().decode("utf-8"),)
