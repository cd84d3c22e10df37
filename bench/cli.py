"""The command line of ``python bench/run.py``: its options and what they imply."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from bench.locations import BENCH_DIR
from service.config import CHAOS, OUTBOX

DESCRIPTION = "Benchmark the order service against the raw limit measured in the same run."
# 8 request threads: at 8 connections no request waits in waitress's queue for a thread,
# so the latency measured is the service's, not a queue's; it stays below the database
# pool (MARS_DB_POOL_SIZE, 10 by default), so no thread waits for a connection either.
# More threads than connections would only add GIL contention on 2 cores.
HTTP_THREADS = 8


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Read the command line.

    Args:
        argv: The arguments without the program's name; None reads ``sys.argv``.

    Returns:
        The options.
    """
    parser = argparse.ArgumentParser(
        description=DESCRIPTION, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    _add_measurement_options(parser)
    add_service_options(parser)
    _add_profile_options(parser)
    add_where_options(parser)
    options = parser.parse_args(argv)
    if options.rounds < 1:
        parser.error("--rounds must be at least 1")
    return options


def profiles_of(options: argparse.Namespace) -> set[str]:
    """Return the service's profiles: those asked for, plus chaos."""
    return {CHAOS} | {p.strip() for p in options.profiles.split(",") if p.strip()}


def is_outbox_mode(options: argparse.Namespace) -> bool:
    """Tell whether the service runs the Transactional Outbox (the relay publishes)."""
    return OUTBOX in profiles_of(options)


def _add_measurement_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="the raw limit and the loads, in turn: each ratio is the median over the rounds "
        "of a load against the raw limit of its own round",
    )
    parser.add_argument(
        "--seconds", type=float, default=4, help="each wrk measurement, in each round"
    )
    parser.add_argument("--warm-up-seconds", type=float, default=3, help="per endpoint")
    parser.add_argument("--correctness-seconds", type=float, default=20)
    parser.add_argument("--correctness-connections", type=int, default=32)
    parser.add_argument(
        "--drain-seconds",
        type=float,
        default=5,
        help="after the correctness run's POSTs, so that those in flight are answered",
    )
    parser.add_argument("--raw-n", type=int, default=2000, help="orders per sequential repeat")
    parser.add_argument("--raw-repeats", type=int, default=1, help="in each round")


def add_service_options(parser: argparse.ArgumentParser) -> None:
    """Add how the service runs: its request threads and profiles (``bench/ab.py`` too)."""
    parser.add_argument("--http-threads", type=int, default=HTTP_THREADS)
    parser.add_argument(
        "--profiles",
        default=CHAOS,
        help="MARS_PROFILES_ACTIVE of the service (chaos is always added: the phantom-event "
        "load needs it); 'outbox' runs the Transactional Outbox mode",
    )


def _add_profile_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile",
        choices=["auto", "always", "never"],
        default="auto",
        help="py-spy profile under load: auto = only when a target is missed",
    )
    parser.add_argument("--profile-seconds", type=float, default=8)


def add_where_options(parser: argparse.ArgumentParser) -> None:
    """Add where the stack's state and the results go, and the service's command."""
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(os.environ.get("MARS_STACK_DIR") or BENCH_DIR / ".state"),
        help="the embedded stack's state and PostgreSQL data (MARS_STACK_DIR)",
    )
    parser.add_argument("--results-dir", type=Path, default=BENCH_DIR / "results")
    parser.add_argument(
        "--service-command",
        default=f"{shlex.quote(sys.executable)} -m service",
        help="how to start the service (run from the repository root)",
    )
