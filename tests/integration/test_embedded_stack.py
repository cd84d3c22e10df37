"""The embedded stack and its fault injectors, against real PostgreSQL, Tansu and proxies.

Ports are free ones picked at import, so these tests never meet a developer's stack nor a
second run on the same machine.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psutil
import psycopg2
import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from embedded_stack import (
    BrokerProcess,
    EmbeddedStack,
    PortInUseError,
    StackSettings,
    TcpProxy,
    probe_kafka,
    probe_postgres,
)
from embedded_stack.polling import poll_until
from tests.integration.helpers import produce_values, topic_values
from tests.integration.ports import free_port

pytestmark = pytest.mark.integration

POSTGRES_PORT = free_port()
BROKER_PORT = free_port()
PROXY_PORT = free_port()
DEDICATED_BROKER_PORT = free_port()
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Give the module one state folder, so later tests start from an existing data dir."""
    path = tmp_path_factory.mktemp("stack")
    yield path
    # As root the data dir lives in a private temp folder outside pytest's tmp tree.
    recorded_stack = EmbeddedStack(_settings(path))
    recorded_stack.down()
    recorded_stack.purge()


@pytest.fixture
def isolated_settings(state_dir: Path) -> StackSettings:
    """Point the stack at the test ports and the module's state folder."""
    return _settings(state_dir)


@pytest.fixture
def isolated_stack(isolated_settings: StackSettings) -> Iterator[EmbeddedStack]:
    """Give an in-process stack whose started servers are stopped even if the test fails."""
    embedded = EmbeddedStack(isolated_settings)
    try:
        yield embedded
    finally:
        embedded.down()


@pytest.fixture
def proxied_broker(tmp_path: Path) -> Iterator[tuple[BrokerProcess, TcpProxy]]:
    """Run a dedicated broker that advertises a proxy in front of it."""
    broker = BrokerProcess(
        DEDICATED_BROKER_PORT,
        advertised=f"127.0.0.1:{PROXY_PORT}",
        log_path=tmp_path / "broker.log",
    )
    proxy = TcpProxy(PROXY_PORT, "127.0.0.1", DEDICATED_BROKER_PORT)
    with broker, proxy:
        yield broker, proxy


@pytest.fixture
def plain_listener() -> Iterator[int]:
    """Hold the PostgreSQL test port with a listener that closes every connection at once."""
    server = socket.create_server(("127.0.0.1", POSTGRES_PORT))
    stop = threading.Event()

    def close_connections() -> None:
        server.settimeout(0.05)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                server.accept()[0].close()

    closer = threading.Thread(target=close_connections, daemon=True)
    closer.start()
    try:
        yield POSTGRES_PORT
    finally:
        stop.set()
        closer.join(5)
        server.close()


def test_up_starts_postgres_and_a_broker_that_answer(
    isolated_stack: EmbeddedStack, isolated_settings: StackSettings
) -> None:
    report = isolated_stack.up()

    assert report.postgres.started and report.kafka.started
    url = isolated_settings.database_url
    with contextlib.closing(psycopg2.connect(url)) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT current_user, current_database(), 40 + 2")
        assert cursor.fetchone() == ("mars", "orders_db", 42)
    topic = _new_topic(isolated_settings.kafka_bootstrap_servers)
    assert produce_values(isolated_settings.kafka_bootstrap_servers, topic, ["hello"]) == [None]
    assert topic_values(isolated_settings.kafka_bootstrap_servers, topic) == ["hello"]


def test_a_second_stack_reuses_running_servers_and_its_down_leaves_them_running(
    isolated_stack: EmbeddedStack, isolated_settings: StackSettings
) -> None:
    first = isolated_stack.up()
    second = EmbeddedStack(isolated_settings)

    report = second.up()
    stopped = second.down()

    assert not report.postgres.started and not report.kafka.started
    assert (report.postgres.pid, report.kafka.pid) == (first.postgres.pid, first.kafka.pid)
    assert stopped == []
    assert probe_postgres(isolated_settings.postgres).answers
    assert probe_kafka(isolated_settings.kafka_bootstrap_servers).answers


def test_down_stops_what_up_started_and_frees_the_ports(isolated_settings: StackSettings) -> None:
    stack = EmbeddedStack(isolated_settings)
    try:
        report = stack.up()
    finally:
        stopped = stack.down()

    assert {(stop.component, stop.pid, stop.stopped) for stop in stopped} == {
        ("postgres", report.postgres.pid, True),
        ("kafka", report.kafka.pid, True),
    }
    assert _gone(report.postgres.pid) and _gone(report.kafka.pid)
    assert not _accepts(POSTGRES_PORT) and not _accepts(BROKER_PORT)


def test_up_after_down_reuses_the_data_dir(isolated_settings: StackSettings) -> None:
    stack = EmbeddedStack(isolated_settings)
    try:
        first = stack.up()
        stack.down()
        assert first.postgres.data_dir is not None
        initialised = (first.postgres.data_dir / "PG_VERSION").stat()
        second = stack.up()
    finally:
        stack.down()

    assert second.postgres.started and second.postgres.data_dir == first.postgres.data_dir
    assert "new data dir" not in second.postgres.summary()
    assert (second.postgres.data_dir / "PG_VERSION").stat().st_mtime_ns == initialised.st_mtime_ns


