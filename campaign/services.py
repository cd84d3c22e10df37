"""The service instances a campaign drives: real ``python -m service`` processes."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import requests

from embedded_stack.errors import StartupError
from embedded_stack.net import free_port
from embedded_stack.polling import poll_until
from embedded_stack.processes import ServerProcess
from service.config import CHAOS, OUTBOX

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 60.0
HOST = "127.0.0.1"


class ServiceInstance(ServerProcess):
    """One service process on a port of its own, with the ``chaos`` profile on."""

    stop_signal = signal.SIGTERM
    stop_grace = 10.0

    def __init__(self, number: int, env: dict[str, str], log_path: Path) -> None:
        """Describe instance ``number``; it runs once :meth:`start` is called.

        Args:
            number: Its place among the instances (0 or 1), used in names and logs.
            env: The ``MARS_*`` settings every instance shares.
            log_path: Its output; a restart appends to it.
        """
        super().__init__()
        self.number = number
        self.port = free_port(HOST)
        self.url = f"http://{HOST}:{self.port}"
        self.description = f"service instance {number} on {self.url}"
        self._env = {**env, "MARS_HTTP_HOST": HOST, "MARS_HTTP_PORT": str(self.port)}
        self._log_path = log_path

    def start(self, timeout: float = START_TIMEOUT) -> ServiceInstance:
        """Start the process (again after a kill) and wait until it reports UP.

        Raises:
            StartupError: It exited, or was not UP within ``timeout`` (it is then killed).
        """
        environment = {k: v for k, v in os.environ.items() if not k.startswith("MARS_")}
        popen = self._launch(
            [sys.executable, "-m", "service"],
            log_path=self._log_path,
            detach=False,
            env={**environment, **self._env},
            cwd=ROOT,
        )
        up = poll_until(lambda: popen.poll() is not None or self._is_up(), timeout=timeout)
        if popen.poll() is not None or not up:
            self.kill()
            raise StartupError(
                f"{self.description} did not come UP within {timeout:g} s "
                f"(exit code {popen.returncode}; log: {self._log_path})"
            )
        return self

    def _is_up(self) -> bool:
        try:
            return requests.get(f"{self.url}/actuator/health", timeout=1).status_code == 200
        except requests.RequestException:  # not listening yet
            return False


# What the campaign itself decides for every instance; a --service-setting may not change it.
OWN_SETTINGS = (
    "MARS_PROFILES_ACTIVE",
    "MARS_DATABASE_URL",
    "MARS_KAFKA_BOOTSTRAP_SERVERS",
    "MARS_KAFKA_CONSUMER_GROUP",
    "MARS_HTTP_HOST",
    "MARS_HTTP_PORT",
)


class SettingError(ValueError):
    """A service setting the campaign cannot pass on."""


def parse_settings(pairs: list[str]) -> dict[str, str]:
    """Parse ``MARS_NAME=value`` pairs for the instances.

    Raises:
        SettingError: A pair without ``=``, a name that is not ``MARS_*``, or one the
            campaign sets itself.
    """
    settings = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name.startswith("MARS_"):
            raise SettingError(f"{pair!r}: a service setting is MARS_NAME=value")
        if name in OWN_SETTINGS:
            raise SettingError(f"{name} is the campaign's own to set")
        settings[name] = value
    return settings


def service_env(
    mode: str,
    *,
    database_url: str,
    bootstrap_servers: str,
    consumer_group: str,
    settings: dict[str, str] | None = None,
) -> dict[str, str]:
    """Return the settings of the campaign's instances in ``mode`` (dual-write or outbox).

    ``settings`` (``MARS_*`` by name) are the user's; the service checks them at start.
    """
    profiles = [CHAOS, OUTBOX] if mode == OUTBOX else [CHAOS]
    return {
        "MARS_LOG_LEVEL": "WARNING",
        **(settings or {}),
        "MARS_PROFILES_ACTIVE": ",".join(profiles),
        "MARS_DATABASE_URL": database_url,
        "MARS_KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
        # A group of the campaign's own: instances of another run on the same broker must
        # not take its cancellations away.
        "MARS_KAFKA_CONSUMER_GROUP": consumer_group,
    }
