"""One campaign: targets up, instances started, clients and nemesis run, heal, final read, check.

Everything the run started is stopped when it ends, also when it fails; the files it leaves
in the output folder are the evidence: the history, the run record with its schedule, the
final read, the checker's result and the page.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg2

from campaign.checker import CheckResult, check
from campaign.clients import KAFKA_LOGGER, CancelSender, Client, Workload
from campaign.collect import collect_final_read, record_start_offsets
from campaign.files import (
    FINAL_READ_FILE,
    HISTORY_FILE,
    LOG_FILE,
    RESULT_FILE,
    RUN_FILE,
    write_json,
)
from campaign.final_read import OUTBOX, save_final_read
from campaign.history import CANCEL, OK, HistoryWriter, Operation, pair_operations, read_history
from campaign.nemesis import Nemesis
from campaign.page import write_campaign_page
from campaign.schedule import FaultWindow, check_faults, plan_schedule
from campaign.services import ServiceInstance, service_env
from campaign.targets import Targets, campaign_targets, check_addresses
from embedded_stack.polling import poll_until

logger = logging.getLogger(__name__)

_OUTBOX_LEFT = """
    SELECT count(*) FROM outbox WHERE payload->>'customerId' = ANY(%s)
"""
_PROCESSED = "SELECT count(*) FROM processed_events WHERE event_id = ANY(%s::uuid[])"


@dataclass(frozen=True)
class CampaignOptions:
    """Everything one campaign run is told."""

    mode: str
    seconds: float
    clients: int
    seed: int
    faults: tuple[str, ...]
    instances: int
    out: Path
    kafka_engine: str
    database_url: str | None = None
    bootstrap_servers: str | None = None
    workload: Workload = field(default_factory=Workload)
    # MARS_* settings of the service instances, beyond the campaign's own.
    service_settings: dict[str, str] = field(default_factory=dict)
    # After the heal: how long the outbox may take to drain and the consumer to apply the
    # acknowledged cancellations before the final read is taken anyway.
    settle_timeout: float = 60.0


def run_campaign(options: CampaignOptions) -> CheckResult:
    """Run one campaign and return the checker's result (also written to the folder).

    Raises:
        ScheduleError, TargetsError: The faults and addresses do not fit together.
        StackError: A server did not start.
    """
    check_faults(options.faults, options.kafka_engine)
    check_addresses(options.faults, options.database_url, options.bootstrap_servers)
    out = options.out
    out.mkdir(parents=True, exist_ok=True)
    for name in (HISTORY_FILE, FINAL_READ_FILE, RESULT_FILE, RUN_FILE):
        # A run into a used folder starts afresh: the history is appended to, line by line.
        (out / name).unlink(missing_ok=True)
    schedule = plan_schedule(options.seed, options.seconds, options.faults, options.instances)
    with ExitStack() as stack:
        stack.enter_context(_run_log(out / LOG_FILE))
        targets = stack.enter_context(
            campaign_targets(
                options.faults,
                kafka_engine=options.kafka_engine,
                log_dir=out,
                database_url=options.database_url,
                bootstrap_servers=options.bootstrap_servers,
            )
        )
        instances = stack.enter_context(_instances(options, targets))
        start_offsets = record_start_offsets(targets.bootstrap_servers)
        history = HistoryWriter(out / HISTORY_FILE)
        stack.callback(history.close)
        customers = _drive(options, targets, instances, history, schedule)
        history.close()
        cancellations = _acknowledged_cancellations(read_history(out / HISTORY_FILE))
        settled = _settle(options, targets, customers, cancellations)
        _update_run_record(out, {"settle": settled})
        final = collect_final_read(
            mode=options.mode,
            database_url=targets.database_url,
            bootstrap_servers=targets.bootstrap_servers,
            customer_ids=customers,
            start_offsets=start_offsets,
            cancellations=cancellations,
        )
        save_final_read(out / FINAL_READ_FILE, final)
    result = check(read_history(out / HISTORY_FILE), final)
    write_json(out / RESULT_FILE, result.to_json())
    write_campaign_page(out)
    return result


def _drive(
    options: CampaignOptions,
    targets: Targets,
    instances: list[ServiceInstance],
    history: HistoryWriter,
    schedule: list[FaultWindow],
) -> list[str]:
    """Run the clients for ``options.seconds`` while the nemesis follows the schedule.

    Returns the clients' customer ids: the final read keeps only their rows and events.
    """
    stop = threading.Event()
    cancels = CancelSender(targets.bootstrap_servers)
    clients = [
        Client(
            number,
            instances[number % len(instances)].url,
            history=history,
            cancels=cancels,
            workload=options.workload,
            seed=options.seed,
            stop=stop,
        )
        for number in range(options.clients)
    ]
    nemesis = Nemesis(targets, instances, history)
    threads = [
        threading.Thread(target=client.run, name=client.process, daemon=True) for client in clients
    ]
    started = time.monotonic()
    _write_run_record(options, targets, instances, schedule, started)
    for thread in threads:
        thread.start()
    try:
        nemesis.run(schedule, started)
        remaining = started + options.seconds - time.monotonic()
        if remaining > 0:
            stop.wait(remaining)
    finally:
        stop.set()
        # A client may be inside one HTTP call and its one retry, or one cancellation.
        for thread in threads:
            thread.join(2 * options.workload.http_timeout + 10)
        nemesis.heal_all()
        cancels.close()
    stuck = [thread.name for thread in threads if thread.is_alive()]
    if stuck:
        raise RuntimeError(f"clients did not stop: {', '.join(stuck)}")
    return [client.customer_id for client in clients]


@contextmanager
def _instances(options: CampaignOptions, targets: Targets) -> Iterator[list[ServiceInstance]]:
    env = service_env(
        options.mode,
        database_url=targets.database_url,
        bootstrap_servers=targets.bootstrap_servers,
        consumer_group=f"order-service-campaign-{uuid.uuid4().hex[:12]}",
        settings=options.service_settings,
    )
    instances = [
        ServiceInstance(number, env, options.out / f"service-{number}.log")
        for number in range(options.instances)
    ]
    try:
        for instance in instances:
            instance.start()
        yield instances
    finally:
        for instance in instances:
            instance.stop()


@contextmanager
def _run_log(path: Path) -> Iterator[None]:
    """Write the run's log, the Kafka client's included, to ``path``."""
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    root, kafka = logging.getLogger(), logging.getLogger(KAFKA_LOGGER)
    root.addHandler(handler)
    kafka.addHandler(handler)
    kafka.propagate = False
    try:
        yield
    finally:
        root.removeHandler(handler)
        kafka.removeHandler(handler)
        kafka.propagate = True
        handler.close()


def _acknowledged_cancellations(history: Sequence[Operation]) -> dict[str, str]:
    """Return eventId -> orderId of every cancellation the broker acknowledged."""
    return {
        pair.event_id: pair.order_id
        for pair in pair_operations(history)
        if pair.invoke.f == CANCEL and pair.outcome == OK and pair.event_id and pair.order_id
    }


def _settle(
    options: CampaignOptions,
    targets: Targets,
    customers: list[str],
    cancellations: dict[str, str],
) -> dict[str, Any]:
    """Wait, within a bound, for the outbox to drain and the cancellations to be applied.

    Returns what was waited for, how long, and whether it was reached: a bound that passed
    is no verdict by itself; the final read shows what was left undone.
    """
    began = time.monotonic()

    def count(query: str, values: list[str]) -> int:
        try:
            with (
                closing(psycopg2.connect(targets.database_url, connect_timeout=3)) as connection,
                connection.cursor() as cursor,
            ):
                cursor.execute(query, (values,))
                return int(cursor.fetchone()[0])
        except psycopg2.Error:
            return -1  # not answering yet: not settled

    def outbox_drained() -> bool:
        return options.mode != OUTBOX or count(_OUTBOX_LEFT, customers) == 0

    def cancellations_applied() -> bool:
        return count(_PROCESSED, sorted(cancellations)) == len(cancellations)

    reached = poll_until(
        lambda: outbox_drained() and cancellations_applied(),
        timeout=options.settle_timeout,
        interval=0.2,
    )
    return {
        "reached": reached,
        "seconds": round(time.monotonic() - began, 3),
        "boundSeconds": options.settle_timeout,
        "outboxDrained": outbox_drained(),
        "cancellationsAcknowledged": len(cancellations),
    }


def _write_run_record(
    options: CampaignOptions,
    targets: Targets,
    instances: list[ServiceInstance],
    schedule: list[FaultWindow],
    started: float,
) -> None:
    record = {
        "mode": options.mode,
        "seed": options.seed,
        "seconds": options.seconds,
        "clients": options.clients,
        "instances": len(instances),
        "kafkaEngine": options.kafka_engine,
        "faults": list(options.faults),
        "startedAt": datetime.now(UTC).isoformat(),
        "startMonotonic": started,
        **targets.describe(),
        "serviceUrls": [instance.url for instance in instances],
        "serviceSettings": options.service_settings,
        "workload": {
            "phantomShare": options.workload.phantom_share,
            "cancelShare": options.workload.cancel_share,
            "ratePerClient": options.workload.rate,
        },
        "schedule": [window.to_json() for window in schedule],
    }
    write_json(options.out / RUN_FILE, record)


def _update_run_record(out: Path, fields: dict[str, Any]) -> None:
    path = out / RUN_FILE
    write_json(path, {**json.loads(path.read_text(encoding="utf-8")), **fields})
