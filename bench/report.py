"""What a run prints for people: the machine, the tables, the verdicts.

The figures themselves are in the run's JSON; these lines put each load next to the raw
limit, and say where the CPU went.
"""

from __future__ import annotations

import argparse

from bench.cli import profiles_of
from bench.correctness import CorrectnessResult
from bench.cpu import CLIENT, OTHER
from bench.outbox import describe as describe_delay
from bench.run_record import LoadResult, Run
from bench.stage import BROKER, POSTGRES, SERVICE, Service


def print_machine(run: Run) -> None:
    """Print the run's name and the machine it runs on."""
    machine = run.machine
    print(
        f"{run.run_id}: {machine['cpu_model']}, {machine['cores']} cores, "
        f"load average {machine['load_average']}"
    )


def print_service_up(service: Service, options: argparse.Namespace) -> None:
    """Print where the service answers and how it was configured."""
    print(
        f"service PID {service.process.pid} is UP at {service.url} "
        f"(MARS_HTTP_THREADS={options.http_threads}, "
        f"MARS_PROFILES_ACTIVE={','.join(sorted(profiles_of(options)))})"
    )


def print_correctness_start(options: argparse.Namespace) -> None:
    """Print what the correctness run is about to do."""
    print(
        f"\ncorrectness (run first, while order.created is small): "
        f"{options.correctness_connections} connections, "
        f"{options.correctness_seconds:g} s of POST /orders ..."
    )


def print_table(run: Run) -> None:
    """Print the loads next to the raw limit, and where their CPU went."""
    threads = run.raw["order"]["threaded"]["threads"]
    _print_raw_limit(run.raw["order"])
    _print_loads(run.loads, threads)
    print(
        f"\nCPU per request in ms (raw: per order), and CPU of processes not ours "
        f"({run.machine['cores']} cores):"
    )
    _print_cpu(run)


def print_relay_delays(run: Run) -> None:
    """Print the outbox mode's delays from an order's creation to its event."""
    print("\nrelay delay, outbox mode (creation to delivery report, whole run):")
    print(describe_delay("/metrics histogram, interpolated in buckets", run.relay_delay))
    print(
        describe_delay(
            "correctness run (32 connections), creation to the record's timestamp",
            run.correctness.event_delay_ms,
        )
    )


def print_correctness_verdict(result: CorrectnessResult) -> None:
    """Print the correctness run's verdict in one line, after the tables."""
    verdict = "PASS" if result.passed else "FAIL"
    print(
        f"\ncorrectness, {result.connections} connections "
        f"{result.post_seconds:g} s (run first, above): {verdict}: "
        f"{result.ids_201} orderIds in 201s, {result.rows} new rows, "
        f"{result.events} new events, {result.server_errors} 5xx"
    )


def _print_raw_limit(order: dict) -> None:
    seq, thr = order["sequential"], order["threaded"]
    print(
        f"\nraw limit (order, no HTTP, median of {len(seq['repeats'])}): sequential p50 "
        f"{seq['p50_ms']:.3f} ms, p95 {seq['p95_ms']:.3f} ms, {seq['per_second']:,.0f}/s; "
        f"{thr['threads']} threads {thr['per_second']:,.0f}/s, p50 {thr['p50_ms']:.3f} ms, "
        f"p95 {thr['p95_ms']:.3f} ms"
    )


def _print_loads(loads: list[LoadResult], threads: int) -> None:
    header = (
        f"{'scenario':<26} | {'conns':>5} | {'p50 ms':>7} | {'p95 ms':>7} | {'req/s':>7} | "
        f"{'ratio vs raw':>12} | {'target':<15} | {'verdict':<7} | {'non-2xx':>7} | "
        f"{'vs phantom floor':>16}"
    )
    print(header)
    print("-" * len(header))
    for load in loads:
        print(
            f"{load.scenario:<26} | {load.connections:>5} | {load.p50_ms:>7.2f} | "
            f"{load.p95_ms:>7.2f} | {load.per_second:>7,.0f} | {load.ratio:>11.2f}x | "
            f"{load.target:<15} | {'PASS' if load.passed else 'SHORT':<7} | "
            f"{load.not_2xx:>7} | {load.ratio_vs_phantom_floor:>15.2f}x"
        )
    print(
        "ratio: 1 connection = service p50 / raw sequential p50; 8 connections = service "
        f"req/s / raw {threads}-thread orders/s. 'vs phantom floor': the same against "
        "the raw phantom floor (INSERT, publish, ROLLBACK, count on a second connection)."
    )


def _print_cpu(run: Run) -> None:
    print(
        f"{'phase':<32} | {'service':>7} | {'postgres':>8} | {'broker':>6} | "
        f"{'client':>6} | {'not ours':>8}"
    )
    for scenario, cpu in run.raw_cpu.items():
        per = cpu["ms_per_order"]
        print(
            f"{'raw limit ' + scenario:<32} | {'-':>7} | {per[POSTGRES]:>8.3f} | "
            f"{per[BROKER]:>6.3f} | {per[CLIENT]:>6.3f} | "
            f"{cpu['other_percent_of_machine']:>7.0f}%"
        )
    for load in run.loads:
        requests = load.summary["requests"]
        print(
            f"{load.scenario + ' x' + str(load.connections):<32} | "
            f"{load.cpu.ms_per(SERVICE, requests):>7.3f} | "
            f"{load.cpu.ms_per(POSTGRES, requests):>8.3f} | "
            f"{load.cpu.ms_per(BROKER, requests):>6.3f} | "
            f"{load.cpu.ms_per(CLIENT, requests):>6.3f} | "
            f"{load.cpu.percent_of_machine(OTHER):>7.0f}%"
        )
