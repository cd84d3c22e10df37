"""A PostgreSQL server of a fault test's or a campaign's own, which it restarts and freezes.

The shared server (the embedded stack, or one the developer runs) is never faulted: other
tests and other clients use it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from embedded_stack.net import free_port
from embedded_stack.postgres import PostgresServer, delete_files, locate_files, server_user
from embedded_stack.settings import PostgresAddress


class DedicatedPostgres:
    """A real PostgreSQL on a free loopback port, with a data folder in ``folder``."""

    def __init__(self, folder: Path, log_path: Path | None = None) -> None:
        """Describe the server; ``log_path`` defaults to ``folder/postgres.log``."""
        self.url = f"postgresql://mars:mars@127.0.0.1:{free_port()}/orders_db"
        self._files = locate_files(folder, server_user(), None)
        self._server = PostgresServer(
            PostgresAddress.parse(self.url),
            listen_ip="127.0.0.1",
            files=self._files,
            log_path=log_path or folder / "postgres.log",
            user=server_user(),
            detach=False,
        )
        self._paused = False

    def start(self) -> None:
        """Start the server (initdb on the first start) and wait until it accepts logins."""
        self._server.start()

    def stop(self) -> None:
        """Stop the server (fast shutdown: every client is disconnected)."""
        self.resume()
        self._server.stop()

    def restart(self) -> float:
        """Stop and start again; return the seconds it did not answer."""
        started = time.monotonic()
        self.stop()
        self.start()
        return time.monotonic() - started

    def pause(self) -> None:
        """Freeze every process of the server (SIGSTOP): it accepts, and never answers."""
        self._server.pause()
        self._paused = True

    def resume(self) -> None:
        """Unfreeze a paused server."""
        if self._paused:
            self._server.resume()
            self._paused = False

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """Keep the server frozen inside the block, also when the block fails."""
        self.pause()
        try:
            yield
        finally:
            self.resume()

    def remove(self) -> None:
        """Stop the server and delete its files."""
        self.stop()
        delete_files(self._files.data_dir, self._files.private_dir)
