"""``python -m service`` started as a real process by the tests, and stopped by its PID."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.integration.helpers import wait_for
from tests.integration.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30


@dataclass
class ServiceProcess:
    """A running ``python -m service`` and where it listens."""

    process: subprocess.Popen
    url: str

    def output(self) -> str:
        """Stop reading and return everything the process wrote."""
        out, _ = self.process.communicate(timeout=15)
        return out


def launch(env_overrides: dict[str, str], log_path: Path | None = None) -> subprocess.Popen:
    """Start the service with only these ``MARS_*`` variables.

    Its output goes to a pipe (read it with ``communicate``), or to ``log_path``: a service
    that logs a lot under a long fault would block on a pipe nobody reads.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARS_")}
    env.update(env_overrides)
    output = open(log_path, "w") if log_path is not None else subprocess.PIPE  # noqa: SIM115
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "service"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
    finally:
        if log_path is not None:
            output.close()


def stop(process: subprocess.Popen) -> None:
    """Kill the process if it still runs, and reap it."""
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


def is_up(url: str) -> bool:
    """Tell whether the service at ``url`` reports UP."""
    try:
        return requests.get(f"{url}/actuator/health", timeout=2).status_code == 200
    except requests.RequestException:  # not listening yet, or slow while it starts
        return False


@contextmanager
def running_service(
    env_overrides: dict[str, str], log_path: Path | None = None
) -> Iterator[ServiceProcess]:
    """Start the service on a free port, wait until it is UP, and stop it afterwards."""
    port = free_port()
    process = launch({**env_overrides, "MARS_HTTP_PORT": str(port)}, log_path)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: is_up(url) or process.poll() is not None, START_TIMEOUT, "the start")
        if process.poll() is not None:
            output = log_path.read_text() if log_path else process.communicate()[0]
            raise AssertionError(f"the service exited while starting:\n{output}")
        yield ServiceProcess(process, url)
    finally:
        stop(process)
