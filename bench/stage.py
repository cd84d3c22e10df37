"""The stage of a run: the embedded stack and the service, started in order, stopped by PID.

The stack (PostgreSQL 35432, Kafka 39092) is started or reused by ``EmbeddedStack``; the
service (38082) is a child of this process in a session of its own, which the kernel sends
SIGTERM if the benchmark dies, and which is stopped by its recorded PID, its exit checked.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.cli import profiles_of
from bench.cpu import CpuMeter
from bench.locations import (
    BOOTSTRAP_SERVERS,
    DATABASE_URL,
    HOST,
    HTTP_PORT,
    REPO_ROOT,
    service_url,
)
from embedded_stack import EmbeddedStack, StackReport, StackSettings, StopReport
from embedded_stack.polling import wait_until
from embedded_stack.processes import ProcessRecord, spawn, stop_process

# The groups of processes whose CPU each phase reports (bench/cpu.py adds client, other).
SERVICE = "service"
POSTGRES = "postgres"
BROKER = "broker"
START_TIMEOUT = 60
STOP_GRACE = 30
# What the health endpoint raises while the service is still starting.
_NOT_UP_YET = (urllib.error.URLError, ConnectionError, TimeoutError, ValueError)
_LOG_MARKS = {
    "tracebacks": "Traceback",
    "errors": " ERROR ",
    "dual_write_failures": "DUAL WRITE FAILURE",
    "database_unavailable": "DatabaseUnavailable",
    "outbox_relay_failures": "outbox relay:",
}


@dataclass(frozen=True)
class Service:
    """The started service: its process, who it is (to stop it by PID), its log."""

    process: subprocess.Popen[bytes]
    record: ProcessRecord
    log_path: Path
    url: str


class Stage:
    """The stack and the service of one run; ``stop`` ends what ``start_*`` started."""

    def __init__(self, state_dir: Path) -> None:
        """Prepare the stack on the benchmark's ports.

        Args:
            state_dir: The embedded stack's state and PostgreSQL data.
        """
        self._stack = EmbeddedStack(StackSettings(DATABASE_URL, BOOTSTRAP_SERVERS, state_dir))
        self.service: Service | None = None

    def start_stack(self) -> StackReport:
        """Start PostgreSQL and the broker, or reuse those that already answer."""
        return self._stack.up()

    def start_service(self, options: argparse.Namespace, log_path: Path) -> Service:
        """Start the service and wait until its health endpoint answers UP.

        Args:
            options: The command line (service command, threads, profiles).
            log_path: The service's stdout and stderr.

        Returns:
            The service, UP.

        Raises:
            RuntimeError: It exited while starting.
            WaitTimedOut: It was not UP within ``START_TIMEOUT`` seconds.
        """
        self.service = spawn_service(options, log_path)
        wait_until_up(self.service, timeout=START_TIMEOUT)
        return self.service

    def stop_service(self) -> int | None:
        """Send the service SIGTERM (SIGKILL after a grace) and return its exit status."""
        if self.service is None:
            return None
        return stop_service(self.service)

    def stop_stack(self) -> list[StopReport]:
        """Stop what the stack started (what it reused stays up)."""
        return self._stack.down()


def cpu_meter(service: Service, stack: StackReport) -> CpuMeter:
    """Return a meter of the service's, PostgreSQL's and the broker's CPU."""
    return CpuMeter(
        {
            SERVICE: [service.process.pid],
            POSTGRES: [stack.postgres.pid] if stack.postgres.pid else [],
            BROKER: [stack.kafka.pid] if stack.kafka.pid else [],
        }
    )


def wait_until_up(service: Service, timeout: float) -> None:
    """Poll the health endpoint until it answers UP; fail at once if the service exits.

    Raises:
        RuntimeError: The service exited meanwhile.
        WaitTimedOut: It was not UP within ``timeout`` seconds.
    """

    def answers_up() -> bool:
        if service.process.poll() is not None:
            raise RuntimeError(
                f"the service exited with status {service.process.returncode} at start; "
                f"see {service.log_path}"
            )
        return health_status(service.url) == "UP"

    wait_until(
        answers_up,
        timeout=timeout,
        what=f"the service answering UP at {service.url} (see {service.log_path})",
        ignoring=_NOT_UP_YET,
    )


def health_status(url: str) -> str | None:
    """Return the ``status`` that ``GET /actuator/health`` of the service at ``url`` reports."""
    with urllib.request.urlopen(f"{url}/actuator/health", timeout=5) as response:
        return json.loads(response.read()).get("status")


def scan_service_log(path: Path) -> dict[str, int]:
    """Count the lines of the service's log that signal trouble under load."""
    counts = dict.fromkeys(_LOG_MARKS, 0)
    if not path.exists():
        return counts
    with path.open(errors="replace") as log:
        for line in log:
            for name, mark in _LOG_MARKS.items():
                if mark in line:
                    counts[name] += 1
    return counts


def spawn_service(
    options: argparse.Namespace,
    log_path: Path,
    *,
    command: str | None = None,
    port: int = HTTP_PORT,
    extra_env: dict[str, str] | None = None,
    root: Path = REPO_ROOT,
) -> Service:
    """Start the service on the stack's servers (not waiting for it to be UP).

    Args:
        options: The command line (service command, threads, profiles).
        log_path: The service's stdout and stderr.
        command: Instead of ``options.service_command``.
        port: Where it listens, on ``HOST``.
        extra_env: More variables (``MARS_*`` settings), over the benchmark's.
        root: The directory it runs from (a checkout of the repository).
    """
    env = {
        **os.environ,
        "MARS_DATABASE_URL": DATABASE_URL,
        "MARS_KAFKA_BOOTSTRAP_SERVERS": BOOTSTRAP_SERVERS,
        "MARS_HTTP_HOST": HOST,
        "MARS_HTTP_PORT": str(port),
        "MARS_PROFILES_ACTIVE": ",".join(sorted(profiles_of(options))),
        "MARS_HTTP_THREADS": str(options.http_threads),
        # Every request thread, the consumer and the relay hold a connection at once: the
        # service refuses to start with fewer.
        "MARS_DB_POOL_SIZE": str(max(10, options.http_threads + 2)),
        **(extra_env or {}),
    }
    log_path = log_path.absolute()
    # The service command is written relative to the repository root.
    process = spawn(
        shlex.split(command or options.service_command),
        log_path=log_path,
        detach=False,
        death_signal=signal.SIGTERM,
        env=env,
        cwd=root,
    )
    return Service(process, ProcessRecord.of(process.pid), log_path, service_url(port))


def stop_service(service: Service) -> int | None:
    """Send the service SIGTERM (SIGKILL after a grace) and return its exit status."""
    stop_process(
        service.record, first_signal=signal.SIGTERM, grace=STOP_GRACE, popen=service.process
    )
    return service.process.returncode
