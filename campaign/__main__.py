"""Command line of the campaign: ``python -m campaign check DIR``.

Exit status: 0 when the verdict is valid, 1 when it is not, 2 when a file is missing or bad.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from campaign.checker import CheckResult, check
from campaign.final_read import FinalReadError, load_final_read
from campaign.history import HistoryError, read_history

HISTORY_FILE = "history.jsonl"
FINAL_READ_FILE = "final-read.json"
RESULT_FILE = "result.json"

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_BAD_INPUT = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m campaign", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check_command = commands.add_parser(
        "check",
        help=f"check DIR/{HISTORY_FILE} against DIR/{FINAL_READ_FILE}, write DIR/{RESULT_FILE}",
    )
    check_command.add_argument("directory", type=Path, metavar="DIR")
    return parser


def _summary(result: CheckResult) -> str:
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


def _check(directory: Path) -> int:
    try:
        history = read_history(directory / HISTORY_FILE)
        final = load_final_read(directory / FINAL_READ_FILE)
        result = check(history, final)
    except (OSError, HistoryError, FinalReadError) as ex:
        print(f"campaign check: {ex}", file=sys.stderr)
        return EXIT_BAD_INPUT
    (directory / RESULT_FILE).write_text(
        json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8"
    )
    print(_summary(result))
    return EXIT_VALID if result.valid else EXIT_INVALID


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status."""
    arguments = _parser().parse_args(argv)
    # Only "check" exists so far; argparse rejects anything else with status 2.
    return _check(arguments.directory)


if __name__ == "__main__":
    sys.exit(main())
