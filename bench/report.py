"""What a run prints for people: the machine, the tables, the verdicts.

The figures themselves are in the run's JSON; these lines put each load next to the raw
limit, and say where the CPU went.
"""

from __future__ import annotations

import argparse

from bench.cli import profiles_of
from bench.correctness import CorrectnessResult
from bench.cpu import CLIENT, KERNEL, OTHER, STOLEN
from bench.outbox import describe as describe_delay
from bench.run_record import LoadResult, Run
from bench.stage import BROKER, POSTGRES, SERVICE, Service

# Above this share of stolen time in a phase, the run's ratios say little (bench/README).
NOISY_STOLEN_PERCENT = 5.0


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
    threads = run.rounds[0].raw["order"]["threaded"]["threads"]
    _print_raw_limit([one.raw["order"] for one in run.rounds])
    _print_loads(run.loads, threads)
    print(
        f"\nCPU per request in ms (raw: per order; kernel = interrupts, mostly loopback "
        f"network), and the share of the {run.machine['cores']} cores' time used by "
        f"processes not ours or stolen by the hypervisor:"
    )
    _print_cpu(run)
    _warn_if_stolen(run)


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


def _print_raw_limit(orders: list[dict]) -> None:
    def each(pick: str, shape: str, digits: int) -> str:
        return " / ".join(f"{order[shape][pick]:,.{digits}f}" for order in orders)

    threads = orders[0]["threaded"]["threads"]
    print(
        f"\nraw limit (order, no HTTP), round by round: sequential p50 "
        f"{each('p50_ms', 'sequential', 3)} ms, {each('per_second', 'sequential', 0)}/s; "
        f"{threads} threads {each('per_second', 'threaded', 0)}/s"
    )


def _print_loads(loads: list[LoadResult], threads: int) -> None:
    header = (
        f"{'scenario':<26} | {'conns':>5} | {'p50 ms':>7} | {'p95 ms':>7} | {'req/s':>7} | "
        f"{'ratio vs raw':>12} | {'target':<15} | {'verdict':<7} | {'non-2xx':>7} | "
        f"{'vs phantom floor':>16} | ratio per round"
    )
    print(header)
    print("-" * len(header))
    for load in loads:
        print(
            f"{load.scenario:<26} | {load.connections:>5} | {load.p50_ms:>7.2f} | "
            f"{load.p95_ms:>7.2f} | {load.per_second:>7,.0f} | {load.ratio:>11.2f}x | "
            f"{load.target:<15} | {'PASS' if load.passed else 'SHORT':<7} | "
            f"{load.not_2xx:>7} | {load.ratio_vs_phantom_floor:>15.2f}x | "
            + " ".join(f"{ratio:.2f}" for ratio in load.round_ratios)
        )
    print(
        "ratio: 1 connection = service p50 / raw sequential p50; 8 connections = service "
        f"req/s / raw {threads}-thread orders/s. 'vs phantom floor': the same against "
        "the raw phantom floor (INSERT, publish, ROLLBACK, count on a second connection). "
        "Each load against the raw limit of its own round; a row is the round of the "
        "median ratio."
    )


def _warn_if_stolen(run: Run) -> None:
    stolen = [
        cpu["stolen_percent_of_machine"] for one in run.rounds for cpu in one.raw_cpu.values()
    ] + [load.cpu.percent_of_machine(STOLEN) for one in run.rounds for load in one.loads]
    noisy = [share for share in stolen if share > NOISY_STOLEN_PERCENT]
    if noisy:
        print(
            f"NOISY MACHINE: the hypervisor took more than {NOISY_STOLEN_PERCENT:g} % of the "
            f"CPUs' time in {len(noisy)} of {len(stolen)} phases (up to {max(noisy):.0f} %); "
            "the raw limit and the service slow down unevenly then, and a ratio of this run "
            "can be off by far more than its margin: rerun when the machine is quieter."
        )


def _print_cpu(run: Run) -> None:
    print(
        f"{'phase':<40} | {'service':>7} | {'postgres':>8} | {'broker':>6} | "
        f"{'client':>6} | {'kernel':>6} | {'not ours':>8} | {'stolen':>6}"
    )
    for number, one in enumerate(run.rounds, start=1):
        for scenario, cpu in one.raw_cpu.items():
            per = cpu["ms_per_order"]
            print(
                f"{f'raw limit {scenario}, round {number}':<40} | {'-':>7} | "
                f"{per[POSTGRES]:>8.3f} | {per[BROKER]:>6.3f} | {per[CLIENT]:>6.3f} | "
                f"{per[KERNEL]:>6.3f} | {cpu['other_percent_of_machine']:>7.0f}% | "
                f"{cpu['stolen_percent_of_machine']:>5.0f}%"
            )
    for load in run.loads:
        requests = load.summary["requests"]
        print(
            f"{f'{load.scenario} x{load.connections}, round {load.round + 1}':<40} | "
            f"{load.cpu.ms_per(SERVICE, requests):>7.3f} | "
            f"{load.cpu.ms_per(POSTGRES, requests):>8.3f} | "
            f"{load.cpu.ms_per(BROKER, requests):>6.3f} | "
            f"{load.cpu.ms_per(CLIENT, requests):>6.3f} | "
            f"{load.cpu.ms_per(KERNEL, requests):>6.3f} | "
            f"{load.cpu.percent_of_machine(OTHER):>7.0f}% | "
            f"{load.cpu.percent_of_machine(STOLEN):>5.0f}%"
        )
