"""Where the benchmark's servers listen and where its files are.

The servers listen on loopback, on ports of their own: not the defaults, so that a run never
measures (or fills) a stack or a service someone else started. The database's user,
password and name are the service's defaults (``service.config``), written there once.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from embedded_stack import StackSettings
from embedded_stack.net import free_port
from embedded_stack.settings import TANSU
from service.config import DEFAULT_DATABASE_URL

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
HOST = "127.0.0.1"
POSTGRES_PORT = 35432
KAFKA_PORT = 39092
HTTP_PORT = 38082


def database_url_on(port: int) -> str:
    """Return the service's default database URL with the loopback host and ``port``."""
    parts = urlsplit(DEFAULT_DATABASE_URL)
    credentials = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=f"{credentials}@{HOST}:{port}"))


DATABASE_URL = database_url_on(POSTGRES_PORT)
BOOTSTRAP_SERVERS = f"{HOST}:{KAFKA_PORT}"


def service_url(port: int = HTTP_PORT) -> str:
    """Return the base URL of a service the benchmark started on ``port``."""
    return f"http://{HOST}:{port}"


def stack_of_its_own(state_dir: Path, kafka_engine: str = TANSU) -> StackSettings:
    """Return the settings of a stack on free loopback ports, its state in ``state_dir``.

    A benchmark that must not share its PostgreSQL and broker (it fills a topic, restarts
    the service, or drains the outbox) starts this one.
    """
    return StackSettings(
        database_url=database_url_on(free_port(HOST)),
        kafka_bootstrap_servers=f"{HOST}:{free_port(HOST)}",
        state_dir=state_dir,
        kafka_engine=kafka_engine,
    )
