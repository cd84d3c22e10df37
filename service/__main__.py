"""``python -m service``: run the order service with waitress."""

from __future__ import annotations

import logging
import signal
import sys
import threading

from pydantic import ValidationError

from service.app import create_app
from service.bootstrap import StartupError, start_runtime
from service.config import Config, load_config
from service.conninfo import scrub
from service.server import HttpServer

logger = logging.getLogger("service")


def main() -> int:
    """Start, serve until SIGTERM or SIGINT, stop cleanly; return the exit status."""
    try:
        config = load_config()
    except ValidationError as ex:
        for error in ex.errors(include_url=False):
            name = "MARS_" + "_".join(str(p) for p in error["loc"]).upper()
            print(f"invalid configuration: {name}: {error['msg']}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        runtime = start_runtime(config)
    except StartupError as ex:
        # The driver's own error quotes what it could not parse: maybe part of a password.
        logger.error("cannot start: %s", scrub(str(ex), config.database_url))
        return 1
    try:
        server = HttpServer(
            create_app(config, runtime.adapters),
            config.http_host,
            config.http_port,
            config.http_threads,
            config.max_body_bytes,
            connection_limit=config.http_connection_limit,
            channel_timeout=config.http_channel_timeout_s,
        )
        logger.info(describe(config, server.port))
        server.serve_until(stop)
    except OSError as ex:
        logger.error("cannot serve on %s:%s: %s", config.http_host, config.http_port, ex)
        return 1
    finally:
        runtime.close()
    logger.info("stopped")
    return 0


def describe(config: Config, port: int) -> str:
    """Return the start line: profiles, database (password masked), brokers, address."""
    profiles = ",".join(sorted(config.profiles_active)) or "default"
    return (
        f"order service listening on http://{config.http_host}:{port} "
        f"profiles={profiles} database={config.masked_database_url} "
        f"brokers={config.kafka_bootstrap_servers}"
    )


if __name__ == "__main__":
    sys.exit(main())
