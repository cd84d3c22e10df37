"""The phantom-event proof: what one chaos run observed, the seed's checks, the verdict.

Pure logic, fed by the acceptance suite with measured values (HTTP answers, query results,
events read from the topic) and rendered as the seed's Markdown report, as JSON and as HTML.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from evidence.checks import Check, judged, shown
from evidence.positions import Position, position_text

CONFIRMED = "PHANTOM EVENT CONFIRMED"
NO_PHANTOM = "NO PHANTOM EVENT"
UNEXPECTED = "UNEXPECTED"


class CheckName(StrEnum):
    """The names of the phantom-event checks: the report's rows, and what the suite checks.

    The suite's ``Check Should Pass    <name>`` lines use these values; a unit test reads
    every ``.resource`` and ``.robot`` file and fails on a name that is not here.
    """

    ENDPOINT = "Chaos endpoint returns 200"
    EXISTS_IN_DB = "Report: existsInDb"
    EVENT_SENT = "Report: eventSentToKafka"
    DB_ROLLED_BACK = "Report: dbRolledBack"
    NO_ROWS = "DB: phantom order NOT found"
    EVENT_FOUND = "Kafka: phantom event found"
    NO_EVENT = "Kafka: no event for the rolled-back order"
    REPORTED_POSITION = "Report: kafkaPartition/kafkaOffset"
    DB_COUNT = "DB count unchanged"
    KAFKA_COUNT_INCREASED = "Kafka count increased"
    KAFKA_COUNT_UNCHANGED = "Kafka count unchanged by them"
    NORMAL_POST = "Normal POST /orders works"
    NORMAL_IN_DB = "Normal order exists in DB"


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

    @property
    def reported_position(self) -> Position | None:
        """Return where the service said the broker stored the event, or None if it said none."""
        if self.kafka_partition is None and self.kafka_offset is None:
            return None
        return (self.kafka_partition, self.kafka_offset)

    @property
    def event_position(self) -> Position | None:
        """Return where the suite's topic read found the order's event, or None."""
        return (self.event_partition, self.event_offset) if self.event_found else None


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
    normal_event_position: Position | None = None
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
        """Return the ten checks of the seed's report template, and where the event is.

        The position check compares the partition and offset the chaos endpoint reported
        with where the suite's own read of the topic found the order's event.
        """
        return [
            self._endpoint_check(),
            self._flag_check(CheckName.EXISTS_IN_DB, "false", "exists_in_db", False),
            self._flag_check(
                CheckName.EVENT_SENT,
                "true" if self.expect_phantom else "false",
                "event_sent_to_kafka",
                self.expect_phantom,
            ),
            self._flag_check(CheckName.DB_ROLLED_BACK, "true", "db_rolled_back", True),
            self._rows_check(),
            self._events_check(),
            self._position_check(),
            self._db_count_check(),
            self._kafka_count_check(),
            Check(
                CheckName.NORMAL_POST,
                "201",
                shown(self.normal_status),
                None if self.normal_status is None else self.normal_status == 201,
            ),
            Check(
                CheckName.NORMAL_IN_DB,
                "present",
                _presence(None if self.normal_rows is None else self.normal_rows > 0),
                None if self.normal_rows is None else self.normal_rows > 0,
                _event_note(self.normal_event_found),
            ),
        ]

    def missing_step(self) -> str | None:
        """Return the seed step whose record the verdict needs and lacks, or None.

        A test run alone (``--include seed-step-8``) has no phantom orders, look-ups or
        topic read to judge: that is "not checked", not a failed proof.
        """
        if not self.attempts:
            return "seed step 5's phantom orders"
        identified = [a for a in self.attempts if a.order_id]
        if any(a.rows_found is None for a in identified):
            return "seed step 6's database look-up"
        if any(a.event_found is None for a in identified):
            return "seed step 7's topic read"
        return None

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
            CheckName.ENDPOINT,
            "200",
            _tally(codes),
            judged(bool(set(codes) - {200}), not codes),
        )

    def _flag_check(self, name: str, expected: str, attribute: str, wanted: bool) -> Check:
        values = Counter(_json_literal(getattr(a, attribute)) for a in self.attempts)
        return Check(
            name,
            expected,
            _tally(values),
            judged(any(getattr(a, attribute) is not wanted for a in self.attempts), not values),
        )

    def _rows_check(self) -> Check:
        queried = [a.rows_found for a in self.attempts if a.rows_found is not None]
        actual = (
            f"{sum(queried)} rows ({len(queried)} orders queried)" if queried else "not checked"
        )
        return Check(
            CheckName.NO_ROWS,
            "0 rows",
            actual,
            judged(any(queried), not self.attempts or len(queried) < len(self.attempts)),
        )

    def _events_check(self) -> Check:
        found = sum(bool(a.event_found) for a in self.attempts)
        checked = sum(a.event_found is not None for a in self.attempts)
        total = len(self.attempts)
        unread = not total or checked < total
        if not self.expect_phantom:
            actual = (
                "not checked"
                if not checked
                else "absent" + (f" ({total}/{total})" if not found else f", except {found}")
            )
            return Check(CheckName.NO_EVENT, "absent", actual, judged(found > 0, unread))
        if total and found == total:
            actual = f"present ({found}/{total})"
        else:
            actual = f"absent for {total - found} of {total}" if checked else "not checked"
        return Check(CheckName.EVENT_FOUND, "present", actual, judged(checked > found, unread))

    def _position_check(self) -> Check:
        read = [a for a in self.attempts if a.event_found is not None]
        wrong = [a for a in read if a.reported_position != a.event_position]
        if not read:
            actual = "not checked"
        elif len(self.attempts) == 1:
            actual = _positions(read[0])
        elif wrong:
            actual = "; ".join(f"orderId {a.order_id}: {_positions(a)}" for a in wrong[:3])
            actual += and_more(wrong, 3)
        else:
            actual = f"same as read ({len(read)}/{len(self.attempts)})"
        return Check(
            CheckName.REPORTED_POSITION,
            "where the topic read found the event",
            actual,
            judged(bool(wrong), not self.attempts or len(read) < len(self.attempts)),
        )

    def _db_count_check(self) -> Check:
        delta, own = self.db_delta, self.own_rows
        note = ""
        if delta:
            note = (
                f"the global count moved by {delta:+d}, none of it this run's: every phantom "
                "order has 0 rows, so the change comes from other clients of the database"
                if own == 0
                else f"{own} row(s) belong to this run's phantom orders"
            )
        actual = shown(self.db_after)
        if delta and own is not None:
            actual += f" ({own:+d} this run, {delta - own:+d} others)"
        return Check(
            CheckName.DB_COUNT,
            shown(self.db_before),
            actual,
            judged(bool(own), delta is None or own is None),
            note,
        )

    def _kafka_count_check(self) -> Check:
        expected = len(self.attempts) if self.expect_phantom else 0
        new, own = self.kafka_new_events, self.kafka_own_events
        note = ""
        if new is not None and own is not None and new != own:
            note = (
                f"{new} events arrived since the baseline: {own} for this run's phantom orders, "
                f"{new - own} from other producers"
            )
        actual = f"+{shown(new)}"
        if note:
            actual += f" (+{own} this run, +{new - own} others)"
        name = (
            CheckName.KAFKA_COUNT_INCREASED
            if self.expect_phantom
            else CheckName.KAFKA_COUNT_UNCHANGED
        )
        measured = own is not None and new is not None
        return Check(
            name,
            f"+{expected}",
            actual,
            judged(measured and (own != expected or new < expected), not measured),
            note,
        )


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


def _positions(attempt: PhantomAttempt) -> str:
    found = attempt.event_position
    return f"reported {position_text(attempt.reported_position)}, " + (
        f"read at {position_text(found)}" if found else "no event read"
    )


def and_more(items: list, listed: int) -> str:
    """Return `` … (+N more)`` when ``items`` holds more than the ``listed`` first ones."""
    return f" … (+{len(items) - listed} more)" if len(items) > listed else ""


def _presence(found: bool | None) -> str:
    return "not checked" if found is None else ("present" if found else "absent")


def _event_note(found: bool | None) -> str:
    if found is None:
        return ""
    return "its order.created event is on the topic" if found else "its event is NOT on the topic"
