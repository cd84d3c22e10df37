"""Start, identify, signal and stop the server processes the stack owns, always by PID."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import psutil

from embedded_stack.errors import StartupError
from embedded_stack.net import port_accepts
from embedded_stack.polling import poll_until

logger = logging.getLogger(__name__)

# create_time() has the resolution of a clock tick (10 ms); a reused PID starts later.
_CREATE_TIME_TOLERANCE = 0.05
# The kernel keeps 15 characters of a process's name. psutil gives the whole name from the
# command line when it can read it, and only those 15 characters when it cannot (as just
# after the start): the same process can be recorded under either.
_KERNEL_NAME_LENGTH = 15
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ServerUser:
    """The unprivileged account a server runs as when the stack itself runs as root."""

    name: str
    uid: int
    gid: int


@dataclass(frozen=True)
class ProcessRecord:
    """Who a started process is: enough to recognise it again in another Python process.

    Attributes:
        pid: Its process id.
        create_time: Its start time (seconds since the epoch), which tells a reused PID apart.
        name: Its process name, a second check.
    """

    pid: int
    create_time: float
    name: str

    @classmethod
    def of(cls, pid: int) -> ProcessRecord:
        """Record the running process ``pid``.

        Args:
            pid: A running process id.

        Returns:
            Its record.

        Raises:
            psutil.NoSuchProcess: It has already exited.
        """
        process = psutil.Process(pid)
        return cls(pid=pid, create_time=process.create_time(), name=process.name())

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProcessRecord:
        """Read a record written by :meth:`to_json`."""
        return cls(pid=int(data["pid"]), create_time=float(data["create_time"]), name=data["name"])

    def to_json(self) -> dict[str, Any]:
        """Return the record as JSON-ready data."""
        return {"pid": self.pid, "create_time": self.create_time, "name": self.name}

    def process(self) -> psutil.Process | None:
        """Return the live process if it is still the one recorded.

        Returns:
            The process, or None if it exited, is a zombie, or its PID now belongs to another
            process.
        """
        try:
            process = psutil.Process(self.pid)
            started_then = abs(process.create_time() - self.create_time) <= _CREATE_TIME_TOLERANCE
            same = started_then and _same_name(process.name(), self.name)
            if not same or process.status() == psutil.STATUS_ZOMBIE:
                return None
        except psutil.Error:
            return None
        return process

    def is_running(self) -> bool:
        """Tell whether the recorded process is still running (a zombie counts as gone)."""
        return self.process() is not None

    def send_signal(self, signum: int) -> bool:
        """Send a signal, but only to the recorded process, never to a reused PID.

        Args:
            signum: The signal number.

        Returns:
            True if the signal was sent, False if the process is gone.
        """
        process = self.process()
        if process is None:
            return False
        try:
            # psutil checks again, right before kill(), that the PID was not reused.
            process.send_signal(signum)
        except psutil.Error:
            return False
        return True


def _same_name(seen: str, recorded: str) -> bool:
    """Tell whether two names of a process are one, the kernel's 15 characters or the whole."""
    if seen == recorded:
        return True
    short, whole = sorted((seen, recorded), key=len)
    return len(short) == _KERNEL_NAME_LENGTH and whole.startswith(short)


