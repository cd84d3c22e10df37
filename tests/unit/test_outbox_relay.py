"""The relay's schedule (interval, drain, backoff), its status and its health component."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal
from uuid import UUID, uuid4

import pytest

from embedded_stack.polling import poll_until
from service.adapters.outbox import IntervalWakeup, OutboxHealthProbe, OutboxRelay
from service.domain.events import OrderCreated
from service.domain.retry import Backoff, RetryDelay
from service.domain.use_cases import CreateOrderViaOutbox, RelayOutbox
from service.monitoring import OutboxBacklog, RelayObserver, RelayStatus

from .conftest import NOW, fixed_clock
from .fakes import FakeMessagePublisher, FakeUnitOfWork
from .test_outbox_use_cases import a_command

INTERVAL = 0.2
MAXIMUM = 5.0


class RecordingObserver(RelayObserver):
    def __init__(self) -> None:
        self.delays: list[float] = []
        self.failures = 0

    def published(self, delays):
        self.delays.extend(delays)

    def failed(self, count):
        self.failures += count


class Setup:
    """A set-up step that fails ``failures`` times, then succeeds."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("the broker's admin API is unreachable")


@pytest.fixture
def messages():
    return FakeMessagePublisher()


@pytest.fixture
def observer():
    return RecordingObserver()


def middle() -> float:
    return 0.5


def a_relay(
    database, messages, observer=None, *, batch_size=10, setup=None, run_pass=None, clock=None
):
    relay_pass = RelayOutbox(
        messages,
        clock or (lambda: NOW + timedelta(seconds=1)),
        batch_size,
        RetryDelay(INTERVAL, MAXIMUM, draw=middle),
    )
    return OutboxRelay(
        run_pass or (lambda: relay_pass(FakeUnitOfWork(database))),
        batch_size=batch_size,
        interval=INTERVAL,
        backoff=Backoff(INTERVAL, MAXIMUM, draw=middle),
        clock=fixed_clock,
        observer=observer,
        setup=setup,
    )


def replace_order_of(row) -> OrderCreated:
    """Return a second event of the order of outbox row ``row`` (say, its cancellation)."""
    return OrderCreated(uuid4(), UUID(row.key), uuid4(), Decimal("1.00"), (), NOW)


def place(database, how_many=1):
    for _ in range(how_many):
        CreateOrderViaOutbox(fixed_clock)(a_command(), FakeUnitOfWork(database))


def test_backoff_doubles_from_the_initial_step_up_to_the_maximum():
    backoff = Backoff(0.2, 5.0, draw=lambda: 1.0)

    delays = [backoff.next_delay() for _ in range(8)]

    assert delays == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0])
    assert backoff.failures == 8


@pytest.mark.parametrize("draw", [0.0, 0.3, 0.999])
def test_backoff_jitter_stays_between_half_the_step_and_the_step(draw):
    backoff = Backoff(0.2, 5.0, draw=lambda: draw)
    for _ in range(3):
        backoff.next_delay()

    delay = backoff.next_delay()

    assert 0.8 <= delay <= 1.6


def test_backoff_reset_starts_again_from_the_initial_step():
    backoff = Backoff(0.2, 5.0, draw=lambda: 1.0)
    for _ in range(4):
        backoff.next_delay()

    backoff.reset()

    assert backoff.failures == 0
    assert backoff.next_delay() == pytest.approx(0.2)


def test_relay_waits_the_interval_when_the_outbox_is_empty(database, messages):
    assert a_relay(database, messages).run_once() == INTERVAL


def test_relay_goes_on_at_once_after_a_full_batch(database, messages):
    place(database, 3)
    relay = a_relay(database, messages, batch_size=2)

    assert relay.run_once() == 0.0
    # The short second pass looked only after the first batch: the rows before it next.
    assert relay.run_once() == 0.0
    assert len(messages.published) == 3
    assert relay.run_once() == INTERVAL


class Clock:
    """The database's now(), moved by the test."""

    def __init__(self) -> None:
        self.now = NOW + timedelta(seconds=1)

    def __call__(self):
        return self.now


