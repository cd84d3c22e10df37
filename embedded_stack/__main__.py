"""The command line: ``python -m embedded_stack up | down | status``.

Addresses come from ``MARS_DATABASE_URL`` (default
``postgresql://mars:mars@localhost:5432/orders_db``) and ``MARS_KAFKA_BOOTSTRAP_SERVERS``
(default ``localhost:9092``); the state folder (state file, logs, PostgreSQL data) from
``MARS_STACK_DIR`` (default ``<repo>/.stack``).

- ``up [--kafka-engine tansu|kafka|kafka-cluster]``: reuse what answers, start the rest on
  loopback (the broker from the engine named, default ``MARS_KAFKA_ENGINE``, else Tansu);
  the started servers keep running after the command ends. Exit code 0, or 1 with a
  message when a port is held by something that does not answer or a start fails.
- ``down``: stop only what ``up`` started (recorded in the state file), by PID; ``--purge``
  also deletes the PostgreSQL data folder. Exit code 0, also when nothing was started.
- ``status``: say for each component whether it answers and who started it. Exit code 0 if
  both answer, 3 otherwise.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import replace

from embedded_stack.errors import StackError
from embedded_stack.settings import KAFKA_ENGINE_VAR, KAFKA_ENGINES, StackSettings
from embedded_stack.stack import EmbeddedStack

EXIT_ERROR = 1
EXIT_NOT_ANSWERING = 3


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command.

    Args:
        argv: Command-line arguments without the program name; None reads ``sys.argv``.

    Returns:
        The exit code.
    """
    parser = argparse.ArgumentParser(
        prog="python -m embedded_stack",
        description="Reuse or start PostgreSQL and a Kafka-protocol broker on loopback.",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="log each step")
    # Also accepted after the command; SUPPRESS keeps it from resetting a leading -v.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--verbose", "-v", action="store_true", default=argparse.SUPPRESS, help="log each step"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", parents=[common], help="reuse what answers, start the rest")
    up.add_argument(
        "--kafka-engine",
        choices=KAFKA_ENGINES,
        help=f"what to start if no Kafka answers (default: ${KAFKA_ENGINE_VAR}, else tansu)",
    )
    down = commands.add_parser("down", parents=[common], help="stop what up started")
    down.add_argument("--purge", action="store_true", help="also delete the PostgreSQL data")
    commands.add_parser("status", parents=[common], help="say what answers and who started it")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = StackSettings.from_env(os.environ)
        if getattr(args, "kafka_engine", None):
            settings = replace(settings, kafka_engine=args.kafka_engine)
        stack = EmbeddedStack(settings, detach=True)
        return _run(stack, args)
    except StackError as ex:
        print(f"embedded_stack: {ex}", file=sys.stderr)
        return EXIT_ERROR


def _run(stack: EmbeddedStack, args: argparse.Namespace) -> int:
    if args.command == "up":
        print(stack.up().summary())
        return 0
    if args.command == "status":
        status = stack.status()
        print(status.summary())
        return 0 if status.all_answer else EXIT_NOT_ANSWERING
    stopped = stack.down()
    for report in stopped:
        print(report.summary())
    if not stopped:
        print(f"Nothing to stop: the state file {stack.state_path} records no started process")
    if args.purge:
        for folder in stack.purge():
            print(f"Deleted {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
