"""Start the processes of a benchmark so that they end with it, and stop them by PID."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def spawn(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    output: Path | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start a child in its own session that the kernel stops if the benchmark dies.

    Its own session keeps a Ctrl-C in the terminal from reaching it directly: the benchmark
    decides the order of the shutdown (the service before the stack) and checks its exit.

    Args:
        argv: The command.
        env: Its environment (the current one if None).
        output: A file for its stdout and stderr (discarded if None).
        cwd: Its working folder.

    Returns:
        The started process.
    """
    with open(output or os.devnull, "ab") as sink:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_death_signal(signal.SIGTERM),  # noqa: PLW1509 (only prctl before exec)
        )


def stop(process: subprocess.Popen[bytes], *, grace: float) -> int:
    """Send SIGTERM to the process (by its PID), wait ``grace`` seconds, then SIGKILL it.

    Args:
        process: A process started by :func:`spawn`.
        grace: Seconds to wait for it to exit after SIGTERM.

    Returns:
        Its exit status; negative (the signal) if it had to be killed.
    """
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def _death_signal(signum: int) -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    # Resolved in the parent: between fork and exec the child only makes the call.
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def set_death_signal() -> None:
        prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)

    return set_death_signal
