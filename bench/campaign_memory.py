"""Does a long campaign grow memory? A campaign at the service's throughput, sampled.

    python bench/campaign_memory.py [--seconds 600] [--mode dual-write] [--engine kafka]

It runs ``python -m campaign`` with clients as fast as the service answers (no rate limit),
two service instances and the faults that leave the processes in place (the broker cut off
and paused, PostgreSQL restarted and paused; a killed instance would start afresh and hide
growth). Every 5 s it samples the resident memory of the campaign's own process (clients,
history writer, nemesis) and of each service instance. Once the clients stop it compares,
per process, the mean of the last fifth of the samples with the mean of the second fifth
(the first is warm-up), both measured in this run: PASS when every ratio is at most
``GROWTH_TARGET``, else SHORT. It also prints the operations and the checker's time on the
run's history (``python -m campaign check``).

Apache Kafka by default: Tansu serves a long partition slowly (see README), and a
ten-minute run at full speed writes well over 100,000 events.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil

from bench.locations import REPO_ROOT
from campaign.files import RESULT_FILE, RUN_FILE
from embedded_stack.polling import wait_until

GROWTH_TARGET = 1.15
SAMPLE_SECONDS = 5.0
# The dedicated servers and two instances, before the clients run.
START_TIMEOUT = 300.0
FAULTS = "proxy-cut,broker-pause,pg-restart,pg-pause"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return 0 when no process grew beyond the target."""
    parser = argparse.ArgumentParser(prog="python bench/campaign_memory.py", description=__doc__)
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--mode", default="dual-write", choices=("dual-write", "outbox"))
    parser.add_argument("--engine", default="kafka", help="the campaign's --kafka-engine")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--out", type=Path, help="keep the campaign's folder here")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="campaign-memory-") as scratch:
        out = options.out or Path(scratch) / "campaign"
        samples, result = measure(options, out)
        checker_seconds = time_checker(out)
    return report(samples, result, checker_seconds)


def measure(options: argparse.Namespace, out: Path) -> tuple[dict[str, list[int]], dict]:
    """Run the campaign, sampling memory while its clients run; return samples and result."""
    command = [
        sys.executable, "-m", "campaign", "--mode", options.mode,
        "--seconds", str(options.seconds), "--clients", str(options.clients),
        "--instances", "2", "--faults", FAULTS, "--kafka-engine", options.engine,
        "--seed", "1", "--out", str(out),
    ]  # fmt: skip
    samples: dict[str, list[int]] = {}
    log = out.parent / "campaign-memory.log"
    out.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as output:
        campaign = subprocess.Popen(command, cwd=REPO_ROOT, stdout=output, stderr=output)
        try:
            driving_since = _await_drive(campaign, out / RUN_FILE)
            while time.monotonic() - driving_since < options.seconds:
                for name, rss in _resident_memory(campaign.pid).items():
                    samples.setdefault(name, []).append(rss)
                time.sleep(SAMPLE_SECONDS)
            campaign.wait(timeout=options.seconds + 600)
        finally:
            if campaign.poll() is None:
                campaign.kill()
                campaign.wait()
    if campaign.returncode not in (0, 1):
        raise RuntimeError(f"the campaign failed ({campaign.returncode}); see {log}")
    return samples, json.loads((out / RESULT_FILE).read_text())


def _await_drive(campaign: subprocess.Popen, run_file: Path) -> float:
    # The run record is written the moment the clients start.
    wait_until(
        lambda: run_file.exists() or campaign.poll() is not None,
        timeout=START_TIMEOUT,
        what="the campaign's clients to start",
        interval=0.2,
    )
    if campaign.poll() is not None:
        raise RuntimeError(f"the campaign exited ({campaign.returncode}) before its clients ran")
    return time.monotonic()


def _resident_memory(pid: int) -> dict[str, int]:
    """Return the RSS of the campaign process and of each service instance, by name."""
    memory: dict[str, int] = {}
    root = psutil.Process(pid)
    for process in [root, *root.children(recursive=True)]:
        try:
            command = process.cmdline()
            rss = process.memory_info().rss
        except psutil.Error:
            continue  # gone between the listing and the read
        if process.pid == pid:
            memory["campaign"] = rss
        elif command[1:3] == ["-m", "service"]:
            port = process.environ().get("MARS_HTTP_PORT", str(process.pid))
            memory[f"service :{port}"] = rss
    return memory


def time_checker(out: Path) -> float:
    """Return the seconds ``python -m campaign check`` takes on the run's files."""
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "campaign", "check", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        check=False,
    )
    return time.monotonic() - started


def report(samples: dict[str, list[int]], result: dict, checker_seconds: float) -> int:
    """Print each process's growth ratio and the verdict; return the exit status."""
    print(
        f"{result['operations']:,} operations, {result['acknowledged']:,} acknowledged orders; "
        f"verdict: {result['verdict']}; checker {checker_seconds:.1f} s"
    )
    met = True
    for name, values in sorted(samples.items()):
        fifth = max(1, len(values) // 5)
        early = statistics.mean(values[fifth : 2 * fifth] or values[:1])
        late = statistics.mean(values[-fifth:])
        ratio = late / early
        met = met and ratio <= GROWTH_TARGET
        print(
            f"  {name}: {early / 2**20:.1f} MiB -> {late / 2**20:.1f} MiB over "
            f"{len(values)} samples, {ratio:.2f}x (target <= {GROWTH_TARGET}x): "
            f"{'PASS' if ratio <= GROWTH_TARGET else 'SHORT'}"
        )
    if not samples:
        print("  no samples: the run was shorter than one sample")
        met = False
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
