"""The phases of one run, in order: warm-up, correctness, rounds of raw limit and loads, profile.

The correctness run comes first, while ``order.created`` is small: reading a topic back
from Tansu's memory storage slows down sharply past ~12,000 batches per partition, and the
loads add one batch per request.

The raw limit and the loads then take turns, ``--rounds`` times: on a shared machine the
speed of everything moves by up to 2x within minutes, so each load is compared with the
raw limit measured just before it, and the verdict is the median of those ratios.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import uuid
from pathlib import Path

from bench.cli import is_outbox_mode
from bench.correctness import CorrectnessResult, run_correctness
from bench.cpu import CLIENT, KERNEL, OTHER, STOLEN, CpuMeter, PhaseCpu
from bench.judging import CONNECTIONS, SCENARIOS, all_targets_met, judge, median_rounds
from bench.load import Load, order_body, run_wrk
from bench.locations import BENCH_DIR, BOOTSTRAP_SERVERS, DATABASE_URL
from bench.outbox import histogram_ms, scrape, wait_for_empty_outbox
from bench.profiling import profile_service
from bench.report import (
    print_correctness_start,
    print_correctness_verdict,
    print_relay_delays,
    print_table,
)
from bench.run_record import LoadResult, Round, Run
from bench.stage import BROKER, POSTGRES, Service

WARM_UP_CONNECTIONS = 8
OUTBOX_TIMEOUT = 60
RAW_LIMIT_TIMEOUT = 900
RAW_SCENARIOS = ("order", "phantom")
# In outbox mode, POST /orders is held to the floor of its own transaction too.
OUTBOX_SCENARIO = "outbox"


def measure_everything(
    run: Run, options: argparse.Namespace, service: Service, meter: CpuMeter, prefix: Path
) -> None:
    """Warm up, check correctness, measure the raw limit and the loads, profile if short.

    Each phase stores what it observed in ``run`` as soon as it has it, so that a failure
    later still leaves it in the results.
    """
    wrk_log = prefix.with_name(f"{prefix.name}-wrk.log")
    warm_up(service.url, options.warm_up_seconds, wrk_log)
    run.correctness = check_correctness(options, service.url, wrk_log)
    print(run.correctness.describe())
    for number in range(options.rounds):
        print(f"\nround {number + 1} of {options.rounds}: the raw limit (no HTTP), then the loads")
        raw, raw_cpu = measure_raw_limit(
            options, meter, prefix.with_name(f"{prefix.name}-r{number}")
        )
        run.rounds.append(Round(raw, raw_cpu))
        measure_loads(run.rounds[-1], options, service.url, meter, wrk_log)
    run.loads = median_rounds(run.rounds)
    print_table(run)
    if is_outbox_mode(options):
        run.relay_delay = measure_relay_delay(service.url)
        print_relay_delays(run)
    print_correctness_verdict(run.correctness)
    if options.profile == "always" or (options.profile == "auto" and not all_targets_met(run)):
        run.profile = profile_service(
            service.url, service.process.pid, options.profile_seconds, prefix
        )


def warm_up(base: str, seconds: float, wrk_log: Path) -> None:
    """Load each endpoint for ``seconds`` before anything is measured."""
    for _, path in SCENARIOS:
        run_wrk(
            Load(base + path, WARM_UP_CONNECTIONS, seconds, order_body(uuid.uuid4())),
            log_path=wrk_log,
        )


def check_correctness(options: argparse.Namespace, base: str, wrk_log: Path) -> CorrectnessResult:
    """Run the correctness run: every 201 is one new row and one new event."""
    print_correctness_start(options)

    def relay_done() -> None:
        wait_for_empty_outbox(base, OUTBOX_TIMEOUT)

    return run_correctness(
        base + "/orders",
        DATABASE_URL,
        BOOTSTRAP_SERVERS,
        connections=options.correctness_connections,
        post_seconds=options.correctness_seconds,
        drain_seconds=options.drain_seconds,
        log_path=wrk_log,
        # The relay publishes after the 201s: read the topic once it has sent everything.
        before_reading=relay_done if is_outbox_mode(options) else None,
    )


def measure_raw_limit(
    options: argparse.Namespace, meter: CpuMeter, prefix: Path
) -> tuple[dict, dict]:
    """Run ``bench/raw_limit.py`` for an order and for the phantom floor, in a child each.

    A child of its own keeps this process's threads and imports out of the measurement.

    Returns:
        The raw limit's JSON and the CPU of its run, per scenario.
    """
    raw, cpu = {}, {}
    scenarios = (*RAW_SCENARIOS, OUTBOX_SCENARIO) if is_outbox_mode(options) else RAW_SCENARIOS
    for scenario in scenarios:
        out = prefix.with_name(f"{prefix.name}-raw-{scenario}.json")
        start = meter.snapshot()
        completed = _run_raw_limit(options, scenario, out)
        phase = meter.since(start)
        if completed.returncode != 0:
            raise RuntimeError(f"raw_limit.py failed: {completed.stderr.strip()}")
        print(completed.stdout.rstrip())
        raw[scenario] = json.loads(out.read_text())
        cpu[scenario] = _cpu_per_order(phase, raw[scenario]["orders_total"])
    return raw, cpu


def measure_loads(
    round_: Round, options: argparse.Namespace, base: str, meter: CpuMeter, wrk_log: Path
) -> None:
    """Load each endpoint at 1 and 8 connections; add each result, judged, to the round."""
    for scenario, path in SCENARIOS:
        for connections in CONNECTIONS:
            start = meter.snapshot()
            summary = run_wrk(
                Load(base + path, connections, options.seconds, order_body(uuid.uuid4())),
                log_path=wrk_log,
            )
            load = LoadResult(scenario, connections, options.seconds, summary, meter.since(start))
            round_.loads.append(judge(load, round_.raw))


def measure_relay_delay(base: str) -> dict:
    """Return the relay's delay histogram (outbox mode), once it has sent everything."""
    wait_for_empty_outbox(base, OUTBOX_TIMEOUT)
    return histogram_ms(scrape(base))


def _run_raw_limit(
    options: argparse.Namespace, scenario: str, out: Path
) -> subprocess.CompletedProcess[str]:
    argv = [
        sys.executable,
        str(BENCH_DIR / "raw_limit.py"),
        "--database-url",
        DATABASE_URL,
        "--bootstrap-servers",
        BOOTSTRAP_SERVERS,
        "--n",
        str(options.raw_n),
        "--repeats",
        str(options.raw_repeats),
        "--scenario",
        scenario,
        "--json",
        str(out),
    ]
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=RAW_LIMIT_TIMEOUT, check=False
    )


def _cpu_per_order(phase: PhaseCpu, orders: int) -> dict:
    return {
        **phase.to_json(),
        "ms_per_order": {
            owner: phase.ms_per(owner, orders) for owner in (CLIENT, POSTGRES, BROKER, KERNEL)
        },
        "other_percent_of_machine": phase.percent_of_machine(OTHER),
        "stolen_percent_of_machine": phase.percent_of_machine(STOLEN),
    }
