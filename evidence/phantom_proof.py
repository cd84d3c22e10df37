"""The phantom-event proof: what one chaos run observed, the seed's checks, the verdict.

Pure logic, fed by the acceptance suite with measured values (HTTP answers, query results,
events read from the topic) and rendered as the seed's Markdown report and as HTML.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

CONFIRMED = "PHANTOM EVENT CONFIRMED"
NO_PHANTOM = "NO PHANTOM EVENT"
UNEXPECTED = "UNEXPECTED"


@dataclass(frozen=True)
class PhantomAttempt:
    """One call of ``POST /chaos/phantom-event`` and what the suite checked about it."""

    status_code: int
    order_id: str
    exists_in_db: object
    event_sent_to_kafka: object
    db_rolled_back: object
    kafka_partition: object = None
    kafka_offset: object = None
    rows_found: int | None = None
    query: str | None = None
    event_found: bool | None = None
    event_partition: int | None = None
    event_offset: int | None = None


@dataclass(frozen=True)
class Check:
    """One row of the seed's results table."""

    name: str
    expected: str
    actual: str
    passed: bool
    note: str = ""

    @property
    def status(self) -> str:
        """Return PASS or FAIL."""
        return "PASS" if self.passed else "FAIL"


@dataclass
class PhantomRun:
    """Everything one run of the phantom-event suite measured."""

    started_at: datetime
    infrastructure: str = ""
    iterations: int = 0
    db_before: int | None = None
    db_after: int | None = None
    kafka_before: int | None = None
    kafka_new_events: int | None = None
    kafka_own_events: int | None = None
    latest_event_order_id: str | None = None
    attempts: list[PhantomAttempt] = field(default_factory=list)
    normal_status: int | None = None
    normal_order_id: str | None = None
    normal_rows: int | None = None
    normal_event_found: bool | None = None
    # Dual write produces the phantom event; the Transactional Outbox must not.
    expect_phantom: bool = True

    @property
    def order_ids(self) -> list[str]:
        """Return the phantom order ids, in the order they were triggered."""
        return [a.order_id for a in self.attempts if a.order_id]

    @property
    def db_delta(self) -> int | None:
        """Return the change of the global order count."""
        if self.db_before is None or self.db_after is None:
            return None
        return self.db_after - self.db_before

    @property
    def own_rows(self) -> int | None:
        """Return how many rows this run's phantom orders have (they should have none)."""
        rows = [a.rows_found for a in self.attempts]
        return None if None in rows else sum(rows)

    def checks(self) -> list[Check]:
        """Return the ten checks of the seed's report template, computed from the run."""
        return [
            self._endpoint_check(),
            self._flag_check("Report: existsInDb", "false", "exists_in_db", False),
            self._flag_check(
                "Report: eventSentToKafka",
                "true" if self.expect_phantom else "false",
                "event_sent_to_kafka",
                self.expect_phantom,
            ),
            self._flag_check("Report: dbRolledBack", "true", "db_rolled_back", True),
            self._rows_check(),
            self._events_check(),
            self._db_count_check(),
            self._kafka_count_check(),
            Check(
                "Normal POST /orders works",
                "201",
                _shown(self.normal_status),
                self.normal_status == 201,
            ),
            Check(
                "Normal order exists in DB",
                "present",
                _presence(None if self.normal_rows is None else self.normal_rows > 0),
                bool(self.normal_rows),
                _event_note(self.normal_event_found),
            ),
        ]

    def verdict(self) -> tuple[str, list[str]]:
        """Return the verdict and, when unexpected, why: the proof's checks that broke.

        Dual write: the phantom event is confirmed when every phantom order has no row in
        the database and an event on the topic. Outbox: no phantom event when every
        rolled-back order has neither. Global counts are shown, not judged: on shared
        infrastructure other clients move them.
        """
        reasons = []
        if not self.attempts:
            reasons.append("no phantom event was triggered")
        for attempt in self.attempts:
            reasons.extend(self._attempt_problems(attempt))
        if reasons:
            return UNEXPECTED, reasons
        return (CONFIRMED if self.expect_phantom else NO_PHANTOM), []

    def _attempt_problems(self, attempt: PhantomAttempt) -> list[str]:
        problems = []
        if attempt.status_code != 200:
            problems.append(f"POST /chaos/phantom-event answered {attempt.status_code}")
        if not attempt.order_id:
            return [*problems, "an answer carried no orderId: nothing to verify"]
        if attempt.rows_found is None:
            problems.append(f"order {attempt.order_id} was not looked up in the database")
        elif attempt.rows_found:
            problems.append(
                f"order {attempt.order_id} HAS {attempt.rows_found} row(s) in PostgreSQL: "
                "the rollback did not happen"
            )
        if attempt.event_found is None:
            problems.append(f"order {attempt.order_id} was not looked up in Kafka")
        elif self.expect_phantom and not attempt.event_found:
            problems.append(
                f"order {attempt.order_id} has NO event on the topic: nothing was published"
            )
        elif not self.expect_phantom and attempt.event_found:
            problems.append(
                f"order {attempt.order_id} HAS an event on the topic (partition "
                f"{attempt.event_partition}, offset {attempt.event_offset}): a phantom event"
            )
        return problems

    def _endpoint_check(self) -> Check:
        codes = Counter(a.status_code for a in self.attempts)
        return Check(
            "Chaos endpoint returns 200",
            "200",
            _tally(codes),
            bool(codes) and set(codes) == {200},
        )

    def _flag_check(self, name: str, expected: str, attribute: str, wanted: bool) -> Check:
        values = Counter(_json_literal(getattr(a, attribute)) for a in self.attempts)
        return Check(
            name,
            expected,
            _tally(values),
            bool(values) and all(getattr(a, attribute) is wanted for a in self.attempts),
        )

    def _rows_check(self) -> Check:
        rows = self.own_rows
        checked = sum(a.rows_found is not None for a in self.attempts)
        actual = "not checked" if rows is None else f"{rows} rows ({checked} orders queried)"
        return Check("DB: phantom order NOT found", "0 rows", actual, rows == 0)

    def _events_check(self) -> Check:
        found = sum(bool(a.event_found) for a in self.attempts)
        checked = sum(a.event_found is not None for a in self.attempts)
        total = len(self.attempts)
        if not self.expect_phantom:
            actual = (
                "not checked"
                if not checked
                else "absent" + (f" ({total}/{total})" if not found else f", except {found}")
            )
            return Check(
                "Kafka: no event for the rolled-back order",
                "absent",
                actual,
                bool(total) and checked == total and found == 0,
            )
        if total and found == total:
            actual = f"present ({found}/{total})"
        else:
            actual = f"absent for {total - found} of {total}" if total else "not checked"
        return Check(
            "Kafka: phantom event found", "present", actual, bool(total) and found == total
        )

    def _db_count_check(self) -> Check:
        delta, own = self.db_delta, self.own_rows
        passed = delta is not None and own == 0
        note = ""
        if delta:
            note = (
                f"the global count moved by {delta:+d}, none of it this run's: every phantom "
                "order has 0 rows, so the change comes from other clients of the database"
                if own == 0
                else f"{own} row(s) belong to this run's phantom orders"
            )
        actual = _shown(self.db_after)
        if delta and own is not None:
            actual += f" ({own:+d} this run, {delta - own:+d} others)"
        return Check("DB count unchanged", _shown(self.db_before), actual, passed, note)

    def _kafka_count_check(self) -> Check:
        expected = len(self.attempts) if self.expect_phantom else 0
        new, own = self.kafka_new_events, self.kafka_own_events
        passed = own is not None and own == expected and new is not None and new >= expected
        note = ""
        if new is not None and own is not None and new != own:
            note = (
                f"{new} events arrived since the baseline: {own} for this run's phantom orders, "
                f"{new - own} from other producers"
            )
        actual = f"+{_shown(new)}"
        if note:
            actual += f" (+{own} this run, +{new - own} others)"
        name = "Kafka count increased" if self.expect_phantom else "Kafka count unchanged by them"
        return Check(name, f"+{expected}", actual, passed, note)


def _tally(values: Counter) -> str:
    if not values:
        return "none"
    if len(values) == 1:
        ((value, count),) = values.items()
        return str(value) if count == 1 else f"{value} (×{count})"
    return ", ".join(f"{value} ×{count}" for value, count in values.most_common())


def _json_literal(value: object) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "missing" if value is None else repr(value)


def _shown(value: object) -> str:
    return "not measured" if value is None else str(value)


def _presence(found: bool | None) -> str:
    return "not checked" if found is None else ("present" if found else "absent")


def _event_note(found: bool | None) -> str:
    if found is None:
        return ""
    return "its order.created event is on the topic" if found else "its event is NOT on the topic"
