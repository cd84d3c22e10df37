"""What one benchmark run observed, and its JSON file in ``bench/results/``."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.correctness import CorrectnessResult
from bench.cpu import PhaseCpu
from bench.load import count_statuses, wrk_version
from bench.locations import REPO_ROOT


@dataclass
class LoadResult:
    """One wrk run against one endpoint, and its comparison with the raw limit."""

    scenario: str
    connections: int
    seconds: float
    summary: dict
    cpu: PhaseCpu
    ratio: float = float("nan")
    ratio_vs_phantom_floor: float = float("nan")
    target: str = ""
    passed: bool = False
    # The ratio of every round, in order, and which round's figures these are (0-based).
    round_ratios: list[float] = field(default_factory=list)
    round: int = 0

    @property
    def p50_ms(self) -> float:
        """Return the median latency."""
        return self.summary["latency_ms"]["p50"]

    @property
    def p95_ms(self) -> float:
        """Return the 95th percentile latency."""
        return self.summary["latency_ms"]["p95"]

    @property
    def per_second(self) -> float:
        """Return the requests per second."""
        return self.summary["requests_per_s"]

    @property
    def not_2xx(self) -> int:
        """Return the answers with a status outside 200..299."""
        return self.summary["requests"] - count_statuses(self.summary, 200, 299)

    @property
    def server_errors(self) -> int:
        """Return the 5xx answers."""
        return count_statuses(self.summary, 500, 599)

    def to_json(self) -> dict[str, object]:
        """Return the result as JSON-ready data."""
        return {
            "scenario": self.scenario,
            "connections": self.connections,
            "seconds": self.seconds,
            "wrk": self.summary,
            "cpu": self.cpu.to_json(),
            "ratio": self.ratio,
            "ratio_vs_phantom_floor": self.ratio_vs_phantom_floor,
            "target": self.target,
            "passed": self.passed,
            "round": self.round,
            "round_ratios": self.round_ratios,
        }


@dataclass
class Round:
    """One round: the raw limit per scenario (raw_limit.py's JSON), its CPU, then the loads."""

    raw: dict
    raw_cpu: dict
    loads: list[LoadResult] = field(default_factory=list)

    def load(self, scenario: str, connections: int) -> LoadResult:
        """Return this round's load of ``scenario`` at ``connections``."""
        return next(
            load
            for load in self.loads
            if load.scenario == scenario and load.connections == connections
        )

    def to_json(self) -> dict[str, object]:
        """Return the round as JSON-ready data."""
        return {
            "raw_limit": self.raw,
            "raw_limit_cpu": self.raw_cpu,
            "loads": [load.to_json() for load in self.loads],
        }


@dataclass
class Run:
    """Everything one benchmark run observed, written to ``bench/results/`` as JSON."""

    run_id: str
    options: dict
    machine: dict
    stack: list[str] = field(default_factory=list)
    # The raw limit of each round, its CPU, and each round's loads; ``loads`` holds, per
    # endpoint and connection count, the round of the median ratio.
    rounds: list[Round] = field(default_factory=list)
    loads: list[LoadResult] = field(default_factory=list)
    correctness: CorrectnessResult | None = None
    profile: list[dict] = field(default_factory=list)
    service_exit: int | None = None
    service_log_findings: dict = field(default_factory=dict)
    error: str | None = None
    relay_delay: dict = field(default_factory=dict)

    @classmethod
    def start(cls, options: argparse.Namespace) -> Run:
        """Return a new run, named for the UTC time now, with the machine it runs on."""
        return cls(
            run_id=datetime.now(UTC).strftime("run-%Y%m%dT%H%M%SZ"),
            options=_jsonable(vars(options)),
            machine=describe_machine(),
        )

    def to_json(self) -> dict[str, object]:
        """Return the run as JSON-ready data."""
        return {
            "run_id": self.run_id,
            "options": self.options,
            "machine": self.machine,
            "stack": self.stack,
            "rounds": [one.to_json() for one in self.rounds],
            "loads": [load.to_json() for load in self.loads],
            "correctness": self.correctness.to_json() if self.correctness else None,
            "profile": self.profile,
            "service_exit": self.service_exit,
            "service_log_findings": self.service_log_findings,
            "error": self.error,
            "relay_delay_ms": self.relay_delay,
        }

    def write(self, path: Path) -> Path:
        """Write the run as JSON to ``path`` and return it."""
        path.write_text(json.dumps(self.to_json(), indent=2, default=str))
        return path


def describe_machine() -> dict[str, object]:
    """Return what the results depend on: CPU, load, versions, the code measured."""
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "load_average": os.getloadavg(),
        "python": platform.python_version(),
        "wrk": wrk_version(),
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "service_has_uncommitted_changes": bool(_git("status", "--porcelain", "service")),
    }


def _cpu_model() -> str:
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


def _git(*args: str) -> str:
    # Read-only git commands: they describe the code measured, they change nothing.
    completed = subprocess.run(
        ["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, check=False
    )
    return completed.stdout.strip()


def _jsonable(values: dict) -> dict:
    return {key: str(value) if isinstance(value, Path) else value for key, value in values.items()}