def test_a_failed_row_waits_its_own_exponential_backoff_while_passes_keep_the_interval(
    database, messages
):
    clock = Clock()
    database.now = clock
    place(database)
    messages.fail_with("no delivery report within 5 s")
    relay = a_relay(database, messages, clock=clock)

    waits = []
    for _ in range(4):
        assert relay.run_once() == INTERVAL
        (retry_at,) = database.outbox_retry_at.values()
        waits.append((retry_at - clock.now).total_seconds())
        # Until its retry time the row is not taken again.
        assert relay.run_once() == INTERVAL
        clock.now = retry_at

    # Half way between half the step and the step (draw = 0.5): 0.75 x 0.2, 0.4, 0.8, 1.6.
    assert waits == pytest.approx([0.15, 0.3, 0.6, 1.2])
    assert len(messages.batches) == 4
    (row,) = database.outbox.values()
    assert row.attempts == 4
    status = relay.status()
    assert status.last_error == "no delivery report within 5 s"
    assert status.last_error_at == NOW
    assert status.passes == 8


def test_a_row_that_keeps_failing_does_not_hold_back_the_rows_of_other_orders(database, messages):
    clock = Clock()
    database.now = clock
    place(database)
    (poisoned,) = database.outbox.values()
    messages.fail_with("MSG_SIZE_TOO_LARGE", poisoned.key)
    relay = a_relay(database, messages, clock=clock)
    relay.run_once()

    place(database, 3)
    relay.run_once()

    assert len(messages.published) == 3
    assert poisoned.key not in {m.key for m in messages.published}
    assert [r.key for r in database.outbox.values()] == [poisoned.key]
    assert database.outbox_errors[poisoned.id] == "MSG_SIZE_TOO_LARGE"


def test_later_rows_of_a_failing_order_wait_behind_its_failed_row(database, messages):
    clock = Clock()
    database.now = clock
    place(database)
    (first,) = database.outbox.values()
    later_event = replace_order_of(first)
    uow = FakeUnitOfWork(database)
    with uow:
        uow.outbox.add(later_event)
        uow.commit()
    messages.fail_with("broker refused", first.key)
    relay = a_relay(database, messages, clock=clock)

    relay.run_once()
    clock.now += timedelta(minutes=5)
    messages.recover()
    relay.run_once()
    relay.run_once()

    assert [m.event_id for m in messages.published] == [first.event_id, later_event.event_id]


def test_relay_returns_to_the_interval_once_the_broker_is_back(database, messages, observer):
    place(database, 2)
    messages.fail_with("broker unreachable")
    relay = a_relay(database, messages, observer)
    relay.run_once()
    relay.run_once()
    messages.recover()

    delay = relay.run_once()

    assert delay == INTERVAL
    status = relay.status()
    assert status.consecutive_failures == 0
    assert status.published == 2
    assert status.last_published_at == NOW + timedelta(seconds=1)
    # The error of the outage stays visible, with its time, after the recovery.
    assert status.last_error == "broker unreachable"
    assert observer.failures == 4
    assert observer.delays == [1.0, 1.0]


def test_a_pass_that_raises_is_a_failure_and_is_retried_after_a_backoff(database, messages):
    def database_down():
        raise ConnectionError("could not connect to server")

    relay = a_relay(database, messages, run_pass=database_down)

    assert relay.run_once() == pytest.approx(0.15)
    assert relay.status().last_error == "ConnectionError: could not connect to server"


def test_setup_runs_before_the_first_pass_until_it_succeeds_once(database, messages):
    place(database)
    setup = Setup(failures=1)
    relay = a_relay(database, messages, setup=setup)

    relay.run_once()
    assert messages.batches == []
    relay.run_once()
    relay.run_once()

    assert setup.calls == 2
    assert len(messages.published) == 1


def test_relay_thread_publishes_until_stopped(database, messages):
    place(database, 3)
    relay = a_relay(database, messages)
    assert not relay.status().running

    relay.start()
    try:
        assert poll_until(lambda: len(messages.published) == 3, timeout=5.0)
        assert relay.status().running
    finally:
        relay.stop(timeout=5)

    assert not relay.status().running