def test_a_port_held_by_a_plain_listener_gives_a_clear_error(
    isolated_stack: EmbeddedStack, plain_listener: int
) -> None:
    with pytest.raises(PortInUseError) as raised:
        isolated_stack.up()

    message = str(raised.value)
    assert f"port {plain_listener}" in message and f"PID {os.getpid()}" in message
    assert "MARS_DATABASE_URL" in message and "free port" in message


def test_a_postgres_with_other_credentials_gives_a_clear_error(
    isolated_stack: EmbeddedStack, isolated_settings: StackSettings
) -> None:
    isolated_stack.up()
    wrong_password = isolated_settings.database_url.replace("mars:mars@", "mars:not-mars@")

    with pytest.raises(PortInUseError, match="password authentication failed") as raised:
        EmbeddedStack(replace(isolated_settings, database_url=wrong_password)).up()

    assert "MARS_DATABASE_URL" in str(raised.value)
    assert "not-mars" not in str(raised.value)


def test_cli_up_starts_servers_that_outlive_it_and_cli_down_stops_them(
    isolated_settings: StackSettings,
) -> None:
    try:
        up = _cli("up", isolated_settings)
        status = EmbeddedStack(isolated_settings).status()
        cli_status = _cli("status", isolated_settings)
        down = _cli("down", isolated_settings)
        nothing_left = _cli("down", isolated_settings)
    finally:
        EmbeddedStack(isolated_settings).down()

    assert up.returncode == 0 and up.stdout.count(" started at ") == 2, up.stderr
    assert status.all_answer and status.postgres.pid and status.kafka.pid
    assert cli_status.returncode == 0 and cli_status.stdout.count("started by the stack") == 2
    assert down.returncode == 0 and down.stdout.count(" stopped (PID ") == 2
    assert _gone(status.postgres.pid) and _gone(status.kafka.pid)
    assert nothing_left.returncode == 0 and "Nothing to stop" in nothing_left.stdout


def test_cli_down_leaves_the_servers_of_a_running_in_process_stack_alone(
    isolated_stack: EmbeddedStack, isolated_settings: StackSettings
) -> None:
    report = isolated_stack.up()

    down = _cli("down", isolated_settings)

    assert down.returncode == 0
    assert down.stdout.count(f"in-process stack of the running PID {os.getpid()}") == 2
    assert probe_postgres(isolated_settings.postgres).answers
    assert not _gone(report.kafka.pid, timeout=0.2)


def test_cli_up_reports_a_held_port_without_traceback(
    isolated_settings: StackSettings, plain_listener: int
) -> None:
    result = _cli("up", isolated_settings)

    assert result.returncode == 1
    assert f"port {plain_listener}" in result.stderr and "MARS_DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_cutting_the_proxy_makes_the_broker_unreachable_and_restoring_keeps_its_data(
    proxied_broker: tuple[BrokerProcess, TcpProxy],
) -> None:
    _, proxy = proxied_broker
    bootstrap = proxy.listen_address
    topic = _new_topic(bootstrap)
    assert produce_values(bootstrap, topic, ["before-1", "before-2"]) == [None, None]

    proxy.cut()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", PROXY_PORT), timeout=1).close()
    during = produce_values(bootstrap, topic, ["during"], timeout_ms=1500)
    proxy.restore()
    after = produce_values(bootstrap, topic, ["after"])

    assert during[0] is not None
    assert after == [None]
    assert topic_values(bootstrap, topic) == ["before-1", "before-2", "after"]


def test_a_paused_broker_does_not_answer_until_resumed() -> None:
    with BrokerProcess(DEDICATED_BROKER_PORT) as broker:
        bootstrap = broker.listen_address
        broker.pause()
        paused = probe_kafka(bootstrap, timeout=1.0)
        assert broker.is_paused
        broker.resume()
        resumed = probe_kafka(bootstrap, timeout=5.0)

    assert not paused.answers
    assert resumed.answers


def test_restarting_a_broker_gives_an_empty_one_on_the_same_port() -> None:
    with BrokerProcess(DEDICATED_BROKER_PORT) as broker:
        bootstrap = broker.listen_address
        topic = _new_topic(bootstrap)
        old_pid = broker.pid
        broker.kill()
        broker.start()
        topics = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=5).topics

    assert broker.pid is None and old_pid is not None and _gone(old_pid)
    assert topic not in topics


def _settings(state_dir: Path) -> StackSettings:
    return StackSettings(
        database_url=f"postgresql://mars:mars@localhost:{POSTGRES_PORT}/orders_db",
        kafka_bootstrap_servers=f"localhost:{BROKER_PORT}",
        state_dir=state_dir,
    )


def _cli(command: str, settings: StackSettings) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MARS_DATABASE_URL": settings.database_url,
        "MARS_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "MARS_STACK_DIR": str(settings.state_dir),
    }
    return subprocess.run(
        [sys.executable, "-m", "embedded_stack", command],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def _gone(pid: int | None, timeout: float = 5.0) -> bool:
    """Tell whether the process exits (or is a zombie) within ``timeout`` seconds."""
    assert pid is not None

    def gone() -> bool:
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    return poll_until(gone, timeout=timeout)


def _new_topic(bootstrap: str) -> str:
    topic = f"embedded-stack-test-{uuid.uuid4().hex[:12]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(10)
    return topic
