"""The chaos profile: the interceptor, the transaction boundary and its observed report."""

from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

import pytest

from service.chaos.executor import (
    ChaosOrderExecutor,
    PhantomEventChaosInterceptor,
    PhantomEventSimulationException,
)
from service.chaos.resource import report_json
from service.chaos.service import ChaosService
from service.domain.errors import InvalidOrder
from service.domain.ports import Delivery
from service.domain.use_cases import CreateOrder, CreateOrderCommand, ItemLine

from .conftest import fixed_clock
from .fakes import FakeUnitOfWork, LeakyRollbackUnitOfWork, NonJoiningUnitOfWork


def a_command(quantity=2) -> CreateOrderCommand:
    return CreateOrderCommand(uuid4(), (ItemLine(uuid4(), quantity, Decimal("149.95")),))


def an_interceptor(publisher) -> PhantomEventChaosInterceptor:
    return PhantomEventChaosInterceptor(ChaosOrderExecutor(CreateOrder(publisher, fixed_clock)))


def a_chaos_service(publisher, database, unit_of_work=FakeUnitOfWork) -> ChaosService:
    return ChaosService(lambda: unit_of_work(database), an_interceptor(publisher))


def test_executor_runs_the_ordinary_create_order_use_case(database, publisher):
    result = ChaosOrderExecutor(CreateOrder(publisher, fixed_clock)).execute(
        a_command(), FakeUnitOfWork(database)
    )

    assert result.order_id in database.committed
    assert [e.order_id for e in publisher.events] == [result.order_id]


def test_interceptor_raises_after_the_executor_saved_and_published(database, publisher):
    uow = FakeUnitOfWork(database)

    with uow:
        with pytest.raises(PhantomEventSimulationException) as caught:
            an_interceptor(publisher).execute(a_command(), uow)
        result = caught.value.result
        staged = uow.orders.get(result.order_id)

    assert staged is not None
    assert staged.id == result.order_id
    assert publisher.events == [result.event]
    assert result.delivery == publisher.deliveries[0]
    assert str(result.order_id) in str(caught.value)


def test_interceptor_leaves_the_commit_to_the_surrounding_transaction(database, publisher):
    uow = FakeUnitOfWork(database)

    with pytest.raises(PhantomEventSimulationException), uow:
        an_interceptor(publisher).execute(a_command(), uow)

    assert database.committed == {}
    assert database.commits == 0
    assert uow.rolled_back


def test_phantom_order_is_rolled_back_after_its_event_was_sent(database, publisher):
    report = a_chaos_service(publisher, database).attempt_phantom_order(a_command())

    assert report.rows_found == 0
    assert not report.exists_in_db
    assert report.result.event_sent
    assert report.db_rolled_back
    assert report.phantom_event_produced
    assert report.explanation.startswith("PHANTOM EVENT")
    assert database.committed == {}


def test_phantom_report_gives_the_delivery_as_evidence(database, publisher):
    publisher.partition = 2
    service = a_chaos_service(publisher, database)
    service.attempt_phantom_order(a_command())

    report = service.attempt_phantom_order(a_command())

    assert report.result.delivery == Delivery("order.created", 2, 1)
    body = report_json(report)
    assert (body["kafkaTopic"], body["kafkaPartition"], body["kafkaOffset"]) == (
        "order.created",
        2,
        1,
    )
    assert body["eventId"] == str(publisher.events[-1].event_id)


def test_phantom_report_counts_rows_in_a_fresh_transaction(database, publisher):
    report = a_chaos_service(publisher, database).attempt_phantom_order(a_command())

    # One transaction for the boundary, one fresh one for the count; both ended.
    assert (database.begun, database.ended) == (2, 2)
    body = report_json(report)
    assert body["dbQuery"] == f"SELECT count(*) FROM orders WHERE id = '{report.result.order_id}'"
    assert body["dbRowsFound"] == 0


def test_failed_publish_produces_no_phantom_event(database, publisher):
    publisher.fail_with("no delivery report within 5 s")

    report = a_chaos_service(publisher, database).attempt_phantom_order(a_command())

    assert not report.result.event_sent
    assert not report.phantom_event_produced
    assert not report.exists_in_db
    assert report.db_rolled_back
    assert "phantom event was not produced" in report.explanation
    assert "no delivery report within 5 s" in report.explanation
    body = report_json(report)
    assert body["eventSentToKafka"] is False
    assert (body["kafkaTopic"], body["kafkaPartition"], body["kafkaOffset"]) == (None, None, None)
    assert body["kafkaError"] == "no delivery report within 5 s"


def test_order_left_by_a_rollback_that_did_not_hold_is_reported(database, publisher):
    service = a_chaos_service(publisher, database, LeakyRollbackUnitOfWork)

    report = service.attempt_phantom_order(a_command())

    assert report.exists_in_db
    assert report.rows_found == 1
    assert report.db_rolled_back
    assert not report.phantom_event_produced
    assert report.explanation.startswith("UNEXPECTED")


def test_interceptor_names_itself_and_not_the_method_it_intercepts(publisher):
    interceptor = an_interceptor(publisher)

    assert repr(interceptor) == "<PhantomEventChaosInterceptor around ChaosOrderExecutor.execute>"
    assert interceptor.execute.__qualname__ == "PhantomEventChaosInterceptor.execute"
    assert not hasattr(interceptor.execute, "__wrapped__")


def test_commit_by_a_nested_block_that_did_not_join_is_reported(database, publisher):
    service = a_chaos_service(publisher, database, NonJoiningUnitOfWork)

    report = service.attempt_phantom_order(a_command())

    assert report.exists_in_db
    assert not report.db_rolled_back
    assert not report.phantom_event_produced
    assert report.explanation.startswith("UNEXPECTED")
    body = report_json(report)
    assert (body["existsInDb"], body["dbRolledBack"], body["phantomEventProduced"]) == (
        True,
        False,
        False,
    )


def test_invalid_order_reaches_neither_database_nor_broker(database, publisher):
    with pytest.raises(InvalidOrder):
        a_chaos_service(publisher, database).attempt_phantom_order(a_command(quantity=0))

    assert database.untouched
    assert publisher.untouched


def test_boundary_refuses_an_executor_without_the_interceptor(database, publisher):
    plain = ChaosOrderExecutor(CreateOrder(publisher, fixed_clock))
    service = ChaosService(lambda: FakeUnitOfWork(database), plain)

    with pytest.raises(RuntimeError, match="interceptor did not fire"):
        service.attempt_phantom_order(a_command())