def test_relay_thread_survives_an_error_outside_the_pass(database, messages):
    class BrokenObserver(RelayObserver):
        def published(self, delays):
            raise RuntimeError("a bug in the metrics")

    place(database)
    relay = a_relay(database, messages, BrokenObserver())
    relay.start()
    try:
        assert poll_until(lambda: relay.status().passes >= 2, timeout=5.0)
        assert relay.status().running
    finally:
        relay.stop(timeout=5)


class CountingWakeup(IntervalWakeup):
    """The relay's default wakeup, counting its waits and whether it was closed."""

    def __init__(self) -> None:
        super().__init__()
        self.waits = 0
        self.closed = False

    def wait(self, timeout: float) -> bool:
        self.waits += 1
        return super().wait(timeout)

    def close(self) -> None:
        self.closed = True


def test_a_woken_relay_passes_at_once_instead_of_waiting_its_interval(database, messages):
    wakeup = CountingWakeup()
    relay = OutboxRelay(
        lambda: RelayOutbox(messages, fixed_clock, 10)(FakeUnitOfWork(database)),
        batch_size=10,
        interval=60.0,
        backoff=Backoff(60.0, 60.0),
        clock=fixed_clock,
        wakeup=wakeup,
    )
    relay.start()
    try:
        assert poll_until(lambda: wakeup.waits == 1, timeout=5.0), "the first pass ran"
        place(database, 2)
        wakeup.wake()  # what a commit's notification does
        assert poll_until(lambda: len(messages.published) == 2, timeout=2.0)
    finally:
        relay.stop(timeout=5)
    assert wakeup.closed, "stop releases the wakeup's connection"


def test_a_relay_backing_off_is_not_woken_by_commits(database):
    passes = []

    def failing_pass():
        passes.append(1)
        raise ConnectionError("the broker is away")

    wakeup = CountingWakeup()
    relay = OutboxRelay(
        failing_pass,
        batch_size=10,
        interval=0.01,
        backoff=Backoff(30.0, 30.0, draw=middle),
        clock=fixed_clock,
        wakeup=wakeup,
    )
    relay.start()
    try:
        assert poll_until(lambda: len(passes) == 1, timeout=5.0)
        for _ in range(5):
            wakeup.wake()
        time.sleep(0.3)
        assert len(passes) == 1, "a commit cut the back-off short"
        assert wakeup.waits == 0
    finally:
        relay.stop(timeout=5)


class StubRelay:
    """A relay as the health probe sees it: only its status."""

    def __init__(self, running: bool, passes: int = 0) -> None:
        self._status = RelayStatus(
            running=running,
            consecutive_failures=0,
            last_error=None,
            last_error_at=None,
            last_published_at=None,
            published=0,
            passes=passes,
        )

    def status(self) -> RelayStatus:
        return self._status


def test_health_is_up_while_the_relay_runs_and_shows_the_backlog():
    backlog = OutboxBacklog(7, NOW - timedelta(seconds=12.5))
    probe = OutboxHealthProbe(StubRelay(running=True), lambda timeout: backlog, fixed_clock)

    details = probe(1.0)

    assert details["relayRunning"] is True
    assert details["backlog"] == 7
    assert details["oldestPendingAgeSeconds"] == 12.5
    assert details["lastError"] is None
    assert details["consecutiveFailures"] == 0


def test_health_is_down_when_the_relay_does_not_run():
    probe = OutboxHealthProbe(
        StubRelay(running=False), lambda timeout: OutboxBacklog(0, None), fixed_clock
    )

    with pytest.raises(RuntimeError, match="not running"):
        probe(1.0)


def test_pending_age_is_zero_without_pending_rows_and_never_negative():
    assert OutboxBacklog(0, None).pending_age(NOW) == 0.0
    assert OutboxBacklog(1, NOW + timedelta(seconds=2)).pending_age(NOW) == 0.0