def spawn(
    argv: Sequence[str],
    *,
    log_path: Path | None,
    detach: bool,
    death_signal: int = signal.SIGKILL,
    user: ServerUser | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start a server process in a session of its own, its output going to a log file.

    Args:
        argv: The command.
        log_path: File for stdout and stderr (appended to); None discards the output.
        detach: True lets the process outlive this one (the CLI's ``up``). False asks the
            kernel (Linux) to send ``death_signal`` to it when the thread that started it
            dies, so an in-process stack leaves nothing behind even if it is SIGKILLed.
        death_signal: The signal for ``detach=False``.
        user: Run as this account instead of the current one (needs root).
        env: The environment; None inherits this process's.
        cwd: The working folder; None inherits this process's (``/`` with ``user``).

    Returns:
        The started process.
    """
    preexec = None if detach else _death_signal_setter(death_signal)
    identity: dict[str, Any] = {"cwd": cwd}
    if user is not None:
        # extra_groups=[] drops root's supplementary groups, so the server gets no root
        # group access; cwd="/" because the caller's folder may be closed to that user.
        identity = {"user": user.uid, "group": user.gid, "extra_groups": [], "cwd": "/"}
    with _log_file(log_path) as output:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=preexec,  # noqa: PLW1509 (the child only calls prctl before exec)
            env=dict(env) if env is not None else None,
            **identity,
        )


def stop_process(
    record: ProcessRecord,
    *,
    first_signal: int,
    grace: float,
    popen: subprocess.Popen[bytes] | None = None,
) -> bool:
    """Stop a recorded process: ``first_signal``, then SIGKILL after ``grace`` seconds.

    Args:
        record: The process to stop; nothing is sent if its PID now belongs to another.
        first_signal: The polite signal (SIGTERM, or SIGINT for PostgreSQL's fast shutdown).
        grace: Seconds to wait for it to exit before SIGKILL.
        popen: The Popen handle if this process started it, so the exit is reaped.

    Returns:
        True if it was running and has been stopped, False if it was already gone.
    """
    if not record.send_signal(first_signal):
        _reap(popen)
        return False
    if not _wait_gone(record, popen, grace):
        logger.info(
            "PID %s still runs %.1f s after signal %s: SIGKILL",
            record.pid,
            grace,
            signal.Signals(first_signal).name,
        )
        record.send_signal(signal.SIGKILL)
        if not _wait_gone(record, popen, 5.0):
            raise RuntimeError(f"PID {record.pid} survived SIGKILL for 5 s")
    return True


def _wait_gone(
    record: ProcessRecord, popen: subprocess.Popen[bytes] | None, timeout: float
) -> bool:
    if popen is not None:
        try:
            popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True
    return poll_until(lambda: not record.is_running(), timeout=timeout)


def _reap(popen: subprocess.Popen[bytes] | None) -> None:
    if popen is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(1.0)


@contextlib.contextmanager
def _log_file(log_path: Path | None) -> Any:
    if log_path is None:
        yield subprocess.DEVNULL
        return
    log_path.parent.mkdir(parents=True, exist_ok=True)
    handle: IO[bytes]
    with open(log_path, "ab") as handle:
        yield handle


def _death_signal_setter(death_signal: int) -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    # Resolved here, in the parent: between fork and exec the child only makes the call.
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def set_death_signal() -> None:
        prctl(_PR_SET_PDEATHSIG, death_signal, 0, 0, 0)

    return set_death_signal


def current_user_is_root() -> bool:
    """Tell whether this process runs as root (on POSIX)."""
    return hasattr(os, "geteuid") and os.geteuid() == 0


class StartStopContext:
    """Mixin: ``with thing:`` calls ``thing.start()`` and, on leaving, ``thing.stop()``."""

    def start(self) -> Self:
        """Start; subclasses implement it and return themselves."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop; subclasses implement it."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        """Start."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop, also when the block failed."""
        self.stop()


class ServerProcess(StartStopContext):
    """A server this process started, with the faults a chaos test needs: pause, resume, kill.

    Every signal goes to the recorded PID, after checking that the PID still belongs to the
    process started here. Subclasses start it (setting ``record`` and ``popen``) and say how
    it stops politely.
    """

    #: What the errors call it, e.g. "the Tansu broker on 127.0.0.1:9092".
    description = "the server"
    #: How :meth:`stop` asks it to end, and how long it may take before SIGKILL.
    stop_signal = signal.SIGTERM
    stop_grace = 1.0

    def __init__(self) -> None:
        """Describe a server that is not started yet."""
        self.popen: subprocess.Popen[bytes] | None = None
        self.record: ProcessRecord | None = None

    @property
    def pid(self) -> int | None:
        """Return the server's PID while it runs (paused included), else None."""
        return self.record.pid if self.is_running else None

    @property
    def is_running(self) -> bool:
        """Tell whether the started server still exists (a paused one does)."""
        return self.record is not None and self.record.is_running()

    @property
    def is_paused(self) -> bool:
        """Tell whether the server is stopped by SIGSTOP."""
        process = self.record.process() if self.record else None
        return process is not None and _is_stopped(process)

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open, requests go unanswered."""
        self._signal(signal.SIGSTOP)
        self._wait_for(_is_stopped, "stop")

    def resume(self) -> None:
        """Let a paused server run again (SIGCONT)."""
        self._signal(signal.SIGCONT)
        self._wait_for(lambda process: not _is_stopped(process), "continue")

    def stop(self) -> None:
        """Stop politely (``stop_signal``), SIGKILL after ``stop_grace``; a paused one at once.

        A frozen process cannot act on a polite signal, so waiting for it would only cost
        the grace period.
        """
        if self.record is None:
            return
        if self.is_paused:
            self.kill()
            return
        stop_process(
            self.record, first_signal=self.stop_signal, grace=self.stop_grace, popen=self.popen
        )

    def kill(self) -> None:
        """End the server at once (SIGKILL)."""
        if self.record is not None:
            stop_process(self.record, first_signal=signal.SIGKILL, grace=5.0, popen=self.popen)

    def _launch(
        self, argv: Sequence[str], *, log_path: Path | None, detach: bool, **kwargs: Any
    ) -> subprocess.Popen[bytes]:
        self.popen = spawn(argv, log_path=log_path, detach=detach, **kwargs)
        self.record = ProcessRecord.of(self.popen.pid)
        return self.popen

    def _await_port(self, host: str, port: int, *, timeout: float, log_path: Path | None) -> None:
        """Wait until the started server accepts connections on ``host:port``.

        Raises:
            StartupError: It exited first, or did not listen within ``timeout`` (it is then
                killed).
        """
        popen = self.popen
        assert popen is not None
        listening = poll_until(
            lambda: popen.poll() is not None or port_accepts(host, port, 0.2),
            timeout=timeout,
            interval=0.005,
        )
        if popen.poll() is not None:
            raise StartupError(
                f"{self.description} exited with code {popen.returncode} while starting "
                f"(log: {log_path or 'discarded'})"
            )
        if not listening:
            self.kill()
            raise StartupError(
                f"{self.description} did not listen on {host}:{port} within {timeout:g} s "
                f"(log: {log_path or 'discarded'})"
            )

    def _signal(self, signum: int) -> None:
        if self.record is None or not self.record.send_signal(signum):
            raise RuntimeError(f"{self.description} is not running")

    def _wait_for(self, condition: Callable[[psutil.Process], bool], action: str) -> None:
        def reached() -> bool:
            process = self.record.process() if self.record else None
            return process is None or condition(process)

        if not poll_until(reached, timeout=2.0, interval=0.002):
            raise RuntimeError(f"{self.description} (PID {self.pid}) did not {action} within 2 s")


def _is_stopped(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_STOPPED
    except psutil.Error:
        return False
