"""How soon does the outbox deliver? Commit to event at a steady rate, beside dual write.

    python bench/outbox_delay.py [--rate 200] [--seconds 30] [--engine tansu]

Runs two campaigns without faults at the same steady rate (``--rate`` orders a second,
spread over 4 clients; creates only): dual write, where the event is published right after
the commit (the floor), then the outbox, where the relay publishes it. For each it takes
the checker's commit-to-event delays (the row's ``created_at`` to the event's timestamp on
the topic, every order of the run) and prints them with the outbox's targets, and the
outbox's p50 as a ratio of dual write's, both measured in this run:

- outbox p50 at most ``P50_TARGET_MS``, p95 at most ``P95_TARGET_MS``, p99 at most
  ``P99_TARGET_MS``: PASS, else SHORT.

Exit status 0 when every target is met.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.locations import REPO_ROOT
from campaign.files import RESULT_FILE

P50_TARGET_MS = 5.0
P95_TARGET_MS = 25.0
P99_TARGET_MS = 50.0
CLIENTS = 4


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return 0 when the outbox met its targets."""
    parser = argparse.ArgumentParser(prog="python bench/outbox_delay.py", description=__doc__)
    parser.add_argument("--rate", type=float, default=200.0, help="orders a second in all")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--engine", default="tansu", help="the campaign's --kafka-engine")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="outbox-delay-") as scratch:
        runs = {mode: run(mode, options, Path(scratch) / mode) for mode in ("dual-write", "outbox")}
    return report(runs, options)


def run(mode: str, options: argparse.Namespace, out: Path) -> dict:
    """Run one campaign without faults; return its result."""
    command = [
        sys.executable, "-m", "campaign", "--mode", mode, "--faults", "none",
        "--seconds", str(options.seconds), "--clients", str(CLIENTS),
        "--rate", str(options.rate / CLIENTS), "--phantom-share", "0", "--cancel-share", "0",
        "--kafka-engine", options.engine, "--out", str(out),
    ]  # fmt: skip
    finished = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    if finished.returncode not in (0, 1):
        raise RuntimeError(f"the {mode} campaign failed:\n{finished.stderr[-2000:]}")
    return json.loads((out / RESULT_FILE).read_text(encoding="utf-8"))


def report(runs: dict[str, dict], options: argparse.Namespace) -> int:
    """Print both modes' delays, the outbox's targets and the ratio; return the exit status."""
    for mode, result in runs.items():
        delays = result["delaysMs"]
        rate = result["acknowledged"] / options.seconds
        print(
            f"{mode}: {result['acknowledged']:,} orders ({rate:.0f}/s), commit to event "
            f"p50 {delays['p50']:.1f} ms, p95 {delays['p95']:.1f} ms, "
            f"p99 {delays['p99']:.1f} ms, max {delays['max']:.1f} ms"
        )
    outbox = runs["outbox"]["delaysMs"]
    floor = runs["dual-write"]["delaysMs"]
    met = True
    for name, target in (("p50", P50_TARGET_MS), ("p95", P95_TARGET_MS), ("p99", P99_TARGET_MS)):
        passed = outbox[name] <= target
        met = met and passed
        print(
            f"  outbox {name} {outbox[name]:.1f} ms (target <= {target:g} ms): "
            f"{'PASS' if passed else 'SHORT'}"
        )
    print(f"  outbox p50 / dual-write p50: {outbox['p50'] / floor['p50']:.2f}x")
    return 0 if met and runs["outbox"]["valid"] else 1


if __name__ == "__main__":
    sys.exit(main())
