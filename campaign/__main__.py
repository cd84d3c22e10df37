"""Command line of the campaign.

    python -m campaign --mode dual-write --seconds 60 --clients 4 --seed 7 --out DIR
    python -m campaign check DIR     (judge DIR's history and final read again)
    python -m campaign page DIR      (draw DIR/campaign.html again)

Exit status: 0 when the verdict is valid, 1 when it is not, 2 on bad arguments, a missing or
bad file, or a server that did not start.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from campaign.checker import CheckResult, check
from campaign.clients import Workload
from campaign.files import FINAL_READ_FILE, HISTORY_FILE, PAGE_FILE, RESULT_FILE, write_json
from campaign.final_read import MODES, FinalReadError, load_final_read
from campaign.history import HistoryError, read_history
from campaign.page import write_campaign_page
from campaign.runner import CampaignOptions, run_campaign
from campaign.schedule import FAULTS, ScheduleError, faults_for_engine
from campaign.services import SettingError, parse_settings
from campaign.targets import TargetsError
from embedded_stack.errors import StackError
from embedded_stack.settings import KAFKA_ENGINE_VAR, KAFKA_ENGINES, TANSU

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_BAD_INPUT = 2
_COMMANDS = ("check", "page")


def _run_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m campaign",
        description="Run a chaos campaign: concurrent clients, a nemesis on a seeded "
        "schedule, a final read after the heal, and the checker's verdict. "
        "'python -m campaign check DIR' and 'page DIR' redo the last two steps.",
    )
    parser.add_argument("--mode", choices=MODES, required=True)
    parser.add_argument("--seconds", type=float, default=30.0, help="how long the clients run")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients")
    parser.add_argument("--seed", type=int, default=1, help="the schedule's and choices' seed")
    parser.add_argument(
        "--faults",
        default="all",
        help=f"comma list from {', '.join(FAULTS)}; 'all' (what the engine allows) or 'none'",
    )
    parser.add_argument("--instances", type=int, choices=(1, 2), default=2)
    parser.add_argument("--out", type=Path, help="output folder (default: results/campaign/<mode>)")
    parser.add_argument(
        "--kafka-engine",
        choices=KAFKA_ENGINES,
        default=os.environ.get(KAFKA_ENGINE_VAR) or TANSU,
        help=f"the broker the campaign starts (default: ${KAFKA_ENGINE_VAR} or tansu)",
    )
    parser.add_argument(
        "--database-url", help="a shared PostgreSQL (only without PostgreSQL faults)"
    )
    parser.add_argument("--bootstrap-servers", help="a shared Kafka (only without broker faults)")
    parser.add_argument(
        "--rate", type=float, help="operations a second per client (default: as fast as answered)"
    )
    parser.add_argument("--phantom-share", type=float, default=Workload.phantom_share)
    parser.add_argument("--cancel-share", type=float, default=Workload.cancel_share)
    parser.add_argument(
        "--service-setting",
        action="append",
        default=[],
        metavar="MARS_NAME=VALUE",
        help="a setting of the service instances (repeatable), e.g. "
        "MARS_KAFKA_PUBLISH_TIMEOUT_MS=2000",
    )
    parser.add_argument(
        "--settle-timeout",
        type=float,
        default=60.0,
        help="seconds the outbox and the cancellations may take after the heal",
    )
    return parser


def _faults(text: str, engine: str) -> tuple[str, ...]:
    if text == "all":
        return faults_for_engine(engine)
    if text == "none":
        return ()
    return tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))


def _options(argv: Sequence[str]) -> CampaignOptions:
    parser = _run_parser()
    arguments = parser.parse_args(argv)
    if arguments.seconds <= 0 or arguments.clients < 1:
        parser.error("--seconds and --clients must be positive")
    if not (0 <= arguments.phantom_share + arguments.cancel_share <= 1):
        parser.error("--phantom-share and --cancel-share must add up to between 0 and 1")
    try:
        settings = parse_settings(arguments.service_setting)
    except SettingError as ex:
        parser.error(str(ex))
    return CampaignOptions(
        mode=arguments.mode,
        seconds=arguments.seconds,
        clients=arguments.clients,
        seed=arguments.seed,
        faults=_faults(arguments.faults, arguments.kafka_engine),
        instances=arguments.instances,
        out=arguments.out or Path("results") / "campaign" / arguments.mode,
        kafka_engine=arguments.kafka_engine,
        database_url=arguments.database_url,
        bootstrap_servers=arguments.bootstrap_servers,
        workload=Workload(
            phantom_share=arguments.phantom_share,
            cancel_share=arguments.cancel_share,
            rate=arguments.rate,
        ),
        settle_timeout=arguments.settle_timeout,
        service_settings=settings,
    )


def summary(result: CheckResult) -> str:
    """Return the result in a few lines for a terminal."""
    counts = ", ".join(f"{name} {value}" for name, value in result.counts.items() if value)
    delays = result.delays_ms
    return "\n".join(
        [
            f"mode {result.mode}: {result.operations} operations, "
            f"{result.acknowledged} acknowledged orders",
            f"counts: {counts or 'none'}",
            f"commit-to-event ms: p50 {delays['p50']}, p99 {delays['p99']}, max {delays['max']}",
            f"verdict: {result.verdict}",
            f"valid: {str(result.valid).lower()}",
        ]
    )


def _run(argv: Sequence[str]) -> int:
    options = _options(argv)
    print(
        f"campaign: {options.mode}, {options.seconds:g} s, {options.clients} clients, "
        f"{options.instances} instance(s), seed {options.seed}, engine {options.kafka_engine}, "
        f"faults {', '.join(options.faults) or 'none'}; files in {options.out}",
        flush=True,
    )
    try:
        result = run_campaign(options)
    except (ScheduleError, TargetsError, StackError) as ex:
        print(f"campaign: {ex}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(summary(result))
    print(f"report: {options.out / PAGE_FILE}")
    return EXIT_VALID if result.valid else EXIT_INVALID


def _check(directory: Path) -> int:
    try:
        history = read_history(directory / HISTORY_FILE)
        final = load_final_read(directory / FINAL_READ_FILE)
        result = check(history, final)
    except (OSError, HistoryError, FinalReadError) as ex:
        print(f"campaign check: {ex}", file=sys.stderr)
        return EXIT_BAD_INPUT
    write_json(directory / RESULT_FILE, result.to_json())
    print(summary(result))
    return EXIT_VALID if result.valid else EXIT_INVALID


def _page(directory: Path) -> int:
    try:
        print(write_campaign_page(directory))
    except (OSError, ValueError) as ex:
        print(f"campaign page: {ex}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_VALID


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    console = logging.StreamHandler()
    console.setLevel(logging.WARNING)
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[console])
    if arguments and arguments[0] in _COMMANDS:
        parser = argparse.ArgumentParser(prog=f"python -m campaign {arguments[0]}")
        parser.add_argument("directory", type=Path, metavar="DIR")
        directory = parser.parse_args(arguments[1:]).directory
        return _check(directory) if arguments[0] == "check" else _page(directory)
    return _run(arguments)


if __name__ == "__main__":
    sys.exit(main())
