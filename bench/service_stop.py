"""How quickly does the service stop? SIGTERM to exit, as the suite's cleanup sees it.

    python bench/service_stop.py [--runs 5] [--uptime 2]

Starts a stack of its own (free loopback ports, a temporary folder), then per mode (dual
write, outbox) starts the service ``--runs`` times with the same consumer group, as the
suite does, places one order, lets it run ``--uptime`` seconds and sends SIGTERM, timing
until the process has exited (with status 0). A short uptime is the hard case: the
``order.cancelled`` consumer may still be joining its group. Prints the median and the
slowest stop per mode: PASS when the slowest is at most ``STOP_TARGET`` seconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests

from bench.locations import stack_of_its_own
from campaign.services import ServiceInstance, service_env
from embedded_stack import EmbeddedStack, StackSettings

STOP_TARGET = 0.5
GROUP = "order-service"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return 0 when every stop met the target."""
    parser = argparse.ArgumentParser(prog="python bench/service_stop.py", description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--uptime", type=float, default=2.0, help="seconds before SIGTERM")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="service-stop-") as scratch:
        settings = stack_of_its_own(Path(scratch) / "stack")
        with EmbeddedStack(settings):
            met = [
                report(mode, measure(mode, settings, options, Path(scratch)))
                for mode in ("dual-write", "outbox")
            ]
    return 0 if all(met) else 1


def measure(
    mode: str, settings: StackSettings, options: argparse.Namespace, folder: Path
) -> list[float]:
    """Start, use and stop the service ``--runs`` times; return each stop's seconds."""
    env = service_env(
        mode,
        database_url=settings.database_url,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        consumer_group=GROUP,
        settings={"MARS_LOG_LEVEL": "INFO"},
    )
    seconds = []
    for run in range(options.runs):
        instance = ServiceInstance(run, env, folder / f"{mode}-{run}.log").start()
        try:
            body = {
                "customerId": str(uuid.uuid4()),
                "items": [{"productId": str(uuid.uuid4()), "quantity": 1, "unitPrice": 9.99}],
            }
            requests.post(f"{instance.url}/orders", json=body, timeout=10).raise_for_status()
            time.sleep(options.uptime)
            started = time.monotonic()
            instance.stop()
            seconds.append(time.monotonic() - started)
            status = instance.popen.returncode if instance.popen else None
            if status != 0:
                raise RuntimeError(f"the {mode} service exited with {status} on SIGTERM")
        finally:
            instance.kill()
    return seconds


def report(mode: str, seconds: list[float]) -> bool:
    """Print one mode's stops and verdict; return whether the slowest met the target."""
    slowest = max(seconds)
    passed = slowest <= STOP_TARGET
    print(
        f"{mode}: SIGTERM to exit over {len(seconds)} runs: median "
        f"{statistics.median(seconds):.3f} s, slowest {slowest:.3f} s "
        f"(target <= {STOP_TARGET} s): {'PASS' if passed else 'SHORT'}"
    )
    return passed


if __name__ == "__main__":
    sys.exit(main())
