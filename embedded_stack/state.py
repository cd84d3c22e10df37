"""The state file: which processes the stack started, and where it keeps their data."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

STATE_FILE_NAME = "state.json"
LOCK_FILE_NAME = "state.lock"


class StateFile:
    """A JSON document in the state folder, changed only under an exclusive file lock.

    The lock serialises ``up`` and ``down`` of every stack that shares the folder (a CLI
    call and a pytest session, say), so two of them never start the same server twice.
    """

    def __init__(self, state_dir: Path) -> None:
        """Use ``state_dir`` (created on first write) for the state and its lock.

        Args:
            state_dir: The stack's state folder.
        """
        self._dir = state_dir
        self.path = state_dir / STATE_FILE_NAME

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the folder's exclusive lock for the duration of the ``with`` block."""
        self._dir.mkdir(parents=True, exist_ok=True)
        with open(self._dir / LOCK_FILE_NAME, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def load(self) -> dict[str, Any]:
        """Return the stored state, or an empty one if there is none (or it is unreadable)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def save(self, data: dict[str, Any]) -> None:
        """Replace the stored state atomically.

        Args:
            data: JSON-ready state.
        """
        self._dir.mkdir(parents=True, exist_ok=True)
        scratch = self.path.with_suffix(f".{os.getpid()}.tmp")
        scratch.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(scratch, self.path)
